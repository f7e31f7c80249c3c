package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptrace"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// world is what every client of a worker shares: where the server is,
// whether it is the baseline, and where results go.
type world struct {
	base     string // http://127.0.0.1:PORT
	baseline bool
	st       *stats
	// typingFor is how long a visitor types between the typing frame and
	// the message.
	typingFor time.Duration
	// ackWait bounds the wait for an ack.
	ackWait time.Duration
}

// pages are the demo site's pages a visitor moves between; the baseline
// serves the same paths.
var pages = []string{"/", "/products", "/pricing", "/contact"}

func (w *world) wsURL(path string) string {
	return "ws" + strings.TrimPrefix(w.base, "http") + path
}

// visitor is one person on the site, driven as the widget's chat.js drives
// the server: the page with its cookie, the start and registration forms,
// then a WebSocket (or long-poll) from the page's last seq, messages with
// client ids answered by acks.
type visitor struct {
	w      *world
	idx    int
	local  netip.Addr
	client *http.Client
	rng    *rand.Rand
	page   string
	chatID string
	csrf   string
	nextID int

	mu      sync.Mutex
	lastSeq int64
	live    *liveConn
	waiters map[string]chan wireServerFrame
	// expect holds the agent replies on their way, by client id, with when
	// they were posted: their arrival is the delivery latency.
	expect map[string]time.Time
}

// liveConn is one WebSocket, or one long-poll loop.
type liveConn struct {
	ws      *websocket.Conn
	cancel  context.CancelFunc
	done    chan struct{} // closed when its reader or loop has ended
	resumed chan struct{} // closed at the first resume frame
	once    sync.Once
}

func (l *liveConn) markResumed() { l.once.Do(func() { close(l.resumed) }) }

func (l *liveConn) isDown() bool {
	select {
	case <-l.done:
		return true
	default:
		return false
	}
}

func newVisitor(w *world, idx int) *visitor {
	local := sourceAddr(idx)
	return &visitor{
		w: w, idx: idx, local: local, client: newBrowserClient(local),
		rng: rand.New(rand.NewPCG(uint64(idx), 7)), page: "/",
		waiters: map[string]chan wireServerFrame{}, expect: map[string]time.Time{},
	}
}

// setup loads the home page, starts a chat and registers, as a visitor who
// clicks "Start chat" and fills in the form. The baseline has no chat: its
// visitor loads the page only.
func (v *visitor) setup(ctx context.Context) error {
	html, err := do(ctx, v.client, http.MethodGet, v.w.base+v.page, nil, nil)
	if err != nil {
		return fmt.Errorf("load %s: %w", v.page, err)
	}
	if v.w.baseline {
		v.chatID = baselineID(v.idx)
		return nil
	}
	wst, err := parseWidget(html)
	if err != nil {
		return err
	}
	html, err = postForm(ctx, v.client, v.w.base+"/chat/start", wst.csrf, url.Values{"return_to": {v.page}})
	if err != nil {
		return fmt.Errorf("start chat: %w", err)
	}
	if wst, err = parseWidget(html); err != nil {
		return err
	}
	name := "Load" + strconv.Itoa(v.idx)
	form := url.Values{"return_to": {v.page}, "first_name": {name}, "last_name": {"Test"}, "email": {strings.ToLower(name) + "@example.com"}, "subject": {"Load test"}}
	html, err = postForm(ctx, v.client, v.w.base+"/chat/register", wst.csrf, form)
	if err != nil {
		return fmt.Errorf("register: %w", err)
	}
	if wst, err = parseWidget(html); err != nil {
		return err
	}
	if wst.phase != "queued" || wst.chatID == "" {
		return fmt.Errorf("after registering the widget is in phase %q of chat %q", wst.phase, wst.chatID)
	}
	v.chatID, v.csrf = wst.chatID, wst.csrf
	v.mu.Lock()
	v.lastSeq = wst.lastSeq
	v.mu.Unlock()
	return nil
}

