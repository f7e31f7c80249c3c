package chatclient

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"github.com/parley/parley/chatstate"
	"github.com/parley/parley/handlers/live/wire"
)

// TestMain checks that the transports leave no goroutine behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestServerFrames decodes the server's frames as docs/PROTOCOL.md writes
// them and encodes them back to the same JSON.
func TestServerFrames(t *testing.T) {
	yes, no := true, false
	at := time.Date(2026, 12, 8, 9, 30, 0, 0, time.UTC)
	tests := []struct {
		json string
		want wire.Server
	}{
		{`{"type":"resume","recovered":true,"lastSeq":7}`, wire.Server{Type: wire.TypeResume, Recovered: &yes, LastSeq: 7}},
		{`{"type":"resume","recovered":false,"lastSeq":3}`, wire.Server{Type: wire.TypeResume, Recovered: &no, LastSeq: 3}},
		{`{"type":"event","event":{"seq":8,"time":"2026-12-08T09:30:00Z","kind":"message","from":{"type":"visitor","name":"Ada"},"text":"Hi","clientId":"c1"},"html":"<li id=\"parley-seq-8\"></li>"}`,
			wire.Server{Type: wire.TypeEvent, Event: &wire.Event{Seq: 8, Time: at, Kind: "message", From: chatstate.Party{Type: chatstate.PartyVisitor, Name: "Ada"}, Text: "Hi", ClientID: "c1"}, HTML: `<li id="parley-seq-8"></li>`}},
		{`{"type":"event","event":{"seq":9,"time":"2026-12-08T09:30:00Z","kind":"accepted","from":{"type":"agent","name":"Sam"}},"widget":"<section id=\"parley-widget\"></section>"}`,
			wire.Server{Type: wire.TypeEvent, Event: &wire.Event{Seq: 9, Time: at, Kind: "accepted", From: chatstate.Party{Type: chatstate.PartyAgent, Name: "Sam"}}, Widget: `<section id="parley-widget"></section>`}},
		{`{"type":"ack","clientId":"c1","seq":8}`, wire.Server{Type: wire.TypeAck, ClientID: "c1", Seq: 8}},
		{`{"type":"error","clientId":"c2","error":{"code":105,"name":"rate_limited","description":""}}`,
			wire.Server{Type: wire.TypeError, ClientID: "c2", Error: &wire.Error{Code: 105, Name: "rate_limited"}}},
	}
	for _, tt := range tests {
		t.Run(tt.json, func(t *testing.T) {
			var got wire.Server
			if err := json.Unmarshal([]byte(tt.json), &got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("decoded (-want +got):\n%s", diff)
			}
			var again strings.Builder
			enc := json.NewEncoder(&again)
			enc.SetEscapeHTML(false)
			if err := enc.Encode(got); err != nil {
				t.Fatal(err)
			}
			if strings.TrimSpace(again.String()) != tt.json {
				t.Errorf("encoded again: %s, want %s", again.String(), tt.json)
			}
		})
	}
}

func TestFrameHelpers(t *testing.T) {
	no := false
	if !(wire.Server{Type: wire.TypeResume, Recovered: &no}).Unrecovered() || (wire.Server{Type: wire.TypeResume}).Unrecovered() {
		t.Error("Unrecovered: want true for recovered:false only")
	}
	if got := (wire.Server{Type: wire.TypeError, Error: &wire.Error{Code: 105}}).Code(); got != 105 {
		t.Errorf("Code() = %d, want 105", got)
	}
	if got := (wire.Server{Type: wire.TypeAck}).Code(); got != 0 {
		t.Errorf("Code() of an ack = %d, want 0", got)
	}
}

func TestClientFrames(t *testing.T) {
	for _, tt := range []struct {
		f    wire.Client
		want string
	}{
		{wire.Client{Type: wire.TypeHello, LastSeq: 12}, `{"type":"hello","lastSeq":12}`},
		{wire.Client{Type: wire.TypeHello}, `{"type":"hello"}`},
		{wire.Client{Type: wire.TypeMessage, ClientID: "c1", Text: "Hi"}, `{"type":"message","clientId":"c1","text":"Hi"}`},
		{wire.Client{Type: wire.TypeTyping}, `{"type":"typing"}`},
	} {
		got, err := json.Marshal(tt.f)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != tt.want {
			t.Errorf("%+v encodes as %s, want %s", tt.f, got, tt.want)
		}
	}
}

