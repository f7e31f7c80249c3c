package chatclient

import "encoding/json"

// The frame types of docs/PROTOCOL.md.
const (
	TypeHello   = "hello"
	TypeMessage = "message"
	TypeTyping  = "typing"
	TypeResume  = "resume"
	TypeEvent   = "event"
	TypeAck     = "ack"
	TypeError   = "error"
)

// ClientFrame is a frame to the server.
type ClientFrame struct {
	Type     string `json:"type"`
	LastSeq  int64  `json:"lastSeq,omitempty"`
	ClientID string `json:"clientId,omitempty"`
	Text     string `json:"text,omitempty"`
}

// ServerFrame is a frame from the server: a resume, an event, an ack or an
// error.
type ServerFrame struct {
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
}

// Event is one event of a chat's log, as far as the clients read it.
type Event struct {
	Seq      int64  `json:"seq"`
	Kind     string `json:"kind"`
	Text     string `json:"text,omitempty"`
	ClientID string `json:"clientId,omitempty"`
}

// Error is an error frame's error.
type Error struct {
	Code int    `json:"code"`
	Name string `json:"name"`
}

// Unrecovered reports whether f is a resume frame that cannot cover what
// the client is missing: the client re-renders from the page.
func (f ServerFrame) Unrecovered() bool {
	return f.Type == TypeResume && f.Recovered != nil && !*f.Recovered
}

// Code is an error frame's code; 0 for any other frame.
func (f ServerFrame) Code() int {
	if f.Error == nil {
		return 0
	}
	return f.Error.Code
}

// pollAnswer is a long-poll's answer, and POST /chat/frames's.
type pollAnswer struct {
	Frames []ServerFrame `json:"frames"`
}

// decodeFrames reads a long-poll's answer, {"frames":[...]}.
func decodeFrames(body []byte) ([]ServerFrame, error) {
	var a pollAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		return nil, err
	}
	return a.Frames, nil
}
