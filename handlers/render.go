package handlers

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"
)

// render writes a component only once it rendered whole, so a failing
// template yields a clean error page instead of half a page.
func render(c echo.Context, status int, component templ.Component) error {
	var buf bytes.Buffer
	if err := component.Render(c.Request().Context(), &buf); err != nil {
		return fmt.Errorf("render: %w", err)
	}
	return c.HTMLBlob(status, buf.Bytes())
}

// isPartial reports whether the request wants a fragment for an HTMX-style
// swap rather than a whole page.
func isPartial(c echo.Context) bool {
	return c.Request().Header.Get("HX-Request") == "true"
}

// wantsJSON reports whether the caller is chat.js asking for data.
func wantsJSON(c echo.Context) bool {
	return strings.Contains(c.Request().Header.Get(echo.HeaderAccept), echo.MIMEApplicationJSON)
}
