package live

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/labstack/echo/v4"

	"github.com/parley/parley/chatstate"
	"github.com/parley/parley/handlers/live/wire"
	"github.com/parley/parley/handlers/web"
)

const (
	// writeWait bounds every write: a client that cannot take a frame in
	// this time is dropped, never waited on.
	writeWait = 10 * time.Second
	// pongWait is how long a silent connection lives; pings come more often.
	pongWait   = 60 * time.Second
	pingPeriod = pongWait * 9 / 10
	// helloWait is how long a new connection may take to say where it is.
	helloWait = 10 * time.Second
	// maxFrameBytes caps a client frame: a message of MaxMessageRunes
	// characters of up to 4 bytes each, with room for the JSON around it.
	maxFrameBytes = 4*chatstate.MaxMessageRunes + 1024
	// chatBuffer is how far a visitor's connection may fall behind its
	// chat before it is dropped and resumes from its last seq: a chat makes
	// a few events a second at most, and every idle connection holds it.
	chatBuffer = 64
	// consoleBuffer is the same for an agent console, which follows every
	// chat at once: there are few of them, and each sees all the traffic.
	consoleBuffer = 4096
)

func newUpgrader(t *Transports) *websocket.Upgrader {
	return &websocket.Upgrader{
		ReadBufferSize:  1024,
		WriteBufferSize: 4096,
		// An idle connection holds no write buffer: it takes one from the
		// pool for each message and gives it back.
		WriteBufferPool:   &sync.Pool{},
		HandshakeTimeout:  10 * time.Second,
		EnableCompression: false,
		CheckOrigin:       t.originAllowed,
	}
}

// WebSocket serves the visitor's live transport.
func (t *Transports) WebSocket(c echo.Context) error {
	chat, news, err := t.transportChat(c)
	if err != nil {
		return err
	}
	release, err := t.limits.acquire(chat.ID, t.ClientKey(c.Request()))
	var apiErr *web.APIError
	if errors.As(err, &apiErr) && apiErr.Name == "too_many_connections" {
		return t.refuseSocket(c, chat, apiErr)
	}
	if err != nil {
		return err
	}
	return t.Upgrade(c, t.newVisitorFeed(c, chat, news), release)
}

// closeTooManyConnections is the close code of a socket refused for
// too_many_connections (4000–4999 are the application's).
const closeTooManyConnections = 4029

// refuseSocket tells a tab past its chat's limit why, which a refused
// handshake cannot: a browser sees no status of a failed WebSocket. The
// socket opens, carries the error frame and closes with a code of its own.
func (t *Transports) refuseSocket(c echo.Context, chat chatstate.Chat, apiErr *web.APIError) error {
	conn, err := t.upgrader.Upgrade(c.Response(), c.Request(), nil)
	if err != nil {
		return nil // the upgrader has answered the client
	}
	defer conn.Close()
	tr := t.Translator(web.Viewer{AcceptLanguage: c.Request().Header.Get("Accept-Language")}, &chat)
	frame := wire.Server{Type: wire.TypeError, Error: WireError(apiErr), Message: tr.T(apiErr.Key)}
	deadline := time.Now().Add(writeWait)
	_ = conn.SetWriteDeadline(deadline)
	if data, err := json.Marshal(frame); err == nil {
		_ = conn.WriteMessage(websocket.TextMessage, data)
	}
	_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(closeTooManyConnections, apiErr.Name), deadline)
	return nil
}

// Upgrade turns the request into a WebSocket serving f, and release gives
// back its place once it closes. The connection is served by a goroutine
// of its own and the handler returns at once: while a handler runs, the
// HTTP server keeps the request's 8 KB of buffers, and Echo its context,
// which an idle connection would hold for hours.
func (t *Transports) Upgrade(c echo.Context, f Feed, release func()) error {
	conn, err := t.upgrader.Upgrade(c.Response(), c.Request(), nil)
	if err != nil {
		release()
		return nil // the upgrader has answered the client
	}
	s := t.newSocket(conn, f)
	if !t.sockets.add(s) {
		// Shutting down: the client goes elsewhere, or comes back.
		s.goAway()
		s.cancel()
		s.sub.Close()
		conn.Close()
		release()
		return nil
	}
	go func() {
		defer t.sockets.remove(s)
		defer release()
		s.serve()
	}()
	return nil
}

