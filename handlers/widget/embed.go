package widget

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"
	"github.com/parley/parley/handlers/web"
	"github.com/parley/parley/static"
)

// The script-tag embed: a page of another site (an Embedding origin, listed
// in Deps.EmbedOrigins) adds <script src="…/chat/embed.js">, which fetches
// the widget from here with the visitor's cookies and mounts it in a shadow
// root. Its requests cross origins and sites, so this file answers them
// with CORS for the listed origins only, and keeps their cookies
// partitioned by the Embedding site (CHIPS): a browser that blocks
// third-party cookies still keeps those, apart from every other site's.
// README's "Parley on any website" tells sites how; SECURITY.md why.

// preflightMaxAge is how long a browser may keep a preflight's answer: two
// hours, the most Chromium keeps one. An embed's first post of each kind
// costs one more round trip that often.
const preflightMaxAge = 2 * 60 * 60

// Embedding serves the pages of Embedding origins.
type Embedding struct {
	*web.Surface
	// origins may embed the widget; transports may also be opened by the
	// other origins of -allowed-origin, which get no CORS.
	origins    map[string]struct{}
	transports map[string]struct{}
	// embedScript serves embed.js.
	embedScript http.Handler
}

// NewEmbedding serves the pages of the embedding origins; transports are
// the other origins that may open the live transports.
func NewEmbedding(s *web.Surface, origins, transports map[string]struct{}) *Embedding {
	return &Embedding{Surface: s, origins: origins, transports: transports, embedScript: static.EmbedScript()}
}

// CrossOrigin guards every visitor route against other origins' pages. A
// page of an Embedding origin gets CORS (its script may read the answers,
// with the visitor's cookies) and partitioned cookies. A script of any
// other site's page that reads from Parley (a GET, a WebSocket, a
// preflight) is refused before anything happens: no chat is looked up, no
// cookie is written, and the answer names the refusal only, readable by
// the page so that embed.js can say why there is no widget. Same-origin
// requests, and other sites' posts (which the CSRF check refuses), pass
// as before.
func (e *Embedding) CrossOrigin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		h := c.Response().Header()
		h.Add("Vary", "Origin")
		origin := r.Header.Get("Origin")
		switch {
		case origin == "" || e.SameOrigin(r):
			return next(c)
		case e.embeds(origin):
			c.Set(embeddingOriginKey, origin)
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Credentials", "true")
			// embed.js waits as long as a closing server asks.
			h.Set("Access-Control-Expose-Headers", "Retry-After")
			if r.Method == http.MethodOptions {
				return preflight(c)
			}
			c.Response().Before(func() { partitionCookies(h) })
			return next(c)
		case e.opensTransports(origin):
			return next(c)
		case reads(r) && r.Header.Get("Sec-Fetch-Site") != "same-origin":
			return e.refuse(c, origin)
		}
		return next(c)
	}
}

// embeddingOriginKey holds, for a request from a page of a site that
// embeds the widget, that site's origin.
const embeddingOriginKey = "parley.embedding_origin"

// pageSeen is a page as the agent's trail shows it: the path for one of
// the server's own pages, with the origin for an Embedding site's, so that
// an agent answering several sites knows which one the visitor is on.
func pageSeen(c echo.Context, path string) string {
	if origin, ok := c.Get(embeddingOriginKey).(string); ok {
		return origin + path
	}
	return path
}

// embeds reports whether origin may embed the widget.
func (e *Embedding) embeds(origin string) bool {
	_, ok := e.origins[origin]
	return ok
}

// opensTransports reports whether origin is one of -allowed-origin's.
func (e *Embedding) opensTransports(origin string) bool {
	_, ok := e.transports[origin]
	return ok
}

// reads reports whether a request only asks for something: what another
// site's page may not have of Parley.
func reads(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return true
	}
	return false
}

// preflight answers a CORS preflight of an Embedding origin: the widget's
// posts carry Parley's CSRF header and HX-Request, the long-poll's frames
// are JSON.
func preflight(c echo.Context) error {
	h := c.Response().Header()
	h.Set("Access-Control-Allow-Methods", "GET, POST")
	h.Set("Access-Control-Allow-Headers", "Accept, Content-Type, HX-Request, X-Parley-CSRF")
	h.Set("Access-Control-Max-Age", strconv.Itoa(preflightMaxAge))
	return c.NoContent(http.StatusNoContent)
}

// refuse answers a page of an origin that may not use Parley: the error
// and its line, nothing of any chat. The page's script may read it.
func (e *Embedding) refuse(c echo.Context, origin string) error {
	h := c.Response().Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Credentials", "true")
	apiErr := web.ErrOriginNotAllowed()
	tr, err := e.Catalogs.Negotiate("", c.Request().Header.Get("Accept-Language"))
	if err != nil {
		tr = e.Catalogs.Default()
	}
	if c.Request().Method == http.MethodHead {
		return c.NoContent(apiErr.Status)
	}
	return c.JSON(apiErr.Status, map[string]any{"error": apiErr, "message": tr.T(apiErr.Key, apiErr.Args...)})
}

// Options answers an OPTIONS request that crossOrigin let through: not a
// preflight of an Embedding origin, so there is nothing to allow.
func (e *Embedding) Options(c echo.Context) error {
	return c.NoContent(http.StatusNoContent)
}

// partitionCookies makes every cookie of a response to an Embedding page
// partitioned by the Embedding site (CHIPS): SameSite=None, Secure and
// Partitioned. Parley's cookies are written the same way for every page;
// this one place turns them into the embed's, so that none is missed.
// Browsers keep a partitioned cookie for the pair (Parley, Embedding site)
// only, and keep it while they block third-party cookies. A Secure cookie
// needs TLS (or localhost): the embed does.
func partitionCookies(h http.Header) {
	lines := h.Values("Set-Cookie")
	if len(lines) == 0 {
		return
	}
	h.Del("Set-Cookie")
	for _, line := range lines {
		cookie, err := http.ParseSetCookie(line)
		if err != nil {
			h.Add("Set-Cookie", line) // not Parley's; as it was
			continue
		}
		cookie.SameSite = http.SameSiteNoneMode
		cookie.Secure = true
		cookie.Partitioned = true
		h.Add("Set-Cookie", cookie.String())
	}
}

// Script serves embed.js.
func (e *Embedding) Script(c echo.Context) error {
	e.embedScript.ServeHTTP(c.Response(), c.Request())
	return nil
}

// Visit records the page an Embedding site's visitor moved to without a
// page load (the site's own pushState navigation), which no request to
// Parley shows: the embed posts it, as return_to.
func (vw *Widget) Visit(c echo.Context) error {
	vw.recordVisit(c, vw.restore(c), SafeReturnTo(c.FormValue("return_to")))
	return c.NoContent(http.StatusNoContent)
}
