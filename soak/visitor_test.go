package soak

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// pages are the demo site's pages a visitor moves between.
var pages = []string{"/", "/products", "/pricing"}

// ackWait is how long a sent message may wait for its ack on a WebSocket
// before it is retried.
const ackWait = 5 * time.Second

var errTransportDown = errors.New("transport down")

// serverFrame is a frame of docs/PROTOCOL.md from the server.
type serverFrame struct {
	Type      string `json:"type"`
	Recovered *bool  `json:"recovered"`
	LastSeq   int64  `json:"lastSeq"`
	Event     *struct {
		Seq      int64  `json:"seq"`
		Kind     string `json:"kind"`
		Text     string `json:"text"`
		ClientID string `json:"clientId"`
	} `json:"event"`
	HTML     string `json:"html"`
	Widget   string `json:"widget"`
	ClientID string `json:"clientId"`
	Seq      int64  `json:"seq"`
	Error    *struct {
		Code int    `json:"code"`
		Name string `json:"name"`
	} `json:"error"`
}

// clientFrame is a frame to the server.
type clientFrame struct {
	Type     string `json:"type"`
	LastSeq  int64  `json:"lastSeq,omitempty"`
	ClientID string `json:"clientId,omitempty"`
	Text     string `json:"text,omitempty"`
}

// sendResult is the server's answer to a message frame.
type sendResult struct {
	seq  int64
	code int // an error frame's code
}

// visitor is one person on the demo site with a chat, as chat.js would
// be: it shows the widget the server renders with each page, appends live
// events over a WebSocket or a long-poll, and retries unacknowledged
// messages with their client ids.
type visitor struct {
	r      *soakRun
	name   string
	rng    *rand.Rand
	client *http.Client
	page   string

	mu      sync.Mutex
	csrf    string
	chatID  string
	gen     int // counts transports: frames of an old one are dropped
	lastSeq int64
	lines   []line // the transcript shown, in the order it was built
	cur     *visitorTransport
	waiters map[string]chan sendResult
	resync  bool // re-render before going on (a resume with recovered:false, a gap)
	pending []*message
	sent    []*message // this visitor's messages, in the order written
	nextID  int
}

// visitorTransport is one WebSocket, or one long-poll loop.
type visitorTransport struct {
	ws     bool
	gen    int
	conn   *websocket.Conn
	cancel context.CancelFunc
	down   chan struct{} // closed when it has failed or been closed
	once   sync.Once
	wg     sync.WaitGroup
}

func (t *visitorTransport) markDown() { t.once.Do(func() { close(t.down) }) }

func (t *visitorTransport) isDown() bool {
	select {
	case <-t.down:
		return true
	default:
		return false
	}
}

func (t *visitorTransport) kind() string { return transportName(t.ws) }

func newVisitor(r *soakRun, i int, seed uint64) *visitor {
	return &visitor{
		r: r, name: fmt.Sprintf("visitor %d", i), rng: rand.New(rand.NewPCG(seed, uint64(100+i))),
		client: newHTTPClient(nil), page: "/", waiters: map[string]chan sendResult{},
	}
}

// start opens the site, starts a chat and registers, as a person filling
// in the form does.
func (v *visitor) start(ctx context.Context) error {
	var w widget
	err := retry(ctx, v.r, func() error {
		html, err := do(ctx, v.client, http.MethodGet, v.r.base+"/", nil, nil)
		if err != nil {
			return err
		}
		w, err = parseWidget(html)
		return err
	})
	if err != nil {
		return err
	}
	form := url.Values{"return_to": {"/"}}
	err = retry(ctx, v.r, func() error {
		html, err := postForm(ctx, v.client, v.r.base+"/chat/start", w.csrf, form)
		if err != nil {
			return err
		}
		w, err = parseWidget(html)
		return err
	})
	if err != nil {
		return err
	}
	form = url.Values{"return_to": {"/"}, "first_name": {strings.ReplaceAll(v.name, " ", "")}, "email": {strings.ReplaceAll(v.name, " ", "") + "@example.com"}}
	err = retry(ctx, v.r, func() error {
		html, err := postForm(ctx, v.client, v.r.base+"/chat/register", w.csrf, form)
		if err != nil {
			return err
		}
		w, err = parseWidget(html)
		return err
	})
	if err != nil {
		return err
	}
	if w.phase != "queued" || w.chatID == "" {
		return fmt.Errorf("%s: after registering the widget is in phase %q of chat %q", v.name, w.phase, w.chatID)
	}
	v.mu.Lock()
	v.chatID, v.csrf, v.lastSeq, v.lines = w.chatID, w.csrf, w.lastSeq, w.lines
	v.mu.Unlock()
	return nil
}

