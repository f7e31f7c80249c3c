package soak

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/parley/parley/chatclient"
	"github.com/parley/parley/handlers/live/wire"
)

// agent is one agent's console, as agent.js would be: the page the server
// renders, then the live feed's fragments swapped in by id, and replies
// posted as forms. Like agent.js, a pane's data-last-seq moves only one
// event at a time, and the feed resumes from it.
type agent struct {
	r        *soakRun
	name     string
	password string
	rng      *rand.Rand
	client   *chatclient.Client

	mu      sync.Mutex
	csrf    string
	queue   string           // the queue list's data-version
	panes   map[string]*pane // the chats on the console, by id
	gen     int
	cur     *agentFeed
	pending []*message
	sent    []*message
	held    []string // the chats this agent accepted
	nextID  int
}

// agentFeed is one console WebSocket or long-poll loop.
type agentFeed struct {
	ws   bool
	gen  int
	live *chatclient.Live
	// stream is, per chat, the newest seq this feed has delivered (or was
	// told the console has): its next event must be the one after.
	stream map[string]int64
}

func (f *agentFeed) kind() string { return transportName(f.ws) }

func newAgent(r *soakRun, name, password string, i int, seed uint64) *agent {
	return &agent{
		r: r, name: name, password: password, rng: rand.New(rand.NewPCG(seed, uint64(200+i))),
		client: newClient(r.base), panes: map[string]*pane{},
	}
}

// signIn signs the agent in and loads the console.
func (a *agent) signIn(ctx context.Context) error {
	var token string
	err := retry(ctx, a.r, func() (err error) {
		token, err = a.client.LoginToken(ctx)
		return err
	})
	if err != nil {
		return err
	}
	if _, err := a.client.SignIn(ctx, token, a.name, a.password); err != nil {
		return fmt.Errorf("%s: sign in: %w", a.name, err)
	}
	return a.load(ctx, "sign-in")
}

// load closes the feed and loads the console page: each pane the console
// showed must agree with the server's.
func (a *agent) load(ctx context.Context, when string) error {
	a.closeFeed()
	var doc *goquery.Document
	err := retry(ctx, a.r, func() error {
		html, err := a.client.Get(ctx, "/agent")
		if err != nil {
			return err
		}
		doc, err = parse(html)
		if err == nil && doc.Find("body.agent-body").Length() == 0 {
			err = fmt.Errorf("%s: /agent is not the console: %s: %w", a.name, firstBytes(html, 200), chatclient.ErrPermanent)
		}
		return err
	})
	if err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	var shown []string
	doc.Find("section.agent-pane").Each(func(_ int, s *goquery.Selection) {
		p := parsePane(s)
		shown = append(shown, fmt.Sprintf("%s.%d (%d messages)", p.id[:8], p.lastSeq, len(p.lines)))
	})
	a.r.trace(a.name, "%s: the console shows %v", when, shown)
	a.csrf, _ = doc.Find(`meta[name="parley-csrf-token"]`).Attr("content")
	a.queue, _ = doc.Find("#agent-queue-list").Attr("data-version")
	fresh := map[string]*pane{}
	doc.Find("section.agent-pane").Each(func(_ int, s *goquery.Selection) {
		p := parsePane(s)
		fresh[p.id] = p
	})
	for id, old := range a.panes {
		p, ok := fresh[id]
		if !ok {
			a.r.violate("lost", "%s, %s: chat %s is gone from the console", a.name, when, id)
			continue
		}
		a.r.compareView(a.name+" console ("+id[:8]+")", when, old.sorted(), old.lastSeq, p.sorted(), p.lastSeq)
	}
	a.panes = fresh
	return nil
}

// accept takes a waiting chat, as the queue's Accept button does.
func (a *agent) accept(ctx context.Context, chatID string) error {
	err := retry(ctx, a.r, func() error {
		a.mu.Lock()
		csrf := a.csrf
		a.mu.Unlock()
		html, err := a.client.Accept(ctx, csrf, chatID)
		if err != nil {
			return err
		}
		return a.applyAnswer(html)
	})
	if err != nil {
		return fmt.Errorf("%s: accept %s: %w", a.name, chatID, err)
	}
	a.held = append(a.held, chatID)
	return nil
}

