package widget

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/parley/parley/chatstate"
	"github.com/parley/parley/handlers/web"
	"github.com/parley/parley/localization"
	"github.com/parley/parley/views"
)

// restored is what the cookie led to: a chat, nothing, or a failure to show.
type restored struct {
	chat  chatstate.Chat
	found bool
	err   *web.APIError
}

// restoredKey is where restore keeps what it found for the request, so a
// page that records its trail and renders the widget reads the store once.
const restoredKey = "parley.restored"

// restore finds the request's chat, by DESIGN §3: a signed-in user's chat
// wherever the user is, else the chat of the visitor's cookie.
func (vw *Widget) restore(c echo.Context) restored {
	if r, ok := c.Get(restoredKey).(restored); ok {
		return r
	}
	var r restored
	if user, ok := vw.identify(c); ok && user.ID != "" {
		r = vw.restoreUser(c, user.ID)
	} else {
		r = vw.restoreCookie(c)
	}
	c.Set(restoredKey, r)
	return r
}

// restoreCookie reads the visitor's cookie and finds its chat: a tampered
// cookie is cleared and reported as invalid_token; a chat that ended and was
// seen, or is gone, leaves the visitor free to start anew; a store failure
// keeps the cookie, since the chat may well come back.
func (vw *Widget) restoreCookie(c echo.Context) restored {
	r, w := c.Request(), c.Response()
	now := time.Now()
	token, stale, err := vw.jar.Token(r, now)
	switch {
	case errors.Is(err, errNoTokenCookie):
		return restored{}
	case err != nil:
		vw.jar.Clear(w, r)
		return restored{err: web.ErrInvalidToken()}
	}
	chat, err := vw.chats.Restore(r.Context(), token)
	switch {
	case errors.Is(err, chatstate.ErrNotFound):
		vw.jar.Clear(w, r)
		return restored{}
	case err != nil:
		if r.Context().Err() == nil {
			vw.Log.ErrorContext(r.Context(), "restore chat", "err", err)
		}
		return restored{err: web.ErrServer()}
	case chat.Phase == chatstate.PhaseEnded && chat.EndSeen, chat.UserID != "":
		// A chat tied to a user restores only where that user is signed
		// in: not in this browser once the user has signed out.
		vw.jar.Clear(w, r)
		return restored{}
	}
	// Re-writing the cookie renews its expiry and moves it to the newest
	// key; within the hour it needs neither.
	if stale {
		if err := vw.jar.Set(w, r, token, now); err != nil {
			vw.Log.ErrorContext(r.Context(), "renew chat cookie", "err", err)
		}
	}
	return restored{chat: chat, found: true}
}

// restoreUser finds the signed-in user's chat. A chat this browser started
// before the user signed in carries on as the user's when the user has no
// other.
func (vw *Widget) restoreUser(c echo.Context, userID string) restored {
	ctx := c.Request().Context()
	chat, err := vw.chats.RestoreUser(ctx, userID)
	switch {
	case err == nil && !(chat.Phase == chatstate.PhaseEnded && chat.EndSeen):
		return restored{chat: chat, found: true}
	case err != nil && !errors.Is(err, chatstate.ErrNotFound):
		if ctx.Err() == nil {
			vw.Log.ErrorContext(ctx, "restore user's chat", "err", err)
		}
		return restored{err: web.ErrServer()}
	}
	anonymous := vw.restoreCookie(c)
	if !anonymous.found || anonymous.chat.Phase == chatstate.PhaseEnded {
		return restored{}
	}
	claimed, err := vw.chats.Claim(ctx, anonymous.chat.ID, userID)
	if err != nil {
		vw.Log.ErrorContext(ctx, "claim chat for user", "chat", anonymous.chat.ID, "err", err)
		return restored{}
	}
	// The chat now restores by the user; the cookie has done its part.
	vw.jar.Clear(c.Response(), c.Request())
	return restored{chat: claimed, found: true}
}

