package handlers_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"github.com/parley/parley/chatstate"
	"github.com/parley/parley/handlers"
)

// frame is a server frame as chat.js reads it.
type frame struct {
	Type      string `json:"type"`
	Recovered *bool  `json:"recovered"`
	LastSeq   int64  `json:"lastSeq"`
	Event     *struct {
		Seq  int64           `json:"seq"`
		Kind string          `json:"kind"`
		Text string          `json:"text"`
		From chatstate.Party `json:"from"`
	} `json:"event"`
	HTML     string `json:"html"`
	Widget   string `json:"widget"`
	ClientID string `json:"clientId"`
	Seq      int64  `json:"seq"`
	Error    *struct {
		Code int    `json:"code"`
		Name string `json:"name"`
	} `json:"error"`
	Message string `json:"message"`
}

// liveServer is the handlers on a real loopback listener, as the transports
// need, with the shutdown signal under the test's control.
type liveServer struct {
	*httptest.Server
	closing chan struct{}
}

func newLiveServer(t *testing.T, en *env, allowedOrigins ...string) *liveServer {
	t.Helper()
	return startLiveServer(t, handlers.Deps{
		Chats:          en.chats,
		Catalogs:       en.cats,
		SessionSecrets: [][]byte{secretNew},
		Logger:         slog.New(slog.DiscardHandler),
		Options:        handlers.Options{AllowedOrigins: allowedOrigins},
	})
}

// startLiveServer serves d, with the shutdown signal under the test's
// control.
func startLiveServer(t *testing.T, d handlers.Deps) *liveServer {
	t.Helper()
	closing := make(chan struct{})
	d.Closing = closing
	srv := httptest.NewServer(newSite(d))
	ls := &liveServer{Server: srv, closing: closing}
	t.Cleanup(ls.shutdown)
	return ls
}

func (ls *liveServer) shutdown() {
	select {
	case <-ls.closing:
	default:
		close(ls.closing)
	}
	ls.Close()
}

// registeredVisitor is a visitor with a queued chat on ls, and its id.
func registeredVisitor(t *testing.T, en *env, ls *liveServer) (*visitor, string) {
	t.Helper()
	v := en.visitor(ls.Config.Handler)
	return v, v.register("/", "Ada")
}

func (v *visitor) cookieHeader() string {
	var parts []string
	for _, c := range v.cookies {
		parts = append(parts, c.Name+"="+c.Value)
	}
	return strings.Join(parts, "; ")
}

// dial opens the visitor's WebSocket with the given Origin.
func dial(t *testing.T, ls *liveServer, v *visitor, origin string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	h := http.Header{}
	h.Set("Cookie", v.cookieHeader())
	if origin != "" {
		h.Set("Origin", origin)
	}
	conn, res, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(ls.URL, "http")+"/chat/ws?page=/pricing", h)
	if err == nil {
		t.Cleanup(func() { conn.Close() })
	}
	return conn, res, err
}

func mustDial(t *testing.T, ls *liveServer, v *visitor) *websocket.Conn {
	t.Helper()
	conn, _, err := dial(t, ls, v, ls.URL)
	if err != nil {
		t.Fatalf("dial /chat/ws: %v", err)
	}
	return conn
}

func send(t *testing.T, conn *websocket.Conn, v any) {
	t.Helper()
	if err := conn.WriteJSON(v); err != nil {
		t.Fatalf("write frame: %v", err)
	}
}

// next reads frames until one whose type is not "typing"-only noise.
func next(t *testing.T, conn *websocket.Conn) frame {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	var f frame
	if err := conn.ReadJSON(&f); err != nil {
		t.Fatalf("read frame: %v", err)
	}
	return f
}

func wantResume(t *testing.T, f frame, recovered bool) {
	t.Helper()
	if f.Type != "resume" || f.Recovered == nil || *f.Recovered != recovered {
		t.Fatalf("first frame = %+v, want resume with recovered=%v", f, recovered)
	}
}