// cycle is one reload, navigation or reconnect, over a transport picked
// at random, with a message or two.
func (v *visitor) cycle(ctx context.Context) error {
	ws := v.rng.IntN(2) == 0
	switch n := v.rng.IntN(10); {
	case n < 3:
		v.r.trace(v.name, "cycle: reload, then %s", transportName(ws))
		v.r.stats.reloads.Add(1)
		if err := v.load(ctx, "reload of "+v.page); err != nil {
			return err
		}
	case n < 6:
		v.r.stats.navigations.Add(1)
		next := pages[v.rng.IntN(len(pages))]
		for next == v.page {
			next = pages[v.rng.IntN(len(pages))]
		}
		v.page = next
		v.r.trace(v.name, "cycle: navigate to %s, then %s", next, transportName(ws))
		if err := v.load(ctx, "navigation to "+next); err != nil {
			return err
		}
	default:
		v.r.trace(v.name, "cycle: reconnect over %s", transportName(ws))
		v.r.stats.reconnects.Add(1)
		v.closeTransport()
	}
	if err := v.open(ctx, ws); err != nil {
		return err
	}
	for range 1 + v.rng.IntN(2) {
		v.write()
	}
	if err := v.flush(ctx, ws, 3); err != nil {
		return err
	}
	// Read a while: live events arrive.
	return sleep(ctx, time.Duration(150+v.rng.IntN(450))*time.Millisecond)
}

// write adds a new message to send.
func (v *visitor) write() {
	v.nextID++
	id := fmt.Sprintf("%s-%d", strings.ReplaceAll(v.name, " ", ""), v.nextID)
	m := &message{chat: v.chatID, from: "visitor", clientID: id, text: "msg " + id}
	v.r.ledger.add(m)
	v.r.stats.sent.Add(1)
	v.pending = append(v.pending, m)
	v.sent = append(v.sent, m)
}

// load closes the transport and loads the page, which renders the widget
// as the server has it: what the client showed must agree with it.
func (v *visitor) load(ctx context.Context, when string) error {
	v.closeTransport()
	var w widget
	err := retry(ctx, v.r, func() error {
		html, err := do(ctx, v.client, http.MethodGet, v.r.base+v.page, nil, nil)
		if err != nil {
			return err
		}
		if w, err = parseWidget(html); err != nil {
			return err
		}
		return withEarlier(ctx, v.client, v.r.base, &w)
	})
	if err != nil {
		return fmt.Errorf("%s: %s: %w", v.name, when, err)
	}
	v.r.trace(v.name, "%s: the page shows up to seq %d, %d messages", when, w.lastSeq, len(w.lines))
	v.replace(w, when)
	return nil
}

// replace takes a widget the server rendered, after checking what was
// shown against it.
func (v *visitor) replace(w widget, when string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if w.chatID != v.chatID {
		v.r.violate("lost", "%s, %s: the widget shows chat %q, want %q", v.name, when, w.chatID, v.chatID)
		return
	}
	v.r.compareView(v.name+" ("+v.chatID[:8]+")", when, v.lines, v.lastSeq, w.lines, w.lastSeq)
	v.lines, v.lastSeq, v.csrf, v.resync = w.lines, w.lastSeq, w.csrf, false
}

// closeTransport ends the live transport; nothing it still receives counts.
func (v *visitor) closeTransport() {
	v.mu.Lock()
	t := v.cur
	v.cur = nil
	v.gen++
	v.failWaiters()
	v.mu.Unlock()
	if t == nil {
		return
	}
	t.markDown()
	if t.conn != nil {
		t.conn.Close()
	}
	if t.cancel != nil {
		t.cancel()
	}
	t.wg.Wait()
}

