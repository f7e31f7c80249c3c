package web

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/parley/parley/chatstate"
)

// APIError is a coded error as the browser API reports it (DESIGN §4).
// Codes are published in README.md and never renumbered.
type APIError struct {
	Code        int    `json:"code"`
	Name        string `json:"name"`
	Description string `json:"description"`
	// Status is the HTTP status that carries the error.
	Status int `json:"-"`
	// Key is the translation key of the line shown to people.
	Key string `json:"-"`
	// Args fill the line's placeholders, as name, value pairs.
	Args []string `json:"-"`
}

func (e *APIError) Error() string { return fmt.Sprintf("%d %s: %s", e.Code, e.Name, e.Description) }

// Internal reports whether e is the server's own failure (server_error),
// whose cause belongs in the log and never in the answer.
func (e *APIError) Internal() bool { return e.Code == ErrServer().Code }

// An errorCode is one published error code: docs/browser-api.md's "Error codes" table
// and chat.js's ERRORS copy are held to errorCodes by errorcodes_test.go.
type errorCode struct {
	code        int
	name        string
	description string
	// status and key are how the server carries the error; a code only the
	// browser raises has no status.
	status int
	key    string
	// browser marks a code that chat.js raises itself, never the server.
	browser bool
}

// errorCodes lists every published error code, in order: 100–199 are
// general, 200–249 are raised by chat.js itself. Codes are never renumbered.
func errorCodes() []errorCode {
	return []errorCode{
		{100, "invalid_options", "The options passed to the chat are not valid.", http.StatusBadRequest, "error.invalid_options", false},
		{101, "invalid_token", "The chat cookie could not be read; the previous chat cannot be restored.", http.StatusBadRequest, "error.invalid_token", false},
		{102, "registration_invalid", "The registration data is not valid.", http.StatusUnprocessableEntity, "registration.error.summary", false},
		{103, "localization_not_allowed", "The localization option names no source configured on the server.", http.StatusBadRequest, "error.localization_not_allowed", false},
		{104, "message_too_long", "The message is longer than the server accepts.", http.StatusUnprocessableEntity, "error.message_too_long", false},
		{105, "rate_limited", "Too many requests; try again shortly.", http.StatusTooManyRequests, "error.rate_limited", false},
		{106, "chat_ended", "The chat has ended.", http.StatusConflict, "error.chat_ended", false},
		// The widget shows error.transport_failed while chat.js reconnects.
		{107, "transport_failed", "The connection to the chat server failed.", 0, "error.transport_failed", true},
		{108, "server_error", "The server could not complete the request.", http.StatusInternalServerError, "error.server_error", false},
		{109, "message_invalid", "The message is empty or malformed.", http.StatusUnprocessableEntity, "error.message_invalid", false},
		{110, "not_found", "There is no chat to act on.", http.StatusNotFound, "error.not_found", false},
		{111, "csrf_failed", "The form's CSRF token is missing or wrong.", http.StatusForbidden, "error.csrf", false},
		{112, "origin_not_allowed", "The page's origin may not use this chat server.", http.StatusForbidden, "error.invalid_options", false},
		{113, "unauthorized", "Sign in to the agent console first.", http.StatusUnauthorized, "error.unauthorized", false},
		{114, "already_accepted", "Another agent has already accepted this chat.", http.StatusConflict, "error.already_accepted", false},
		{115, "not_your_chat", "The chat is held by another agent.", http.StatusForbidden, "error.not_your_chat", false},
		// The widget says so in place of "connection lost", and chat.js tries
		// again now and then: the chat goes on in the tabs that have one.
		{116, "too_many_connections", "The chat is open in too many tabs; close one to chat here.", http.StatusTooManyRequests, "error.too_many_connections", false},
		// A live transport's answer while the server shuts down, with
		// Retry-After: the client waits, then reconnects (here, once back,
		// or to another instance), and says meanwhile that it reconnects.
		{117, "server_closing", "The server is shutting down; try again shortly.", http.StatusServiceUnavailable, "error.transport_failed", false},
		{200, "chat_already_running", "A chat is already running on this page.", 0, "", true},
		{201, "chat_running_elsewhere", "A chat is already running on another page: call restoreChat.", 0, "", true},
		{202, "embedded_required", "restoreChat requires the option embedded: true.", 0, "", true},
		{203, "popup_blocked", "The browser blocked the chat's popup window.", 0, "", true},
		// startChat while chat is closed (out of hours, or nobody online):
		// the widget shows the form to leave a message instead.
		{204, "chat_closed", "Chat is closed: leave a message.", 0, "", true},
	}
}

