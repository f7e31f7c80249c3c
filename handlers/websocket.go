package handlers

import (
	"context"
	"encoding/json"
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
	// subscriptionBuffer is how far a connection may fall behind the chat
	// before it is dropped and resumes from its last seq.
	subscriptionBuffer = 256
)

func newUpgrader(t *liveTransports) *websocket.Upgrader {
	return &websocket.Upgrader{
		ReadBufferSize:    1024,
		WriteBufferSize:   4096,
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
	if err != nil {
		return err
	}
	defer release()
	return t.upgrade(c, t.newVisitorFeed(c, chat))
}

// upgrade turns the request into a WebSocket serving f.
func (t *liveTransports) upgrade(c echo.Context, f feed) error {
	conn, err := t.upgrader.Upgrade(c.Response(), c.Request(), nil)
	if err != nil {
		return nil // the upgrader has answered the client
	}
	t.live.add()
	defer t.live.done()
	t.serveSocket(conn, f)
	return nil
}

// serveSocket runs one connection: a reader goroutine takes client frames,
// and this goroutine is the only writer. It returns when either side ends
// or the server shuts down, and closes the connection.
func (t *liveTransports) serveSocket(conn *websocket.Conn, feed feed) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sub := t.chats.Hub().Subscribe(feed.topic(), subscriptionBuffer)
	defer sub.Close()

	hello := make(chan int64, 1)
	replies := make(chan serverFrame, 16)
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
			frames, err := feed.eventFrames(ctx, ev)
			if err != nil {
				t.log.Error("render event", "topic", feed.topic(), "err", err)
				return
			}
			for _, f := range frames {
				if !write(f) {
					return
				}
			}
		case f := <-replies:
			if !write(f) {
				return
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
		_ = conn.SetReadDeadline(time.Now().Add(pongWait))
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
