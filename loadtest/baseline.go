package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/parley/parley/handlers/live/wire"
)

// The baseline is the least a server can do for each thing the load tool
// asks of Parley, in the same shapes, with nothing behind it: no store, no
// cookies, no templates, no checks. Pages are bytes made at start, of about
// the size and shape of the demo's page without a chat; the static file is
// as large as chat.js; the WebSocket and long-poll endpoints speak just
// enough of docs/PROTOCOL.md (resume, ack, event) for the same client code
// to drive them; an agent's reply is handed to the visitor's connection and
// every visitor frame to every agent's, as Parley's console feed gets every
// chat's events. Parley's figures are reported beside these as ratios.

// baselineWriteWait, baselinePongWait and baselinePingPeriod are Parley's
// (handlers/websocket.go), so that idle sockets cost the same pings.
const (
	baselineWriteWait  = 10 * time.Second
	baselinePongWait   = 60 * time.Second
	baselinePingPeriod = baselinePongWait * 9 / 10
	baselinePollWait   = 25 * time.Second
	staticFileBytes    = 31 * 1024
)

type baselineServer struct {
	pages    map[string][]byte
	static   []byte
	upgrader websocket.Upgrader
	seq      atomic.Int64

	mu       sync.Mutex
	visitors map[string]chan []byte // a visitor's live connection or parked poll
	agents   map[chan []byte]struct{}
}

func newBaselineServer() *baselineServer {
	b := &baselineServer{
		pages:    map[string][]byte{},
		visitors: map[string]chan []byte{},
		agents:   map[chan []byte]struct{}{},
		upgrader: websocket.Upgrader{
			ReadBufferSize:  1024,
			WriteBufferSize: 4096,
			CheckOrigin:     func(*http.Request) bool { return true },
		},
	}
	for _, p := range []struct{ path, title string }{{"/", "Home"}, {"/products", "Products"}, {"/pricing", "Pricing"}, {"/contact", "Contact"}} {
		b.pages[p.path] = baselinePage(p.path, p.title)
	}
	js := bytes.Repeat([]byte("/* baseline static file */\n"), staticFileBytes/27+1)
	b.static = js[:staticFileBytes]
	return b
}

// baselinePage is a page of the demo's shape: a head with its links, the
// site's header and navigation, a few paragraphs, and the collapsed widget's
// launcher form, about 3 KB.
func baselinePage(path, title string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">`+
		`<title>%s · Baseline</title><link rel="stylesheet" href="/assets/site.css"><link rel="stylesheet" href="/chat/static/chat.css">`+
		`<script src="/chat/static/chat.js" defer></script><script src="/assets/site.js" defer></script></head><body>`+
		`<header class="site-header"><a class="site-brand" href="/">Baseline Outdoor Co.</a><nav aria-label="Main"><ul>`+
		`<li><a href="/">Home</a></li><li><a href="/products">Products</a></li><li><a href="/pricing">Pricing</a></li><li><a href="/contact">Contact</a></li></ul></nav></header>`+
		`<main id="content"><h1>%s</h1>`, title, title)
	for range 10 {
		b.WriteString(`<p>Tents, packs and boots tested on real mountains. Have a question about sizing or shipping? Our team is one click away in the chat.</p>`)
	}
	fmt.Fprintf(&b, `</main><section id="parley-widget" class="parley" aria-label="Chat with us" data-state="start" data-chat-id="" data-phase="" data-last-seq="0">`+
		`<div class="parley-launcher"><form class="parley-ui" method="post" action="/chat/ui"><input type="hidden" name="return_to" value="%s">`+
		`<input type="hidden" name="open" value="true"> <button type="submit" class="parley-button parley-open" aria-expanded="false" aria-controls="parley-panel">Open chat</button></form></div>`+
		`<div id="parley-panel" class="parley-panel" hidden><header class="parley-header"><h2 class="parley-title">Chat with us</h2></header>`+
		`<form class="parley-start" method="post" action="/chat/start"><input type="hidden" name="return_to" value="%s"><button type="submit" class="parley-button">Start chat</button></form></div></section>`, path, path)
	b.WriteString(`<footer class="site-footer"><p>Baseline Outdoor Co. · a page with no chat behind it.</p></footer></body></html>`)
	return []byte(b.String())
}

