package console

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/parley/parley/chatstate"
	"github.com/parley/parley/handlers/live"
	"github.com/parley/parley/handlers/live/wire"
	"github.com/parley/parley/handlers/web"
	"github.com/parley/parley/handlers/widget"
	"github.com/parley/parley/views"
)

// maxShownChats bounds the chats a console may say it shows.
const maxShownChats = 200

// agentFeed is one console's live view of every chat: the waiting chats and
// the chats its agent holds. Each chat has its own seqs, so where a visitor
// sends one lastSeq the console says what it shows: the queue's version and,
// per chat on screen, the newest seq it has (the "queue" and "chats" query
// parameters of /agent/ws and /agent/poll). resume sends what differs from
// that, and live events are rendered as HTML fragments that agent.js swaps
// in by id (see views/agentmodel.go).
type agentFeed struct {
	console *Console
	agent   string
	csrf    string
	// queue is the version of the queue list the client shows, and pages
	// the version of the pages it shows in it.
	queue, pages string
	// shownPages are the waiting visitors' pages the client shows, once
	// the feed knows them: a visitor's move is sent as its page alone.
	shownPages map[string]string
	// chats maps each chat the client shows to the newest seq it has.
	chats map[string]int64
	// sub is the feed's subscription, which follows the chats it shows.
	sub *chatstate.Subscription
	// names are the visitors' first names, by chat, for typing events,
	// which do not carry them.
	names map[string]string
}

func (f *agentFeed) Topic() string            { return "" }
func (f *agentFeed) Heartbeat() time.Duration { return 30 * time.Second }

// Connect records that a console of the agent's is open: the agent is
// online (unless they chose otherwise) while one is, and for
// chatstate.AvailabilityConfig.OfflineAfter after the last has gone.
func (f *agentFeed) Connect() func() { return f.console.chats.Availability().ConsoleOpened(f.agent) }

// Subscribe takes what may change the queue, and follows the chats the
// client says it shows.
func (f *agentFeed) Subscribe(h *chatstate.Hub, buffer int) *chatstate.Subscription {
	f.sub = h.SubscribeAll(buffer, wantedByConsoles)
	for id := range f.chats {
		f.sub.Follow(id)
	}
	return f.sub
}

// wantedByConsoles picks, of the chats a console does not show, the events
// that may change the queue. The rest (messages, typing and moves in other
// agents' chats) would wake every console for nothing.
func wantedByConsoles(ev *chatstate.Event) bool {
	if ev.Kind == chatstate.EventPage {
		// A move of a chat that is not waiting leaves the queue alone;
		// one from another instance does not say, so it is taken.
		return ev.ChatPhase == "" || ev.ChatPhase == chatstate.PhaseQueued
	}
	return joinsOrLeavesQueue(ev.Kind)
}

// joinsOrLeavesQueue reports whether an event of this kind puts a chat in
// the queue or takes one out of it.
func joinsOrLeavesQueue(kind chatstate.EventKind) bool {
	switch kind {
	case chatstate.EventRegistered, chatstate.EventAgentJoined, chatstate.EventAgentLeft, chatstate.EventEnded,
		// A waiting chat the visitor left as a message leaves the queue.
		chatstate.EventLeftMessage:
		return true
	}
	return false
}

// show records that the client shows chat id at seq. The subscription
// follows the chat before its pane is read, so that no event committed in
// between is left out.
func (f *agentFeed) show(id string, seq int64) {
	if f.sub != nil {
		f.sub.Follow(id)
	}
	f.chats[id] = seq
}

// newAgentFeed builds the feed of the signed-in agent from what the console
// says it shows; only the console's own pages may open it.
func (a *Console) newAgentFeed(c echo.Context) (*agentFeed, error) {
	if !a.SameOrigin(c.Request()) {
		return nil, web.ErrOriginNotAllowed()
	}
	f := &agentFeed{console: a, agent: agentOf(c), csrf: a.CSRFToken(c), queue: c.QueryParam("queue"), pages: c.QueryParam("pages"), chats: map[string]int64{}, names: map[string]string{}}
	raw := c.QueryParam("chats")
	if raw == "" {
		return f, nil
	}
	parts := strings.Split(raw, ",")
	if len(parts) > maxShownChats {
		return nil, web.ErrInvalidOptions()
	}
	for _, part := range parts {
		id, seqText, ok := strings.Cut(part, ".")
		seq, err := strconv.ParseInt(seqText, 10, 64)
		if !ok || err != nil || seq < 0 || !validChatID(id) {
			return nil, web.ErrInvalidOptions()
		}
		f.show(id, seq)
	}
	return f, nil
}