// failWaiters tells every send waiting for an ack that none will come on
// this transport; v.mu is held.
func (v *visitor) failWaiters() {
	for id, ch := range v.waiters {
		close(ch)
		delete(v.waiters, id)
	}
}

// open starts a live transport from the last seq shown, retrying while the
// server is down.
func (v *visitor) open(ctx context.Context, ws bool) error {
	v.closeTransport()
	v.mu.Lock()
	resync := v.resync
	v.mu.Unlock()
	if resync {
		if err := v.load(ctx, "re-render after a resync"); err != nil {
			return err
		}
	}
	if !ws {
		v.r.stats.pollOpens.Add(1)
		v.mu.Lock()
		defer v.mu.Unlock()
		v.gen++
		pctx, cancel := context.WithCancel(ctx)
		t := &visitorTransport{gen: v.gen, cancel: cancel, down: make(chan struct{})}
		v.cur = t
		v.r.trace(v.name, "long-poll loop %d opens", t.gen)
		t.wg.Add(1)
		page := v.page
		go func() {
			defer t.wg.Done()
			v.pollLoop(pctx, t, page)
		}()
		return nil
	}
	return retry(ctx, v.r, func() error {
		u := "ws" + strings.TrimPrefix(v.r.base, "http") + "/chat/ws?page=" + url.QueryEscape(v.page)
		d := websocket.Dialer{HandshakeTimeout: 5 * time.Second, Jar: v.client.Jar}
		conn, resp, err := d.DialContext(ctx, u, http.Header{"Origin": {v.r.base}})
		if err != nil {
			if resp != nil && resp.StatusCode/100 == 4 && resp.StatusCode != http.StatusTooManyRequests {
				return fmt.Errorf("%s: open WebSocket: %d: %w", v.name, resp.StatusCode, errPermanent)
			}
			return err
		}
		v.r.stats.wsOpens.Add(1)
		v.mu.Lock()
		v.gen++
		t := &visitorTransport{ws: true, gen: v.gen, conn: conn, down: make(chan struct{})}
		v.cur = t
		hello, _ := json.Marshal(clientFrame{Type: "hello", LastSeq: v.lastSeq})
		v.r.trace(v.name, "WebSocket %d opens: %s", t.gen, hello)
		v.mu.Unlock()
		t.wg.Add(1)
		go func() {
			defer t.wg.Done()
			v.readSocket(t)
		}()
		_ = conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if err := conn.WriteMessage(websocket.TextMessage, hello); err != nil {
			v.closeTransport()
			return err
		}
		return nil
	})
}

// readSocket applies a WebSocket's frames until it ends.
func (v *visitor) readSocket(t *visitorTransport) {
	defer v.transportFailed(t)
	for {
		_, data, err := t.conn.ReadMessage()
		if err != nil {
			v.r.trace(v.name, "WebSocket %d ends: %v", t.gen, err)
			return
		}
		var f serverFrame
		if err := json.Unmarshal(data, &f); err != nil {
			v.r.violate("protocol", "%s: undecodable frame %s: %v", v.name, firstBytes(string(data), 200), err)
			return
		}
		v.apply(t, f)
	}
}

// pollLoop long-polls from the last seq shown until closed; failed polls
// are retried, as chat.js does.
func (v *visitor) pollLoop(ctx context.Context, t *visitorTransport, page string) {
	wait := 50 * time.Millisecond
	for ctx.Err() == nil {
		v.mu.Lock()
		if v.gen != t.gen || v.resync {
			v.mu.Unlock()
			return
		}
		after := v.lastSeq
		v.mu.Unlock()
		target := fmt.Sprintf("%s/chat/poll?after=%d&page=%s", v.r.base, after, url.QueryEscape(page))
		body, err := do(ctx, v.client, http.MethodGet, target, nil, http.Header{"Origin": {v.r.base}})
		var answer struct{ Frames []serverFrame }
		if err == nil {
			err = json.Unmarshal([]byte(body), &answer)
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if errors.Is(err, errPermanent) {
				v.r.violate("refused", "%s: poll refused: %v", v.name, err)
				v.transportFailed(t)
				return
			}
			v.r.trace(v.name, "poll after %d fails: %v", after, err)
			v.r.stats.transportErrors.Add(1)
			if sleep(ctx, wait) != nil {
				return
			}
			wait = min(2*wait, time.Second)
			continue
		}
		wait = 50 * time.Millisecond
		for _, f := range answer.Frames {
			v.apply(t, f)
		}
	}
}