// socket is one live WebSocket. While it is idle it keeps one goroutine,
// its reader, blocked on the network: events are written by a goroutine
// started when one is queued, which ends when none is left, and pings run
// on a timer. A writer goroutine per connection would double an idle
// connection's memory. Its presence costs nothing while it lasts: the chat
// is held connected from the hello to the end.
type socket struct {
	t    *Transports
	conn *websocket.Conn
	feed Feed
	// sub is replaced, under delivering and subMu, when the hub drops it
	// (see resync); subMu lets the socket's end close the one in use.
	sub    *chatstate.Subscription
	subMu  sync.Mutex
	buffer int
	ctx    context.Context
	cancel context.CancelFunc
	// writing serializes frames: replies from the reader, events from the
	// drain, the close frame at shutdown.
	writing sync.Mutex
	// draining is set while a drain runs, and pending when an event or the
	// channel's close came in that it may not have seen; drains counts the
	// drain goroutines, which the socket's end waits for.
	draining, pending atomic.Bool
	drains            sync.WaitGroup
	// delivering is held while queued events are written, by a drain or by
	// the reader before it answers a frame.
	delivering sync.Mutex
	// timers guards the ping timer, which re-arms itself until the reader
	// has ended.
	timers sync.Mutex
	ended  bool
	ping   *time.Timer
	// disconnected ends the client's presence, which lasts from the hello
	// to the end of the connection.
	disconnected func()
}

func (t *Transports) newSocket(conn *websocket.Conn, f Feed) *socket {
	ctx, cancel := context.WithCancel(context.Background())
	buffer := chatBuffer
	if f.Topic() == "" {
		buffer = consoleBuffer
	}
	// Subscribe before the client says what it has, so that nothing
	// committed meanwhile is missed; the resume skips what it repeats.
	sub := f.Subscribe(t.chats.Hub(), buffer)
	return &socket{t: t, conn: conn, feed: f, sub: sub, buffer: buffer, ctx: ctx, cancel: cancel}
}

// serve runs the connection until either side ends it or the server shuts
// down: it takes the hello, sends what the client missed, then reads and
// answers client frames while events go out as they come.
func (s *socket) serve() {
	defer s.end()
	s.conn.SetReadLimit(maxFrameBytes)
	_ = s.conn.SetReadDeadline(time.Now().Add(helloWait))
	if !s.start() {
		return
	}
	_ = s.conn.SetReadDeadline(time.Now().Add(pongWait))
	s.conn.SetPongHandler(func(string) error { return s.conn.SetReadDeadline(time.Now().Add(pongWait)) })
	// The loop is kept apart and small: an idle connection's goroutine
	// waits here, and its stack, which the runtime shrinks to what it uses
	// between frames, is most of what the connection costs.
	for {
		_, data, err := s.conn.ReadMessage()
		if err != nil || !s.answer(data) {
			return
		}
	}
}

// start takes the hello, sends what the client missed and starts the
// event deliveries and timers; false if the connection is done for.
func (s *socket) start() bool {
	lastSeq, ok := s.readHello()
	if !ok {
		return false
	}
	s.disconnected = s.feed.Connect()
	frames, err := s.feed.Resume(s.ctx, lastSeq)
	if err != nil {
		s.t.Log.Error("resume", "topic", s.feed.Topic(), "err", err)
		return false
	}
	if !s.write(frames...) {
		return false
	}
	s.sub.OnReady(s.wake)
	s.wake() // what was queued during the resume
	s.timers.Lock()
	defer s.timers.Unlock()
	s.ping = time.AfterFunc(onTimerGrid(time.Now(), pingPeriod), s.sendPing)
	return true
}

