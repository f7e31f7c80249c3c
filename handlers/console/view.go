package console

import (
	"context"
	"encoding/hex"
	"hash"
	"hash/fnv"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/parley/parley/chatstate"
	"github.com/parley/parley/handlers/web"
	"github.com/parley/parley/handlers/widget"
	"github.com/parley/parley/views"
)

// Limits of what the console lists at once.
const (
	queueLimit   = 200
	heldLimit    = 1000 // of one agent's
	historyLimit = 50
)

// queueView lists the waiting chats, longest waiting first, as of now.
func (a *Console) queueView(ctx context.Context, csrf string) (views.AgentQueue, error) {
	return a.queueViewAfter(ctx, csrf, time.Now())
}

// queueViewAfter lists the waiting chats as read after the moment given
// (an event's publication): every console that an event reaches asks for
// the queue, and the first one reads it for them all.
func (a *Console) queueViewAfter(ctx context.Context, csrf string, after time.Time) (views.AgentQueue, error) {
	rows, version, err := a.queue.read(ctx, after, a.readQueue)
	if err != nil {
		return views.AgentQueue{}, err
	}
	return views.AgentQueue{CSRF: csrf, Rows: rows, Version: version, Pages: pagesVersion(rows)}, nil
}

// pagesVersion names the pages the rows show, so that a reconnecting
// console can say in a few bytes whether its pages are current.
func pagesVersion(rows []views.QueueRow) string {
	sum := fnv.New64a()
	for _, row := range rows {
		writeFields(sum, row.ChatID, row.Page)
	}
	return hex.EncodeToString(sum.Sum(nil))
}

// readQueue reads the waiting chats from the store.
func (a *Console) readQueue(ctx context.Context) ([]views.QueueRow, string, error) {
	chats, err := a.chats.ListChats(ctx, chatstate.ChatFilter{Phases: []chatstate.Phase{chatstate.PhaseQueued}, OldestFirst: true, Limit: queueLimit})
	if err != nil {
		return nil, "", err
	}
	now := a.now()
	rows := make([]views.QueueRow, 0, len(chats))
	sum := fnv.New64a()
	for _, c := range chats {
		row := views.QueueRow{
			ChatID:  c.ID,
			Name:    visitorName(c),
			Email:   c.Visitor.Email,
			Subject: c.Visitor.Subject,
			Page:    c.Page,
			Since:   c.CreatedAt,
			Now:     now,
		}
		rows = append(rows, row)
		// Pages move often, and each move is sent as it happens (see
		// agentFeed.queueParts): the version leaves them out.
		writeFields(sum, row.ChatID, row.Name, row.Email, row.Subject)
	}
	return rows, hex.EncodeToString(sum.Sum(nil)), nil
}

// writeFields adds fields to a version's hash, each ended by a NUL so that
// no two lists of fields hash alike by running together.
func writeFields(h hash.Hash, fields ...string) {
	for _, f := range fields {
		h.Write([]byte(f))
		h.Write([]byte{0})
	}
}

// queueSnapshot is the queue as last read, shared by the consoles: with
// many agents, a read and sort of the queue by every console for each
// event that touches it would be most of the server's CPU (two thirds with
// ten agents and 2,000 waiting chats).
type queueSnapshot struct {
	mu      sync.Mutex
	readAt  time.Time
	rows    []views.QueueRow
	version string
	// listed holds the chats in rows.
	listed map[string]bool
}

