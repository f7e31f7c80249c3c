package soak

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/parley/parley/chatclient"
	"github.com/parley/parley/handlers/live/wire"
)

// pages are the demo site's pages a visitor moves between.
var pages = []string{"/", "/products", "/pricing"}

// ackWait is how long a sent message may wait for its ack on a WebSocket
// before it is retried.
const ackWait = 5 * time.Second

// visitor is one person on the demo site with a chat, as chat.js would
// be: it shows the widget the server renders with each page, appends live
// events over a WebSocket or a long-poll, and retries unacknowledged
// messages with their client ids.
type visitor struct {
	r      *soakRun
	name   string
	rng    *rand.Rand
	client *chatclient.Client
	page   string

	mu      sync.Mutex
	csrf    string
	chatID  string
	gen     int // counts transports: frames of an old one are dropped
	lastSeq int64
	lines   []line // the transcript shown, in the order it was built
	cur     *visitorTransport
	resync  bool // re-render before going on (a resume with recovered:false, a gap)
	pending []*message
	sent    []*message // this visitor's messages, in the order written
	nextID  int
}

// visitorTransport is one WebSocket, or one long-poll loop.
type visitorTransport struct {
	ws   bool
	gen  int
	live *chatclient.Live
}

func (t *visitorTransport) kind() string { return transportName(t.ws) }

func newVisitor(r *soakRun, i int, seed uint64) *visitor {
	return &visitor{
		r: r, name: fmt.Sprintf("visitor %d", i), rng: rand.New(rand.NewPCG(seed, uint64(100+i))),
		client: newClient(r.base), page: "/",
	}
}