func TestWebSocketResumeAndLive(t *testing.T) {
	// Registered first, so it runs after every other cleanup has closed
	// the server and the store.
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
	en := newEnv(t)
	ls := newLiveServer(t, en)
	v, id := registeredVisitor(t, en, ls)
	ctx := context.Background()
	if _, err := en.chats.Accept(ctx, id, chatstate.AgentParty(agentName, "")); err != nil {
		t.Fatal(err)
	}
	if _, err := en.chats.SendMessage(ctx, id, agentParty(), "a1", "Hello Ada"); err != nil {
		t.Fatal(err)
	}
	// The page showed everything up to the registration (seq 1).
	conn := mustDial(t, ls, v)
	send(t, conn, map[string]any{"type": "hello", "lastSeq": 1})
	wantResume(t, next(t, conn), true)

	joined := next(t, conn)
	if joined.Event == nil || joined.Event.Kind != "agent_joined" || joined.Widget == "" {
		t.Fatalf("replay[0] = %+v, want agent_joined with the whole widget", joined)
	}
	// The widget is as of its event: the message after it comes in its own
	// frame, or the client would skip that frame and its callback.
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(joined.Widget))
	if err != nil {
		t.Fatal(err)
	}
	w := doc.Find("#parley-widget")
	if got, want := w.AttrOr("data-last-seq", ""), itoa(joined.Event.Seq); got != want {
		t.Errorf("agent_joined's widget has data-last-seq %s, want its own seq %s", got, want)
	}
	if strings.Contains(w.Find(".parley-log").Text(), "Hello Ada") {
		t.Error("agent_joined's widget already shows the message that follows it")
	}
	msg := next(t, conn)
	if msg.Event == nil || msg.Event.Seq != joined.Event.Seq+1 || msg.Event.Text != "Hello Ada" || !strings.Contains(msg.HTML, "Hello Ada") {
		t.Fatalf("replay[1] = %+v, want the agent's message next, with its line", msg)
	}

	// A send is acknowledged with its seq, after its line came live (the
	// sender's tab shows it before the send settles); retrying it stores
	// nothing more.
	send(t, conn, map[string]any{"type": "message", "clientId": "v1", "text": "Hi Grace"})
	live, ack := next(t, conn), next(t, conn)
	if live.Type != "event" || ack.Type != "ack" {
		t.Fatalf("after a send, frames %q then %q, want the event then its ack", live.Type, ack.Type)
	}
	if ack.ClientID != "v1" || ack.Seq != msg.Event.Seq+1 || live.Event.Seq != ack.Seq {
		t.Fatalf("ack = %+v, live = %+v, want both at seq %d", ack, live, msg.Event.Seq+1)
	}
	send(t, conn, map[string]any{"type": "message", "clientId": "v1", "text": "Hi Grace"})
	if again := next(t, conn); again.Type != "ack" || again.Seq != ack.Seq {
		t.Fatalf("retried send answered %+v, want ack with seq %d", again, ack.Seq)
	}
	if got := len(en.events(id, chatstate.EventMessage)); got != 2 {
		t.Errorf("messages stored = %d, want 2 (the retry stored once)", got)
	}

	// The agent's next message arrives live, exactly once.
	if _, err := en.chats.SendMessage(ctx, id, agentParty(), "a2", "How can I help?"); err != nil {
		t.Fatal(err)
	}
	if f := next(t, conn); f.Event == nil || f.Event.Text != "How can I help?" {
		t.Fatalf("live frame = %+v, want the agent's message", f)
	}
	conn.Close()
	ls.shutdown()
}

