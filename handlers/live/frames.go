package live

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/parley/parley/chatstate"
	"github.com/parley/parley/handlers/live/wire"
	"github.com/parley/parley/handlers/web"
	"github.com/parley/parley/handlers/widget"
	"github.com/parley/parley/views"
)

// changesWidget reports whether an event changes the widget beyond one more
// transcript line, so the whole widget is sent along.
func changesWidget(kind chatstate.EventKind) bool {
	switch kind {
	case chatstate.EventRegistered, chatstate.EventAgentJoined, chatstate.EventAgentLeft, chatstate.EventEnded:
		return true
	}
	return false
}

// Feed is one side's view of a live transport: what it subscribes to, how
// events become frames for it, and what its frames do. The WebSocket and
// long-poll transports run any feed the same way.
type Feed interface {
	// Topic is the chat subscribed to; "" for every chat.
	Topic() string
	// Subscribe subscribes to the events the feed renders.
	Subscribe(h *chatstate.Hub, buffer int) *chatstate.Subscription
	// Resume returns the frames that bring a client holding lastSeq up to
	// date, starting with a resume frame.
	Resume(ctx context.Context, lastSeq int64) ([]wire.Server, error)
	// Resync returns the frames that bring the client up to date from
	// what the feed has sent it, starting with a resume frame, once its
	// subscription was dropped and made again.
	Resync(ctx context.Context) ([]wire.Server, error)
	// EventFrames renders a live event, after any of its chat's events the
	// client has not had (a gap: the hub dropped or reordered nothing, but
	// another instance or a slow writer may), read from the log; none for an
	// event the client has or does not see.
	EventFrames(ctx context.Context, ev chatstate.Event) ([]wire.Server, error)
	// HandleFrame applies a client frame and returns the frames that answer it.
	HandleFrame(ctx context.Context, frame wire.Client) []wire.Server
	// ErrorFrame reports a refused frame in the client's language.
	ErrorFrame(ctx context.Context, clientID string, err error) wire.Server
	// Connect records that the client is connected from now until the
	// returned function is called.
	Connect() (disconnected func())
	// Heartbeat is how long a client that holds no connection open may
	// wait between polls.
	Heartbeat() time.Duration
}

// visitorFeed turns a visitor's chat events into frames, rendering their
// HTML with the same components as the page.
type visitorFeed struct {
	t      *Transports
	chat   chatstate.Chat
	chatID string
	viewer widget.Viewer
	tr     views.Translator
	// sent is the newest seq the client has, so a live event that the
	// replay already carried is not sent twice.
	sent int64
	// news is the hub's News from before chat was read: while it stays
	// there, chat is current (see resume).
	news uint64
}

func (f *visitorFeed) Topic() string { return f.chatID }
func (f *visitorFeed) Subscribe(h *chatstate.Hub, buffer int) *chatstate.Subscription {
	return h.Subscribe(f.chatID, buffer)
}
func (f *visitorFeed) Heartbeat() time.Duration { return chatstate.HeartbeatEvery(f.chat) }
func (f *visitorFeed) Connect() func()          { return f.t.chats.Connected(f.chat) }

func (t *Transports) newVisitorFeed(c echo.Context, chat chatstate.Chat, news uint64) *visitorFeed {
	v := t.visitors.ViewerOf(c, widget.SafeReturnTo(c.QueryParam("page")))
	// The feed may live for hours: a string cut from a request header would
	// keep the whole header with it.
	v.AcceptLanguage, v.CSRF, v.ReturnTo = strings.Clone(v.AcceptLanguage), strings.Clone(v.CSRF), strings.Clone(v.ReturnTo)
	return &visitorFeed{t: t, chat: chat, chatID: chat.ID, viewer: v, tr: t.Translator(v.Viewer, &chat), news: news}
}

// EventFrames renders one event for the visitor, with the events before
// it that the client has not had.
func (f *visitorFeed) EventFrames(ctx context.Context, ev chatstate.Event) ([]wire.Server, error) {
	if ev.Seq <= f.sent {
		return nil, nil
	}
	if ev.Seq-f.sent > widget.MaxReplay {
		// Too far behind to replay: the client re-renders the widget.
		f.sent = ev.Seq
		return []wire.Server{ResumeFrame(false, ev.Seq)}, nil
	}
	events := []chatstate.Event{ev}
	if ev.Seq > f.sent+1 {
		missed, err := f.t.chats.EventsAfter(ctx, f.chatID, f.sent, int(ev.Seq-f.sent))
		if err != nil {
			return nil, err
		}
		events = missed
	}
	return f.framesOf(ctx, events)
}