// transportFailed marks t down and fails its waiting sends.
func (v *visitor) transportFailed(t *visitorTransport) {
	t.markDown()
	v.mu.Lock()
	if v.cur == t {
		v.failWaiters()
	}
	v.mu.Unlock()
}

// apply takes one server frame of transport t, as chat.js does, and checks
// the stream: each event is the one after the last seq shown.
func (v *visitor) apply(t *visitorTransport, f serverFrame) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.gen != t.gen || v.resync {
		return
	}
	who := fmt.Sprintf("%s (%s) over %s", v.name, v.chatID[:8], t.kind())
	switch f.Type {
	case "resume":
		v.r.trace(v.name, "%s %d: resume recovered=%v lastSeq=%d", t.kind(), t.gen, f.Recovered != nil && *f.Recovered, f.LastSeq)
		if f.Recovered != nil && !*f.Recovered {
			// The log cannot cover what the client is missing: re-render.
			v.r.stats.resyncs.Add(1)
			v.resync = true
			t.markDown()
		}
	case "event":
		if f.Event == nil {
			v.r.violate("protocol", "%s: an event frame without its event", who)
			return
		}
		seq := f.Event.Seq
		v.r.trace(v.name, "%s %d: event %d %s %q (widget %v)", t.kind(), t.gen, seq, f.Event.Kind, f.Event.Text, f.Widget != "")
		switch {
		case seq <= v.lastSeq:
			v.r.violate("duplicate", "%s: event %d (%s %q) delivered again; the client has up to %d", who, seq, f.Event.Kind, f.Event.Text, v.lastSeq)
			return
		case seq > v.lastSeq+1:
			v.r.violate("gap", "%s: event %d (%s %q) arrived after %d", who, seq, f.Event.Kind, f.Event.Text, v.lastSeq)
			v.resync = true
			t.markDown()
			return
		}
		switch {
		case f.Widget != "":
			w, err := parseWidget(f.Widget)
			if err != nil {
				v.r.violate("protocol", "%s: event %d: %v", who, seq, err)
				return
			}
			// A long chat's widget holds its latest lines; the older ones
			// the client had stay, as a browser fetches them back on demand.
			var older []line
			if w.earlier {
				for len(older) < len(v.lines) && v.lines[len(older)].seq < w.firstSeq {
					older = v.lines[:len(older)+1]
				}
			}
			v.r.compareView(who, fmt.Sprintf("widget of event %d", seq), v.lines[len(older):], v.lastSeq, w.lines, w.lastSeq)
			v.lines = append(slices.Clip(older), w.lines...)
		case f.Event.Kind == "message":
			if f.HTML == "" {
				v.r.violate("protocol", "%s: message event %d without its transcript line", who, seq)
			}
			v.lines = append(v.lines, line{seq: seq, text: f.Event.Text})
			v.r.stats.delivered.Add(1)
		}
		v.lastSeq = seq
	case "ack", "error":
		v.r.trace(v.name, "%s %d: %s %s seq %d %+v", t.kind(), t.gen, f.Type, f.ClientID, f.Seq, f.Error)
		if ch, ok := v.waiters[f.ClientID]; ok {
			res := sendResult{seq: f.Seq}
			if f.Error != nil {
				res = sendResult{code: f.Error.Code}
			}
			ch <- res
			delete(v.waiters, f.ClientID)
		} else if f.Type == "error" && f.ClientID == "" {
			v.r.violate("protocol", "%s: error frame %+v", who, f.Error)
		}
	}
}