// connect opens the live transport from the last seq the page showed and
// waits until the server has resumed it (a WebSocket) or parked the first
// poll's request (a long-poll).
func (v *visitor) connect(ctx context.Context, transport string) error {
	v.disconnect()
	if transport == "poll" {
		return v.startPoll(ctx)
	}
	q := url.Values{"page": {v.page}}
	if v.w.baseline {
		q.Set("id", v.chatID)
	}
	d := websocket.Dialer{
		NetDialContext:   dialerFrom(v.local).DialContext,
		HandshakeTimeout: 10 * time.Second,
		Jar:              v.client.Jar,
		ReadBufferSize:   1024,
		WriteBufferSize:  1024,
	}
	conn, resp, err := d.DialContext(ctx, v.w.wsURL("/chat/ws?"+q.Encode()), http.Header{"Origin": {v.w.base}})
	if err != nil {
		if resp != nil {
			return &statusError{method: "GET", path: "/chat/ws", status: resp.StatusCode}
		}
		return err
	}
	l := &liveConn{ws: conn, done: make(chan struct{}), resumed: make(chan struct{})}
	v.mu.Lock()
	v.live = l
	hello, _ := json.Marshal(wireClientFrame{Type: "hello", LastSeq: v.lastSeq})
	v.mu.Unlock()
	go v.readSocket(l)
	_ = conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if err := conn.WriteMessage(websocket.TextMessage, hello); err != nil {
		v.disconnect()
		return err
	}
	timer := time.NewTimer(10 * time.Second)
	defer timer.Stop()
	select {
	case <-l.resumed:
		return nil
	case <-l.done:
		return errors.New("the WebSocket closed before its resume frame")
	case <-timer.C:
		v.disconnect()
		return fmt.Errorf("no resume frame: %w", context.DeadlineExceeded)
	case <-ctx.Done():
		v.disconnect()
		return ctx.Err()
	}
}

// readSocket applies a WebSocket's frames until it ends.
func (v *visitor) readSocket(l *liveConn) {
	defer close(l.done)
	defer v.failWaiters(l)
	for {
		_, data, err := l.ws.ReadMessage()
		if err != nil {
			return
		}
		var f wireServerFrame
		if err := json.Unmarshal(data, &f); err != nil {
			v.w.st.fail("frame", "undecodable", err)
			return
		}
		v.apply(l, f)
	}
}

// apply takes one frame from the server.
func (v *visitor) apply(l *liveConn, f wireServerFrame) {
	v.mu.Lock()
	defer v.mu.Unlock()
	switch f.Type {
	case "resume":
		if f.Recovered != nil && !*f.Recovered {
			// chat.js re-renders from the server; the tool takes the seq.
			v.lastSeq = f.LastSeq
		}
		l.markResumed()
	case "event":
		if f.Event == nil {
			return
		}
		v.lastSeq = max(v.lastSeq, f.Event.Seq)
		if sent, ok := v.expect[f.Event.ClientID]; ok && f.Event.ClientID != "" {
			delete(v.expect, f.Event.ClientID)
			v.w.st.ok("deliver", time.Since(sent), 0)
		}
	case "ack", "error":
		if ch, ok := v.waiters[f.ClientID]; ok {
			delete(v.waiters, f.ClientID)
			ch <- f
		} else if f.Type == "error" {
			v.w.st.fail("frame", "error-frame", fmt.Errorf("error frame %+v", f.Error))
		}
	}
}

// failWaiters ends the waits for acks on a connection that has ended.
func (v *visitor) failWaiters(l *liveConn) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.live != l {
		return
	}
	for id, ch := range v.waiters {
		close(ch)
		delete(v.waiters, id)
	}
}

// startPoll starts the long-poll loop and returns once its first request
// is on the wire.
func (v *visitor) startPoll(ctx context.Context) error {
	pctx, cancel := context.WithCancel(ctx)
	l := &liveConn{cancel: cancel, done: make(chan struct{}), resumed: make(chan struct{})}
	v.mu.Lock()
	v.live = l
	v.mu.Unlock()
	go v.pollLoop(pctx, l)
	timer := time.NewTimer(10 * time.Second)
	defer timer.Stop()
	select {
	case <-l.resumed:
		return nil
	case <-l.done:
		return errors.New("the long-poll loop ended at once")
	case <-timer.C:
		v.disconnect()
		return fmt.Errorf("the first poll was not sent: %w", context.DeadlineExceeded)
	}
}