func TestWebSocketRefusals(t *testing.T) {
	en := newEnv(t)
	ls := newLiveServer(t, en, "https://shop.example")
	v, _ := registeredVisitor(t, en, ls)

	t.Run("foreign origin", func(t *testing.T) {
		_, res, err := dial(t, ls, v, "https://evil.example")
		if err == nil || res == nil || res.StatusCode != http.StatusForbidden {
			t.Fatalf("dial from a foreign origin: err=%v res=%v, want 403", err, res)
		}
	})
	t.Run("allowed origin", func(t *testing.T) {
		if _, _, err := dial(t, ls, v, "https://shop.example"); err != nil {
			t.Fatalf("dial from an allowed origin: %v", err)
		}
	})
	t.Run("no chat", func(t *testing.T) {
		stranger := en.visitor(ls.Config.Handler)
		_, res, err := dial(t, ls, stranger, ls.URL)
		if err == nil || res.StatusCode != http.StatusNotFound {
			t.Fatalf("dial without a chat: err=%v res=%v, want 404", err, res)
		}
	})
	t.Run("bad frames keep the chat going", func(t *testing.T) {
		conn := mustDial(t, ls, v)
		send(t, conn, map[string]any{"type": "hello", "lastSeq": 0})
		wantResume(t, next(t, conn), true)
		if f := next(t, conn); f.Event == nil || f.Event.Kind != "registered" {
			t.Fatalf("replay = %+v, want the registration", f)
		}
		tests := []struct {
			name  string
			frame string
			want  string
		}{
			{"malformed JSON", `{"type":`, "invalid_options"},
			{"unknown type", `{"type":"shout"}`, "invalid_options"},
			{"too long", `{"type":"message","clientId":"x1","text":"` + strings.Repeat("a", chatstate.MaxMessageRunes+1) + `"}`, "message_too_long"},
			{"empty", `{"type":"message","clientId":"x2","text":"   "}`, "message_invalid"},
			{"bad client id", `{"type":"message","clientId":"no spaces","text":"hi"}`, "message_invalid"},
		}
		for _, tt := range tests {
			if err := conn.WriteMessage(websocket.TextMessage, []byte(tt.frame)); err != nil {
				t.Fatalf("%s: write: %v", tt.name, err)
			}
			f := next(t, conn)
			if f.Type != "error" || f.Error == nil || f.Error.Name != tt.want || f.Message == "" {
				t.Errorf("%s: answered %+v, want error %s with a localized message", tt.name, f, tt.want)
			}
		}
	})
	t.Run("client ahead of the server", func(t *testing.T) {
		conn := mustDial(t, ls, v)
		send(t, conn, map[string]any{"type": "hello", "lastSeq": 10_000})
		wantResume(t, next(t, conn), false)
	})
}

// TestBehindTLSProxy serves the site as a proxy that ends TLS would pass it
// on: the browser's page is https://host, the request to Parley is plain
// HTTP with X-Forwarded-Proto: https. Trusted, that header makes the page's
// origin Parley's own; untrusted, a client could forge it.
func TestBehindTLSProxy(t *testing.T) {
	for _, tt := range []struct {
		name       string
		trusted    string
		proto      string
		wantStatus int
	}{
		// httptest's requests come from 192.0.2.1, the WebSocket's from
		// 127.0.0.1: both through the proxy.
		{"trusted proxy, https page", "127.0.0.0/8,192.0.2.0/24", "https", http.StatusSwitchingProtocols},
		{"trusted proxy, header missing", "127.0.0.1/32", "", http.StatusForbidden},
		{"header from an untrusted peer", "10.0.0.0/8", "https", http.StatusForbidden},
		{"no proxy trusted", "", "https", http.StatusForbidden},
	} {
		t.Run(tt.name, func(t *testing.T) {
			en := newEnv(t)
			ls := startLiveServer(t, handlers.Deps{
				Chats:          en.chats,
				Catalogs:       en.cats,
				SessionSecrets: [][]byte{secretNew},
				Logger:         slog.New(slog.DiscardHandler),
				Options:        handlers.Options{TrustedProxies: prefixes(tt.trusted)},
			})
			v := en.visitor(ls.Config.Handler)
			if tt.proto != "" {
				v.header = http.Header{"X-Forwarded-Proto": {tt.proto}}
			}
			v.register("/", "Ada")
			h := http.Header{}
			h.Set("Cookie", v.cookieHeader())
			h.Set("Origin", "https://"+strings.TrimPrefix(ls.URL, "http://"))
			if tt.proto != "" {
				h.Set("X-Forwarded-Proto", tt.proto)
			}
			conn, res, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(ls.URL, "http")+"/chat/ws?page=/", h)
			if err == nil {
				conn.Close()
			}
			if res == nil || res.StatusCode != tt.wantStatus {
				t.Fatalf("WebSocket from the https page: res=%v err=%v, want status %d", res, err, tt.wantStatus)
			}
		})
	}
}

func TestWebSocketShutdownClosesConnections(t *testing.T) {
	en := newEnv(t)
	ls := newLiveServer(t, en)
	v, _ := registeredVisitor(t, en, ls)
	conn := mustDial(t, ls, v)
	send(t, conn, map[string]any{"type": "hello", "lastSeq": 1})
	wantResume(t, next(t, conn), true)
	close(ls.closing)
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err := conn.ReadMessage()
	if !websocket.IsCloseError(err, websocket.CloseGoingAway) {
		t.Fatalf("after shutdown, read = %v, want close 1001 going away", err)
	}

	// A tab that connects while the server shuts down is sent away too,
	// and leaves nothing subscribed behind.
	late := mustDial(t, ls, v)
	_ = late.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := late.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseGoingAway) {
		t.Fatalf("a socket opened during shutdown read %v, want close 1001 going away", err)
	}
	if !en.subscriptionsReach(func(n int) bool { return n == 0 }) {
		t.Errorf("%d subscriptions left after every socket closed, want 0", en.chats.Hub().Stats().Subscriptions)
	}
}