// validChatID accepts what chatstate's ids look like: lowercase hex.
func validChatID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if !('0' <= id[i] && id[i] <= '9' || 'a' <= id[i] && id[i] <= 'f') {
			return false
		}
	}
	return true
}

// affectsQueue reports whether an event may change the list of waiting
// chats: one joins or leaves it, or a waiting visitor moves to another
// page. Most page moves are of chats already taken, and with hundreds of
// live chats re-reading the queue for each was a sixth of the server's CPU.
func (f *agentFeed) affectsQueue(ev chatstate.Event) bool {
	if ev.Kind != chatstate.EventPage {
		return joinsOrLeavesQueue(ev.Kind)
	}
	if ev.ChatPhase != "" {
		return ev.ChatPhase == chatstate.PhaseQueued
	}
	return f.console.queue.mayList(ev.ChatID)
}

// Resync brings the client from what the feed has sent it to what is true
// now: Resume does, from what the feed knows the client shows.
func (f *agentFeed) Resync(ctx context.Context) ([]wire.Server, error) {
	return f.Resume(ctx, 0)
}

// Resume brings the client from what it says it shows to what is true now.
func (f *agentFeed) Resume(ctx context.Context, _ int64) ([]wire.Server, error) {
	var parts []templ.Component
	if err := f.queueParts(ctx, time.Now(), &parts); err != nil {
		return nil, err
	}
	held, err := f.console.heldChats(ctx, f.agent)
	if err != nil {
		return nil, err
	}
	holds := map[string]bool{}
	for _, chat := range held {
		holds[chat.ID] = true
		seq, shown := f.chats[chat.ID]
		switch {
		case !shown:
			if err := f.paneParts(ctx, chat, &parts); err != nil {
				return nil, err
			}
		case seq < chat.LastSeq:
			events, err := f.console.chats.EventsAfter(ctx, chat.ID, seq, widget.MaxReplay)
			if err != nil {
				return nil, err
			}
			if len(events) == widget.MaxReplay {
				// Cheaper and just as exact to send the chat whole.
				if err := f.paneParts(ctx, chat, &parts); err != nil {
					return nil, err
				}
				break
			}
			for _, ev := range events {
				if err := f.eventParts(ctx, ev, true, &parts); err != nil {
					return nil, err
				}
			}
		}
	}
	for _, id := range slices.Sorted(maps.Keys(f.chats)) {
		if holds[id] {
			continue
		}
		chat, err := f.console.chats.Chat(ctx, id)
		switch {
		case errors.Is(err, chatstate.ErrNotFound):
			f.removeParts(id, &parts)
		case err != nil:
			return nil, err
		case chat.AgentName == f.agent && chat.Phase == chatstate.PhaseEnded:
			// It ended while the console was away: show how.
			if f.chats[id] < chat.LastSeq {
				if err := f.paneParts(ctx, chat, &parts); err != nil {
					return nil, err
				}
			}
		default:
			f.removeParts(id, &parts)
		}
	}
	frames := []wire.Server{live.ResumeFrame(true, 0)}
	if len(parts) > 0 {
		html, err := f.console.RenderString(ctx, templ.Join(parts...))
		if err != nil {
			return nil, err
		}
		frames = append(frames, wire.Server{Type: wire.TypeEvent, HTML: html})
	}
	return frames, nil
}

// EventFrames renders a live event for the console in one frame.
func (f *agentFeed) EventFrames(ctx context.Context, ev chatstate.Event) ([]wire.Server, error) {
	frame, ok, err := f.eventFrame(ctx, ev)
	if !ok || err != nil {
		return nil, err
	}
	return []wire.Server{frame}, nil
}

