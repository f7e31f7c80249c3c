package chatclient

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/parley/parley/handlers/live/wire"
)

var (
	// ErrDown is a send on a transport that has ended, or that ended
	// before the send's answer came.
	ErrDown = errors.New("the live transport is down")
	// ErrNoAck is a send whose answer did not come in time.
	ErrNoAck = errors.New("no ack in time")
	// ErrBadFrame is a WebSocket message that is not a frame.
	ErrBadFrame = errors.New("undecodable frame")
)

// Stream says what a live transport follows and where its frames go.
type Stream struct {
	// Console makes it the agent console's feed (/agent/ws, /agent/poll)
	// instead of a visitor's chat (/chat/ws, /chat/poll, /chat/frames).
	Console bool
	// Page is the visitor's page, sent with the transport's requests.
	Page string
	// Query, when set, is asked at the dial and before every poll for
	// further parameters: the console's queue and chats.
	Query func() url.Values
	// LastSeq, when set, is the seq of the newest event the visitor
	// shows: the WebSocket's hello and each poll resume after it.
	LastSeq func() int64
	// CSRF is the widget's token, for sends over the long-poll transport.
	CSRF string
	// OnFrame gets every frame that does not answer a Send, one at a time,
	// in order. Returning false marks the transport down without closing
	// it (the client re-renders before it goes on): it delivers no more
	// frames, and the sends waiting for an answer get ErrDown.
	OnFrame func(wire.Server) bool
	// OnRead, when set, is told the size of each WebSocket message or
	// long-poll answer before its frames go to OnFrame (a load tool
	// counts bytes).
	OnRead func(bytes int)
	// OnEnd, when set, is told why the WebSocket's reader returned: the
	// connection's error, or ErrBadFrame.
	OnEnd func(error)
	// OnPollError, when set, is told of a failed poll; returning true ends
	// the loop, false retries after a pause.
	OnPollError func(error) (stop bool)
	// RetryMin and RetryMax bound the pause after a failed poll, which
	// doubles from RetryMin (0: 500 ms) up to RetryMax (0: 10 s).
	RetryMin, RetryMax time.Duration
	// WriteWait bounds a WebSocket write (0: 10 s).
	WriteWait time.Duration
}

// Live is one live transport: a WebSocket, or a long-poll loop with its
// sends posted beside it.
type Live struct {
	c   *Client
	s   Stream
	ws  *websocket.Conn
	wmu sync.Mutex // one writer at a time on ws

	cancel context.CancelFunc // ends the poll loop
	ended  chan struct{}      // closed when the reader or the loop returns

	ready     chan struct{}
	readyOnce sync.Once

	mu      sync.Mutex
	down    chan struct{}
	waiters map[string]chan wire.Server
}

// Open starts a live transport: a WebSocket (ws) that has sent its hello,
// or a long-poll loop. A refused handshake is a *StatusError.
func (c *Client) Open(ctx context.Context, ws bool, s Stream) (*Live, error) {
	l := &Live{c: c, s: s, ended: make(chan struct{}), ready: make(chan struct{}), down: make(chan struct{}), waiters: map[string]chan wire.Server{}}
	if !ws {
		pctx, cancel := context.WithCancel(ctx)
		l.cancel = cancel
		go l.pollLoop(pctx)
		return l, nil
	}
	path := "/chat/ws"
	if s.Console {
		path = "/agent/ws"
	}
	u := "ws" + strings.TrimPrefix(c.Base, "http") + path + "?" + l.query(nil).Encode()
	d := c.Dialer
	d.Jar = c.HTTP.Jar
	conn, resp, err := d.DialContext(ctx, u, http.Header{"Origin": {c.Base}})
	if err != nil {
		if resp != nil {
			return nil, &StatusError{Method: http.MethodGet, Path: path, Status: resp.StatusCode}
		}
		return nil, err
	}
	l.ws = conn
	go l.readSocket()
	if err := l.write(wire.Client{Type: wire.TypeHello, LastSeq: l.lastSeq()}); err != nil {
		l.Abort()
		return nil, err
	}
	return l, nil
}