func TestPollAnswer(t *testing.T) {
	frames := []wire.Server{{Type: wire.TypeAck, ClientID: "c1", Seq: 2}, {Type: wire.TypeEvent, Event: &wire.Event{Seq: 3, Kind: "typing"}}}
	got, err := decodeFrames(encodeFrames(frames...))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(frames, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	if got := string(encodeFrames()); got != `{"frames":[]}` {
		t.Errorf("no frames encode as %s, want {\"frames\":[]}", got)
	}
}

func TestParsePages(t *testing.T) {
	page := `<html><body><main>…</main>
<section id="parley-widget" class="parley" data-chat-id="c0ffee" data-phase="queued" data-last-seq="4">
<form><input type="hidden" name="parley_csrf" value="tok"></form></section></body></html>`
	w, err := ParseWidget(page)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Widget{ChatID: "c0ffee", Phase: "queued", CSRF: "tok", LastSeq: 4}); w != want {
		t.Errorf("ParseWidget = %+v, want %+v", w, want)
	}
	if _, err := ParseWidget(`<section id="parley-widget" data-phase="start"></section>`); err == nil {
		t.Error("ParseWidget of a widget without its token: no error")
	}
	if _, err := ParseWidget(`<p>no widget</p>`); err == nil {
		t.Error("ParseWidget of a page without a widget: no error")
	}

	console := `<head><meta name="parley-csrf-token" content="tok2"></head><ul id="agent-queue-list" class="q" data-version="v9"></ul>`
	c, err := ParseConsole(console)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Console{CSRF: "tok2", Queue: "v9"}); c != want {
		t.Errorf("ParseConsole = %+v, want %+v", c, want)
	}
	if _, err := ParseConsole(page); err == nil {
		t.Error("ParseConsole of a widget page: no error")
	}
}

func TestStatusErrorPermanent(t *testing.T) {
	for status, want := range map[int]bool{400: true, 403: true, 429: false, 500: false, 503: false} {
		if got := errors.Is(&StatusError{Status: status}, ErrPermanent); got != want {
			t.Errorf("a %d is permanent: %v, want %v", status, got, want)
		}
	}
}

// fakeChat answers the visitor's transports as far as docs/PROTOCOL.md
// says: a resume after the client's seq, an event then an ack for each
// message.
type fakeChat struct {
	upgrader websocket.Upgrader
	mu       sync.Mutex
	seq      int64
	queries  []url.Values
}

func (s *fakeChat) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.queries = append(s.queries, r.URL.Query())
	s.mu.Unlock()
	switch r.URL.Path {
	case "/chat/ws":
		conn, err := s.upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		for {
			var f wire.Client
			if err := conn.ReadJSON(&f); err != nil {
				return
			}
			for _, out := range s.answer(f) {
				if err := conn.WriteJSON(out); err != nil {
					return
				}
			}
		}
	case "/chat/poll":
		// A short hold, as a server's wait for events, so the loop does not spin.
		select {
		case <-time.After(20 * time.Millisecond):
		case <-r.Context().Done():
			return
		}
		w.Write(encodeFrames(s.answer(wire.Client{Type: wire.TypeHello})...))
	case "/chat/frames":
		if r.Header.Get("X-Parley-Csrf") != "tok" {
			http.Error(w, "csrf", http.StatusForbidden)
			return
		}
		var f wire.Client
		data, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(data, &f); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		frames := s.answer(f)
		w.Write(encodeFrames(frames[len(frames)-1:]...)) // the ack only: the event comes by poll
	default:
		http.NotFound(w, r)
	}
}

func (s *fakeChat) answer(f wire.Client) []wire.Server {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch f.Type {
	case wire.TypeHello:
		yes := true
		return []wire.Server{{Type: wire.TypeResume, Recovered: &yes, LastSeq: s.seq}}
	case wire.TypeMessage:
		if f.Text == "refuse" {
			return []wire.Server{{Type: wire.TypeError, ClientID: f.ClientID, Error: &wire.Error{Code: 105, Name: "rate_limited"}}}
		}
		s.seq++
		return []wire.Server{
			{Type: wire.TypeEvent, Event: &wire.Event{Seq: s.seq, Kind: "message", Text: f.Text, ClientID: f.ClientID}},
			{Type: wire.TypeAck, ClientID: f.ClientID, Seq: s.seq},
		}
	}
	return nil
}

