package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/parley/parley/static"
)

// contentSecurityPolicy allows only this origin's scripts and styles, so
// even an escaping bug could not run a visitor's or agent's text as code.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"

// New builds the server: every route and the middleware order, written once.
func New(d Deps) *echo.Echo {
	h := newHandler(d)
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	// The server sees the client directly; a proxy in front must be
	// configured explicitly before forwarded headers are believed.
	e.IPExtractor = echo.ExtractIPDirect()
	e.HTTPErrorHandler = h.handleError

	e.Use(
		middleware.Recover(),
		middleware.SecureWithConfig(middleware.SecureConfig{
			XSSProtection:         "0",
			ContentTypeNosniff:    "nosniff",
			XFrameOptions:         "DENY",
			ReferrerPolicy:        "same-origin",
			ContentSecurityPolicy: contentSecurityPolicy,
		}),
		middleware.BodyLimit("64K"),
	)

	e.GET("/healthz", h.health)
	e.GET("/metrics", h.metrics)
	e.GET("/static/*", echo.WrapHandler(http.StripPrefix("/static/", static.Handler())))

	csrf := middleware.CSRFWithConfig(middleware.CSRFConfig{
		TokenLookup:    "header:X-CSRF-Token,form:_csrf",
		CookieName:     "parley_csrf",
		CookiePath:     "/",
		CookieHTTPOnly: true,
		CookieSameSite: http.SameSiteLaxMode,
		ErrorHandler:   func(error, echo.Context) error { return errCSRF() },
	})

	site := e.Group("", noStore, csrf)
	for _, p := range sitePages() {
		site.GET(p.path, h.page(p))
	}
	site.GET("/chat/widget", h.widget)
	site.GET("/chat/popup", h.popup)
	site.POST("/chat/start", h.startChat)
	site.POST("/chat/draft", h.saveDraft)
	site.POST("/chat/register", h.register)
	site.POST("/chat/messages", h.sendMessage)
	site.POST("/chat/end", h.endChat)
	site.GET("/chat/ws", h.websocket)
	site.GET("/chat/poll", h.poll)
	site.POST("/chat/frames", h.postFrame)

	// The agent console: sign-in is open, everything else needs an agent.
	agent := e.Group("/agent", noStore, csrf)
	agent.GET("/login", h.loginPage)
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
	return e
}

// noStore keeps pages out of shared caches: each carries one visitor's chat.
func noStore(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Response().Header().Set("Cache-Control", "no-store")
		return next(c)
	}
}