// query is the transport's parameters, with extra ones.
func (l *Live) query(extra url.Values) url.Values {
	q := url.Values{}
	if l.s.Query != nil {
		for k, v := range l.s.Query() {
			q[k] = v
		}
	}
	if l.s.Page != "" {
		q.Set("page", l.s.Page)
	}
	for k, v := range extra {
		q[k] = v
	}
	return q
}

func (l *Live) lastSeq() int64 {
	if l.s.LastSeq == nil {
		return 0
	}
	return l.s.LastSeq()
}

// Ready is closed when the transport is live: at the WebSocket's first
// resume frame, or when the first poll is on the wire.
func (l *Live) Ready() <-chan struct{} { return l.ready }

// Down is closed when the transport has failed, ended or been closed.
func (l *Live) Down() <-chan struct{} { return l.down }

// IsDown reports whether Down is closed.
func (l *Live) IsDown() bool {
	select {
	case <-l.down:
		return true
	default:
		return false
	}
}

// fail marks the transport down without closing it: it delivers no more
// frames, and the sends waiting for an answer get ErrDown.
func (l *Live) fail() {
	l.mu.Lock()
	defer l.mu.Unlock()
	select {
	case <-l.down:
	default:
		close(l.down)
	}
	for id, ch := range l.waiters {
		close(ch)
		delete(l.waiters, id)
	}
}

// Abort ends the transport at once, as a dropped connection does, and
// waits until its reader has returned.
func (l *Live) Abort() {
	l.fail()
	if l.ws != nil {
		l.ws.Close()
	}
	if l.cancel != nil {
		l.cancel()
	}
	<-l.ended
}

// Close ends the transport as a page that is left does: a WebSocket is
// closed with "going away" first.
func (l *Live) Close() {
	if l.ws != nil {
		l.wmu.Lock()
		_ = l.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, ""), time.Now().Add(time.Second))
		l.wmu.Unlock()
	}
	l.Abort()
}

// deliver routes one frame from the server: a send's answer to its
// waiter, any other to OnFrame.
func (l *Live) deliver(f wire.Server) {
	l.mu.Lock()
	if l.IsDown() {
		l.mu.Unlock()
		return
	}
	if f.Type == wire.TypeAck || f.Type == wire.TypeError {
		if ch, ok := l.waiters[f.ClientID]; ok && f.ClientID != "" {
			delete(l.waiters, f.ClientID)
			l.mu.Unlock()
			ch <- f
			return
		}
	}
	l.mu.Unlock()
	if f.Type == wire.TypeResume {
		l.readyOnce.Do(func() { close(l.ready) })
	}
	if l.s.OnFrame != nil && !l.s.OnFrame(f) {
		l.fail()
	}
}

// readSocket delivers the WebSocket's frames until it ends.
func (l *Live) readSocket() {
	defer close(l.ended)
	defer l.fail()
	for {
		_, data, err := l.ws.ReadMessage()
		var f wire.Server
		if err == nil && l.s.OnRead != nil {
			l.s.OnRead(len(data))
		}
		if err == nil {
			if jerr := json.Unmarshal(data, &f); jerr != nil {
				err = fmt.Errorf("%w %s: %v", ErrBadFrame, firstBytes(string(data), 200), jerr)
			}
		}
		if err != nil {
			if l.s.OnEnd != nil {
				l.s.OnEnd(err)
			}
			return
		}
		l.deliver(f)
	}
}