// TestLive sends over both transports and checks that each send gets its
// own answer and every other frame goes to OnFrame.
func TestLive(t *testing.T) {
	for _, ws := range []bool{true, false} {
		t.Run(map[bool]string{true: "WebSocket", false: "long-poll"}[ws], func(t *testing.T) {
			srv := httptest.NewServer(&fakeChat{})
			defer srv.Close()
			jar, _ := cookiejar.New(nil)
			c := &Client{Base: srv.URL, HTTP: &http.Client{Jar: jar}}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var mu sync.Mutex
			var got []string
			live, err := c.Open(ctx, ws, Stream{
				Page: "/products", CSRF: "tok", LastSeq: func() int64 { return 0 },
				OnFrame: func(f wire.Server) bool {
					mu.Lock()
					defer mu.Unlock()
					got = append(got, f.Type)
					return true
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			defer live.Abort()
			select {
			case <-live.Ready():
			case <-ctx.Done():
				t.Fatal("the transport never got ready")
			}
			ack, err := live.Send(ctx, wire.Client{Type: wire.TypeMessage, ClientID: "c1", Text: "Hi"}, 5*time.Second)
			if err != nil || ack.Type != wire.TypeAck || ack.Seq != 1 {
				t.Errorf("Send = %+v, %v; want the ack of seq 1", ack, err)
			}
			refused, err := live.Send(ctx, wire.Client{Type: wire.TypeMessage, ClientID: "c2", Text: "refuse"}, 5*time.Second)
			if err != nil || refused.Code() != 105 {
				t.Errorf("Send = %+v, %v; want the error of code 105", refused, err)
			}
			if ws {
				mu.Lock()
				if want := []string{wire.TypeResume, wire.TypeEvent}; !cmp.Equal(got, want) {
					t.Errorf("OnFrame got %v, want %v", got, want)
				}
				mu.Unlock()
			}
			live.Abort()
			if !live.IsDown() {
				t.Error("an aborted transport is not down")
			}
			if _, err := live.Send(ctx, wire.Client{Type: wire.TypeMessage, ClientID: "c3", Text: "late"}, time.Second); !errors.Is(err, ErrDown) {
				t.Errorf("Send after Abort: %v, want ErrDown", err)
			}
		})
	}
}

// TestLiveFail checks that OnFrame returning false stops the stream and
// fails a send waiting for its answer.
func TestLiveFail(t *testing.T) {
	upgrader := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		var f wire.Client
		_ = conn.ReadJSON(&f) // hello
		_ = conn.ReadJSON(&f) // the message, answered by a gap
		_ = conn.WriteJSON(wire.Server{Type: wire.TypeEvent, Event: &wire.Event{Seq: 5, Kind: "message"}})
		_, _, _ = conn.ReadMessage()
	}))
	defer srv.Close()
	c := &Client{Base: srv.URL, HTTP: &http.Client{}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	live, err := c.Open(ctx, true, Stream{OnFrame: func(f wire.Server) bool { return f.Event.Seq == 1 }})
	if err != nil {
		t.Fatal(err)
	}
	defer live.Abort()
	if _, err := live.Send(ctx, wire.Client{Type: wire.TypeMessage, ClientID: "c1", Text: "x"}, 5*time.Second); !errors.Is(err, ErrDown) {
		t.Errorf("Send across a gap: %v, want ErrDown", err)
	}
	if !live.IsDown() {
		t.Error("the transport is not down after OnFrame refused a frame")
	}
}

func TestOpenRefused(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusForbidden)
	}))
	defer srv.Close()
	c := &Client{Base: srv.URL, HTTP: &http.Client{}}
	_, err := c.Open(context.Background(), true, Stream{Console: true})
	var se *StatusError
	if !errors.As(err, &se) || se.Status != http.StatusForbidden || se.Path != "/agent/ws" || !errors.Is(err, ErrPermanent) {
		t.Errorf("Open against a 403 = %v, want a permanent *StatusError of /agent/ws", err)
	}
	if !strings.Contains(err.Error(), "403") {
		t.Errorf("the error %q does not name the status", err)
	}
}

// encodeFrames writes frames as a long-poll answers them.
func encodeFrames(frames ...wire.Server) []byte {
	if frames == nil {
		frames = []wire.Server{}
	}
	data, _ := json.Marshal(wire.Poll{Frames: frames})
	return data
}