// eventFrame renders a live event for the console: the queue when it
// changed, and in the agent's own chat the event with any before it that
// the client has not had.
func (f *agentFeed) eventFrame(ctx context.Context, ev chatstate.Event) (wire.Server, bool, error) {
	var parts []templ.Component
	if f.affectsQueue(ev) {
		if err := f.queueParts(ctx, ev.Published, &parts); err != nil {
			return wire.Server{}, false, err
		}
	}
	if ev.Kind == chatstate.EventLeftMessage {
		// A message left while chat was closed joins the list at once.
		rows, err := f.console.messageRows(ctx)
		if err != nil {
			return wire.Server{}, false, err
		}
		parts = append(parts, views.AgentMessageList(rows))
	}
	seq, shown := f.chats[ev.ChatID]
	switch {
	case shown && ev.Seq <= seq:
		// The client has it already.
	case shown:
		events := []chatstate.Event{ev}
		if ev.Seq > seq+1 {
			missed, err := f.console.chats.EventsAfter(ctx, ev.ChatID, seq, min(int(ev.Seq-seq), widget.MaxReplay))
			if err != nil {
				return wire.Server{}, false, err
			}
			events = missed
		}
		for _, ev := range events {
			if err := f.eventParts(ctx, ev, false, &parts); err != nil {
				return wire.Server{}, false, err
			}
		}
	case ev.Kind == chatstate.EventAgentJoined && (ev.ChatPhase == "" || ev.ChatAgent == f.agent):
		// Accepted here or in another tab of the same agent? A local
		// event says who holds the chat, and so does one from another
		// instance when the relay could tell; one without a phase only
		// names the agent as visitors see them, so the chat says. Reading
		// it for every accept in every console open was most of a busy
		// server's CPU.
		chat, err := f.console.chats.Chat(ctx, ev.ChatID)
		if err != nil {
			return wire.Server{}, false, err
		}
		if chat.AgentName == f.agent && chat.Phase == chatstate.PhaseConnected {
			if err := f.paneParts(ctx, chat, &parts); err != nil {
				return wire.Server{}, false, err
			}
		}
	}
	if len(parts) == 0 {
		return wire.Server{}, false, nil
	}
	html, err := f.console.RenderString(ctx, templ.Join(parts...))
	if err != nil {
		return wire.Server{}, false, err
	}
	return wire.Server{Type: wire.TypeEvent, Event: wire.EventOf(ev), HTML: html}, true, nil
}

// queueParts adds what of the queue differs from the client's: the whole
// list when the chats in it or their details do, and otherwise only the
// pages that moved: waiting visitors move often, and a queue of 200 rows
// sent to every console on each move would be hundreds of megabytes a
// minute.
func (f *agentFeed) queueParts(ctx context.Context, after time.Time, parts *[]templ.Component) error {
	queue, err := f.console.queueViewAfter(ctx, f.csrf, after)
	if err != nil {
		return err
	}
	if queue.Version != f.queue {
		*parts = append(*parts, views.AgentQueueList(queue))
		f.queue, f.pages = queue.Version, queue.Pages
		f.shownPages = pagesOf(queue.Rows)
		return nil
	}
	if f.shownPages == nil {
		// Resumed: the client's pages are the rows' when its version of
		// them says so; otherwise each is sent.
		f.shownPages = map[string]string{}
		if queue.Pages == f.pages {
			f.shownPages = pagesOf(queue.Rows)
		}
	}
	for _, row := range queue.Rows {
		if shown, ok := f.shownPages[row.ChatID]; !ok || shown != row.Page {
			*parts = append(*parts, views.AgentQueuePage(row.ChatID, row.Page))
			f.shownPages[row.ChatID] = row.Page
		}
	}
	if queue.Pages != f.pages {
		*parts = append(*parts, views.AgentQueuePages(queue.Pages))
		f.pages = queue.Pages
	}
	return nil
}

// pagesOf maps the rows' chats to their pages.
func pagesOf(rows []views.QueueRow) map[string]string {
	pages := make(map[string]string, len(rows))
	for _, row := range rows {
		pages[row.ChatID] = row.Page
	}
	return pages
}

// paneParts adds a chat whole: its entry in "My chats" and its pane, off
// screen until the agent switches to it.
func (f *agentFeed) paneParts(ctx context.Context, chat chatstate.Chat, parts *[]templ.Component) error {
	if _, shown := f.chats[chat.ID]; !shown {
		f.show(chat.ID, 0)
	}
	cv, err := f.console.chatView(ctx, chat, f.csrf)
	if err != nil {
		return err
	}
	*parts = append(*parts, views.AgentNavItem(cv), views.AgentPane(cv))
	f.chats[chat.ID] = cv.LastSeq
	return nil
}

