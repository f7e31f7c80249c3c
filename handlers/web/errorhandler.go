package web

import (
	"context"
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/parley/parley/views"
)

// AnswerErrors answers every error of Parley's routes with handleError, so
// that a host site's own error handler never sees them, nor Parley its.
func (s *Surface) AnswerErrors(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if err := next(c); err != nil {
			s.handleError(err, c)
		}
		return nil
	}
}

// handleError is Parley's one error handler: it maps any error to its coded
// API error, answers in the shape the caller asked for (JSON for chat.js, a
// fragment for a swap, a page otherwise), and logs what people must not see.
func (s *Surface) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	if c.Request().Context().Err() != nil || errors.Is(err, context.Canceled) {
		// The client went away (a reload, a long-poll left behind): there
		// is nobody to answer, and nothing went wrong.
		return
	}
	apiErr := APIErrorOf(err)
	if apiErr.Internal() {
		var httpErr *echo.HTTPError
		if !errors.As(err, &httpErr) || httpErr.Code >= http.StatusInternalServerError {
			s.Log.ErrorContext(c.Request().Context(), "request failed",
				"method", c.Request().Method, "path", c.Request().URL.Path, "err", err)
		}
	}
	tr := s.Translator(s.ViewerOf(c, ""), nil)
	line := tr.T(apiErr.Key, apiErr.Args...)
	var respondErr error
	switch {
	case c.Request().Method == http.MethodHead:
		respondErr = c.NoContent(apiErr.Status)
	case WantsJSON(c):
		respondErr = c.JSON(apiErr.Status, map[string]any{"error": apiErr, "message": line})
	case IsPartial(c):
		respondErr = s.Render(c, apiErr.Status, views.ErrorFragment(line))
	default:
		respondErr = s.Render(c, apiErr.Status, views.ErrorPage(http.StatusText(apiErr.Status), line))
	}
	if respondErr != nil {
		s.Log.ErrorContext(c.Request().Context(), "write error response", "err", respondErr)
	}
}
