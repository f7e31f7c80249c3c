package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// agent is one agent at the console, as agent.js drives it: signed in, the
// live feed open (which carries every chat's events), accepting chats and
// posting replies as forms with client ids.
type agent struct {
	w        *world
	idx      int
	name     string
	password string
	local    netip.Addr
	client   *http.Client
	csrf     string
	queue    string
	nextID   int

	mu   sync.Mutex
	feed *websocket.Conn
	done chan struct{}
	// seen holds the visitor messages on their way to the console, by
	// text, with when they were sent: their arrival in the feed is the
	// "feed" latency.
	seen map[string]time.Time
}

func newAgent(w *world, idx int, name, password string) *agent {
	local := sourceAddr(idx)
	return &agent{w: w, idx: idx, name: name, password: password, local: local, client: newBrowserClient(local), seen: map[string]time.Time{}}
}

// signIn signs in with the form and loads the console.
func (a *agent) signIn(ctx context.Context) error {
	if a.w.baseline {
		return nil
	}
	html, err := do(ctx, a.client, http.MethodGet, a.w.base+"/agent/login", nil, nil)
	if err != nil {
		return fmt.Errorf("sign-in page: %w", err)
	}
	m := csrfField.FindStringSubmatch(html)
	if m == nil {
		return errors.New("no parley_csrf on the sign-in page")
	}
	// A plain form post: the answer redirects to the console, which the
	// client follows as a browser does.
	form := url.Values{"name": {a.name}, "password": {a.password}, "parley_csrf": {m[1]}}
	html, err = do(ctx, a.client, http.MethodPost, a.w.base+"/agent/login", strings.NewReader(form.Encode()), http.Header{"Content-Type": {"application/x-www-form-urlencoded"}})
	if err != nil {
		return fmt.Errorf("sign in as %s (is the agent configured? see docs/operations.md, Load tool): %w", a.name, err)
	}
	meta := csrfMeta.FindStringSubmatch(html)
	if meta == nil {
		return fmt.Errorf("sign in as %s: the answer is not the console: %s", a.name, firstBytes(html, 200))
	}
	a.csrf = meta[1]
	if q := queueTag.FindStringSubmatch(html); q != nil {
		a.queue = q[1]
	}
	return nil
}

// openFeed opens the console's live feed and waits for its resume frame.
func (a *agent) openFeed(ctx context.Context) error {
	q := url.Values{"queue": {a.queue}, "chats": {""}}
	d := websocket.Dialer{
		NetDialContext:   dialerFrom(a.local).DialContext,
		HandshakeTimeout: 10 * time.Second,
		Jar:              a.client.Jar,
		ReadBufferSize:   4096,
		WriteBufferSize:  1024,
	}
	conn, resp, err := d.DialContext(ctx, a.w.wsURL("/agent/ws?"+q.Encode()), http.Header{"Origin": {a.w.base}})
	if err != nil {
		if resp != nil {
			return &statusError{method: "GET", path: "/agent/ws", status: resp.StatusCode}
		}
		return err
	}
	resumed := make(chan struct{})
	done := make(chan struct{})
	a.mu.Lock()
	a.feed, a.done = conn, done
	a.mu.Unlock()
	go func() {
		defer close(done)
		var once sync.Once
		for {
			_, data, err := conn.ReadMessage()
			if err != nil {
				return
			}
			var f wireServerFrame
			if err := json.Unmarshal(data, &f); err != nil {
				a.w.st.fail("feed", "undecodable", err)
				return
			}
			if f.Type == "resume" {
				once.Do(func() { close(resumed) })
			}
			if f.HTML != "" {
				a.arrived(f.HTML)
			}
			a.w.st.ok("feed-frame", 0, len(data))
		}
	}()
	_ = conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if err := conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"hello"}`)); err != nil {
		return err
	}
	select {
	case <-resumed:
		return nil
	case <-done:
		return errors.New("the console feed closed before its resume frame")
	case <-time.After(10 * time.Second):
		return fmt.Errorf("no resume frame on the console feed: %w", context.DeadlineExceeded)
	}
}

// arrived records the visitor messages that a feed frame shows.
func (a *agent) arrived(html string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for text, at := range a.seen {
		if strings.Contains(html, text) {
			delete(a.seen, text)
			a.w.st.ok("feed", time.Since(at), 0)
		}
	}
}

// expect notes a visitor message on its way to this agent's console.
func (a *agent) expect(text string, at time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.seen) > 1000 {
		// Messages the feed never showed (a dropped feed): counted once.
		for t, when := range a.seen {
			if time.Since(when) > time.Minute {
				delete(a.seen, t)
				a.w.st.fail("feed", "never-shown", fmt.Errorf("message %s never reached %s's console", t, a.name))
			}
		}
	}
	a.seen[text] = at
}

// accept takes a waiting chat, as the queue's Accept button does.
func (a *agent) accept(ctx context.Context, chatID string) error {
	if a.w.baseline {
		return nil
	}
	_, err := postForm(ctx, a.client, a.w.base+"/agent/chats/"+chatID+"/accept", a.csrf, url.Values{})
	return err
}

// reply posts a reply in v's chat; the visitor's transport should deliver
// it.
func (a *agent) reply(ctx context.Context, v *visitor) {
	a.mu.Lock()
	a.nextID++
	id := fmt.Sprintf("a%d-%d", a.idx, a.nextID)
	a.mu.Unlock()
	start := time.Now()
	v.expectReply(id, start)
	form := url.Values{"client_id": {id}, "text": {"r-" + id}}
	_, err := postForm(ctx, a.client, a.w.base+"/agent/chats/"+v.chatID+"/messages", a.csrf, form)
	if err != nil {
		v.forgetReply(id)
		if ctx.Err() == nil {
			a.w.st.fail("reply", errKind(err), err)
		}
		return
	}
	a.w.st.ok("reply", time.Since(start), 0)
}

// close closes the feed.
func (a *agent) close() {
	a.mu.Lock()
	conn, done := a.feed, a.done
	a.feed = nil
	a.mu.Unlock()
	if conn != nil {
		conn.Close()
		<-done
	}
	a.client.CloseIdleConnections()
}
