package chatstate

import (
	"errors"
	"sort"
	"strings"
)

// Errors the chat rules return. Handlers map each to a coded API error.
var (
	ErrWrongPhase      = errors.New("chat is not in a phase that allows this")
	ErrChatEnded       = errors.New("chat has ended")
	ErrMessageEmpty    = errors.New("message is empty")
	ErrMessageTooLong  = errors.New("message is too long")
	ErrMessageInvalid  = errors.New("message is malformed")
	ErrAlreadyAccepted = errors.New("chat was accepted by another agent")
	ErrNotYourChat     = errors.New("chat is held by another agent")
	ErrNoSuchStatus    = errors.New("no such agent status")
)

// FieldError is one invalid registration field, as a translation key and
// its placeholder arguments (name, value pairs).
type FieldError struct {
	Key  string
	Args []string
}

// ValidationError lists the registration fields that failed validation,
// keyed by field name (first_name, last_name, email, subject).
type ValidationError struct {
	Fields map[string]FieldError
}

func (e *ValidationError) Error() string {
	names := make([]string, 0, len(e.Fields))
	for name := range e.Fields {
		names = append(names, name)
	}
	sort.Strings(names)
	return "registration invalid: " + strings.Join(names, ", ")
}