// TestLongPollShutdownSaysClosing: while the server shuts down, a waiting
// poll and a new one are answered 503 with Retry-After and server_closing,
// so that the client waits before it polls again.
func TestLongPollShutdownSaysClosing(t *testing.T) {
	en := newEnv(t)
	ls := newLiveServer(t, en)
	v, id := registeredVisitor(t, en, ls)
	poll := func() (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, ls.URL+"/chat/poll?after="+strconv.FormatInt(en.chat(id).LastSeq, 10), nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Cookie", v.cookieHeader())
		req.Header.Set("Accept", "application/json")
		res, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var body struct{ Error struct{ Name string } }
		if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
			t.Fatalf("decode the poll's answer: %v", err)
		}
		return res, body.Error.Name
	}
	waiting := make(chan struct{})
	go func() {
		defer close(waiting)
		if !en.subscriptionsReach(func(n int) bool { return n > 0 }) {
			t.Error("the first poll never waited")
		}
		close(ls.closing)
	}()
	for _, which := range []string{"the waiting poll", "a poll during shutdown"} {
		res, name := poll()
		if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") != "2" || name != "server_closing" {
			t.Errorf("%s: %d, Retry-After %q, error %q; want 503, 2, server_closing", which, res.StatusCode, res.Header.Get("Retry-After"), name)
		}
		<-waiting
	}
}