// pollLoop long-polls from the last seq until cancelled, as chat.js does:
// a failed poll is retried after a pause.
func (v *visitor) pollLoop(ctx context.Context, l *liveConn) {
	defer close(l.done)
	wait := 500 * time.Millisecond
	trace := &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { l.markResumed() }}
	for ctx.Err() == nil {
		v.mu.Lock()
		q := url.Values{"after": {strconv.FormatInt(v.lastSeq, 10)}, "page": {v.page}}
		v.mu.Unlock()
		if v.w.baseline {
			q.Set("id", v.chatID)
		}
		body, err := do(httptrace.WithClientTrace(ctx, trace), v.client, http.MethodGet, v.w.base+"/chat/poll?"+q.Encode(), nil, http.Header{"Origin": {v.w.base}})
		var answer struct{ Frames []wireServerFrame }
		if err == nil {
			err = json.Unmarshal([]byte(body), &answer)
		}
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			v.w.st.fail("poll", errKind(err), err)
			if sleepCtx(ctx, wait) != nil {
				return
			}
			wait = min(2*wait, 10*time.Second)
			continue
		}
		wait = 500 * time.Millisecond
		for _, f := range answer.Frames {
			v.apply(l, f)
		}
	}
}

// disconnect ends the live transport, as leaving the page does.
func (v *visitor) disconnect() {
	v.mu.Lock()
	l := v.live
	v.live = nil
	for id, ch := range v.waiters {
		close(ch)
		delete(v.waiters, id)
	}
	v.mu.Unlock()
	if l == nil {
		return
	}
	if l.ws != nil {
		_ = l.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, ""), time.Now().Add(time.Second))
		l.ws.Close()
	}
	if l.cancel != nil {
		l.cancel()
	}
	<-l.done
}

// connected reports whether the live transport is up.
func (v *visitor) connected() bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.live != nil && !v.live.isDown()
}

// send types for a moment (a typing frame), then sends a message with a
// fresh client id and waits for its ack. onSend, when set, is told the
// message's text just before it goes.
func (v *visitor) send(ctx context.Context, typing bool, onSend func(text string, at time.Time)) (string, time.Time, error) {
	v.nextID++
	id := fmt.Sprintf("v%d-%d", v.idx, v.nextID)
	text := "m-" + id
	if typing {
		if err := v.sendFrame(ctx, wireClientFrame{Type: "typing"}); err != nil {
			return "", time.Time{}, err
		}
		if err := sleepCtx(ctx, v.w.typingFor); err != nil {
			return "", time.Time{}, err
		}
	}
	start := time.Now()
	if onSend != nil {
		onSend(text, start)
	}
	ack, err := v.sendAndWait(ctx, wireClientFrame{Type: "message", ClientID: id, Text: text})
	if err != nil {
		return "", start, err
	}
	if ack.Type != "ack" {
		code := 0
		if ack.Error != nil {
			code = ack.Error.Code
		}
		return "", start, fmt.Errorf("message %s refused with code %d: %w", id, code, errRefusedFrame)
	}
	return text, start, nil
}

// sendFrame sends a frame that has no answer.
func (v *visitor) sendFrame(ctx context.Context, f wireClientFrame) error {
	v.mu.Lock()
	l := v.live
	v.mu.Unlock()
	if l == nil || l.isDown() {
		return errors.New("not connected")
	}
	data, _ := json.Marshal(f)
	if l.ws == nil {
		_, err := v.postFrame(ctx, data)
		return err
	}
	_ = l.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return l.ws.WriteMessage(websocket.TextMessage, data)
}

// postFrame is the long-poll transport's send side.
func (v *visitor) postFrame(ctx context.Context, data []byte) ([]wireServerFrame, error) {
	h := http.Header{"Origin": {v.w.base}, "X-Parley-Csrf": {v.csrf}, "Content-Type": {"application/json"}}
	target := v.w.base + "/chat/frames"
	if v.w.baseline {
		target += "?id=" + url.QueryEscape(v.chatID)
	}
	body, err := do(ctx, v.client, http.MethodPost, target, bytes.NewReader(data), h)
	if err != nil {
		return nil, err
	}
	var answer struct{ Frames []wireServerFrame }
	if err := json.Unmarshal([]byte(body), &answer); err != nil {
		return nil, err
	}
	return answer.Frames, nil
}