// start opens the site, starts a chat and registers, as a person filling
// in the form does.
func (v *visitor) start(ctx context.Context) error {
	var w chatclient.Widget
	err := retry(ctx, v.r, func() (err error) {
		w, err = v.client.LoadWidget(ctx, "/")
		return err
	})
	if err != nil {
		return err
	}
	err = retry(ctx, v.r, func() (err error) {
		w, err = v.client.StartChat(ctx, w.CSRF, "/")
		return err
	})
	if err != nil {
		return err
	}
	name := strings.ReplaceAll(v.name, " ", "")
	err = retry(ctx, v.r, func() (err error) {
		w, err = v.client.Register(ctx, w.CSRF, "/", url.Values{"first_name": {name}, "email": {name + "@example.com"}})
		return err
	})
	if err != nil {
		return err
	}
	if w.Phase != "queued" || w.ChatID == "" {
		return fmt.Errorf("%s: after registering the widget is in phase %q of chat %q", v.name, w.Phase, w.ChatID)
	}
	v.mu.Lock()
	v.chatID, v.csrf, v.lastSeq, v.lines = w.ChatID, w.CSRF, w.LastSeq, nil // no message yet
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
	return chatclient.Sleep(ctx, time.Duration(150+v.rng.IntN(450))*time.Millisecond)
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
		html, err := v.client.Get(ctx, v.page)
		if err != nil {
			return err
		}
		if w, err = parseWidget(html); err != nil {
			return err
		}
		return withEarlier(ctx, v.client, &w)
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
	v.mu.Unlock()
	if t != nil {
		t.live.Abort()
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
	return retry(ctx, v.r, func() error {
		v.mu.Lock()
		v.gen++
		t := &visitorTransport{ws: ws, gen: v.gen}
		stream := chatclient.Stream{
			Page: v.page,
			CSRF: v.csrf,
			LastSeq: func() int64 {
				v.mu.Lock()
				defer v.mu.Unlock()
				return v.lastSeq
			},
			OnFrame: func(f wire.Server) bool { return v.apply(t, f) },
		}
		what := fmt.Sprintf("%s %d", t.kind(), t.gen)
		v.r.trace(v.name, "%s opens from seq %d", what, v.lastSeq)
		v.mu.Unlock()
		live, err := v.r.openLive(ctx, v.client, ws, v.name, what, stream)
		if err != nil {
			return err
		}
		t.live = live
		v.mu.Lock()
		v.cur = t
		v.mu.Unlock()
		return nil
	})
}

// apply takes one server frame of transport t, as chat.js does, and checks
// the stream: each event is the one after the last seq shown.
// It returns false when the client must re-render before it goes on.
func (v *visitor) apply(t *visitorTransport, f wire.Server) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.gen != t.gen || v.resync {
		return false
	}
	who := fmt.Sprintf("%s (%s) over %s", v.name, v.chatID[:8], t.kind())
	switch f.Type {
	case "resume":
		v.r.trace(v.name, "%s %d: resume recovered=%v lastSeq=%d", t.kind(), t.gen, f.Recovered != nil && *f.Recovered, f.LastSeq)
		if f.Unrecovered() {
			// The log cannot cover what the client is missing: re-render.
			v.r.stats.resyncs.Add(1)
			v.resync = true
			return false
		}
	case "event":
		if f.Event == nil {
			v.r.violate("protocol", "%s: an event frame without its event", who)
			return true
		}
		seq := f.Event.Seq
		v.r.trace(v.name, "%s %d: event %d %s %q (widget %v)", t.kind(), t.gen, seq, f.Event.Kind, f.Event.Text, f.Widget != "")
		switch {
		case seq <= v.lastSeq:
			v.r.violate("duplicate", "%s: event %d (%s %q) delivered again; the client has up to %d", who, seq, f.Event.Kind, f.Event.Text, v.lastSeq)
			return true
		case seq > v.lastSeq+1:
			v.r.violate("gap", "%s: event %d (%s %q) arrived after %d", who, seq, f.Event.Kind, f.Event.Text, v.lastSeq)
			v.resync = true
			return false
		}
		switch {
		case f.Widget != "":
			w, err := parseWidget(f.Widget)
			if err != nil {
				v.r.violate("protocol", "%s: event %d: %v", who, seq, err)
				return true
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
		// An answer to no send waiting for it.
		v.r.trace(v.name, "%s %d: %s %s seq %d %+v", t.kind(), t.gen, f.Type, f.ClientID, f.Seq, f.Error)
		if f.Type == "error" && f.ClientID == "" {
			v.r.violate("protocol", "%s: error frame %+v", who, f.Error)
		}
	}
	return true
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
			down := v.cur == nil || v.cur.live.IsDown() || v.resync
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
			v.r.trace(v.name, "send %s (try %d): seq %d, code %d, err %v", m.clientID, m.attempts, res.Seq, res.Code(), err)
			switch {
			case ctx.Err() != nil:
				return ctx.Err()
			case err != nil:
				v.r.stats.transportErrors.Add(1)
				if errors.Is(err, chatclient.ErrPermanent) {
					return fmt.Errorf("%s: send %s: %w", v.name, m.clientID, err)
				}
			case res.Code() == 105: // rate_limited: people pause too
				v.r.stats.rateLimited.Add(1)
				if err := chatclient.Sleep(ctx, 400*time.Millisecond); err != nil {
					return err
				}
			case res.Code() != 0:
				v.r.violate("refused", "%s: message %s refused with code %d", v.name, m.clientID, res.Code())
				return fmt.Errorf("%s: message %s refused with code %d", v.name, m.clientID, res.Code())
			default:
				v.r.ledger.acked(v.r, m, res.Seq)
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
func (v *visitor) send(ctx context.Context, m *message) (wire.Server, error) {
	v.mu.Lock()
	t := v.cur
	v.mu.Unlock()
	if t == nil {
		return wire.Server{}, chatclient.ErrDown
	}
	res, err := t.live.Send(ctx, wire.Client{Type: wire.TypeMessage, ClientID: m.clientID, Text: m.text}, ackWait)
	if err != nil {
		return res, fmt.Errorf("%s: send %s over %s: %w", v.name, m.clientID, t.kind(), err)
	}
	v.r.trace(v.name, "%s %d: %s %s seq %d %+v", t.kind(), t.gen, res.Type, res.ClientID, res.Seq, res.Error)
	return res, nil
}

// snapshot is what the visitor shows now.
func (v *visitor) snapshot() (lines []line, lastSeq int64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]line(nil), v.lines...), v.lastSeq
}