// cycle is one console reload, feed reconnect or neither, over a transport
// picked at random, with a reply in one of the agent's chats. On a
// reconnect the feed stays down a moment while the agent goes on replying,
// as when a connection drops under a console in use.
func (a *agent) cycle(ctx context.Context) error {
	ws := a.rng.IntN(2) == 0
	switch n := a.rng.IntN(10); {
	case n < 3:
		a.r.trace(a.name, "cycle: reload, then %s", transportName(ws))
		a.r.stats.reloads.Add(1)
		if err := a.load(ctx, "console reload"); err != nil {
			return err
		}
	case n < 7:
		a.r.trace(a.name, "cycle: feed drops, reply, reconnect over %s", transportName(ws))
		a.r.stats.reconnects.Add(1)
		a.closeFeed()
		if err := chatclient.Sleep(ctx, time.Duration(100+a.rng.IntN(400))*time.Millisecond); err != nil {
			return err
		}
		a.write(a.held[a.rng.IntN(len(a.held))])
		if err := a.flush(ctx, 3); err != nil {
			return err
		}
	}
	a.mu.Lock()
	down := a.cur == nil || a.cur.live.IsDown()
	a.mu.Unlock()
	if down {
		if err := a.openFeed(ctx, ws); err != nil {
			return err
		}
	}
	a.write(a.held[a.rng.IntN(len(a.held))])
	if err := a.flush(ctx, 3); err != nil {
		return err
	}
	return chatclient.Sleep(ctx, time.Duration(200+a.rng.IntN(600))*time.Millisecond)
}

func (a *agent) write(chatID string) {
	a.nextID++
	id := fmt.Sprintf("%s-%d", a.name, a.nextID)
	m := &message{chat: chatID, from: "agent", clientID: id, text: "reply " + id}
	a.r.ledger.add(m)
	a.r.stats.sent.Add(1)
	a.pending = append(a.pending, m)
	a.sent = append(a.sent, m)
}

// flush posts the pending replies in order, each until acknowledged or
// tries attempts.
func (a *agent) flush(ctx context.Context, tries int) error {
	for len(a.pending) > 0 {
		m := a.pending[0]
		acked := false
		for try := 0; try < tries && !acked; try++ {
			m.attempts++
			a.r.stats.attempts.Add(1)
			seq, err := a.send(ctx, m)
			a.r.trace(a.name, "reply %s in %s (try %d): seq %d, err %v", m.clientID, m.chat[:8], m.attempts, seq, err)
			switch {
			case ctx.Err() != nil:
				return ctx.Err()
			case rateLimited(err):
				a.r.stats.rateLimited.Add(1)
				if err := chatclient.Sleep(ctx, 400*time.Millisecond); err != nil {
					return err
				}
			case errors.Is(err, chatclient.ErrPermanent):
				a.r.violate("refused", "%s: reply %s refused: %v", a.name, m.clientID, err)
				return err
			case err != nil:
				a.r.stats.transportErrors.Add(1)
				if err := chatclient.Sleep(ctx, 100*time.Millisecond); err != nil {
					return err
				}
			default:
				a.r.ledger.acked(a.r, m, seq)
				acked = true
			}
		}
		if !acked {
			return nil
		}
		a.pending = a.pending[1:]
	}
	return nil
}

