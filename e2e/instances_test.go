package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/parley/parley/chatstate/postgres/pgtest"
)

// balancer is the load balancer in front of several parley processes: one
// origin for the browser, and each request, navigation, form post or
// WebSocket alike, to the next instance in turn (no stickiness). An
// instance that refuses the connection (killed) is skipped, as a
// balancer's health check would.
type balancer struct {
	t   *testing.T
	srv *httptest.Server

	mu       sync.Mutex
	backends []*server
	// nextPage and next rotate page loads and every other request apart,
	// so that each navigation surely lands on another instance whatever
	// the number of requests a page makes.
	nextPage, next int
	// pages and sockets name the instances that served each page load and
	// each WebSocket, in order.
	pages, sockets []string
	lastSocket     *server
	names          map[*server]string
}

func newBalancer(t *testing.T, names map[*server]string, backends ...*server) *balancer {
	t.Helper()
	b := &balancer{t: t, backends: backends, names: names}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			// The instance is picked per attempt in RoundTrip; the Host the
			// browser sent is kept, so that the instances see their one
			// origin (Origin checks, cookies).
			pr.Out.URL.Scheme, pr.Out.URL.Host = "http", "backend"
			pr.Out.Host = pr.In.Host
		},
		Transport:     b,
		FlushInterval: -1,
		ErrorLog:      nil,
	}
	b.srv = httptest.NewServer(proxy)
	t.Cleanup(b.srv.Close)
	return b
}

// RoundTrip sends the request to the next instance, and on to the one
// after when an instance refuses the connection.
func (b *balancer) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		var err error
		if body, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		req.Body.Close()
	}
	var lastErr error
	navigation := req.Method == http.MethodGet && req.Header.Get("Sec-Fetch-Mode") == "navigate"
	for range 3 {
		backend := b.pick(navigation)
		if backend == nil {
			return nil, errors.New("balancer: no instance")
		}
		out := req.Clone(req.Context())
		out.URL.Host = backend.addr
		out.Body = io.NopCloser(bytes.NewReader(body))
		out.ContentLength = int64(len(body))
		if req.Body == nil {
			out.Body = nil
		}
		resp, err := http.DefaultTransport.RoundTrip(out)
		var opErr *net.OpError
		if errors.As(err, &opErr) && opErr.Op == "dial" && errors.Is(err, syscall.ECONNREFUSED) {
			b.remove(backend)
			lastErr = err
			continue
		}
		if err == nil {
			b.served(backend, req, resp)
		}
		return resp, err
	}
	return nil, lastErr
}

func (b *balancer) pick(navigation bool) *server {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.backends) == 0 {
		return nil
	}
	next := &b.next
	if navigation {
		next = &b.nextPage
	}
	s := b.backends[*next%len(b.backends)]
	*next++
	return s
}

func (b *balancer) served(s *server, req *http.Request, resp *http.Response) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case req.URL.Path == "/chat/ws" && resp.StatusCode == http.StatusSwitchingProtocols:
		b.sockets = append(b.sockets, b.names[s])
		b.lastSocket = s
	case req.Method == http.MethodGet && req.Header.Get("Sec-Fetch-Mode") == "navigate":
		b.pages = append(b.pages, b.names[s])
	}
}

// remove takes an instance out of the rotation.
func (b *balancer) remove(s *server) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.backends = slices.DeleteFunc(b.backends, func(x *server) bool { return x == s })
}

// add puts an instance in the rotation.
func (b *balancer) add(s *server) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.backends = append(b.backends, s)
}

// socketHolder is the instance that served the newest WebSocket.
func (b *balancer) socketHolder() *server {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.lastSocket
}

// log returns the instances that served page loads and WebSockets.
func (b *balancer) log() (pages, sockets []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.pages), slices.Clone(b.sockets)
}

// messageLines is the text of the message lines a transcript shows, in
// the order shown, each with its seq (the visitor's widget or the agent's
// pane, by selector).
func messageLines(p *page, selector, textClass string) []string {
	p.t.Helper()
	return evalJS[[]string](p, fmt.Sprintf(`Array.from(document.querySelectorAll(%s), li => {
		const t = li.querySelector(%s);
		return t ? t.textContent.trim() : "";
	}).filter(s => s.startsWith("Visitor ") || s.startsWith("Agent "))`, jsString(selector), jsString(textClass)))
}