// pollLoop long-polls until ctx ends or the transport is down, as chat.js
// does: a failed poll is retried after a pause.
func (l *Live) pollLoop(ctx context.Context) {
	defer close(l.ended)
	defer l.fail()
	path := "/chat/poll"
	if l.s.Console {
		path = "/agent/poll"
	}
	minWait := cmp.Or(l.s.RetryMin, 500*time.Millisecond)
	wait := minWait
	trace := &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { l.readyOnce.Do(func() { close(l.ready) }) }}
	for ctx.Err() == nil && !l.IsDown() {
		var extra url.Values
		if !l.s.Console {
			extra = url.Values{"after": {strconv.FormatInt(l.lastSeq(), 10)}}
		}
		body, err := l.c.Do(httptrace.WithClientTrace(ctx, trace), http.MethodGet, path+"?"+l.query(extra).Encode(), nil, http.Header{"Origin": {l.c.Base}})
		var frames []wire.Server
		if err == nil {
			frames, err = decodeFrames([]byte(body))
		}
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			if l.s.OnPollError != nil && l.s.OnPollError(err) {
				return
			}
			if Sleep(ctx, wait) != nil {
				return
			}
			wait = min(2*wait, cmp.Or(l.s.RetryMax, 10*time.Second))
			continue
		}
		wait = minWait
		if l.s.OnRead != nil {
			l.s.OnRead(len(body))
		}
		for _, f := range frames {
			l.deliver(f)
		}
	}
}

// write sends a frame on the WebSocket.
func (l *Live) write(f wire.Client) error {
	data, _ := json.Marshal(f)
	l.wmu.Lock()
	defer l.wmu.Unlock()
	_ = l.ws.SetWriteDeadline(time.Now().Add(cmp.Or(l.s.WriteWait, 10*time.Second)))
	return l.ws.WriteMessage(websocket.TextMessage, data)
}

// Send sends a frame. A frame with a client id waits up to wait for the
// frame that answers it (an ack or an error) and returns that; any other
// returns once sent.
func (l *Live) Send(ctx context.Context, f wire.Client, wait time.Duration) (wire.Server, error) {
	if l.IsDown() {
		return wire.Server{}, ErrDown
	}
	if l.ws == nil {
		return l.post(ctx, f)
	}
	var ch chan wire.Server
	if f.ClientID != "" {
		ch = make(chan wire.Server, 1)
		l.mu.Lock()
		if l.IsDown() {
			l.mu.Unlock()
			return wire.Server{}, ErrDown
		}
		l.waiters[f.ClientID] = ch
		l.mu.Unlock()
	}
	if err := l.write(f); err != nil {
		l.forget(f.ClientID)
		return wire.Server{}, err
	}
	if ch == nil {
		return wire.Server{}, nil
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case answer, ok := <-ch:
		if !ok {
			return wire.Server{}, ErrDown
		}
		return answer, nil
	case <-timer.C:
		l.forget(f.ClientID)
		return wire.Server{}, ErrNoAck
	case <-ctx.Done():
		l.forget(f.ClientID)
		return wire.Server{}, ctx.Err()
	}
}

func (l *Live) forget(clientID string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.waiters, clientID)
}

// post is the long-poll transport's send: POST /chat/frames, whose answer
// holds the frame's ack or error.
func (l *Live) post(ctx context.Context, f wire.Client) (wire.Server, error) {
	data, _ := json.Marshal(f)
	h := http.Header{"Origin": {l.c.Base}, "X-Parley-Csrf": {l.s.CSRF}, "Content-Type": {"application/json"}}
	path := "/chat/frames"
	if l.s.Query != nil {
		if q := l.s.Query(); len(q) > 0 {
			path += "?" + q.Encode()
		}
	}
	body, err := l.c.Do(ctx, http.MethodPost, path, bytes.NewReader(data), h)
	if err != nil || f.ClientID == "" {
		return wire.Server{}, err
	}
	frames, err := decodeFrames([]byte(body))
	if err != nil {
		return wire.Server{}, err
	}
	for _, answer := range frames {
		if answer.ClientID == f.ClientID {
			return answer, nil
		}
	}
	return wire.Server{}, fmt.Errorf("no answer to %s in %s: %w", f.ClientID, firstBytes(body, 200), ErrPermanent)
}

// Sleep pauses for d, or until ctx ends, which it returns.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