// read returns the snapshot when it was read after the moment given (an
// unknown moment is now), and otherwise reads it again. Consoles wait for
// each other here, so one event costs one read.
func (q *queueSnapshot) read(ctx context.Context, after time.Time, readQueue func(context.Context) ([]views.QueueRow, string, error)) ([]views.QueueRow, string, error) {
	if after.IsZero() {
		after = time.Now()
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.rows != nil && q.readAt.After(after) {
		return q.rows, q.version, nil
	}
	start := time.Now()
	rows, version, err := readQueue(ctx)
	if err != nil {
		return nil, "", err
	}
	q.rows, q.version, q.readAt = rows, version, start
	q.listed = make(map[string]bool, len(rows))
	for _, row := range rows {
		q.listed[row.ChatID] = true
	}
	return rows, version, nil
}

// mayList reports whether the queue may show chat id: a page move of any
// other chat leaves the queue as it is, since which chats it lists depends
// only on when they were created. A chat that joined the queue since the
// snapshot was read is not missed: its registration, which every console
// takes before its page moves, read the queue again.
func (q *queueSnapshot) mayList(id string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.rows == nil || q.listed[id]
}

// heldChats are the live chats the agent holds, oldest first.
func (a *Console) heldChats(ctx context.Context, agent string) ([]chatstate.Chat, error) {
	return a.chats.ListChats(ctx, chatstate.ChatFilter{Phases: []chatstate.Phase{chatstate.PhaseConnected}, Agent: agent, OldestFirst: true, Limit: heldLimit})
}

// chatView renders a chat for the console: its latest page of lines and
// pages, so a long chat's pane costs what a short one's does; older lines
// come on demand (Earlier).
func (a *Console) chatView(ctx context.Context, chat chatstate.Chat, csrf string) (views.AgentChat, error) {
	events, earlier, err := a.chats.RecentEvents(ctx, chat.ID, chat.LastSeq, agentLineKinds(), consolePageLines)
	if err != nil {
		return views.AgentChat{}, err
	}
	pages, _, err := a.chats.RecentEvents(ctx, chat.ID, chat.LastSeq, []chatstate.EventKind{chatstate.EventPage}, maxTrailShown)
	if err != nil {
		return views.AgentChat{}, err
	}
	v := views.AgentChat{
		ID:       chat.ID,
		Visitor:  visitorName(chat),
		Email:    chat.Visitor.Email,
		Subject:  chat.Visitor.Subject,
		UserData: userData(chat.Visitor.UserData),
		Page:     chat.Page,
		Agent:    chat.AgentName,
		Live:     chat.Phase == chatstate.PhaseConnected,
		LastSeq:  chat.LastSeq,
		CSRF:     csrf,
		ClientID: widget.NewClientID(),
		Start:    chat.CreatedAt,
		End:      chat.UpdatedAt,
	}
	if !v.Live {
		v.Ended = "The chat has ended."
	}
	for _, ev := range pages {
		v.Trail = append(v.Trail, trailItem(ev))
	}
	v.Lines = agentLines(events)
	if earlier && len(v.Lines) > 0 {
		v.EarlierBefore = v.Lines[0].Seq
	}
	for _, ev := range events {
		if ev.Kind == chatstate.EventEnded {
			v.Ended, v.End = agentEndedLine(ev), ev.Time
		}
	}
	return v, nil
}

// agentLineKinds are the events the console shows as lines.
func agentLineKinds() []chatstate.EventKind {
	return []chatstate.EventKind{chatstate.EventMessage, chatstate.EventLeftMessage, chatstate.EventRegistered, chatstate.EventAgentJoined, chatstate.EventAgentLeft, chatstate.EventEnded}
}

// consolePageLines is how many lines a chat's pane shows at first, and how
// many more each "Show earlier messages" brings.
const consolePageLines = 100

func agentLines(events []chatstate.Event) []views.AgentLine {
	lines := make([]views.AgentLine, 0, len(events))
	for _, ev := range events {
		if line, ok := agentLine(ev); ok {
			lines = append(lines, line)
		}
	}
	return lines
}

// maxTrailShown keeps the agent's view of a page trail to its newest pages,
// however many a visitor (or a script) went through.
const maxTrailShown = 50

func trailItem(ev chatstate.Event) views.TrailItem {
	return views.TrailItem{ChatID: ev.ChatID, Seq: ev.Seq, Page: ev.Page, Time: ev.Time}
}

// agentLine turns a logged event into a transcript line as agents read it;
// typing and page changes have none (the page trail shows pages).
func agentLine(ev chatstate.Event) (views.AgentLine, bool) {
	line := views.AgentLine{ChatID: ev.ChatID, Line: views.Line{Seq: ev.Seq, Kind: views.LineNotice, From: string(ev.From.Type), Time: ev.Time}}
	switch ev.Kind {
	case chatstate.EventLeftMessage:
		if ev.Text == "" {
			line.Text = ev.From.Name + " left the chat as a message, to be answered by email."
			break
		}
		line.Kind, line.Author, line.Text = views.LineMessage, ev.From.Name, ev.Text
	case chatstate.EventMessage:
		line.Kind, line.Author, line.Text = views.LineMessage, ev.From.Name, ev.Text
	case chatstate.EventRegistered:
		line.Text = ev.From.Name + " is waiting for an agent."
	case chatstate.EventAgentJoined:
		line.Text = ev.From.Name + " accepted the chat."
	case chatstate.EventAgentLeft:
		line.Text = ev.From.Name + " returned the chat to the queue."
	case chatstate.EventEnded:
		line.Text = agentEndedLine(ev)
	default:
		return views.AgentLine{}, false
	}
	return line, true
}

func agentEndedLine(ev chatstate.Event) string {
	switch ev.Reason {
	case chatstate.ReasonVisitor:
		return nameOr(ev.From.Name, "The visitor") + " ended the chat."
	case chatstate.ReasonAgent:
		return nameOr(ev.From.Name, "The agent") + " ended the chat."
	case chatstate.ReasonOffline:
		return "The chat ended: the visitor was away for too long."
	}
	return "The chat has ended."
}

func endReasonText(reason string) string {
	switch reason {
	case chatstate.ReasonVisitor:
		return "ended by the visitor"
	case chatstate.ReasonAgent:
		return "ended by the agent"
	case chatstate.ReasonOffline:
		return "visitor went away"
	}
	return "ended"
}

func nameOr(name, fallback string) string {
	if name == "" {
		return fallback
	}
	return name
}

// visitorName is the visitor as the console names them.
func visitorName(c chatstate.Chat) string {
	name := strings.TrimSpace(c.Visitor.FirstName + " " + c.Visitor.LastName)
	return nameOr(name, "Visitor")
}

// agentErrorLine is what the console says of a refused action. Agents read
// the console in English; the visitor's localized strings are not theirs.
func agentErrorLine(err error) string {
	switch web.APIErrorOf(err).Name {
	case "already_accepted":
		return "Another agent has already accepted this chat."
	case "not_your_chat":
		return "This chat is held by another agent."
	case "chat_ended":
		return "This chat has already ended."
	case "message_too_long":
		return "The message is too long: please keep it under " + strconv.Itoa(chatstate.MaxMessageRunes) + " characters."
	case "message_invalid":
		return "Please type a message first."
	case "rate_limited":
		return "Too many requests. Please wait a moment."
	case "not_found":
		return "This chat could not be found."
	case "invalid_options":
		return "This chat is not waiting for an agent."
	}
	return "Something went wrong on our side. Please try again in a moment."
}

func userData(data map[string]string) []views.UserDatum {
	keys := slices.Sorted(maps.Keys(data))
	out := make([]views.UserDatum, len(keys))
	for i, k := range keys {
		out[i] = views.UserDatum{Key: k, Value: data[k]}
	}
	return out
}