// TestSeveralInstances runs three parley processes on one PostgreSQL
// database (DESIGN §7), the same session key on each. The visitor's
// browser reaches two of them through a balancer that sends every request
// to the next instance, so each navigation lands elsewhere and the page,
// its form posts and its WebSocket are rarely on one instance; the agent's
// console is on the third. Every message shows exactly once, in order, on
// both sides. Then the instance holding the visitor's WebSocket is killed
// with SIGKILL: nothing acknowledged is lost, the visitor resumes on the
// others, and the chat goes on. The test is skipped only where no
// PostgreSQL can be had at all, and never in CI (pgtest fails it there).
func TestSeveralInstances(t *testing.T) {
	url := pgtest.URL(t)
	const password = "alice-pw-1"
	names := map[*server]string{}
	var instances []*server
	for i := range 3 {
		s := startServer(t, "", "-database-url", url, "-agent", "alice=Alice:"+password)
		names[s] = fmt.Sprintf("instance %d", i)
		instances = append(instances, s)
	}
	for _, s := range instances {
		resp, err := http.Get(s.URL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := "ok\ndatabase: ok\nlistener: ok\n"; string(body) != want {
			t.Errorf("%s: GET /healthz = %q, want %q", names[s], body, want)
		}
	}
	lb := newBalancer(t, names, instances[0], instances[1])
	front := &server{t: t, URL: lb.srv.URL}

	b := newBrowser(t)
	agent, visitor := b.newPage(t), b.newPage(t)
	signIn(t, agent, instances[2], "alice", password)
	openChat(t, visitor, front, "Ada", "ada@example.com")
	// The queue on the third instance shows a chat registered on another.
	agent.waitFor("heading", "Ada")
	agent.clickButton("Accept")
	agent.waitFor("region", chatRegion("Ada"))
	visitor.waitText("Alice joined the chat.")

	var want []string
	exchange := func(tag string) {
		t.Helper()
		v, a := "Visitor "+tag, "Agent "+tag
		sendMessage(t, visitor, v)
		waitLogLine(t, agent, chatLog("Ada"), v)
		agent.fillField("Message", a)
		agent.clickButton("Send")
		waitTranscriptLine(t, visitor, a)
		want = append(want, v, a)
	}
	pages := []string{"/products", "/pricing", "/contact", "/"}
	const before, after = 6, 4
	for i := range before {
		visitor.navigate(front.URL + pages[i%len(pages)])
		exchange(fmt.Sprintf("%d", i))
	}
	pagesSeen, socketsSeen := lb.log()
	for _, name := range []string{"instance 0", "instance 1"} {
		if !slices.Contains(pagesSeen, name) || !slices.Contains(socketsSeen, name) {
			t.Errorf("%s served pages %v and WebSockets %v: want the visitor on both instances", name, pagesSeen, socketsSeen)
		}
	}

	// SIGKILL the instance holding the visitor's WebSocket right after a
	// message it acknowledged; the balancer sends the visitor to the
	// survivor and the third instance from then on.
	sendMessage(t, visitor, "Visitor before the kill")
	want = append(want, "Visitor before the kill")
	victim := lb.socketHolder()
	victim.kill9()
	lb.remove(victim)
	lb.add(instances[2])
	t.Logf("killed %s, which held the visitor's WebSocket", names[victim])
	waitLogLine(t, agent, chatLog("Ada"), "Visitor before the kill")
	// Sent while the visitor's page reconnects: it goes once the page has
	// a connection again, to another instance.
	visitor.fillField("Message", "Visitor after the kill")
	visitor.clickButton("Send")
	waitTranscriptLine(t, visitor, "Visitor after the kill")
	waitLogLine(t, agent, chatLog("Ada"), "Visitor after the kill")
	agent.fillField("Message", "Agent after the kill")
	agent.clickButton("Send")
	waitTranscriptLine(t, visitor, "Agent after the kill")
	want = append(want, "Visitor after the kill", "Agent after the kill")
	for i := range after {
		visitor.navigate(front.URL + pages[i%len(pages)])
		exchange(fmt.Sprintf("%d", before+i))
	}
	_, socketsSeen = lb.log()
	if !slices.Contains(socketsSeen, names[instances[2]]) {
		t.Errorf("WebSockets served by %v: want the visitor on the third instance after the kill", socketsSeen)
	}

	const widgetLines, paneLines = "#parley-widget .parley-log > li", ".agent-pane:not([hidden]) .agent-log > li"
	check := func(when string) {
		t.Helper()
		if diff := cmp.Diff(want, messageLines(visitor, widgetLines, ".parley-text")); diff != "" {
			t.Errorf("%s, the visitor's transcript (-want +got):\n%s", when, diff)
		}
		checkSeqOrder(t, visitor)
		if diff := cmp.Diff(want, messageLines(agent, paneLines, ".agent-text")); diff != "" {
			t.Errorf("%s, the agent's pane (-want +got):\n%s", when, diff)
		}
	}
	check("live")
	visitor.reload()
	agent.reload()
	agent.waitFor("region", chatRegion("Ada"))
	waitTranscriptLine(t, visitor, want[len(want)-1])
	check("after a reload")
	pagesSeen, socketsSeen = lb.log()
	t.Logf("page loads served by %s; WebSockets by %s", strings.Join(pagesSeen, ", "), strings.Join(socketsSeen, ", "))
}
