// Package views renders Parley's pages and widget with templ. Components
// take view models shaped like the screen and do no I/O; the same widget
// components render the full page, the HTMX-style partial and the HTML
// carried in live events, so markup never diverges.
package views

import "time"

// Translator gives a view its localized strings.
type Translator interface {
	T(key string, args ...string) string
	Lang() string
	Dir() string
}

// WidgetState is which face of the widget is shown.
type WidgetState string

// The widget's faces, by DESIGN §3.
const (
	WidgetStart        WidgetState = "start"
	WidgetRegistration WidgetState = "registration"
	WidgetConversation WidgetState = "conversation"
	// WidgetLeaveMessage is the form of a message left while chat is
	// closed.
	WidgetLeaveMessage WidgetState = "leave_message"
)

// Widget is everything the chat widget shows.
type Widget struct {
	T     Translator
	State WidgetState
	// CSRF is the token every form carries.
	CSRF string
	// ReturnTo is the page a plain form post comes back to.
	ReturnTo string
	// Error, when set, is shown above the widget's controls and reported to
	// restoreChat.
	Error *WidgetError
	// ChatID, Phase and LastSeq tell chat.js where the chat stands.
	ChatID  string
	Phase   string
	LastSeq int64
	Form    RegistrationForm
	Talk    Conversation
	// Open shows the widget open; otherwise only its launcher shows.
	Open bool
	// Unread counts the agent's messages that came while the widget was
	// collapsed.
	Unread int
	// UICookie names the cookie chat.js keeps the open state in, and
	// UICookieMaxAge is its lifetime in seconds, as the server writes it.
	UICookie       string
	UICookieMaxAge int
	// Standalone is the widget as a page of its own (the popup): always
	// open, with no launcher.
	Standalone bool
	// Closed says that chat is closed (out of hours, or nobody online): the
	// start offers to leave a message, and OpensAt, when known, says when
	// chat opens again.
	Closed  bool
	OpensAt string
}

// WidgetError is a coded error as the browser API reports it, with its
// localized line for people.
type WidgetError struct {
	Code int
	Name string
	Line string
}

// RegistrationForm is the registration form with the visitor's values and
// any per-field errors, already localized.
type RegistrationForm struct {
	FirstName, LastName, Email, Subject Field
	// Message is the text of a message left while chat is closed.
	Message Field
	// Summary is the line read out when the form comes back with errors.
	Summary string
}

// Field is one form field's value and error.
type Field struct {
	Value string
	Error string
}

// Conversation is the transcript and the compose box.
type Conversation struct {
	Lines []Line
	// Earlier says older lines exist than Lines, shown on demand.
	Earlier bool
	// Status says whom the visitor is waiting for or talking to.
	Status string
	// Ended holds the localized "chat ended" line once the chat is over.
	Ended     string
	EndReason string
	// Draft is message text kept after a refused send, so nothing is lost.
	Draft string
	// ClientID makes a plain form's send idempotent: a resubmitted form
	// carries the same id and is stored once.
	ClientID     string
	MessageError string
	// LeftMessage marks a message left while chat was closed, which an
	// agent answers by email: no compose box, Status says where the
	// answer goes, and WriteAgain offers to write once an agent answered.
	LeftMessage bool
	WriteAgain  bool
	// Nobody, while the visitor waits in the queue, says that no agent is
	// there now, and offers to leave the chat as a message.
	Nobody string
}

// Line is one entry of the transcript as the visitor sees it.
type Line struct {
	Seq    int64
	Kind   LineKind
	From   string
	Author string
	Text   string
	Time   time.Time
	// HTML, when set, is the line as TranscriptLine rendered it earlier
	// (escaped there), kept so that a page of a long chat does not render
	// the same lines again on every reload.
	HTML string
}

// LineKind says how a line is drawn.
type LineKind string

// Kinds of transcript line.
const (
	LineMessage LineKind = "message"
	LineNotice  LineKind = "notice"
)

// ReplyMail is the mail that takes an agent's answer to a visitor who left
// a message.
type ReplyMail struct {
	T       Translator
	Subject string
	// Agent is the name the visitor knows the agent by.
	Agent  string
	Answer string
	// Link brings the visitor back to the page they wrote from, where
	// the widget shows the exchange; empty when Parley cannot tell the
	// page's address.
	Link string
}
