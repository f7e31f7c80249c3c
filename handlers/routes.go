package handlers

import (
	"context"
	"crypto/subtle"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/parley/parley/static"
	"github.com/parley/parley/views"
)

// contentSecurityPolicy guards Parley's own pages (the popup, the agent
// console): only this origin's scripts and styles, so even an escaping bug
// could not run a visitor's or agent's text as code. Host pages keep their
// own policy; README.md lists what the widget needs of it.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"

// Router is where Parley's routes go: a site's *echo.Echo, or an
// *echo.Group under a prefix of the site's choosing.
type Router interface {
	Group(prefix string, m ...echo.MiddlewareFunc) *echo.Group
}

// Mount puts the visitor routes under chatPath and the agent console under
// consolePath of r: every route and the middleware order, written once.
// Only Parley's own routes get Parley's middleware; the site's other
// routes, middleware and error handler are left as they are.
func (h *Handler) Mount(r Router, chatPath, consolePath string) {
	own := []echo.MiddlewareFunc{
		h.surface.AnswerErrors,
		middleware.Recover(),
		middleware.BodyLimit("64K"),
		noStore,
		middleware.SecureWithConfig(middleware.SecureConfig{
			XSSProtection:         "0",
			ContentTypeNosniff:    "nosniff",
			XFrameOptions:         "DENY",
			ReferrerPolicy:        "same-origin",
			ContentSecurityPolicy: contentSecurityPolicy,
		}),
	}

	paths := &h.surface.Paths
	v, t, a, e := h.visitors, h.transports, h.console, h.embed

	// Other origins' pages: CORS and partitioned cookies for the sites that
	// embed the widget, a refusal for other sites' scripts; before the CSRF
	// check, which writes a cookie.
	visitorSide := slices.Concat(own, []echo.MiddlewareFunc{e.CrossOrigin})
	chat := r.Group(chatPath, slices.Concat(visitorSide, []echo.MiddlewareFunc{h.surface.CheckCSRF})...)
	widgetRoute := chat.GET("/widget", v.Panel)
	// The group's prefix as the browser sees it, the site's own included.
	paths.Chat = strings.TrimSuffix(widgetRoute.Path, "/widget")
	chat.GET("/popup", v.Popup)
	chat.GET("/transcript", v.Earlier)
	chat.POST("/start", v.StartChat)
	chat.POST("/draft", v.SaveDraft)
	chat.POST("/register", v.Register)
	chat.POST("/leave", v.LeaveMessage)
	chat.POST("/to-message", v.QueuedToMessage)
	chat.POST("/messages", h.metrics.TimeSend(v.SendMessage))
	chat.POST("/end", v.EndChat)
	chat.POST("/ui", v.SetUI)
	chat.POST("/visit", v.Visit)
	chat.GET("/ws", t.WebSocket)
	chat.GET("/poll", t.Poll)
	chat.POST("/frames", t.PostFrame)
	chat.OPTIONS("/*", e.Options)
	// The script-tag embed's script is the same for every page and visitor:
	// no cookie, no per-visitor header, so none of the group's middleware.
	// (A group of its own with no middleware adds no catch-all route, so
	// the chat group's still answers what is not there.)
	getOrHead := []string{http.MethodGet, http.MethodHead}
	r.Group(chatPath).Match(getOrHead, "/embed.js", e.Script)
	// Scripts and styles are the same for everybody and cached: the chat
	// group's middleware but its CSRF check, whose cookie a shared cache
	// would hand to every visitor. They answer HEAD too: uptime checks,
	// CDNs and link checkers ask with it.
	r.Group(chatPath).Match(getOrHead, "/static/*", staticFiles(paths.Chat+"/static/"), visitorSide...)

	// The agent console: sign-in is open, everything else needs an agent.
	// No other origin's page is answered (no CORS): nobody embeds it.
	agent := r.Group(consolePath, slices.Concat(own, []echo.MiddlewareFunc{h.surface.CheckCSRF})...)
	loginRoute := agent.GET("/login", a.LoginPage)
	paths.Console = strings.TrimSuffix(loginRoute.Path, "/login")
	a.SetPath(paths.Console)
	agent.POST("/login", a.Login)
	agent.POST("/logout", a.Logout)
	console := agent.Group("", a.RequireAgent)
	console.GET("", a.Home)
	console.GET("/", a.Home)
	console.GET("/chats/:id", a.ShowChat)
	console.GET("/chats/:id/transcript", a.Earlier)
	console.POST("/chats/:id/accept", a.Accept)
	console.POST("/chats/:id/messages", h.metrics.TimeSend(a.Send))
	console.POST("/chats/:id/typing", a.Typing)
	console.POST("/chats/:id/end", a.End)
	console.POST("/chats/:id/release", a.Release)
	console.GET("/team", a.Team)
	console.GET("/messages/:id", a.MessagePage)
	console.POST("/messages/:id/reply", a.ReplyToMessage)
	console.POST("/status", a.SetStatus)
	console.GET("/history", a.History)
	console.GET("/history/:id", a.History)
	console.GET("/ws", a.WebSocket)
	console.GET("/poll", a.Poll)
}