// sendAndWait sends a message frame and waits for the frame that answers
// its client id.
func (v *visitor) sendAndWait(ctx context.Context, f wireClientFrame) (wireServerFrame, error) {
	data, _ := json.Marshal(f)
	v.mu.Lock()
	l := v.live
	if l == nil || l.isDown() {
		v.mu.Unlock()
		return wireServerFrame{}, errors.New("not connected")
	}
	if l.ws == nil {
		v.mu.Unlock()
		frames, err := v.postFrame(ctx, data)
		if err != nil {
			return wireServerFrame{}, err
		}
		for _, fr := range frames {
			if fr.ClientID == f.ClientID {
				return fr, nil
			}
		}
		return wireServerFrame{}, fmt.Errorf("no answer to %s", f.ClientID)
	}
	ch := make(chan wireServerFrame, 1)
	v.waiters[f.ClientID] = ch
	v.mu.Unlock()
	_ = l.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if err := l.ws.WriteMessage(websocket.TextMessage, data); err != nil {
		return wireServerFrame{}, err
	}
	timer := time.NewTimer(v.w.ackWait)
	defer timer.Stop()
	select {
	case fr, ok := <-ch:
		if !ok {
			return wireServerFrame{}, errors.New("the connection closed before the ack")
		}
		return fr, nil
	case <-timer.C:
		v.mu.Lock()
		delete(v.waiters, f.ClientID)
		v.mu.Unlock()
		return wireServerFrame{}, errAckTimeout
	case <-ctx.Done():
		return wireServerFrame{}, ctx.Err()
	}
}

// navigate leaves the page for another of the site's, as a full page load
// does: the transport closes, the page renders the widget with the chat
// restored from the cookie, and the transport reopens from its last seq.
func (v *visitor) navigate(ctx context.Context, transport string) {
	v.disconnect()
	next := pages[v.rng.IntN(len(pages))]
	for next == v.page {
		next = pages[v.rng.IntN(len(pages))]
	}
	v.page = next
	if _, err := v.load(ctx, "nav"); err != nil {
		return
	}
	v.reconnect(ctx, transport)
}

// reconnect opens the transport, recording the time it took.
func (v *visitor) reconnect(ctx context.Context, transport string) bool {
	start := time.Now()
	if err := v.connect(ctx, transport); err != nil {
		if ctx.Err() == nil {
			v.w.st.fail("connect", errKind(err), err)
		}
		return false
	}
	if transport != "poll" {
		v.w.st.ok("connect", time.Since(start), 0)
	}
	return true
}

// load fetches the visitor's page and checks that it restored the chat;
// op names the operation in the report.
func (v *visitor) load(ctx context.Context, op string) (int, error) {
	start := time.Now()
	html, err := do(ctx, v.client, http.MethodGet, v.w.base+v.page, nil, nil)
	if err == nil && !v.w.baseline {
		var wst widgetState
		wst, err = parseWidget(html)
		switch {
		case err != nil:
		case wst.chatID != v.chatID:
			err = fmt.Errorf("the page shows chat %q, want %q", wst.chatID, v.chatID)
		default:
			v.mu.Lock()
			v.lastSeq = wst.lastSeq
			v.csrf = wst.csrf
			v.mu.Unlock()
		}
	}
	if err != nil {
		if ctx.Err() == nil {
			v.w.st.fail(op, errKind(err), err)
		}
		return 0, err
	}
	v.w.st.ok(op, time.Since(start), len(html))
	return len(html), nil
}

// expectReply notes an agent reply on its way to this visitor.
func (v *visitor) expectReply(clientID string, at time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.expect[clientID] = at
}

// forgetReply drops a reply that failed to post.
func (v *visitor) forgetReply(clientID string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	delete(v.expect, clientID)
}