// flush sends the pending messages in order, each until acknowledged or
// tries attempts, reopening a failed transport; a message is not sent
// before the one written earlier is acknowledged.
func (v *visitor) flush(ctx context.Context, ws bool, tries int) error {
	for len(v.pending) > 0 {
		m := v.pending[0]
		acked := false
		for try := 0; try < tries && !acked; try++ {
			v.mu.Lock()
			down := v.cur == nil || v.cur.isDown() || v.resync
			v.mu.Unlock()
			if down {
				v.r.stats.reconnects.Add(1)
				if err := v.open(ctx, ws); err != nil {
					return err
				}
			}
			m.attempts++
			v.r.stats.attempts.Add(1)
			res, err := v.send(ctx, m)
			v.r.trace(v.name, "send %s (try %d): seq %d, code %d, err %v", m.clientID, m.attempts, res.seq, res.code, err)
			switch {
			case ctx.Err() != nil:
				return ctx.Err()
			case err != nil:
				v.r.stats.transportErrors.Add(1)
				if errors.Is(err, errPermanent) {
					return fmt.Errorf("%s: send %s: %w", v.name, m.clientID, err)
				}
			case res.code == 105: // rate_limited: people pause too
				v.r.stats.rateLimited.Add(1)
				if err := sleep(ctx, 400*time.Millisecond); err != nil {
					return err
				}
			case res.code != 0:
				v.r.violate("refused", "%s: message %s refused with code %d", v.name, m.clientID, res.code)
				return fmt.Errorf("%s: message %s refused with code %d", v.name, m.clientID, res.code)
			default:
				v.r.ledger.acked(v.r, m, res.seq)
				acked = true
			}
		}
		if !acked {
			return nil // retried in a later cycle
		}
		v.pending = v.pending[1:]
	}
	return nil
}

// send sends m once over the current transport and waits for its answer.
func (v *visitor) send(ctx context.Context, m *message) (sendResult, error) {
	frame, _ := json.Marshal(clientFrame{Type: "message", ClientID: m.clientID, Text: m.text})
	v.mu.Lock()
	t := v.cur
	if t == nil || t.isDown() {
		v.mu.Unlock()
		return sendResult{}, errTransportDown
	}
	if !t.ws {
		csrf := v.csrf
		v.mu.Unlock()
		h := http.Header{"Origin": {v.r.base}, "X-Parley-Csrf": {csrf}, "Content-Type": {"application/json"}}
		body, err := do(ctx, v.client, http.MethodPost, v.r.base+"/chat/frames", bytes.NewReader(frame), h)
		if err != nil {
			return sendResult{}, err
		}
		var answer struct{ Frames []serverFrame }
		if err := json.Unmarshal([]byte(body), &answer); err != nil {
			return sendResult{}, err
		}
		for _, f := range answer.Frames {
			if f.ClientID != m.clientID {
				continue
			}
			if f.Error != nil {
				return sendResult{code: f.Error.Code}, nil
			}
			return sendResult{seq: f.Seq}, nil
		}
		return sendResult{}, fmt.Errorf("%s: no answer to %s in %s: %w", v.name, m.clientID, firstBytes(body, 200), errPermanent)
	}
	ch := make(chan sendResult, 1)
	v.waiters[m.clientID] = ch
	v.mu.Unlock()
	_ = t.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if err := t.conn.WriteMessage(websocket.TextMessage, frame); err != nil {
		return sendResult{}, err
	}
	timer := time.NewTimer(ackWait)
	defer timer.Stop()
	select {
	case res, ok := <-ch:
		if !ok {
			return sendResult{}, errTransportDown
		}
		return res, nil
	case <-timer.C:
		v.mu.Lock()
		delete(v.waiters, m.clientID)
		v.mu.Unlock()
		return sendResult{}, errTransportDown
	case <-ctx.Done():
		return sendResult{}, ctx.Err()
	}
}

// snapshot is what the visitor shows now.
func (v *visitor) snapshot() (lines []line, lastSeq int64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]line(nil), v.lines...), v.lastSeq
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
