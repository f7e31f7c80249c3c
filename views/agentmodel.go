package views

import (
	"context"
	"net/url"
	"strconv"
	"time"
)

// The agent console's markup carries out-of-band swap instructions, so that
// one fragment (a live frame or the answer to a form) can update several
// places at once: an element with data-swap="upsert" replaces the element of
// the same id, or is appended to the element named by data-into when there
// is none; data-swap="remove" removes the element of its id. static/agent.js
// applies them.
const (
	swapUpsert = "upsert"
	swapRemove = "remove"
)

// AgentTitle is the console's tab title; the script prefixes the unread
// count, as in "(2) Parley agent".
const AgentTitle = "Parley agent"

// AgentLogin is the sign-in form.
type AgentLogin struct {
	CSRF string
	// Name is kept after a failed attempt, so only the password is retyped.
	Name  string
	Error string
	// Status is the HTTP status the page is served with (shown to nobody,
	// but a failed sign-in announces its error).
	Status int
}

// AgentShell is what every signed-in console page shows around its content.
type AgentShell struct {
	Agent string
	CSRF  string
	// Section is the page the shell's navigation marks current: "console"
	// or "history".
	Section string
}

// AgentConsole is the console: the waiting chats, the agent's own chats and
// the one on screen.
type AgentConsole struct {
	Shell AgentShell
	Queue AgentQueue
	Chats []AgentChat
	// ShownID is the chat on screen; empty shows the queue prompt.
	ShownID string
	// Alert is a one-off message, such as a chat taken by another agent.
	Alert string
	// Unread is the count the title starts with: the waiting chats.
	Unread int
	// Team is every agent's availability, the agent's own switch first.
	Team AgentTeam
	// Messages are the messages left while chat was closed that wait for
	// an answer.
	Messages []MessageRow
}

// MessageRow is a message left while chat was closed, in the console's
// list of those waiting for an answer.
type MessageRow struct {
	ChatID, Name, Email string
	// Excerpt is the start of the visitor's latest message.
	Excerpt string
	Since   time.Time
	Now     time.Time
}

// AgentMessage is a left message's page: the exchange so far, and the
// reply, which goes to the visitor by email and into their widget.
type AgentMessage struct {
	Shell AgentShell
	Chat  AgentChat
	// Waiting says the visitor's last message has no answer yet.
	Waiting bool
	// Sent says a reply just went.
	Sent  bool
	Error string
	Draft string
}

// AgentTeam is the team's availability, as the console shows it: the
// signed-in agent's status switch, and each agent's status and chats.
type AgentTeam struct {
	CSRF string
	// Chosen is the status the signed-in agent chose.
	Chosen  string
	Members []TeamMember
}

// TeamMember is one agent in the team's list.
type TeamMember struct {
	// Name is what the team calls the agent (the display name).
	Name string
	// Status is online, away or offline.
	Status string
	Chats  int
	// Me marks the signed-in agent.
	Me bool
}

// AgentStatuses are the statuses an agent may choose, in the switch's
// order, with their labels.
func AgentStatuses() []StatusChoice {
	return []StatusChoice{{"online", "Online"}, {"away", "Away"}, {"offline", "Offline"}}
}

// StatusChoice is one status of the switch.
type StatusChoice struct{ Value, Label string }

func statusLabel(status string) string {
	for _, c := range AgentStatuses() {
		if c.Value == status {
			return c.Label
		}
	}
	return status
}

func memberName(m TeamMember) string {
	if m.Me {
		return m.Name + " (you)"
	}
	return m.Name
}

func chatsHeld(n int) string {
	if n == 1 {
		return "1 chat"
	}
	return strconv.Itoa(n) + " chats"
}

// AgentQueue is the list of waiting chats.
type AgentQueue struct {
	// Version changes whenever the chats listed or their details change,
	// and Pages whenever a visitor's page does, so that a reconnecting
	// console can say what it shows in a few bytes.
	Version string
	Pages   string
	Rows    []QueueRow
	CSRF    string
}

// QueueRow is one waiting chat with the visitor's registration details.
type QueueRow struct {
	ChatID  string
	Name    string
	Email   string
	Subject string
	Page    string
	Since   time.Time
	Now     time.Time
}

// AgentChat is one chat in the console: its transcript, the visitor's page
// trail and the controls to answer it.
type AgentChat struct {
	ID      string
	Visitor string
	Email   string
	Subject string
	// UserData is what the site's own registration added, sorted by key.
	UserData []UserDatum
	Page     string
	Agent    string
	// Live is true while the agent may answer; an ended chat shows Ended.
	Live  bool
	Ended string
	Lines []AgentLine
	// EarlierBefore, when set, is the seq of the first line shown, which
	// older lines precede: the pane offers them on demand.
	EarlierBefore int64
	Trail         []TrailItem
	// LastSeq is the newest event the pane shows.
	LastSeq int64
	// Shown is set for the one chat on screen.
	Shown    bool
	CSRF     string
	ClientID string
	Draft    string
	Error    string
	// ReadOnly renders the transcript without controls (history).
	ReadOnly bool
	// Start and End are when the chat started and, for history, ended.
	Start time.Time
	End   time.Time
}

// AgentLine is one transcript line as the agent sees it: a line as the
// visitor's is drawn, with the chat it belongs to, since the console shows
// several chats.
type AgentLine struct {
	ChatID string
	Line
}

// TrailItem is one page the visitor went to during the chat.
type TrailItem struct {
	ChatID string
	Seq    int64
	Page   string
	Time   time.Time
}

// AgentHistory is the search over ended chats, with one transcript open.
type AgentHistory struct {
	Shell   AgentShell
	Query   string
	Results []HistoryRow
	Open    *AgentChat
}

// UserDatum is one key and value of a visitor's userData.
type UserDatum struct {
	Key   string
	Value string
}

// HistoryRow is one ended chat in the search results.
type HistoryRow struct {
	ID      string
	Visitor string
	Email   string
	Subject string
	Agent   string
	Reason  string
	Ended   time.Time
	Current bool
}

func seqString(n int64) string { return strconv.FormatInt(n, 10) }

func isoTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func clockTime(t time.Time) string { return t.UTC().Format("15:04") }

// waited says how long ago since was, as the console shows it; the script
// keeps it current between updates.
func waited(since, now time.Time) string {
	d := now.Sub(since)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + " min"
	default:
		return strconv.Itoa(int(d/time.Hour)) + " h " + strconv.Itoa(int(d%time.Hour/time.Minute)) + " min"
	}
}

func titleWithCount(n int) string {
	if n <= 0 {
		return AgentTitle
	}
	return "(" + strconv.Itoa(n) + ") " + AgentTitle
}

func chatPath(ctx context.Context, id string) string {
	return pathsOf(ctx).ConsoleURL("/chats/" + id)
}

func historyPath(ctx context.Context, id, query string) string {
	p := pathsOf(ctx).ConsoleURL("/history/" + id)
	if query != "" {
		p += "?q=" + url.QueryEscape(query)
	}
	return p
}

// AgentEarlier is a page of a chat's older lines, asked for by "Show earlier
// messages": agent.js puts its lines in the pane; without JavaScript it is
// a page of its own.
type AgentEarlier struct {
	Shell   AgentShell
	ChatID  string
	Visitor string
	Lines   []AgentLine
	// EarlierBefore, when set, links the page before this one.
	EarlierBefore int64
	// Back is the pane the page came from.
	Back string
}

func earlierLinesPath(ctx context.Context, id string, before int64) string {
	return chatPath(ctx, id) + "/transcript?before=" + seqString(before)
}
