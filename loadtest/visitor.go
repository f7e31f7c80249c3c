package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/parley/parley/chatclient"
	"github.com/parley/parley/handlers/live/wire"
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

// visitor is one person on the site, driven as the widget's chat.js drives
// the server: the page with its cookie, the start and registration forms,
// then a WebSocket (or long-poll) from the page's last seq, messages with
// client ids answered by acks.
type visitor struct {
	w      *world
	idx    int
	client *chatclient.Client
	rng    *rand.Rand
	page   string
	chatID string
	csrf   string
	nextID int

	mu      sync.Mutex
	lastSeq int64
	live    *chatclient.Live
	// expect holds the agent replies on their way, by client id, with when
	// they were posted: their arrival is the delivery latency.
	expect map[string]time.Time
}

func newVisitor(w *world, idx int) *visitor {
	return &visitor{
		w: w, idx: idx, client: newBrowserClient(w.base, sourceAddr(idx)),
		rng: rand.New(rand.NewPCG(uint64(idx), 7)), page: "/", expect: map[string]time.Time{},
	}
}

// setup loads the home page, starts a chat and registers, as a visitor who
// clicks "Start chat" and fills in the form. The baseline has no chat: its
// visitor loads the page only.
func (v *visitor) setup(ctx context.Context) error {
	html, err := v.client.Get(ctx, v.page)
	if err != nil {
		return fmt.Errorf("load %s: %w", v.page, err)
	}
	if v.w.baseline {
		v.chatID = baselineID(v.idx)
		return nil
	}
	wst, err := chatclient.ParseWidget(html)
	if err != nil {
		return err
	}
	if wst, err = v.client.StartChat(ctx, wst.CSRF, v.page); err != nil {
		return fmt.Errorf("start chat: %w", err)
	}
	name := "Load" + strconv.Itoa(v.idx)
	form := url.Values{"first_name": {name}, "last_name": {"Test"}, "email": {strings.ToLower(name) + "@example.com"}, "subject": {"Load test"}}
	if wst, err = v.client.Register(ctx, wst.CSRF, v.page, form); err != nil {
		return fmt.Errorf("register: %w", err)
	}
	if wst.Phase != "queued" || wst.ChatID == "" {
		return fmt.Errorf("after registering the widget is in phase %q of chat %q", wst.Phase, wst.ChatID)
	}
	v.chatID, v.csrf = wst.ChatID, wst.CSRF
	v.mu.Lock()
	v.lastSeq = wst.LastSeq
	v.mu.Unlock()
	return nil
}

// connect opens the live transport from the last seq the page showed and
// waits until the server has resumed it (a WebSocket) or parked the first
// poll's request (a long-poll).
func (v *visitor) connect(ctx context.Context, transport string) error {
	v.disconnect()
	stream := chatclient.Stream{
		Page:    v.page,
		CSRF:    v.csrf,
		LastSeq: v.seq,
		OnFrame: v.apply,
		OnEnd: func(err error) {
			if errors.Is(err, chatclient.ErrBadFrame) {
				v.w.st.fail("frame", "undecodable", err)
			}
		},
		OnPollError: func(err error) bool {
			v.w.st.fail("poll", errKind(err), err)
			return false
		},
	}
	if v.w.baseline {
		stream.Query = func() url.Values { return url.Values{"id": {v.chatID}} }
	}
	l, err := v.client.Open(ctx, transport != "poll", stream)
	if err != nil {
		return err
	}
	v.mu.Lock()
	v.live = l
	v.mu.Unlock()
	timer := time.NewTimer(10 * time.Second)
	defer timer.Stop()
	select {
	case <-l.Ready():
		return nil
	case <-l.Down():
		return errors.New("the live transport ended before it was ready")
	case <-timer.C:
		v.disconnect()
		return fmt.Errorf("the transport was not ready: %w", context.DeadlineExceeded)
	case <-ctx.Done():
		v.disconnect()
		return ctx.Err()
	}
}

// seq is the seq of the newest event the visitor has: where its
// transport resumes.
func (v *visitor) seq() int64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.lastSeq
}

// apply takes one frame from the server that answers no send.
func (v *visitor) apply(f wire.Server) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	switch f.Type {
	case wire.TypeResume:
		if f.Unrecovered() {
			// chat.js re-renders from the server; the tool takes the seq.
			v.lastSeq = f.LastSeq
		}
	case wire.TypeEvent:
		if f.Event == nil {
			return true
		}
		v.lastSeq = max(v.lastSeq, f.Event.Seq)
		if sent, ok := v.expect[f.Event.ClientID]; ok && f.Event.ClientID != "" {
			delete(v.expect, f.Event.ClientID)
			v.w.st.ok("deliver", time.Since(sent), 0)
		}
	case wire.TypeError:
		v.w.st.fail("frame", "error-frame", fmt.Errorf("error frame %+v", f.Error))
	}
	return true
}

// disconnect ends the live transport, as leaving the page does.
func (v *visitor) disconnect() {
	v.mu.Lock()
	l := v.live
	v.live = nil
	v.mu.Unlock()
	if l != nil {
		l.Close()
	}
}

// connected reports whether the live transport is up.
func (v *visitor) connected() bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.live != nil && !v.live.IsDown()
}

// send types for a moment (a typing frame), then sends a message with a
// fresh client id and waits for its ack. onSend, when set, is told the
// message's text just before it goes.
func (v *visitor) send(ctx context.Context, typing bool, onSend func(text string, at time.Time)) (string, time.Time, error) {
	v.mu.Lock()
	l := v.live
	v.mu.Unlock()
	if l == nil {
		return "", time.Time{}, errors.New("not connected")
	}
	v.nextID++
	id := fmt.Sprintf("v%d-%d", v.idx, v.nextID)
	text := "m-" + id
	if typing {
		if _, err := l.Send(ctx, wire.Client{Type: wire.TypeTyping}, 0); err != nil {
			return "", time.Time{}, err
		}
		if err := chatclient.Sleep(ctx, v.w.typingFor); err != nil {
			return "", time.Time{}, err
		}
	}
	start := time.Now()
	if onSend != nil {
		onSend(text, start)
	}
	ack, err := l.Send(ctx, wire.Client{Type: wire.TypeMessage, ClientID: id, Text: text}, v.w.ackWait)
	if err != nil {
		return "", start, err
	}
	if ack.Type != wire.TypeAck {
		return "", start, fmt.Errorf("message %s refused with code %d: %w", id, ack.Code(), errRefusedFrame)
	}
	return text, start, nil
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
	html, err := v.client.Get(ctx, v.page)
	if err == nil && !v.w.baseline {
		var wst chatclient.Widget
		wst, err = chatclient.ParseWidget(html)
		switch {
		case err != nil:
		case wst.ChatID != v.chatID:
			err = fmt.Errorf("the page shows chat %q, want %q", wst.ChatID, v.chatID)
		default:
			v.mu.Lock()
			v.lastSeq = wst.LastSeq
			v.csrf = wst.CSRF
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