// resync replaces a subscription the hub dropped (it fell behind, or the
// hub could not tell it exactly what it missed) and sends the client what
// it lacks from the log, on the same connection: a reconnect would cost the
// client as much and show the visitor a dropped line. The delivering lock
// is held. False once the connection is done for.
func (s *socket) resync() bool {
	s.subMu.Lock()
	if s.ctx.Err() != nil {
		s.subMu.Unlock()
		return false
	}
	s.sub = s.feed.Subscribe(s.t.chats.Hub(), s.buffer)
	s.sub.OnReady(s.wake)
	s.subMu.Unlock()
	frames, err := s.feed.Resync(s.ctx)
	if err != nil {
		if s.ctx.Err() == nil {
			s.t.Log.Error("resync", "topic", s.feed.Topic(), "err", err)
		}
		return false
	}
	s.t.metrics.Resynced()
	return s.write(frames...)
}

// answer applies one client frame and writes its answers; false if the
// connection is done for.
func (s *socket) answer(data []byte) bool {
	received := time.Now()
	_ = s.conn.SetReadDeadline(received.Add(pongWait))
	var answers []wire.Server
	if frame, err := decodeFrame(data); err != nil {
		answers = []wire.Server{s.feed.ErrorFrame(s.ctx, "", err)}
	} else {
		answers = s.feed.HandleFrame(s.ctx, frame)
	}
	if len(answers) == 0 {
		return true
	}
	// A sent message's event is queued by the time its ack is ready: what
	// is queued goes first, so that the sender's tab has the line before
	// its send settles.
	s.delivering.Lock()
	ok := s.writeQueued() && s.write(answers...)
	s.delivering.Unlock()
	if !ok {
		return false
	}
	for _, a := range answers {
		if a.Type == wire.TypeAck {
			s.t.metrics.Acked(web.TransportWebSocket, received)
		}
	}
	return true
}

// readHello reads client frames until the hello, which says the last seq
// the client has; a frame before it is refused.
func (s *socket) readHello() (int64, bool) {
	for {
		_, data, err := s.conn.ReadMessage()
		if err != nil {
			return 0, false
		}
		frame, err := decodeFrame(data)
		switch {
		case err != nil:
			if !s.write(s.feed.ErrorFrame(s.ctx, "", err)) {
				return 0, false
			}
		case frame.Type == wire.TypeHello:
			return frame.LastSeq, true
		default:
			if !s.write(s.feed.ErrorFrame(s.ctx, frame.ClientID, web.ErrInvalidOptions())) {
				return 0, false
			}
		}
	}
}

// end releases what the connection holds once its reader has returned.
func (s *socket) end() {
	s.timers.Lock()
	s.ended = true
	if s.ping != nil {
		s.ping.Stop()
	}
	s.timers.Unlock()
	s.cancel()
	s.conn.Close()
	// No drain starts after this, and a running one fails fast on the
	// closed connection: wait for it, so that nothing uses the store once
	// the server has closed it.
	s.subMu.Lock()
	s.sub.OnReady(nil)
	s.sub.Close()
	s.subMu.Unlock()
	s.drains.Wait()
	if s.disconnected != nil {
		s.disconnected()
	}
}

// write sends frames in order; on failure it closes the connection, which
// ends the reader.
func (s *socket) write(frames ...wire.Server) bool {
	if len(frames) == 0 {
		return true
	}
	s.writing.Lock()
	defer s.writing.Unlock()
	for _, f := range frames {
		data, err := json.Marshal(f)
		if err != nil {
			s.t.Log.Error("encode frame", "err", err)
			s.conn.Close()
			return false
		}
		_ = s.conn.SetWriteDeadline(time.Now().Add(writeWait))
		if err := s.conn.WriteMessage(websocket.TextMessage, data); err != nil {
			s.conn.Close()
			return false
		}
	}
	return true
}

// wake is the subscription's ready: it starts a drain unless one runs,
// which then goes round again.
func (s *socket) wake() {
	s.pending.Store(true)
	if s.draining.CompareAndSwap(false, true) {
		s.drains.Add(1)
		go func() {
			defer s.drains.Done()
			s.drain()
		}()
	}
}

// drain writes the queued events, and ends when none is left.
func (s *socket) drain() {
	for {
		s.pending.Store(false)
		s.delivering.Lock()
		ok := s.writeQueued()
		s.delivering.Unlock()
		if !ok {
			return
		}
		s.draining.Store(false)
		// An event queued after the last look set pending; its wake may
		// have found this drain still running.
		if !s.pending.Load() || !s.draining.CompareAndSwap(false, true) {
			return
		}
	}
}

