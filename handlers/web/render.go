package web

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/parley/parley/views"
)

// Render writes a component only once it rendered whole, so a failing
// template yields a clean error page instead of half a page.
func (s *Surface) Render(c echo.Context, status int, component templ.Component) error {
	var page bytes.Buffer
	if err := s.renderTo(c.Request().Context(), component, &page); err != nil {
		return err
	}
	return c.HTMLBlob(status, page.Bytes())
}

// RenderString renders a component with the paths Parley is mounted at.
// A strings.Builder hands its bytes over as they are, where a
// bytes.Buffer's String would copy them.
func (s *Surface) RenderString(ctx context.Context, component templ.Component) (string, error) {
	var html strings.Builder
	if err := s.renderTo(ctx, component, &html); err != nil {
		return "", err
	}
	return html.String(), nil
}

// renderTo renders a component into w with the paths Parley is mounted at.
func (s *Surface) renderTo(ctx context.Context, component templ.Component, w io.Writer) error {
	if err := component.Render(views.WithPaths(ctx, s.Paths), w); err != nil {
		return fmt.Errorf("render: %w", err)
	}
	return nil
}

// Mounted wraps a component for a host site's page, which renders it
// with a context of its own.
func (s *Surface) Mounted(component templ.Component) templ.Component {
	return templ.ComponentFunc(func(ctx context.Context, w io.Writer) error {
		return component.Render(views.WithPaths(ctx, s.Paths), w)
	})
}

// IsPartial reports whether the request wants a fragment for an HTMX-style
// swap rather than a whole page.
func IsPartial(c echo.Context) bool {
	return c.Request().Header.Get("HX-Request") == "true"
}

// WantsJSON reports whether the caller is chat.js asking for data.
func WantsJSON(c echo.Context) bool {
	return strings.Contains(c.Request().Header.Get(echo.HeaderAccept), echo.MIMEApplicationJSON)
}