// send posts one reply; the answer's transcript line is its ack, and is
// swapped in like agent.js does.
func (a *agent) send(ctx context.Context, m *message) (int64, error) {
	a.mu.Lock()
	csrf := a.csrf
	a.mu.Unlock()
	html, err := a.client.Reply(ctx, csrf, m.chat, m.clientID, m.text)
	if err != nil {
		return 0, err
	}
	doc, err := parse(html)
	if err != nil {
		return 0, err
	}
	var seq int64
	doc.Find("li.agent-line").Each(func(_ int, li *goquery.Selection) {
		if strings.TrimSpace(li.Find(".agent-text").Text()) == m.text {
			seq, _ = seqAttr(li, "data-seq")
		}
	})
	if seq == 0 {
		return 0, fmt.Errorf("%s: the answer to %s has no line of it: %s: %w", a.name, m.clientID, firstBytes(html, 300), chatclient.ErrPermanent)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.applyNodes(doc, nil, "")
	return seq, nil
}

// applyAnswer swaps in a form's answer.
func (a *agent) applyAnswer(html string) error {
	doc, err := parse(html)
	if err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.applyNodes(doc, nil, "")
	return nil
}

// closeFeed ends the live feed; nothing it still receives counts.
func (a *agent) closeFeed() {
	a.mu.Lock()
	f := a.cur
	a.cur = nil
	a.gen++
	a.mu.Unlock()
	if f != nil {
		f.live.Abort()
	}
}

// shown is the feed's query: the queue's version and each pane's last seq.
func (a *agent) shown() (url.Values, map[string]int64) {
	stream := map[string]int64{}
	var chats []string
	for _, id := range slices.Sorted(maps.Keys(a.panes)) {
		p := a.panes[id]
		stream[id] = p.lastSeq
		chats = append(chats, fmt.Sprintf("%s.%d", id, p.lastSeq))
	}
	return url.Values{"queue": {a.queue}, "chats": {strings.Join(chats, ",")}}, stream
}

// openFeed opens the console's live feed from what it shows.
func (a *agent) openFeed(ctx context.Context, ws bool) error {
	a.closeFeed()
	return retry(ctx, a.r, func() error {
		a.mu.Lock()
		a.gen++
		f := &agentFeed{ws: ws, gen: a.gen}
		a.mu.Unlock()
		stream := chatclient.Stream{
			Console: true,
			// Asked at the dial and before each poll, from what the console
			// shows then.
			Query: func() url.Values {
				a.mu.Lock()
				defer a.mu.Unlock()
				query, stream := a.shown()
				f.stream = stream
				a.r.trace(a.name, "%s feed %d asks from %s", f.kind(), f.gen, query.Get("chats"))
				return query
			},
			OnFrame: func(fr wire.Server) bool { return a.applyFrame(f, fr) },
		}
		live, err := a.r.openLive(ctx, a.client, ws, a.name, fmt.Sprintf("console %s feed %d", f.kind(), f.gen), stream)
		if err != nil {
			return err
		}
		f.live = live
		a.mu.Lock()
		a.cur = f
		a.mu.Unlock()
		return nil
	})
}

// applyFrame swaps in a feed frame's fragments, checking that each chat's
// events come one after another from where the console said it was.
func (a *agent) applyFrame(f *agentFeed, fr wire.Server) bool {
	if fr.Type == "error" {
		a.r.violate("protocol", "%s: the console feed says %+v", a.name, fr.Error)
	}
	if fr.Type != "event" || fr.HTML == "" {
		return true
	}
	doc, err := parse(fr.HTML)
	if err != nil {
		a.r.violate("protocol", "%s: console frame: %v", a.name, err)
		return true
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.gen != f.gen {
		return false
	}
	a.r.trace(a.name, "%s feed %d: %s", f.kind(), f.gen, summarize(doc))
	a.applyNodes(doc, f, f.kind())
	return true
}

// applyNodes applies the top-level elements of fragments as agent.js's
// applyOne does; with a feed, it also checks the feed's stream.
func (a *agent) applyNodes(doc *goquery.Document, f *agentFeed, via string) {
	doc.Find("body").Children().Each(func(_ int, n *goquery.Selection) {
		chat, _ := n.Attr("data-chat")
		seq, hasSeq := seqAttr(n, "data-seq")
		if n.Is("section.agent-pane") {
			p := parsePane(n)
			if f != nil {
				f.stream[p.id] = p.lastSeq
			}
			a.upsertPane(p, via)
			return
		}
		if chat != "" && hasSeq {
			if f != nil {
				last, known := f.stream[chat]
				switch {
				case !known:
				case seq < last:
					a.r.violate("duplicate", "%s console (%s) over %s: event %d delivered after %d", a.name, chat[:8], via, seq, last)
				case seq > last+1:
					a.r.violate("gap", "%s console (%s) over %s: event %d arrived after %d", a.name, chat[:8], via, seq, last)
				}
				f.stream[chat] = max(last, seq)
			}
			// bumpSeq: the pane's seq moves one event at a time only.
			if p := a.panes[chat]; p != nil && seq == p.lastSeq+1 {
				p.lastSeq = seq
			}
		}
		id, _ := n.Attr("id")
		switch op, _ := n.Attr("data-swap"); {
		case op == "remove" && strings.HasPrefix(id, "agent-chat-"):
			delete(a.panes, strings.TrimPrefix(id, "agent-chat-"))
		case op == "upsert" && id == "agent-queue-list":
			a.queue, _ = n.Attr("data-version")
		case op == "upsert" && n.Is("li.agent-line.agent-message"):
			p := a.panes[chat]
			if p == nil {
				return // agent.js: no log to put it in
			}
			if _, had := p.lines[seq]; !had && f != nil {
				a.r.stats.delivered.Add(1)
			}
			p.lines[seq] = strings.TrimSpace(n.Find(".agent-text").Text())
		}
	})
}

// upsertPane is agent.js's: a pane replaces the one shown only when it is
// newer (or goes live or ends).
func (a *agent) upsertPane(p *pane, via string) {
	old := a.panes[p.id]
	if old == nil {
		a.panes[p.id] = p
		return
	}
	if p.lastSeq <= old.lastSeq && p.live == old.live {
		return
	}
	a.r.compareView(a.name+" console ("+p.id[:8]+")", "pane from "+via, old.sorted(), old.lastSeq, p.sorted(), p.lastSeq)
	a.panes[p.id] = p
}

// snapshot is what the console shows of a chat.
func (a *agent) snapshot(chatID string) (lines []line, lastSeq int64, ok bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	p := a.panes[chatID]
	if p == nil {
		return nil, 0, false
	}
	return p.sorted(), p.lastSeq, true
}

// chatPage is the agent's page of one chat: the store's truth.
func (a *agent) chatPage(ctx context.Context, chatID string) (*pane, error) {
	var p *pane
	err := retry(ctx, a.r, func() error {
		html, err := a.client.Get(ctx, "/agent/chats/"+chatID)
		if err != nil {
			return err
		}
		doc, err := parse(html)
		if err != nil {
			return err
		}
		s := doc.Find("section#agent-chat-" + chatID)
		if s.Length() != 1 {
			return fmt.Errorf("no pane of %s on its page: %w", chatID, chatclient.ErrPermanent)
		}
		p = parsePane(s)
		return nil
	})
	return p, err
}

// summarize lists a fragment's parts that carry a chat's seq, for a trace.
func summarize(doc *goquery.Document) string {
	var parts []string
	doc.Find("body").Children().Each(func(_ int, n *goquery.Selection) {
		chat, _ := n.Attr("data-chat")
		if n.Is("section.agent-pane") {
			chat, _ = n.Attr("data-chat-id")
			seq, _ := n.Attr("data-last-seq")
			parts = append(parts, "pane "+chat[:min(8, len(chat))]+"."+seq)
			return
		}
		if seq, ok := n.Attr("data-seq"); ok && chat != "" {
			part := chat[:min(8, len(chat))] + "." + seq
			if text := strings.TrimSpace(n.Find(".agent-text").Text()); text != "" {
				part += fmt.Sprintf(" %q", text)
			}
			parts = append(parts, part)
		}
	})
	return strings.Join(parts, ", ")
}