// framesOf renders, in order, the events the client has not had. Typing
// long over is skipped: replaying it would show somebody typing who is not.
func (f *visitorFeed) framesOf(ctx context.Context, events []chatstate.Event) ([]wire.Server, error) {
	var frames []wire.Server
	for _, ev := range events {
		if ev.Kind == chatstate.EventTyping && time.Since(ev.Time) > chatstate.TypingShown {
			f.sent = max(f.sent, ev.Seq)
			continue
		}
		frame, ok, err := f.eventFrame(ctx, ev)
		if err != nil {
			return nil, err
		}
		if ok {
			frames = append(frames, frame)
		}
	}
	return frames, nil
}

// eventFrame renders one event for the visitor; ok is false for one the
// client has.
func (f *visitorFeed) eventFrame(ctx context.Context, ev chatstate.Event) (wire.Server, bool, error) {
	if ev.Seq <= f.sent {
		return wire.Server{}, false, nil
	}
	frame, err := f.render(ctx, ev)
	if err != nil {
		return wire.Server{}, false, err
	}
	f.sent = ev.Seq
	return frame, true, nil
}

func (f *visitorFeed) render(ctx context.Context, ev chatstate.Event) (wire.Server, error) {
	frame := wire.Server{Type: wire.TypeEvent, Event: wire.EventOf(ev)}
	if changesWidget(ev.Kind) {
		chat, err := f.t.chats.Chat(ctx, f.chatID)
		if err != nil {
			return wire.Server{}, err
		}
		w := asOf(f.t.visitors.ChatView(ctx, f.viewer, chat), ev.Seq)
		html, err := f.t.RenderString(ctx, views.WidgetPanel(w))
		if err != nil {
			return wire.Server{}, err
		}
		f.t.visitors.MarkEndShown(ctx, chat)
		frame.Widget = html
		return frame, nil
	}
	if line, ok := widget.LineView(f.tr, ev); ok {
		html, err := f.t.RenderString(ctx, views.TranscriptLine(line))
		if err != nil {
			return wire.Server{}, err
		}
		frame.HTML = html
	}
	return frame, nil
}

// Resync resumes the client from the last event sent to it. A dropped
// subscription moved the hub's news count (see chatstate.Hub.News), so
// Resume reads the chat.
func (f *visitorFeed) Resync(ctx context.Context) ([]wire.Server, error) {
	return f.Resume(ctx, f.sent)
}

// Resume answers a client that has everything up to lastSeq: a resume frame,
// then the events it missed, in order.
func (f *visitorFeed) Resume(ctx context.Context, lastSeq int64) ([]wire.Server, error) {
	if lastSeq == f.chat.LastSeq && f.t.chats.Hub().News() == f.news {
		// The client has the chat's last event, and the hub has heard of
		// no commit since the chat was read (see chatstate.Hub.News): what
		// is new comes through the subscription, made before this. An idle
		// visitor's re-poll reads nothing more.
		f.sent = lastSeq
		return []wire.Server{ResumeFrame(true, lastSeq)}, nil
	}
	chat, err := f.t.chats.Chat(ctx, f.chatID)
	if err != nil {
		return nil, err
	}
	if lastSeq < 0 || lastSeq > chat.LastSeq || chat.LastSeq-lastSeq > widget.MaxReplay {
		// The client re-renders the widget, which then shows chat.LastSeq.
		f.sent = chat.LastSeq
		return []wire.Server{ResumeFrame(false, chat.LastSeq)}, nil
	}
	events, err := f.t.chats.EventsAfter(ctx, f.chatID, lastSeq, widget.MaxReplay)
	if err != nil {
		return nil, err
	}
	f.sent = lastSeq
	missed, err := f.framesOf(ctx, events)
	if err != nil {
		return nil, err
	}
	return append([]wire.Server{ResumeFrame(true, lastSeq)}, missed...), nil
}