// widgetView builds the widget for what restore found. It is the one place
// that turns a chat into what the visitor sees, and it writes nothing.
func (vw *Widget) widgetView(ctx context.Context, v Viewer, r restored) views.Widget {
	var chat *chatstate.Chat
	if r.found {
		chat = &r.chat
	}
	tr := vw.Translator(v.Viewer, chat)
	w := views.Widget{T: tr, State: views.WidgetStart, CSRF: v.CSRF, ReturnTo: v.ReturnTo, Open: vw.isOpen(v.ui), UICookie: v.uiCookie, UICookieMaxAge: uiCookieMaxAge}
	if r.err != nil {
		w.Error = widgetError(tr, r.err)
	}
	if chat == nil || chat.Phase == chatstate.PhaseEnded {
		// The start button shows: what it offers depends on whether chat
		// is open now.
		open, opensAt := vw.ChatOpen(ctx)
		w.Closed = !open
		if !opensAt.IsZero() {
			w.OpensAt = opensAtLine(tr, opensAt, time.Now())
		}
	}
	if chat == nil {
		return w
	}
	w.ChatID, w.Phase, w.LastSeq = chat.ID, string(chat.Phase), chat.LastSeq
	switch chat.Phase {
	case chatstate.PhaseRegistration:
		w.State = views.WidgetRegistration
		w.Form = formView(chat.Draft)
		return w
	case chatstate.PhaseLeaveMessage:
		w.State = views.WidgetLeaveMessage
		w.Form = formView(chat.Draft)
		return w
	}
	// The page shows the most recent lines, up to the chat as it was read;
	// the live transport goes on from there, and older lines come on
	// demand (earlier), so a long chat's page costs what a short one's does.
	var (
		lines   []views.Line
		earlier bool
		err     error
	)
	if v.transcriptBefore > 0 {
		var events []chatstate.Event
		events, earlier, err = vw.chats.RecentLines(ctx, chat.ID, min(v.transcriptBefore-1, chat.LastSeq), transcriptPageLines)
		lines = linesOf(tr, events)
	} else {
		lines, earlier, err = vw.recentLines(ctx, tr, *chat)
	}
	if err != nil {
		vw.Log.ErrorContext(ctx, "load transcript", "chat", chat.ID, "err", err)
		w.State, w.ChatID, w.Phase, w.LastSeq = views.WidgetStart, "", "", 0
		w.Error = widgetError(tr, web.ErrServer())
		return w
	}
	w.State = views.WidgetConversation
	w.Talk = talkView(tr, *chat, lines)
	if chat.Phase == chatstate.PhaseQueued {
		if open, _ := vw.ChatOpen(ctx); !open {
			w.Talk.Nobody = tr.T("leave.nobody", "email", chat.Visitor.Email)
		}
	}
	if w.Talk.WriteAgain {
		w.Form = formView(chat.Draft) // what the visitor began to write
	}
	w.Talk.Earlier = earlier
	if !w.Open {
		w.Unread = unread(v.ui, *chat, lines)
	}
	return w
}

// MaxReplay is the most events read from the log to bring a page or a live
// client up to date; a longer gap is re-rendered from the server instead,
// which is cheaper and just as exact.
const MaxReplay = 500

// ChatView is the widget showing chat to the viewer v, for a live
// transport to push; like widgetView, it writes nothing.
func (vw *Widget) ChatView(ctx context.Context, v Viewer, chat chatstate.Chat) views.Widget {
	return vw.widgetView(ctx, v, restored{chat: chat, found: true})
}

// transcriptPageLines is how many lines of the transcript a page shows, and
// how many more each "Show earlier messages" brings: a screenful or two,
// and a page well under DESIGN §8's 25 KB.
const transcriptPageLines = 50

func widgetError(tr *localization.Catalog, e *web.APIError) *views.WidgetError {
	return &views.WidgetError{Code: e.Code, Name: e.Name, Line: tr.T(e.Key, e.Args...)}
}

func formView(r chatstate.Registration) views.RegistrationForm {
	return views.RegistrationForm{
		FirstName: views.Field{Value: r.FirstName},
		LastName:  views.Field{Value: r.LastName},
		Email:     views.Field{Value: r.Email},
		Subject:   views.Field{Value: r.Subject},
		Message:   views.Field{Value: r.Message},
	}
}

// formErrors puts each field's localized error beside it.
func formErrors(tr views.Translator, f views.RegistrationForm, verr *chatstate.ValidationError) views.RegistrationForm {
	fields := map[string]*views.Field{
		chatstate.FieldFirstName: &f.FirstName,
		chatstate.FieldLastName:  &f.LastName,
		chatstate.FieldEmail:     &f.Email,
		chatstate.FieldSubject:   &f.Subject,
		chatstate.FieldMessage:   &f.Message,
	}
	for name, fe := range verr.Fields {
		if field := fields[name]; field != nil {
			field.Error = tr.T(fe.Key, fe.Args...)
		}
	}
	f.Summary = tr.T("registration.error.summary")
	return f
}