// APIErrorNamed is the server's error published under name, as errorCodes lists
// it. A name not in the table, or one only the browser raises, is a
// programming error (errorcodes_test.go calls every constructor).
func APIErrorNamed(name string) *APIError {
	for _, c := range errorCodes() {
		if c.name == name && !c.browser {
			return &APIError{Code: c.code, Name: c.name, Description: c.description, Status: c.status, Key: c.key}
		}
	}
	panic("handlers: no server error code named " + name)
}

// APIErrorAs is the error published under name, told more specifically: its
// own description and HTTP status, with the table's code, name and key.
func APIErrorAs(name, description string, status int) *APIError {
	e := APIErrorNamed(name)
	e.Description, e.Status = description, status
	return e
}

// The server's constructors, one per way it raises a code.
func ErrInvalidOptions() *APIError { return APIErrorNamed("invalid_options") }

func ErrInvalidToken() *APIError { return APIErrorNamed("invalid_token") }

func ErrRegistrationInvalid() *APIError { return APIErrorNamed("registration_invalid") }

func ErrLocalizationNotAllowed() *APIError { return APIErrorNamed("localization_not_allowed") }

func ErrMessageTooLong() *APIError {
	e := APIErrorNamed("message_too_long")
	e.Args = []string{"max", fmt.Sprint(chatstate.MaxMessageRunes)}
	return e
}

func ErrRateLimited() *APIError { return APIErrorNamed("rate_limited") }

func ErrChatEnded() *APIError { return APIErrorNamed("chat_ended") }

func ErrServer() *APIError { return APIErrorNamed("server_error") }

func ErrMessageEmpty() *APIError {
	e := APIErrorNamed("message_invalid")
	e.Description, e.Key = "The message is empty.", "error.message_empty"
	return e
}

func ErrMessageInvalid() *APIError {
	e := APIErrorNamed("message_invalid")
	e.Description = "The message is malformed."
	return e
}

func ErrNoChat() *APIError { return APIErrorNamed("not_found") }

func ErrCSRF() *APIError { return APIErrorNamed("csrf_failed") }

func ErrOriginNotAllowed() *APIError { return APIErrorNamed("origin_not_allowed") }

func ErrServerClosing() *APIError { return APIErrorNamed("server_closing") }

// The agent console's errors.
func ErrAgentAuth() *APIError { return APIErrorNamed("unauthorized") }

func ErrAlreadyAccepted() *APIError { return APIErrorNamed("already_accepted") }

func ErrNotYourChat() *APIError { return APIErrorNamed("not_your_chat") }

// APIErrorOf maps a domain error to its coded API error; anything it does
// not know is a server error, whose details stay in the log.
func APIErrorOf(err error) *APIError {
	var apiErr *APIError
	switch {
	case errors.As(err, &apiErr):
		return apiErr
	case errors.Is(err, chatstate.ErrNotFound):
		return ErrNoChat()
	case errors.Is(err, chatstate.ErrChatEnded):
		return ErrChatEnded()
	case errors.Is(err, chatstate.ErrMessageTooLong):
		return ErrMessageTooLong()
	case errors.Is(err, chatstate.ErrMessageEmpty):
		return ErrMessageEmpty()
	case errors.Is(err, chatstate.ErrMessageInvalid):
		return ErrMessageInvalid()
	case errors.Is(err, chatstate.ErrAlreadyAccepted):
		return ErrAlreadyAccepted()
	case errors.Is(err, chatstate.ErrNotYourChat):
		return ErrNotYourChat()
	case errors.Is(err, chatstate.ErrWrongPhase):
		return APIErrorAs("invalid_options", "The chat is not in a state that allows this.", http.StatusConflict)
	}
	var verr *chatstate.ValidationError
	if errors.As(err, &verr) {
		return ErrRegistrationInvalid()
	}
	var httpErr *echo.HTTPError
	if errors.As(err, &httpErr) {
		switch httpErr.Code {
		case http.StatusRequestEntityTooLarge:
			return ErrMessageTooLong()
		case http.StatusNotFound, http.StatusMethodNotAllowed:
			return APIErrorAs("not_found", "There is nothing here.", httpErr.Code)
		case http.StatusBadRequest:
			return ErrInvalidOptions()
		case http.StatusForbidden:
			// The CSRF middleware refuses a cross-site post with its own error.
			return ErrCSRF()
		}
	}
	return ErrServer()
}
