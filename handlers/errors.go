package handlers

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

// internal reports whether e is the server's own failure (server_error),
// whose cause belongs in the log and never in the answer.
func (e *APIError) internal() bool { return e.Code == errServer().Code }

// An errorCode is one published error code: README.md's "Error codes" table
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
	}
}

// apiError is the server's error published under name, as errorCodes lists
// it. A name not in the table, or one only the browser raises, is a
// programming error (errorcodes_test.go calls every constructor).
func apiError(name string) *APIError {
	for _, c := range errorCodes() {
		if c.name == name && !c.browser {
			return &APIError{Code: c.code, Name: c.name, Description: c.description, Status: c.status, Key: c.key}
		}
	}
	panic("handlers: no server error code named " + name)
}

// apiErrorAs is the error published under name, told more specifically: its
// own description and HTTP status, with the table's code, name and key.
func apiErrorAs(name, description string, status int) *APIError {
	e := apiError(name)
	e.Description, e.Status = description, status
	return e
}

// The server's constructors, one per way it raises a code.
func errInvalidOptions() *APIError { return apiError("invalid_options") }

func errInvalidToken() *APIError { return apiError("invalid_token") }

func errRegistrationInvalid() *APIError { return apiError("registration_invalid") }

func errLocalizationNotAllowed() *APIError { return apiError("localization_not_allowed") }

func errMessageTooLong() *APIError {
	e := apiError("message_too_long")
	e.Args = []string{"max", fmt.Sprint(chatstate.MaxMessageRunes)}
	return e
}

func errRateLimited() *APIError { return apiError("rate_limited") }

func errChatEnded() *APIError { return apiError("chat_ended") }

func errServer() *APIError { return apiError("server_error") }

func errMessageEmpty() *APIError {
	e := apiError("message_invalid")
	e.Description, e.Key = "The message is empty.", "error.message_empty"
	return e
}

func errMessageInvalid() *APIError {
	e := apiError("message_invalid")
	e.Description = "The message is malformed."
	return e
}

func errNoChat() *APIError { return apiError("not_found") }

func errCSRF() *APIError { return apiError("csrf_failed") }

func errServerClosing() *APIError { return apiError("server_closing") }

// The agent console's errors.
func errAgentAuth() *APIError { return apiError("unauthorized") }

func errAlreadyAccepted() *APIError { return apiError("already_accepted") }

func errNotYourChat() *APIError { return apiError("not_your_chat") }

// apiErrorOf maps a domain error to its coded API error; anything it does
// not know is a server error, whose details stay in the log.
func apiErrorOf(err error) *APIError {
	var apiErr *APIError
	switch {
	case errors.As(err, &apiErr):
		return apiErr
	case errors.Is(err, chatstate.ErrNotFound):
		return errNoChat()
	case errors.Is(err, chatstate.ErrChatEnded):
		return errChatEnded()
	case errors.Is(err, chatstate.ErrMessageTooLong):
		return errMessageTooLong()
	case errors.Is(err, chatstate.ErrMessageEmpty):
		return errMessageEmpty()
	case errors.Is(err, chatstate.ErrMessageInvalid):
		return errMessageInvalid()
	case errors.Is(err, chatstate.ErrAlreadyAccepted):
		return errAlreadyAccepted()
	case errors.Is(err, chatstate.ErrNotYourChat):
		return errNotYourChat()
	case errors.Is(err, chatstate.ErrWrongPhase):
		return apiErrorAs("invalid_options", "The chat is not in a state that allows this.", http.StatusConflict)
	}
	var verr *chatstate.ValidationError
	if errors.As(err, &verr) {
		return errRegistrationInvalid()
	}
	var httpErr *echo.HTTPError
	if errors.As(err, &httpErr) {
		switch httpErr.Code {
		case http.StatusRequestEntityTooLarge:
			return errMessageTooLong()
		case http.StatusNotFound, http.StatusMethodNotAllowed:
			return apiErrorAs("not_found", "There is nothing here.", httpErr.Code)
		case http.StatusBadRequest:
			return errInvalidOptions()
		case http.StatusForbidden:
			// The CSRF middleware refuses a cross-site post with its own error.
			return errCSRF()
		}
	}
	return errServer()
}
