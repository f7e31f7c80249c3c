// Package demo is Parley's demo site, "Parley Outdoor Co.": four pages and a
// partial, built like any Echo + templ site that adopts Parley, through the
// parley package's public API only. Its partial navigation is real htmx.
package demo

import (
	"bytes"
	"embed"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"sync"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/parley/parley/parley"
	"github.com/parley/parley/static"
)

// contentSecurityPolicy is the demo's own: what any site's policy needs for
// Parley is 'self' (or Parley's origin) in script-src, style-src and
// connect-src.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"

//go:embed assets
var assets embed.FS

// New builds the demo site with chat mounted at its default paths, and
// /healthz and /metrics from Parley.
func New(chat *parley.Parley, logger *slog.Logger) *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	// Client addresses as Parley's trusted proxies, if any, forward them.
	e.IPExtractor = chat.IPExtractor()
	renderer := &pageRenderer{chat: chat}
	e.HTTPErrorHandler = errorPage(renderer, logger)
	e.Use(middleware.Recover())

	site := e.Group("", middleware.SecureWithConfig(middleware.SecureConfig{
		XSSProtection:         "0",
		ContentTypeNosniff:    "nosniff",
		XFrameOptions:         "DENY",
		ReferrerPolicy:        "same-origin",
		ContentSecurityPolicy: contentSecurityPolicy,
	}), noStore, chat.TrackPages)
	for _, p := range pages() {
		site.GET(p.Path, func(c echo.Context) error { return renderer.page(c, http.StatusOK, p) })
	}
	site.GET("/shipping", func(c echo.Context) error {
		h := c.Request().Header
		if h.Get("HX-Request") == "true" && h.Get("HX-Boosted") != "true" && h.Get("HX-History-Restore-Request") != "true" {
			return renderer.render(c, http.StatusOK, shippingBody())
		}
		return renderer.page(c, http.StatusOK, page{Path: "/shipping", Title: "Shipping", Body: shippingBody()})
	})

	siteAssets, _ := fs.Sub(assets, "assets")
	e.GET("/assets/vendor/*", echo.WrapHandler(http.StripPrefix("/assets/vendor/", static.Vendor())))
	e.GET("/assets/*", echo.WrapHandler(http.StripPrefix("/assets/", http.FileServerFS(siteAssets))))

	chat.Mount(e)
	e.GET("/healthz", chat.Health)
	e.GET("/metrics", chat.Metrics)
	return e
}

// pageRenderer renders the site's pages, each with the chat widget.
type pageRenderer struct {
	chat *parley.Parley
	// buffers keeps render buffers between pages: a page restoring a long
	// chat is 20 KB, and growing a new buffer to that size for every page
	// was a tenth of the server's time in the load tool's restores.
	buffers sync.Pool
}

// maxPooledBuffer keeps an unusually large page's buffer out of the pool.
const maxPooledBuffer = 256 << 10

// page renders one page with the chat widget restored for c.
func (r *pageRenderer) page(c echo.Context, status int, p page) error {
	// The widget is built now, before anything is written: restoring the
	// chat may renew its cookie.
	return r.render(c, status, layout(p, p.Title, r.chat.AssetsNoRestore(), r.chat.Widget(c)))
}

// render writes a component once it rendered whole.
func (r *pageRenderer) render(c echo.Context, status int, component templ.Component) error {
	buf, _ := r.buffers.Get().(*bytes.Buffer)
	if buf == nil {
		buf = new(bytes.Buffer)
	}
	defer func() {
		if buf.Cap() <= maxPooledBuffer {
			buf.Reset()
			r.buffers.Put(buf)
		}
	}()
	if err := component.Render(c.Request().Context(), buf); err != nil {
		return err
	}
	// The response copies the bytes before HTMLBlob returns. It states no
	// length: its last chunk goes once the middleware has returned, so the
	// browser has the whole page only after TrackPages recorded the visit,
	// and a click straight after is recorded after it.
	return c.HTMLBlob(status, buf.Bytes())
}

// errorPage is the site's own error handler; Parley's routes answer their
// errors themselves and never reach it.
func errorPage(renderer *pageRenderer, logger *slog.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		status := http.StatusInternalServerError
		var httpErr *echo.HTTPError
		if errors.As(err, &httpErr) {
			status = httpErr.Code
		}
		if status >= http.StatusInternalServerError {
			logger.ErrorContext(c.Request().Context(), "request failed", "path", c.Request().URL.Path, "err", err)
		}
		c.Response().Header().Set("Cache-Control", "no-store")
		title := http.StatusText(status)
		p := page{Path: c.Request().URL.Path, Title: title, Body: errorBody(status, title)}
		if err := renderer.page(c, status, p); err != nil {
			logger.ErrorContext(c.Request().Context(), "render error page", "err", err)
		}
	}
}

// noStore keeps pages out of shared caches: each carries one visitor's chat.
func noStore(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Response().Header().Set("Cache-Control", "no-store")
		return next(c)
	}
}
