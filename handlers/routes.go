package handlers

import (
	"net/http"
	"strings"

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
		h.answerErrors,
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
		h.checkCSRF,
	}

	chat := r.Group(chatPath, own...)
	widgetRoute := chat.GET("/widget", h.widget)
	// The group's prefix as the browser sees it, the site's own included.
	h.paths.Chat = strings.TrimSuffix(widgetRoute.Path, "/widget")
	chat.GET("/static/*", echo.WrapHandler(http.StripPrefix(h.paths.Chat+"/static/", static.Handler())))
	chat.GET("/popup", h.popup)
	chat.POST("/start", h.startChat)
	chat.POST("/draft", h.saveDraft)
	chat.POST("/register", h.register)
	chat.POST("/messages", h.sendMessage)
	chat.POST("/end", h.endChat)
	chat.GET("/ws", h.websocket)
	chat.GET("/poll", h.poll)
	chat.POST("/frames", h.postFrame)

	// The agent console: sign-in is open, everything else needs an agent.
	agent := r.Group(consolePath, own...)
	loginRoute := agent.GET("/login", h.loginPage)
	h.paths.Console = strings.TrimSuffix(loginRoute.Path, "/login")
	h.agentJar.setPath(h.paths.Console)
	agent.POST("/login", h.login)
	agent.POST("/logout", h.logout)
	console := agent.Group("", h.requireAgent)
	console.GET("", h.console)
	console.GET("/chats/:id", h.consoleChat)
	console.POST("/chats/:id/accept", h.accept)
	console.POST("/chats/:id/messages", h.agentSend)
	console.POST("/chats/:id/typing", h.agentTyping)
	console.POST("/chats/:id/end", h.agentEnd)
	console.POST("/chats/:id/release", h.agentRelease)
	console.GET("/history", h.history)
	console.GET("/history/:id", h.history)
	console.GET("/ws", h.agentWebsocket)
	console.GET("/poll", h.agentPoll)
}

// Paths are where Mount put the routes.
func (h *Handler) Paths() views.Paths { return h.paths }

// Owns reports whether a request is for one of Parley's routes, for a host
// site's middleware to skip (its own CSRF check, say: Parley checks its own).
func (h *Handler) Owns(c echo.Context) bool {
	path := c.Request().URL.Path
	for _, prefix := range []string{h.paths.Chat, h.paths.Console} {
		if path == prefix || strings.HasPrefix(path, prefix+"/") {
			return true
		}
	}
	return false
}

// Health answers a health check: 200 when the store answers.
func (h *Handler) Health(c echo.Context) error {
	if err := h.ready(c.Request().Context()); err != nil {
		h.log.ErrorContext(c.Request().Context(), "health check", "err", err)
		return c.String(http.StatusServiceUnavailable, "unavailable\n")
	}
	return c.String(http.StatusOK, "ok\n")
}

// noStore keeps pages out of shared caches: each carries one visitor's chat.
func noStore(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Response().Header().Set("Cache-Control", "no-store")
		return next(c)
	}
}
