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

// The general error codes (100–199); 200–249 are raised by chat.js itself.
func errInvalidOptions() *APIError {
	return &APIError{100, "invalid_options", "The options passed to the chat are not valid.", http.StatusBadRequest, "error.invalid_options", nil}
}

func errInvalidToken() *APIError {
	return &APIError{101, "invalid_token", "The chat cookie could not be read; the previous chat cannot be restored.", http.StatusBadRequest, "error.invalid_token", nil}
}

func errRegistrationInvalid() *APIError {
	return &APIError{102, "registration_invalid", "The registration form has invalid fields.", http.StatusUnprocessableEntity, "registration.error.summary", nil}
}

func errLocalizationNotAllowed() *APIError {
	return &APIError{103, "localization_not_allowed", "The localization option names no source configured on the server.", http.StatusBadRequest, "error.localization_not_allowed", nil}
}

func errMessageTooLong() *APIError {
	return &APIError{104, "message_too_long", "The message is longer than the server accepts.", http.StatusUnprocessableEntity, "error.message_too_long", []string{"max", fmt.Sprint(chatstate.MaxMessageRunes)}}
}

func errRateLimited() *APIError {
	return &APIError{105, "rate_limited", "Too many requests; try again shortly.", http.StatusTooManyRequests, "error.rate_limited", nil}
}

func errChatEnded() *APIError {
	return &APIError{106, "chat_ended", "The chat has ended.", http.StatusConflict, "error.chat_ended", nil}
}

func errServer() *APIError {
	return &APIError{108, "server_error", "The server could not complete the request.", http.StatusInternalServerError, "error.server_error", nil}
}

func errMessageEmpty() *APIError {
	return &APIError{109, "message_invalid", "The message is empty.", http.StatusUnprocessableEntity, "error.message_empty", nil}
}

func errMessageInvalid() *APIError {
	return &APIError{109, "message_invalid", "The message is malformed.", http.StatusUnprocessableEntity, "error.message_invalid", nil}
}

func errNoChat() *APIError {
	return &APIError{110, "not_found", "There is no chat to act on.", http.StatusNotFound, "error.not_found", nil}
}

func errCSRF() *APIError {
	return &APIError{111, "csrf_failed", "The form's CSRF token is missing or wrong.", http.StatusForbidden, "error.csrf", nil}
}

// The agent console's errors.
func errAgentAuth() *APIError {
	return &APIError{113, "unauthorized", "Sign in to the agent console first.", http.StatusUnauthorized, "error.unauthorized", nil}
}

func errAlreadyAccepted() *APIError {
	return &APIError{114, "already_accepted", "Another agent has already accepted this chat.", http.StatusConflict, "error.already_accepted", nil}
}

func errNotYourChat() *APIError {
	return &APIError{115, "not_your_chat", "The chat is held by another agent.", http.StatusForbidden, "error.not_your_chat", nil}
}

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
		return &APIError{100, "invalid_options", "The chat is not in a state that allows this.", http.StatusConflict, "error.invalid_options", nil}
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
			return &APIError{110, "not_found", "There is nothing here.", httpErr.Code, "error.not_found", nil}
		case http.StatusBadRequest:
			return errInvalidOptions()
		case http.StatusForbidden:
			// The CSRF middleware refuses a cross-site post with its own error.
			return errCSRF()
		}
	}
	return errServer()
}