// pollFrames does one long-poll request.
func pollFrames(t *testing.T, ls *liveServer, v *visitor, method, path, body string) (int, []frame) {
	t.Helper()
	status, frames, err := doPoll(ls, v, method, path, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return status, frames
}

// doPoll does one long-poll request, and is safe to run off the test's
// goroutine; the frames are those of a 200 answer.
func doPoll(ls *liveServer, v *visitor, method, path, body string) (int, []frame, error) {
	req, err := http.NewRequest(method, ls.URL+path, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Cookie", v.cookieHeader())
	req.Header.Set("X-Parley-CSRF", v.csrf)
	req.Header.Set("Content-Type", "application/json")
	client := http.Client{Timeout: 30 * time.Second}
	res, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	var out struct{ Frames []frame }
	if res.StatusCode == http.StatusOK {
		if err := json.Unmarshal(data, &out); err != nil {
			return 0, nil, fmt.Errorf("decode %q: %v", data, err)
		}
	}
	return res.StatusCode, out.Frames, nil
}

func TestLongPoll(t *testing.T) {
	en := newEnv(t)
	ls := newLiveServer(t, en)
	v, id := registeredVisitor(t, en, ls)
	last := en.chat(id).LastSeq

	status, frames := pollFrames(t, ls, v, http.MethodGet, "/chat/poll?after=0", "")
	if status != http.StatusOK || len(frames) != int(last)+1 {
		t.Fatalf("poll from 0 = %d with %d frames, want 200 with resume + %d events", status, len(frames), last)
	}
	wantResume(t, frames[0], true)

	// A waiting poll answers as soon as the agent writes.
	go func() {
		time.Sleep(200 * time.Millisecond)
		_, _ = en.chats.Accept(context.Background(), id, chatstate.AgentParty(agentName, ""))
	}()
	_, frames = pollFrames(t, ls, v, http.MethodGet, "/chat/poll?after="+itoa(last), "")
	if len(frames) < 2 || frames[1].Event == nil || frames[1].Event.Kind != "agent_joined" {
		t.Fatalf("waiting poll = %+v, want resume then agent_joined", frames)
	}

	status, frames = pollFrames(t, ls, v, http.MethodPost, "/chat/frames", `{"type":"message","clientId":"p1","text":"over long-poll"}`)
	if status != http.StatusOK || len(frames) != 1 || frames[0].Type != "ack" || frames[0].ClientID != "p1" {
		t.Fatalf("POST /chat/frames = %d %+v, want one ack for p1", status, frames)
	}
	status, _ = pollFrames(t, ls, v, http.MethodGet, "/chat/poll?after=nope", "")
	if status != http.StatusBadRequest {
		t.Errorf("poll with a bad after = %d, want 400", status)
	}

	stranger := en.visitor(ls.Config.Handler)
	if status, _ := pollFrames(t, ls, stranger, http.MethodGet, "/chat/poll?after=0", ""); status != http.StatusNotFound {
		t.Errorf("poll without a chat = %d, want 404", status)
	}
}

// A typing event is news only for a few seconds: a visitor coming back to
// the page must not be told that the agent is typing a minute ago.
func TestReplaySkipsStaleTyping(t *testing.T) {
	en := newEnv(t)
	ls := newLiveServer(t, en)
	v, id := registeredVisitor(t, en, ls)
	ctx := context.Background()
	if _, err := en.chats.Accept(ctx, id, chatstate.AgentParty(agentName, "")); err != nil {
		t.Fatal(err)
	}
	from := en.chat(id).LastSeq
	aMinuteAgo := chatstate.NewService(chatstate.Config{Store: en.store, Now: func() time.Time { return time.Now().Add(-time.Minute) }})
	if err := aMinuteAgo.Typing(ctx, id, agentParty()); err != nil {
		t.Fatal(err)
	}
	if err := en.chats.Typing(ctx, id, agentParty()); err != nil {
		t.Fatal(err)
	}
	conn := mustDial(t, ls, v)
	send(t, conn, map[string]any{"type": "hello", "lastSeq": from})
	wantResume(t, next(t, conn), true)
	f := next(t, conn)
	if f.Event == nil || f.Event.Kind != "typing" || f.Event.Seq != from+2 {
		t.Fatalf("replay = %+v, want only the fresh typing event (seq %d)", f, from+2)
	}
}

// TestFeedsFillGaps commits events the hub never announces (as another
// instance, or a writer that has not published yet, leaves them) and then
// one it does: the visitor's socket and the console's feed send the missed
// ones first, in seq order, instead of skipping them.
func TestFeedsFillGaps(t *testing.T) {
	en := newEnv(t)
	ls := startLiveServer(t, en.consoleDeps(nil))
	v, id := registeredVisitor(t, en, ls)
	if _, err := en.chats.Accept(context.Background(), id, chatstate.AgentParty("alice", "")); err != nil {
		t.Fatal(err)
	}
	conn := mustDial(t, ls, v)
	send(t, conn, map[string]any{"type": "hello", "lastSeq": en.chat(id).LastSeq})
	wantResume(t, next(t, conn), true)

	agent := agentBrowser(t, en, ls.Config.Handler, "alice")
	wsURL := "ws" + strings.TrimPrefix(ls.URL, "http") + "/agent/ws?queue=&chats=" + id + "." + strconv.FormatInt(en.chat(id).LastSeq, 10)
	agentConn, _, err := websocket.DefaultDialer.Dial(wsURL, http.Header{"Origin": {ls.URL}, "Cookie": {agent.cookieHeader()}})
	if err != nil {
		t.Fatalf("dial /agent/ws: %v", err)
	}
	t.Cleanup(func() { agentConn.Close() })
	send(t, agentConn, map[string]any{"type": "hello", "lastSeq": 0})
	wantResume(t, next(t, agentConn), true)

	silent := []string{"unannounced one", "unannounced two"}
	for _, text := range silent {
		_, _, err := en.store.Update(context.Background(), id, func(c *chatstate.Chat) ([]chatstate.Event, error) {
			return []chatstate.Event{{Kind: chatstate.EventMessage, From: chatstate.Party{Type: chatstate.PartyAgent, Name: "alice"}, Text: text, Time: time.Now()}}, nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := en.chats.SendMessage(context.Background(), id, chatstate.AgentParty("alice", ""), "", "announced"); err != nil {
		t.Fatal(err)
	}
	var got []string
	for range 3 {
		f := next(t, conn)
		if f.Event == nil {
			t.Fatalf("frame %+v, want an event", f)
		}
		got = append(got, f.Event.Text)
	}
	if want := append(silent, "announced"); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("visitor got %q, want %q", got, want)
	}
	f := nextWith(t, agentConn, "announced")
	for _, text := range silent {
		if !strings.Contains(f.HTML, text) || strings.Index(f.HTML, text) > strings.Index(f.HTML, ">announced<") {
			t.Errorf("console frame lacks %q before the announced message:\n%s", text, f.HTML)
		}
	}
}

// TestConnectionLimits opens more live connections than a chat, an address
// and the server's waiting long-polls may hold: the extra one is refused
// with a clear error while the others go on, and a place that frees up is
// usable again. A tab past its chat's limit is told why in a way a browser
// can read: a refused WebSocket handshake shows the page no status, so the
// socket opens, says too_many_connections and closes with code 4029.
func TestConnectionLimits(t *testing.T) {
	en := newEnv(t)
	ls := startLiveServer(t, handlers.Deps{
		Chats: en.chats, Catalogs: en.cats, SessionSecrets: [][]byte{secretNew},
		Logger:  slog.New(slog.DiscardHandler),
		Options: handlers.Options{Limits: handlers.Limits{PerChat: 2, PerAddress: 3, ParkedPolls: 1}},
	})
	ada, adaChat := registeredVisitor(t, en, ls)
	const why = "Too many chat windows are open"
	refused := func(what string, res *http.Response, err error) {
		t.Helper()
		if err == nil || res == nil || res.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("%s: err=%v res=%v, want 429", what, err, res)
		}
		body, _ := io.ReadAll(res.Body)
		if !strings.Contains(string(body), why) {
			t.Errorf("%s: body %s, want the localized line saying why", what, body)
		}
	}
	// tooMany checks a socket is this chat's one too many.
	tooMany := func(conn *websocket.Conn) {
		t.Helper()
		defer conn.Close()
		f := next(t, conn)
		if f.Type != "error" || f.Error == nil || f.Error.Name != "too_many_connections" || !strings.Contains(f.Message, why) {
			t.Errorf("a third tab of one chat got %+v, want error too_many_connections saying %q", f, why)
		}
		_, _, err := conn.ReadMessage()
		var closeErr *websocket.CloseError
		if !errors.As(err, &closeErr) || closeErr.Code != 4029 {
			t.Errorf("after the error frame: %v, want a close with code 4029", err)
		}
	}

	first := mustDial(t, ls, ada)
	second := mustDial(t, ls, ada)
	third, _, err := dial(t, ls, ada, ls.URL)
	if err != nil {
		t.Fatalf("a third tab's WebSocket: %v, want it opened to say why it is refused", err)
	}
	tooMany(third)
	// A long-poll past the chat's limit is refused with the same error.
	req, _ := http.NewRequest(http.MethodGet, ls.URL+"/chat/poll?after=0", nil)
	req.Header.Set("Cookie", ada.cookieHeader())
	req.Header.Set("Accept", "application/json") // as chat.js asks
	pollRes, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(pollRes.Body)
	pollRes.Body.Close()
	status, body := pollRes.StatusCode, string(data)
	if status != http.StatusTooManyRequests || !strings.Contains(body, `"too_many_connections"`) || !strings.Contains(body, why) {
		t.Errorf("a third tab's long-poll: %d %s, want 429 too_many_connections saying why", status, body)
	}
	// The chat goes on in the tabs that have a connection.
	send(t, first, map[string]any{"type": "hello", "lastSeq": en.chat(adaChat).LastSeq})
	wantResume(t, next(t, first), true)
	send(t, first, map[string]any{"type": "message", "clientId": "c1", "text": "still here"})
	if f := next(t, first); f.Type != "ack" && (f.Event == nil || f.Event.Text != "still here") {
		t.Errorf("after the refusal a send answered %+v", f)
	}

	// The address holds two; a second chat from it gets one more, not two.
	// Past an address's limit the handshake itself is refused: that is a
	// client holding too much, not a person with many tabs.
	bob, _ := registeredVisitor(t, en, ls)
	mustDial(t, ls, bob)
	_, res, err := dial(t, ls, bob, ls.URL)
	refused("a fourth connection from one address", res, err)

	// A closed tab frees its place.
	second.Close()
	var ok bool
	for range 50 {
		if conn, _, err := dial(t, ls, ada, ls.URL); err == nil {
			send(t, conn, map[string]any{"type": "hello", "lastSeq": en.chat(adaChat).LastSeq})
			f := next(t, conn)
			conn.Close()
			if f.Type == "resume" {
				ok = true
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !ok {
		t.Error("after a tab closed, its place never came back")
	}
}

// TestParkedPollsLimited: the server holds a bounded number of waiting
// long-polls, and a poll that has something to answer is answered even
// when every place is taken.
func TestParkedPollsLimited(t *testing.T) {
	en := newEnv(t)
	ls := startLiveServer(t, handlers.Deps{
		Chats: en.chats, Catalogs: en.cats, SessionSecrets: [][]byte{secretNew},
		Logger:  slog.New(slog.DiscardHandler),
		Options: handlers.Options{Limits: handlers.Limits{ParkedPolls: 1}},
	})
	ada, adaChat := registeredVisitor(t, en, ls)
	bob, _ := registeredVisitor(t, en, ls)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	parked := make(chan int, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ls.URL+"/chat/poll?after="+itoa(en.chat(adaChat).LastSeq), nil)
		req.Header.Set("Cookie", ada.cookieHeader())
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			parked <- 0
			return
		}
		res.Body.Close()
		parked <- res.StatusCode
	}()
	// A parked poll holds its slot and a subscription: once the hub has
	// one, Ada's poll is parked (asked earlier, Bob's own poll could take
	// the slot first, and Ada's be the one refused).
	if !en.subscriptionsReach(func(n int) bool { return n > 0 }) {
		select {
		case code := <-parked:
			t.Fatalf("the first poll ended (status %d) before it parked", code)
		default:
			t.Fatal("the first poll never parked")
		}
	}
	// Every place is taken, but a poll with something to answer needs none:
	// it is answered at once. (Which waiting poll gives up its place to a
	// poll with nothing to answer: TestParkSheds in handlers/live.)
	status, frames := pollFrames(t, ls, bob, http.MethodGet, "/chat/poll?after=0", "")
	if status != http.StatusOK || len(frames) < 2 {
		t.Fatalf("a poll with news while every place is taken = %d %+v, want 200 with its events", status, frames)
	}
	cancel()
	<-parked
}

// TestFrameWithTrailingDataRefused: a body holds one frame; a message
// followed by another frame is refused whole, not half applied.
func TestFrameWithTrailingDataRefused(t *testing.T) {
	en := newEnv(t)
	ls := newLiveServer(t, en)
	v, id := registeredVisitor(t, en, ls)
	before := en.chat(id).LastSeq
	status, frames := pollFrames(t, ls, v, http.MethodPost, "/chat/frames", `{"type":"message","clientId":"c9","text":"hi"}{"type":"end"}`)
	if status != http.StatusBadRequest && (len(frames) != 1 || frames[0].Type != "error") {
		t.Fatalf("two frames in one body = %d %+v, want refused", status, frames)
	}
	if c := en.chat(id); c.LastSeq != before || c.Phase == "ended" {
		t.Errorf("after the refused body the chat is at seq %d (was %d), phase %s", c.LastSeq, before, c.Phase)
	}
}

// TestIdleSocketKeepsOneGoroutine holds idle WebSockets open: each keeps
// its reader and nothing else, since a second goroutine per connection
// would double what thousands of idle visitors cost. An event still
// reaches every one of them.
func TestIdleSocketKeepsOneGoroutine(t *testing.T) {
	en := newEnv(t)
	ls := newLiveServer(t, en)
	v, id := registeredVisitor(t, en, ls)
	settled := func(want int) int {
		deadline := time.Now().Add(5 * time.Second)
		n := runtime.NumGoroutine()
		for n > want && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
			n = runtime.NumGoroutine()
		}
		return n
	}
	before := settled(0)
	const tabs = 12
	conns := make([]*websocket.Conn, tabs)
	for i := range conns {
		conns[i] = mustDial(t, ls, v)
		send(t, conns[i], map[string]any{"type": "hello", "lastSeq": 1})
		wantResume(t, next(t, conns[i]), true)
	}
	// The test's own side of each connection has no goroutine.
	if got := settled(before+tabs) - before; got > tabs {
		t.Fatalf("%d idle sockets hold %d goroutines, want %d (one reader each)", tabs, got, tabs)
	}
	if _, err := en.chats.Accept(context.Background(), id, chatstate.AgentParty(agentName, "")); err != nil {
		t.Fatal(err)
	}
	for i, conn := range conns {
		if f := next(t, conn); f.Event == nil || f.Event.Kind != "agent_joined" {
			t.Fatalf("tab %d got %+v, want agent_joined", i, f)
		}
	}
	if got := settled(before+tabs) - before; got > tabs {
		t.Errorf("after an event, %d sockets hold %d goroutines, want %d", tabs, got, tabs)
	}
}

// TestSocketTakesConcurrentSendsInOrder has many writers commit to one
// chat at once while a visitor's socket is open: it must show every
// message once, in seq order, though events are written by whichever
// goroutine their arrival starts.
func TestSocketTakesConcurrentSendsInOrder(t *testing.T) {
	en := newEnv(t)
	ls := newLiveServer(t, en)
	v, id := registeredVisitor(t, en, ls)
	ctx := context.Background()
	joined, err := en.chats.Accept(ctx, id, chatstate.AgentParty(agentName, ""))
	if err != nil {
		t.Fatal(err)
	}
	conn := mustDial(t, ls, v)
	send(t, conn, map[string]any{"type": "hello", "lastSeq": joined.LastSeq})
	wantResume(t, next(t, conn), true)

	const writers, each = 8, 25
	errs := make(chan error, writers)
	for w := range writers {
		go func() {
			for i := range each {
				clientID := "w" + strconv.Itoa(w) + "-" + strconv.Itoa(i)
				if _, err := en.chats.SendMessage(ctx, id, agentParty(), clientID, clientID); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range writers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	last := joined.LastSeq
	for last < joined.LastSeq+writers*each {
		f := next(t, conn)
		if f.Event == nil {
			t.Fatalf("frame %+v, want events only", f)
		}
		if f.Event.Seq != last+1 {
			t.Fatalf("event seq %d after %d: want every seq once, in order", f.Event.Seq, last)
		}
		last = f.Event.Seq
	}
}

// TestLaggingSocketCatchesUpInPlace: a visitor's connection that stops
// reading while its chat goes on falls behind until the hub drops its
// subscription; once it reads again it gets every message, once and in
// order, on the same connection, not a reconnect the visitor would see.
func TestLaggingSocketCatchesUpInPlace(t *testing.T) {
	en := newEnv(t)
	ls := newLiveServer(t, en)
	v, id := registeredVisitor(t, en, ls)
	if _, err := en.chats.Accept(context.Background(), id, chatstate.AgentParty("alice", "")); err != nil {
		t.Fatal(err)
	}
	// A small receive buffer, so that a client that stops reading stops
	// the server's writes soon.
	dialer := *websocket.DefaultDialer
	dialer.NetDialContext = (&net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var err error
		if cerr := c.Control(func(fd uintptr) { err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) }); cerr != nil {
			return cerr
		}
		return err
	}}).DialContext
	conn, _, err := dialer.Dial("ws"+strings.TrimPrefix(ls.URL, "http")+"/chat/ws?page=/pricing", http.Header{"Cookie": {v.cookieHeader()}, "Origin": {ls.URL}})
	if err != nil {
		t.Fatalf("dial /chat/ws: %v", err)
	}
	defer conn.Close()
	send(t, conn, map[string]any{"type": "hello", "lastSeq": en.chat(id).LastSeq})
	wantResume(t, next(t, conn), true)

	// The client reads nothing while the agent writes, until the hub has
	// dropped it, and a few more after that.
	text := strings.Repeat("long answer ", chatstate.MaxMessageRunes/12)
	sent, after := 0, -1
	for after < 5 {
		if sent == 3000 {
			t.Fatal("3,000 messages sent to a client that reads nothing, and the hub never dropped it")
		}
		if _, err := en.chats.SendMessage(context.Background(), id, chatstate.AgentParty("alice", ""), "", fmt.Sprintf("%d %s", sent, text)); err != nil {
			t.Fatal(err)
		}
		sent++
		if after >= 0 || en.chats.Hub().Stats().Dropped > 0 {
			after++
		}
	}

	got := 0
	for got < sent {
		f := next(t, conn)
		if f.Type == "resume" {
			if f.Recovered == nil || !*f.Recovered {
				t.Fatalf("a resume frame %+v mid-stream, want one that recovered the gap", f)
			}
			continue
		}
		if f.Event == nil || f.Event.Kind != "message" {
			continue
		}
		if want := fmt.Sprintf("%d ", got); !strings.HasPrefix(f.Event.Text, want) {
			t.Fatalf("message %d of %d reads %.20q: want each once, in order", got, sent, f.Event.Text)
		}
		got++
	}
}