// Widget is the widget for a host site's page, restored for c.
func (h *Handler) Widget(c echo.Context) templ.Component { return h.visitors.Widget(c) }

// Assets links the widget's styles and script for a host page's <head>.
func (h *Handler) Assets(restore bool) templ.Component { return h.visitors.Assets(restore) }

// TrackPages records the pages of the routes it wraps in the page trail.
func (h *Handler) TrackPages(next echo.HandlerFunc) echo.HandlerFunc {
	return h.visitors.TrackPages(next)
}

// staticFiles serves Parley's scripts and styles under prefix; a file that
// is not there is Parley's own 404.
func staticFiles(prefix string) echo.HandlerFunc {
	files := http.StripPrefix(prefix, static.Handler())
	return func(c echo.Context) error {
		if !static.Has(c.Param("*")) {
			return echo.ErrNotFound
		}
		files.ServeHTTP(c.Response(), c.Request())
		return nil
	}
}

// Paths are where Mount put the routes.
func (h *Handler) Paths() views.Paths { return h.surface.Paths }

// Owns reports whether a request is for one of Parley's routes, for a host
// site's middleware to skip (its own CSRF check, say: Parley checks its own).
func (h *Handler) Owns(c echo.Context) bool { return h.surface.Owns(c) }

// ClientIP is the client's address as Parley's limits see it (see
// web.Surface.ClientIP); it fits Echo's IPExtractor.
func (h *Handler) ClientIP(r *http.Request) string { return h.surface.ClientIP(r) }

// IsTrustedProxy reports whether addr is one of the trusted proxies.
func (h *Handler) IsTrustedProxy(addr netip.Addr) bool { return h.surface.Trusted(addr.Unmap()) }

// healthTimeout bounds each check of /healthz: a database that does not
// answer within it is as good as down to a load balancer.
const healthTimeout = 2 * time.Second

// Health answers a health check: 200 and "ok" when every check passes, 503
// and "unavailable" when one fails, then a line per check ("database: ok",
// "listener: failing"). Why one failed is logged, not answered: the
// answer may reach anyone.
func (h *Handler) Health(c echo.Context) error {
	ctx := c.Request().Context()
	var b strings.Builder
	healthy := true
	for _, check := range h.checks {
		checkCtx, cancel := context.WithTimeout(ctx, healthTimeout)
		err := check.Check(checkCtx)
		cancel()
		switch {
		case err == nil:
			check.passed.Store(true)
			b.WriteString(check.Name + ": ok\n")
			continue
		case !check.passed.Load():
			// Starting up (the listener connecting, say): the 503 keeps
			// traffic away meanwhile, and nothing is wrong yet.
			h.surface.Log.InfoContext(ctx, "health check: not ready yet", "check", check.Name, "err", err)
		default:
			h.surface.Log.ErrorContext(ctx, "health check", "check", check.Name, "err", err)
		}
		healthy = false
		b.WriteString(check.Name + ": failing\n")
	}
	if !healthy {
		return c.String(http.StatusServiceUnavailable, "unavailable\n"+b.String())
	}
	return c.String(http.StatusOK, "ok\n"+b.String())
}

// noStore keeps pages out of shared caches: each carries one visitor's chat.
func noStore(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Response().Header().Set("Cache-Control", "no-store")
		return next(c)
	}
}

// Metrics serves Prometheus's text format to a scraper with the metrics
// token, or without one to clients on this machine only: the numbers say
// how busy the server is, which is nobody else's business.
func (h *Handler) Metrics(c echo.Context) error {
	if !h.metricsAllowed(c.Request()) {
		// A plain 404, which any site's error handler knows.
		return echo.ErrNotFound
	}
	h.metrics.Handler.ServeHTTP(c.Response(), c.Request())
	return nil
}

// metricsAllowed lets in the bearer of the metrics token, and without a
// token configured, a client on this machine that did not come through a
// proxy (through a trusted one on this machine, anyone could).
func (h *Handler) metricsAllowed(r *http.Request) bool {
	if h.surface.MetricsToken != "" {
		sent, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		return ok && subtle.ConstantTimeCompare([]byte(sent), []byte(h.surface.MetricsToken)) == 1
	}
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	return err == nil && peer.Addr().IsLoopback() && !h.surface.FromTrustedProxy(r) && r.Header.Get("X-Forwarded-For") == ""
}
