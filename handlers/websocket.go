package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/labstack/echo/v4"

	"github.com/parley/parley/chatstate"
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

func newUpgrader(t *liveTransports) *websocket.Upgrader {
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

// websocket serves the visitor's live transport.
func (t *liveTransports) websocket(c echo.Context) error {
	chat, err := t.transportChat(c)
	if err != nil {
		return err
	}
	release, err := t.limits.acquire(chat.ID, t.clientIP(c.Request()), false)
	var apiErr *APIError
	if errors.As(err, &apiErr) && apiErr.Name == "too_many_connections" {
		return t.refuseSocket(c, chat, apiErr)
	}
	if err != nil {
		return err
	}
	return t.upgrade(c, t.newVisitorFeed(c, chat), release)
}

// closeTooManyConnections is the close code of a socket refused for
// too_many_connections (4000–4999 are the application's).
const closeTooManyConnections = 4029

// refuseSocket tells a tab past its chat's limit why, which a refused
// handshake cannot: a browser sees no status of a failed WebSocket. The
// socket opens, carries the error frame and closes with a code of its own.
func (t *liveTransports) refuseSocket(c echo.Context, chat chatstate.Chat, apiErr *APIError) error {
	conn, err := t.upgrader.Upgrade(c.Response(), c.Request(), nil)
	if err != nil {
		return nil // the upgrader has answered the client
	}
	defer conn.Close()
	tr := t.translator(viewer{acceptLanguage: c.Request().Header.Get("Accept-Language")}, &chat)
	frame := serverFrame{Type: "error", Error: apiErr, Message: tr.T(apiErr.Key)}
	deadline := time.Now().Add(writeWait)
	_ = conn.SetWriteDeadline(deadline)
	if data, err := json.Marshal(frame); err == nil {
		_ = conn.WriteMessage(websocket.TextMessage, data)
	}
	_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(closeTooManyConnections, apiErr.Name), deadline)
	return nil
}

// upgrade turns the request into a WebSocket serving f, and release gives
// back its place once it closes. The connection is served by a goroutine
// of its own and the handler returns at once: while a handler runs, the
// HTTP server keeps the request's 8 KB of buffers, and Echo its context,
// which an idle connection would hold for hours.
func (t *liveTransports) upgrade(c echo.Context, f feed, release func()) error {
	conn, err := t.upgrader.Upgrade(c.Response(), c.Request(), nil)
	if err != nil {
		release()
		return nil // the upgrader has answered the client
	}
	t.live.add()
	go func() {
		defer t.live.done()
		defer release()
		t.serveSocket(conn, f)
	}()
	return nil
}

// serveSocket runs one connection: a reader goroutine takes client frames,
// and this goroutine is the only writer. It returns when either side ends
// or the server shuts down, and closes the connection.
func (t *liveTransports) serveSocket(conn *websocket.Conn, feed feed) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	buffer := chatBuffer
	if feed.topic() == "" {
		buffer = consoleBuffer
	}
	sub := feed.subscribe(t.chats.Hub(), buffer)
	defer sub.Close()

	hello := make(chan int64, 1)
	// A reply waits here only while the writer is busy: a client gets an
	// answer per frame, and the reader waits for room.
	replies := make(chan serverFrame, 4)
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		t.readSocket(ctx, conn, feed, hello, replies)
	}()
	defer func() {
		conn.Close()
		<-readerDone
		feed.present()
	}()

	write := func(v any) bool {
		data, err := json.Marshal(v)
		if err != nil {
			t.log.Error("encode frame", "err", err)
			return false
		}
		_ = conn.SetWriteDeadline(time.Now().Add(writeWait))
		return conn.WriteMessage(websocket.TextMessage, data) == nil
	}

	var lastSeq int64
	select {
	case lastSeq = <-hello:
	case <-readerDone:
		return
	case <-t.closing:
		return
	case <-time.After(helloWait):
		return
	}
	feed.present()
	frames, err := feed.resume(ctx, lastSeq)
	if err != nil {
		t.log.Error("resume", "topic", feed.topic(), "err", err)
		return
	}
	for _, f := range frames {
		if !write(f) {
			return
		}
	}

	ping := time.NewTicker(pingPeriod)
	defer ping.Stop()
	seen := time.NewTicker(feed.heartbeat())
	defer seen.Stop()
	for {
		select {
		case ev, ok := <-sub.Events():
			if !ok {
				// Dropped for lagging: the client reconnects and resumes.
				return
			}
			frames, err := feed.eventFrames(ctx, *ev)
			if err != nil {
				t.log.Error("render event", "topic", feed.topic(), "err", err)
				return
			}
			for _, f := range frames {
				if !write(f) {
					return
				}
			}
			if len(frames) > 0 {
				t.metrics.delivered(transportWebSocket, ev.Published)
			}
		case f := <-replies:
			if !write(f) {
				return
			}
			if f.Type == frameAck {
				t.metrics.acked(transportWebSocket, f.received)
			}
		case <-ping.C:
			if conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeWait)) != nil {
				return
			}
		case <-seen.C:
			feed.present()
		case <-readerDone:
			return
		case <-t.closing:
			_ = conn.WriteControl(websocket.CloseMessage,
				websocket.FormatCloseMessage(websocket.CloseGoingAway, "server shutting down"), time.Now().Add(time.Second))
			return
		}
	}
}

// readSocket is the connection's one reader: it takes the hello, then
// applies each frame and hands the answers to the writer.
func (t *liveTransports) readSocket(ctx context.Context, conn *websocket.Conn, feed feed, hello chan<- int64, replies chan<- serverFrame) {
	conn.SetReadLimit(maxFrameBytes)
	_ = conn.SetReadDeadline(time.Now().Add(pongWait))
	conn.SetPongHandler(func(string) error { return conn.SetReadDeadline(time.Now().Add(pongWait)) })
	greeted := false
	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			return
		}
		received := time.Now()
		_ = conn.SetReadDeadline(received.Add(pongWait))
		frame, err := decodeFrame(data)
		var answers []serverFrame
		switch {
		case err != nil:
			answers = []serverFrame{feed.errorFrame(ctx, "", err)}
		case !greeted && frame.Type == frameHello:
			greeted = true
			hello <- frame.LastSeq
			continue
		case !greeted:
			answers = []serverFrame{feed.errorFrame(ctx, frame.ClientID, errInvalidOptions())}
		default:
			answers = feed.handleFrame(ctx, frame)
		}
		for _, a := range answers {
			a.received = received
			select {
			case replies <- a:
			case <-ctx.Done():
				return
			}
		}
	}
}

// markSeen records the visitor's presence; a chat that has ended meanwhile
// needs none.
func (t *liveTransports) markSeen(chatID string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := t.chats.Seen(ctx, chatID); err != nil && apiErrorOf(err).Code == errServer().Code {
		t.log.Error("record presence", "chat", chatID, "err", err)
	}
}