// writeQueued renders and writes the events queued now; false once the
// connection is done for.
func (s *socket) writeQueued() bool {
	for {
		select {
		case ev, ok := <-s.sub.Events():
			if !ok {
				// Closed by the reader's end, or dropped for lagging.
				if s.sub.Lagged() && s.resync() {
					continue
				}
				s.conn.Close()
				return false
			}
			frames, err := s.feed.EventFrames(s.ctx, *ev)
			if err != nil {
				if s.ctx.Err() == nil {
					s.t.Log.Error("render event", "topic", s.feed.Topic(), "err", err)
				}
				s.conn.Close()
				return false
			}
			if !s.write(frames...) {
				return false
			}
			if len(frames) > 0 {
				s.t.metrics.Delivered(web.TransportWebSocket, ev.Published)
			}
		default:
			return true
		}
	}
}

// sendPing goes the way of every other frame (gorilla's WriteControl makes
// a buffer and a timer for each ping), with its deadline on the grid: an
// armed deadline is a runtime timer that fires when it expires, written or
// not, and the pings sent together have theirs fire together.
func (s *socket) sendPing() {
	s.writing.Lock()
	_ = s.conn.SetWriteDeadline(time.Now().Add(writeWait).Truncate(timerGrid).Add(timerGrid))
	err := s.conn.WriteMessage(websocket.PingMessage, nil)
	s.writing.Unlock()
	if err != nil {
		s.conn.Close()
		return
	}
	// Again in a period, unless the connection has ended meanwhile.
	s.timers.Lock()
	defer s.timers.Unlock()
	if !s.ended {
		s.ping.Reset(onTimerGrid(time.Now(), pingPeriod))
	}
}

// timerGrid is what the idle connections' timers are rounded to. A timer
// that fires alone wakes the process from sleep, which costs more than the
// ping it runs; thousands of them, each at its own instant, kept a server
// of idle sockets awake hundreds of times a second. Timers due at the same
// instant run in one wakeup.
const timerGrid = time.Second

// onTimerGrid is how long from now a timer of period waits so that it
// fires on the grid: up to one grid step early, never late.
func onTimerGrid(now time.Time, period time.Duration) time.Duration {
	return now.Add(period).Truncate(timerGrid).Sub(now)
}

// goAway tells the client the server is shutting down; it reconnects to
// another instance, or to this one once it is back.
func (s *socket) goAway() {
	_ = s.conn.WriteControl(websocket.CloseMessage,
		websocket.FormatCloseMessage(websocket.CloseGoingAway, "server shutting down"), time.Now().Add(time.Second))
}

// socketSet holds the open WebSockets, so that shutdown can close them and
// wait until none is left.
type socketSet struct {
	mu      sync.Mutex
	open    map[*socket]struct{}
	closing bool
	none    *sync.Cond
}

func newSocketSet() *socketSet {
	set := &socketSet{open: map[*socket]struct{}{}}
	set.none = sync.NewCond(&set.mu)
	return set
}

// add takes s in, unless the server is shutting down.
func (set *socketSet) add(s *socket) bool {
	set.mu.Lock()
	defer set.mu.Unlock()
	if set.closing {
		return false
	}
	set.open[s] = struct{}{}
	return true
}

func (set *socketSet) remove(s *socket) {
	set.mu.Lock()
	defer set.mu.Unlock()
	delete(set.open, s)
	if len(set.open) == 0 {
		set.none.Broadcast()
	}
}

// closeAll says goodbye to every open socket and closes it; no socket is
// taken in after it.
func (set *socketSet) closeAll() {
	set.mu.Lock()
	set.closing = true
	open := make([]*socket, 0, len(set.open))
	for s := range set.open {
		open = append(open, s)
	}
	set.mu.Unlock()
	for _, s := range open {
		go func() {
			s.goAway()
			s.conn.Close()
		}()
	}
}

func (set *socketSet) wait() {
	set.mu.Lock()
	defer set.mu.Unlock()
	for len(set.open) > 0 {
		set.none.Wait()
	}
}