func (b *baselineServer) handler() http.Handler {
	mux := http.NewServeMux()
	for path, page := range b.pages {
		pattern := "GET " + path
		if path == "/" {
			pattern += "{$}"
		}
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Cache-Control", "no-store")
			_, _ = w.Write(page)
		})
	}
	mux.HandleFunc("GET /chat/static/chat.js", func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "chat.js", time.Time{}, bytes.NewReader(b.static))
	})
	mux.HandleFunc("GET /chat/ws", b.websocket)
	mux.HandleFunc("GET /agent/ws", b.agentSocket)
	mux.HandleFunc("GET /chat/poll", b.poll)
	mux.HandleFunc("POST /chat/frames", b.postFrame)
	mux.HandleFunc("POST /agent/chats/{id}/messages", b.agentReply)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		var mem runtime.MemStats
		runtime.ReadMemStats(&mem)
		fmt.Fprintf(w, "# TYPE baseline_heap_bytes gauge\nbaseline_heap_bytes %d\n", mem.HeapAlloc)
	})
	return mux
}

// register makes ch the visitor's live connection, returning the release.
func (b *baselineServer) register(id string, ch chan []byte) func() {
	b.mu.Lock()
	b.visitors[id] = ch
	b.mu.Unlock()
	return func() {
		b.mu.Lock()
		if b.visitors[id] == ch {
			delete(b.visitors, id)
		}
		b.mu.Unlock()
	}
}

// toVisitor hands a frame to the visitor's connection, dropping it when
// the connection is gone or behind.
func (b *baselineServer) toVisitor(id string, frame []byte) {
	b.mu.Lock()
	ch := b.visitors[id]
	b.mu.Unlock()
	if ch != nil {
		select {
		case ch <- frame:
		default:
		}
	}
}

// toAgents hands a frame to every agent's feed.
func (b *baselineServer) toAgents(frame []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for ch := range b.agents {
		select {
		case ch <- frame:
		default:
		}
	}
}

// apply answers one visitor frame: an ack for a message, which goes to the
// agents too, as typing does.
func (b *baselineServer) apply(id string, data []byte) []byte {
	var f wire.Client
	if json.Unmarshal(data, &f) != nil {
		return nil
	}
	switch f.Type {
	case "message":
		seq := b.seq.Add(1)
		b.toAgents(agentEventFrame(id, seq, f.Text))
		ack, _ := json.Marshal(wire.Server{Type: "ack", ClientID: f.ClientID, Seq: seq})
		return ack
	case "typing":
		b.toAgents(agentEventFrame(id, b.seq.Add(1), ""))
	}
	return nil
}

func agentEventFrame(chat string, seq int64, text string) []byte {
	frame, _ := json.Marshal(wire.Server{Type: "event", HTML: fmt.Sprintf(`<li class="agent-line" data-chat="%s" data-seq="%d">%s</li>`, chat, seq, text)})
	return frame
}