// visitorFirstName is the name a visitor's typing is shown with.
func (f *agentFeed) visitorFirstName(ctx context.Context, id, given string) (string, error) {
	if given != "" {
		return given, nil
	}
	if name, ok := f.names[id]; ok {
		return name, nil
	}
	chat, err := f.console.chats.Chat(ctx, id)
	if err != nil {
		return "", err
	}
	f.names[id] = chat.Visitor.FirstName
	return chat.Visitor.FirstName, nil
}

func (f *agentFeed) removeParts(id string, parts *[]templ.Component) {
	*parts = append(*parts, views.AgentNavRemove(id), views.AgentPaneRemove(id))
	delete(f.chats, id)
	if f.sub != nil {
		f.sub.Unfollow(id)
	}
}

// eventParts adds one event of a chat the client shows. replay is set for
// events the client missed, which may be old news.
func (f *agentFeed) eventParts(ctx context.Context, ev chatstate.Event, replay bool, parts *[]templ.Component) error {
	id := ev.ChatID
	f.chats[id] = ev.Seq
	switch ev.Kind {
	case chatstate.EventTyping:
		if ev.From.Type == chatstate.PartyVisitor && (!replay || f.console.now().Sub(ev.Time) < chatstate.TypingShown) {
			name, err := f.visitorFirstName(ctx, id, ev.From.Name)
			if err != nil {
				return err
			}
			*parts = append(*parts, views.AgentTyping(id, nameOr(name, "The visitor")+" is typing…"))
		}
	case chatstate.EventPage:
		*parts = append(*parts, views.AgentTrailEntry(trailItem(ev)), views.AgentCurrentPage(id, ev.Page))
	case chatstate.EventAgentLeft:
		// Only the agent holding a chat can hand it back, and this client
		// shows only this agent's chats.
		f.removeParts(id, parts)
		return nil
	case chatstate.EventEnded:
		chat, err := f.console.chats.Chat(ctx, id)
		if err != nil {
			return err
		}
		return f.paneParts(ctx, chat, parts)
	default:
		if line, ok := agentLine(ev); ok {
			if ev.From.Type == chatstate.PartyVisitor {
				*parts = append(*parts, views.AgentTyping(id, ""))
			}
			*parts = append(*parts, views.AgentLineItem(line))
		}
	}
	*parts = append(*parts, views.AgentSeq(id, ev.Seq))
	return nil
}

// HandleFrame answers the console's frames: it only says hello and pings;
// replies, typing and the rest are posted as forms.
func (f *agentFeed) HandleFrame(ctx context.Context, frame wire.Client) []wire.Server {
	switch frame.Type {
	case wire.TypePing, wire.TypeHello:
		return nil
	}
	return []wire.Server{f.ErrorFrame(ctx, frame.ClientID, web.ErrInvalidOptions())}
}

func (f *agentFeed) ErrorFrame(ctx context.Context, clientID string, err error) wire.Server {
	apiErr := web.APIErrorOf(err)
	if apiErr.Internal() {
		f.console.Log.ErrorContext(ctx, "agent transport frame", "agent", f.agent, "err", err)
	}
	return wire.Server{Type: wire.TypeError, ClientID: clientID, Error: live.WireError(apiErr), Message: agentErrorLine(err)}
}

// WebSocket serves the console's live transport.
func (a *Console) WebSocket(c echo.Context) error {
	f, release, err := a.openFeed(c)
	if err != nil {
		return err
	}
	return a.transports.Upgrade(c, f, release)
}

// Poll is the console's long-poll fallback.
func (a *Console) Poll(c echo.Context) error {
	f, release, err := a.openFeed(c)
	if err != nil {
		return err
	}
	defer release()
	return a.transports.LongPoll(c, f, 0)
}

// openFeed builds the agent's feed and takes its connection's place from
// the address's; release gives the place back.
func (a *Console) openFeed(c echo.Context) (f *agentFeed, release func(), err error) {
	f, err = a.newAgentFeed(c)
	if err != nil {
		return nil, nil, err
	}
	release, err = a.transports.Acquire("", a.ClientKey(c.Request()))
	if err != nil {
		return nil, nil, err
	}
	return f, release, nil
}
