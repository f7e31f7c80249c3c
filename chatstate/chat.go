// Package chatstate holds Parley's domain: a chat's phases, its append-only
// event log and the rules that move a chat from registration to ended.
// It knows nothing of HTTP or WebSockets; storage sits behind Store.
package chatstate

import (
	"errors"
	"time"
)

// Phase is where a chat is in its life.
type Phase string

// The phases of a chat: registration → queued → connected ⇄ queued → ended.
// While chat is closed (out of hours, nobody online) a visitor leaves a
// message instead: leave_message (the form) → waiting_reply → replied (an
// agent answered, by email too) → waiting_reply (the visitor wrote again).
const (
	PhaseRegistration Phase = "registration"
	PhaseQueued       Phase = "queued"
	PhaseConnected    Phase = "connected"
	PhaseEnded        Phase = "ended"
	PhaseLeaveMessage Phase = "leave_message"
	PhaseWaitingReply Phase = "waiting_reply"
	PhaseReplied      Phase = "replied"
)

// Live reports whether the chat is waiting for or talking to an agent.
func (p Phase) Live() bool { return p == PhaseQueued || p == PhaseConnected }

// Attended reports whether the chat needs its visitor here: one away for
// longer than MaxOffline ends it. A message left for later does not, and
// such a chat keeps no VisitorSeenAt, so that the offline sweep's index
// never holds the messages that pile up.
func (p Phase) Attended() bool {
	switch p {
	case PhaseRegistration, PhaseLeaveMessage, PhaseQueued, PhaseConnected:
		return true
	}
	return false
}

// Registration is what the visitor tells us before the chat starts.
type Registration struct {
	FirstName string            `json:"firstName"`
	LastName  string            `json:"lastName"`
	Email     string            `json:"email"`
	Subject   string            `json:"subject"`
	UserData  map[string]string `json:"userData,omitempty"`
	// Message is the text of a message left while chat was closed, while
	// it is being written (a draft).
	Message string `json:"message,omitempty"`
}

// Chat is one conversation between a visitor and, eventually, an agent.
type Chat struct {
	ID    string
	Phase Phase
	// Draft is what the visitor has typed into the registration form so far.
	Draft Registration
	// Visitor is the submitted, validated registration.
	Visitor Registration
	// Locale names the catalog the chat's widget is rendered with.
	Locale string
	// AgentName is the agent holding the chat, empty while queued.
	AgentName string
	// EndReason says why an ended chat ended (see the Reason constants).
	EndReason string
	// EndSeen is set once the visitor has been shown that the chat ended;
	// from then on the widget offers a new chat instead.
	EndSeen bool
	// Page is the page the visitor is on now.
	Page string
	// MaxOffline is how long the visitor may have no transport connection
	// before the chat ends with ReasonOffline.
	MaxOffline time.Duration
	// VisitorSeenAt is when the visitor last had a transport connection.
	VisitorSeenAt time.Time
	CreatedAt     time.Time
	UpdatedAt     time.Time
	// LastSeq is the seq of the newest event in the chat's log (0 when empty).
	LastSeq int64
	// UserID ties the chat to a signed-in user of the host site, so that it
	// restores wherever that user signs in; empty for an anonymous visitor.
	UserID string
}

// Reasons a chat ended.
const (
	ReasonVisitor = "visitor"
	ReasonAgent   = "agent"
	ReasonOffline = "offline"
)

// EventKind names what happened in a chat.
type EventKind string

// The kinds of event in a chat's log.
const (
	EventRegistered  EventKind = "registered"
	EventMessage     EventKind = "message"
	EventTyping      EventKind = "typing"
	EventAgentJoined EventKind = "agent_joined"
	EventAgentLeft   EventKind = "agent_left"
	EventPage        EventKind = "page"
	EventEnded       EventKind = "ended"
	// EventLeftMessage is a visitor's message left while chat was closed:
	// a line, and what puts the chat among the messages agents answer.
	EventLeftMessage EventKind = "left_message"
)

// readableKinds are the events people read as lines of the transcript: a
// message, an agent joining or leaving, the end. Registration, typing and
// page changes are not lines.
func readableKinds() []EventKind {
	return []EventKind{EventMessage, EventLeftMessage, EventAgentJoined, EventAgentLeft, EventEnded}
}

// PartyType says who caused an event.
type PartyType string

// The parties of a chat.
const (
	PartyVisitor PartyType = "visitor"
	PartyAgent   PartyType = "agent"
	PartySystem  PartyType = "system"
)

// Party is the author of an event.
type Party struct {
	Type PartyType `json:"type"`
	// Name is what the other side sees: a visitor's first name, an agent's
	// display name.
	Name string `json:"name"`
	// ID is an agent's sign-in name, which decides whose chat it is. It is
	// never stored in the log nor shown to visitors: a display name may be
	// shared, and a sign-in name is half of a credential.
	ID string `json:"-"`
}

// AgentParty is the agent signed in as id, shown as displayName (or as id
// when it has none).
func AgentParty(id, displayName string) Party {
	if displayName == "" {
		displayName = id
	}
	return Party{Type: PartyAgent, ID: id, Name: displayName}
}

// Event is one entry of a chat's append-only log.
type Event struct {
	ChatID string
	// Seq is assigned by the store: strictly increasing within a chat, from 1.
	Seq  int64
	Kind EventKind
	Time time.Time
	From Party
	Text string
	// ClientID is the sender's id for a message, so that a retried send is
	// stored once.
	ClientID string
	// Page is the visitor's new page, for EventPage.
	Page string
	// Reason says why the chat ended, for EventEnded.
	Reason string
	// Published is when the hub handed the event to live subscribers, so a
	// transport can time its delivery; it is not stored, and zero for an
	// event read from the store.
	Published time.Time
	// ChatPhase is the chat's phase once the event was committed, so a
	// live subscriber can tell, say, a waiting visitor's move from one of
	// a chat already taken. Like Published it is not stored: empty for an
	// event read from the store, as other instances' events are, but for
	// an accept that was its chat's last commit (see markAccept).
	ChatPhase Phase `json:"-"`
	// ChatAgent is the sign-in name of the agent holding the chat once the
	// event was committed, so that a console can tell its own accept from
	// another agent's without reading the chat. Set with ChatPhase, and
	// like it never stored nor sent to a client.
	ChatAgent string `json:"-"`
	// Outbox is what the event sends out of Parley (mails, say): Update
	// writes it to the store's outbox in the event's transaction, so that
	// it goes out if and only if the event was committed. It is not a
	// column of the log: events Update returns or a read gives have none,
	// and an event already in the log (a retry, by ClientID) enqueues
	// nothing again.
	Outbox []Outgoing `json:"-"`
}

// setChat gives a live event the chat's state once it was committed: its
// phase and holder, always together.
func (e *Event) setChat(c Chat) {
	e.ChatPhase, e.ChatAgent = c.Phase, c.AgentName
}

// ErrNotFound is returned when a chat does not exist.
var ErrNotFound = errors.New("chat not found")