// serveSocket runs one connection as Parley's do: one reader, one writer
// that does every write with a deadline and pings, a read limit, and pongs
// that extend the read deadline.
func (b *baselineServer) serveSocket(conn *websocket.Conn, out chan []byte, onFrame func([]byte) []byte) {
	defer conn.Close()
	readerDone := make(chan struct{})
	replies := make(chan []byte, 16)
	go func() {
		defer close(readerDone)
		conn.SetReadLimit(16 << 10)
		_ = conn.SetReadDeadline(time.Now().Add(baselinePongWait))
		conn.SetPongHandler(func(string) error { return conn.SetReadDeadline(time.Now().Add(baselinePongWait)) })
		for {
			_, data, err := conn.ReadMessage()
			if err != nil {
				return
			}
			_ = conn.SetReadDeadline(time.Now().Add(baselinePongWait))
			if reply := onFrame(data); reply != nil {
				select {
				case replies <- reply:
				case <-time.After(baselineWriteWait):
					return
				}
			}
		}
	}()
	ping := time.NewTicker(baselinePingPeriod)
	defer ping.Stop()
	write := func(data []byte) bool {
		_ = conn.SetWriteDeadline(time.Now().Add(baselineWriteWait))
		return conn.WriteMessage(websocket.TextMessage, data) == nil
	}
	for {
		select {
		case data := <-replies:
			if !write(data) {
				return
			}
		case data := <-out:
			if !write(data) {
				return
			}
		case <-ping.C:
			if conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(baselineWriteWait)) != nil {
				return
			}
		case <-readerDone:
			return
		}
	}
}

var resumeFrameJSON = []byte(`{"type":"resume","recovered":true}`)

func (b *baselineServer) websocket(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("id")
	conn, err := b.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	out := make(chan []byte, 16)
	defer b.register(id, out)()
	b.serveSocket(conn, out, func(data []byte) []byte {
		if bytes.Contains(data, []byte(`"hello"`)) {
			return resumeFrameJSON
		}
		return b.apply(id, data)
	})
}

func (b *baselineServer) agentSocket(w http.ResponseWriter, r *http.Request) {
	conn, err := b.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	out := make(chan []byte, 256)
	b.mu.Lock()
	b.agents[out] = struct{}{}
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		delete(b.agents, out)
		b.mu.Unlock()
	}()
	b.serveSocket(conn, out, func(data []byte) []byte {
		if bytes.Contains(data, []byte(`"hello"`)) {
			return resumeFrameJSON
		}
		return nil
	})
}

// poll parks until a frame comes for the visitor or the wait is over.
func (b *baselineServer) poll(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("id")
	out := make(chan []byte, 16)
	release := b.register(id, out)
	defer release()
	timer := time.NewTimer(baselinePollWait)
	defer timer.Stop()
	w.Header().Set("Content-Type", "application/json")
	select {
	case frame := <-out:
		fmt.Fprintf(w, `{"frames":[%s]}`, frame)
	case <-timer.C:
		_, _ = io.WriteString(w, `{"frames":[]}`)
	case <-r.Context().Done():
	}
}

func (b *baselineServer) postFrame(w http.ResponseWriter, r *http.Request) {
	data, _ := io.ReadAll(io.LimitReader(r.Body, 16<<10))
	w.Header().Set("Content-Type", "application/json")
	if reply := b.apply(r.URL.Query().Get("id"), data); reply != nil {
		fmt.Fprintf(w, `{"frames":[%s]}`, reply)
		return
	}
	_, _ = io.WriteString(w, `{"frames":[]}`)
}

func (b *baselineServer) agentReply(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	text := r.FormValue("text")
	seq := b.seq.Add(1)
	frame, _ := json.Marshal(wire.Server{Type: "event", Event: &wire.Event{Seq: seq, Kind: "message", Text: text, ClientID: r.FormValue("client_id")}})
	b.toVisitor(id, frame)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprintf(w, `<li class="agent-line agent-message" data-chat="%s" data-seq="%d"><p class="agent-text">%s</p></li>`, id, seq, text)
}

// runBaseline serves the baseline on addr until ctx is done, printing the
// same "listening on" line as Parley.
func runBaseline(ctx context.Context, addr string, stdout io.Writer) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	server := &http.Server{Handler: newBaselineServer().handler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	fmt.Fprintf(stdout, "baseline listening on http://%s\n", ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- server.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = server.Shutdown(shutdown)
	return nil
}

// baselineID is how a baseline visitor names itself: the server has no
// cookie to know it by.
func baselineID(i int) string { return "v" + strconv.Itoa(i) }