func talkView(tr views.Translator, chat chatstate.Chat, lines []views.Line) views.Conversation {
	talk := views.Conversation{ClientID: NewClientID(), EndReason: chat.EndReason, Lines: lines}
	switch chat.Phase {
	case chatstate.PhaseQueued:
		talk.Status = tr.T("conversation.waiting", "name", chat.Visitor.FirstName)
	case chatstate.PhaseEnded:
		talk.Ended = tr.T("conversation.ended")
	case chatstate.PhaseWaitingReply:
		talk.LeftMessage, talk.WriteAgain = true, true
		talk.Status = tr.T("leave.waiting", "name", chat.Visitor.FirstName, "email", chat.Visitor.Email)
	case chatstate.PhaseReplied:
		talk.LeftMessage, talk.WriteAgain = true, true
		talk.Status = tr.T("leave.replied", "email", chat.Visitor.Email)
	}
	return talk
}

// ChatOpen says whether chat is open now: within the hours (Config.Hours)
// and with an agent online, on any instance (unless QueueWithoutAgents).
// When it is not, opensAt is when the hours open again (zero when they are
// open and it is agents who are missing). Availability that cannot be read
// counts as open: a visitor who waits in the queue is better off than one
// turned away.
func (vw *Widget) ChatOpen(ctx context.Context) (open bool, opensAt time.Time) {
	now := time.Now()
	if !vw.Hours.Open(now) {
		next, _ := vw.Hours.NextOpen(now)
		return false, next
	}
	if vw.QueueWithoutAgents {
		return true, time.Time{}
	}
	online, err := vw.chats.Availability().AnyOnline(ctx)
	if err != nil {
		vw.Log.ErrorContext(ctx, "read agents' availability", "err", err)
		return true, time.Time{}
	}
	return online, time.Time{}
}

// opensAtLine says when chat opens again, in the visitor's language: the
// day (today, tomorrow, or the weekday) and the time in the schedule's
// zone, whose name it gives.
func opensAtLine(tr views.Translator, at, now time.Time) string {
	y1, m1, d1 := now.In(at.Location()).Date()
	y2, m2, d2 := at.Date()
	days := int(time.Date(y2, m2, d2, 0, 0, 0, 0, time.UTC).Sub(time.Date(y1, m1, d1, 0, 0, 0, 0, time.UTC)).Hours() / 24)
	day := "day." + strconv.Itoa(int(at.Weekday()))
	switch days {
	case 0:
		day = "day.today"
	case 1:
		day = "day.tomorrow"
	}
	return tr.T("widget.opens_at", "day", tr.T(day), "time", at.Format("15:04"), "zone", at.Format("MST"))
}

// linesOf turns logged events into transcript lines.
func linesOf(tr views.Translator, events []chatstate.Event) []views.Line {
	lines := make([]views.Line, 0, len(events))
	for _, ev := range events {
		if line, ok := LineView(tr, ev); ok {
			lines = append(lines, line)
		}
	}
	return lines
}

// LineView turns a logged event into a transcript line; events the visitor
// does not read (typing, page changes) have none.
func LineView(tr views.Translator, ev chatstate.Event) (views.Line, bool) {
	line := views.Line{Seq: ev.Seq, Kind: views.LineNotice, From: string(ev.From.Type), Time: ev.Time}
	switch ev.Kind {
	case chatstate.EventMessage, chatstate.EventLeftMessage:
		if ev.Text == "" {
			return views.Line{}, false // a chat left as a message: its lines say it
		}
		line.Kind, line.Text, line.Author = views.LineMessage, ev.Text, ev.From.Name
		if ev.From.Type == chatstate.PartyVisitor {
			line.Author = tr.T("conversation.you")
		}
	case chatstate.EventAgentJoined:
		line.Text = tr.T("conversation.agent_joined", "name", ev.From.Name)
	case chatstate.EventAgentLeft:
		line.Text = tr.T("conversation.agent_left", "name", ev.From.Name)
	case chatstate.EventEnded:
		line.Text = endedLine(tr, ev)
	default:
		return views.Line{}, false
	}
	return line, true
}

func endedLine(tr views.Translator, ev chatstate.Event) string {
	switch ev.Reason {
	case chatstate.ReasonVisitor:
		return tr.T("conversation.ended.visitor")
	case chatstate.ReasonAgent:
		return tr.T("conversation.ended.agent", "name", ev.From.Name)
	case chatstate.ReasonOffline:
		return tr.T("conversation.ended.offline")
	}
	return tr.T("conversation.ended")
}

// NewClientID gives a plain HTML form its message id, so a resubmitted form
// is stored once.
func NewClientID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