// asOf cuts a widget rendered now back to the event it is sent with: the
// events after it follow in frames of their own, and a client that took
// them from the widget would drop those frames, callbacks and all.
func asOf(w views.Widget, seq int64) views.Widget {
	lines := w.Talk.Lines[:0:0]
	for _, l := range w.Talk.Lines {
		if l.Seq <= seq {
			lines = append(lines, l)
		}
	}
	w.Talk.Lines = lines
	w.LastSeq = min(w.LastSeq, seq)
	return w
}

func ResumeFrame(recovered bool, lastSeq int64) wire.Server {
	return wire.Server{Type: wire.TypeResume, Recovered: &recovered, LastSeq: lastSeq}
}

// HandleFrame applies one client frame and returns the frames that answer it.
func (f *visitorFeed) HandleFrame(ctx context.Context, frame wire.Client) []wire.Server {
	t := f.t
	var err error
	switch frame.Type {
	case wire.TypeMessage:
		if !t.messageLimit.Allow(f.chatID) {
			err = web.ErrRateLimited()
			break
		}
		var ev chatstate.Event
		ev, err = t.chats.SendMessage(ctx, f.chatID, chatstate.Party{Type: chatstate.PartyVisitor}, frame.ClientID, frame.Text)
		if err == nil {
			return []wire.Server{{Type: wire.TypeAck, ClientID: frame.ClientID, Seq: ev.Seq}}
		}
	case wire.TypeTyping:
		if t.typingLimit.Allow(f.chatID) {
			err = t.chats.Typing(ctx, f.chatID, chatstate.Party{Type: chatstate.PartyVisitor})
		}
	case wire.TypeEnd:
		_, err = t.chats.End(ctx, f.chatID, chatstate.Party{Type: chatstate.PartyVisitor}, chatstate.ReasonVisitor)
	case wire.TypePing, wire.TypeHello:
	default:
		err = web.ErrInvalidOptions()
	}
	if err == nil {
		return nil
	}
	return []wire.Server{f.ErrorFrame(ctx, frame.ClientID, err)}
}

func (f *visitorFeed) ErrorFrame(ctx context.Context, clientID string, err error) wire.Server {
	apiErr := web.APIErrorOf(err)
	if apiErr.Internal() {
		f.t.Log.ErrorContext(ctx, "transport frame", "chat", f.chatID, "err", err)
	}
	return wire.Server{Type: wire.TypeError, ClientID: clientID, Error: WireError(apiErr), Message: f.tr.T(apiErr.Key, apiErr.Args...)}
}

// WireError is e as an error frame carries it.
func WireError(e *web.APIError) *wire.Error {
	return &wire.Error{Code: e.Code, Name: e.Name, Description: e.Description}
}

// originAllowed guards the visitor transports against other sites' pages:
// the request must come from this server's own pages (see web.Surface.SameOrigin) or
// from an origin configured with -allowed-origin.
func (t *Transports) originAllowed(r *http.Request) bool {
	if t.SameOrigin(r) {
		return true
	}
	_, ok := t.allowedOrigins[r.Header.Get("Origin")]
	return ok
}

// transportChat is the visitor's chat for a transport request, after the
// origin check, and the hub's News from before it was read (see
// visitorFeed.resume).
func (t *Transports) transportChat(c echo.Context) (chatstate.Chat, uint64, error) {
	if !t.originAllowed(c.Request()) {
		return chatstate.Chat{}, 0, web.ErrOriginNotAllowed()
	}
	// Noted before the read, which is the store's: no middleware of
	// Parley's own routes restores the chat before the handler.
	news := t.chats.Hub().News()
	chat, err := t.visitors.VisitorChat(c)
	if err != nil {
		return chatstate.Chat{}, 0, err
	}
	if chat.Phase == chatstate.PhaseRegistration {
		return chatstate.Chat{}, 0, web.APIErrorAs("invalid_options", "The chat has not been registered yet.", http.StatusConflict)
	}
	return chat, news, nil
}

// decodeFrame reads one client frame. Anything after it is refused rather
// than dropped: {"type":"message",…}{"type":"end"} must not half apply.
func decodeFrame(data []byte) (wire.Client, error) {
	var f wire.Client
	if err := json.Unmarshal(data, &f); err != nil {
		return wire.Client{}, web.ErrInvalidOptions()
	}
	return f, nil
}
