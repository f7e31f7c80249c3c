// Package wire holds the frames of Parley's live transports, as
// docs/PROTOCOL.md describes them, for both ends: Parley's WebSocket and
// long-poll handlers write and read them, and so does chatclient, the
// client of Parley's tests and load tool, so that a change to the protocol
// is made once. It is Parley's internals: hosts import
// github.com/parley/parley/parley.
package wire

import (
	"time"

	"github.com/parley/parley/chatstate"
)

// The frames' types.
const (
	TypeHello   = "hello"
	TypeMessage = "message"
	TypeTyping  = "typing"
	TypeEnd     = "end"
	TypePing    = "ping"
	TypeResume  = "resume"
	TypeEvent   = "event"
	TypeAck     = "ack"
	TypeError   = "error"
)

// Client is a frame from a client: a hello, a message, typing, an end, a
// ping.
type Client struct {
	Type     string `json:"type"`
	LastSeq  int64  `json:"lastSeq,omitempty"`
	ClientID string `json:"clientId,omitempty"`
	Text     string `json:"text,omitempty"`
}

// Server is a frame from the server: a resume, an event, an ack or an
// error.
type Server struct {
	Type      string `json:"type"`
	Recovered *bool  `json:"recovered,omitempty"`
	LastSeq   int64  `json:"lastSeq,omitempty"`
	Event     *Event `json:"event,omitempty"`
	// HTML is an event's transcript line, or the console's fragments.
	HTML string `json:"html,omitempty"`
	// Widget is the whole widget, sent when the chat's phase changes.
	Widget   string `json:"widget,omitempty"`
	ClientID string `json:"clientId,omitempty"`
	Seq      int64  `json:"seq,omitempty"`
	Error    *Error `json:"error,omitempty"`
	// Message is the error in the client's language.
	Message string `json:"message,omitempty"`
}

// Unrecovered reports whether f is a resume frame that cannot cover what
// the client is missing: the client re-renders from the page.
func (f Server) Unrecovered() bool {
	return f.Type == TypeResume && f.Recovered != nil && !*f.Recovered
}

// Code is an error frame's code; 0 for any other frame.
func (f Server) Code() int {
	if f.Error == nil {
		return 0
	}
	return f.Error.Code
}

// Event is an event of a chat's log, as the session callbacks receive it.
type Event struct {
	Seq      int64           `json:"seq"`
	Time     time.Time       `json:"time"`
	Kind     string          `json:"kind"`
	From     chatstate.Party `json:"from"`
	Text     string          `json:"text,omitempty"`
	Page     string          `json:"page,omitempty"`
	Reason   string          `json:"reason,omitempty"`
	ClientID string          `json:"clientId,omitempty"`
}

// EventOf is ev as a frame carries it.
func EventOf(ev chatstate.Event) *Event {
	return &Event{
		Seq: ev.Seq, Time: ev.Time, Kind: string(ev.Kind), From: ev.From,
		Text: ev.Text, Page: ev.Page, Reason: ev.Reason, ClientID: ev.ClientID,
	}
}

// Error is an error frame's error: one of the published error codes.
type Error struct {
	Code        int    `json:"code"`
	Name        string `json:"name"`
	Description string `json:"description"`
}

// Poll is the answer of a long-poll, and of a frame posted beside one.
type Poll struct {
	Frames []Server `json:"frames"`
}
