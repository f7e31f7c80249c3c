// Package web is what every room of Parley's HTTP surface shares: the
// Surface (where the routes are mounted, the strings, the cookies' names,
// the client's address and scheme behind trusted proxies, the same-origin
// check, the token of Parley's forms), the published error codes and the one
// error handler, rendering, the cookie stores, the rate limiters and the
// Prometheus metrics.
//
// It is part of Parley's internals, imported by the other rooms under
// handlers/ only: a host site imports github.com/parley/parley/parley.
package web

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/parley/parley/chatstate"
	"github.com/parley/parley/listenlimit"
	"github.com/parley/parley/localization"
	"github.com/parley/parley/views"
)

// Surface is what every part of Parley's HTTP surface shares: where the
// routes are mounted, the strings, the cookies' names, the logger, and the
// token of Parley's forms.
type Surface struct {
	// Options are the host's, with the defaults filled in.
	Options
	Log *slog.Logger
	// Catalogs pick the strings a visitor sees.
	Catalogs *localization.Catalogs
	// Paths are where Mount put the routes, as the browser sees them.
	Paths views.Paths
}

// ViaTLS reports whether the browser reached the site over TLS: directly,
// or through a trusted proxy that says so. It decides the scheme of the
// site's own origin and whether cookies are Secure.
func (s *Surface) ViaTLS(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	return strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") && s.FromTrustedProxy(r)
}

// ClientIP is the client's address: the peer's, or behind a trusted proxy
// the nearest address it forwarded that is not a trusted proxy itself. It never takes a forwarding header from anyone else, so a
// client cannot pick its own address, whatever the site's Echo believes.
func (s *Surface) ClientIP(r *http.Request) string {
	addr, ok := s.clientAddr(r)
	if !ok {
		return r.RemoteAddr
	}
	return addr.String()
}

// ClientKey is what the per-address limits count a request's client
// under: its address, or for IPv6 the address's prefix (a host picks any
// address of the /64 it is given, so each would be a client of its own).
func (s *Surface) ClientKey(r *http.Request) string {
	addr, ok := s.clientAddr(r)
	if !ok {
		return r.RemoteAddr
	}
	return listenlimit.Client(addr, s.IPv6Prefix).String()
}

// clientAddr is ClientIP's address; ok is false when the peer's address
// cannot be read.
func (s *Surface) clientAddr(r *http.Request) (netip.Addr, bool) {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}, false
	}
	peer := ap.Addr().Unmap()
	if !s.Trusted(peer) {
		return peer, true
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		addr, ok := forwardedAddr(hops[i])
		if !ok {
			break
		}
		if !s.Trusted(addr) {
			return addr, true
		}
	}
	return peer, true
}

// forwardedAddr reads an X-Forwarded-For entry: an address, which some
// proxies write with its port ("192.0.2.7:41234", "[2001:db8::7]:41234").
func forwardedAddr(hop string) (netip.Addr, bool) {
	hop = strings.TrimSpace(hop)
	if addr, err := netip.ParseAddr(hop); err == nil {
		return addr.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(hop); err == nil {
		return ap.Addr().Unmap(), true
	}
	return netip.Addr{}, false
}

// Trusted reports whether addr is one of the trusted proxies.
func (s *Surface) Trusted(addr netip.Addr) bool {
	for _, p := range s.TrustedProxies {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// FromTrustedProxy reports whether the request's peer is a trusted proxy.
func (s *Surface) FromTrustedProxy(r *http.Request) bool {
	addr, err := netip.ParseAddrPort(r.RemoteAddr)
	return err == nil && s.Trusted(addr.Addr().Unmap())
}

// SameOrigin reports whether a request comes from a page of this server. A
// request with no Origin counts only when the browser says it came from
// this origin, or from no page at all (a tool, not a browser). The agent
// console takes nothing else, since no other site embeds it.
func (s *Surface) SameOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		site := r.Header.Get("Sec-Fetch-Site")
		return site == "" || site == "same-origin" || site == "none"
	}
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	scheme := "http"
	if s.ViaTLS(r) {
		scheme = "https"
	}
	return u.Scheme == scheme && u.Host == r.Host
}

// Owns reports whether a request is for one of Parley's routes.
func (s *Surface) Owns(c echo.Context) bool {
	path := c.Request().URL.Path
	for _, prefix := range []string{s.Paths.Chat, s.Paths.Console} {
		if path == prefix || strings.HasPrefix(path, prefix+"/") {
			return true
		}
	}
	return false
}

// Viewer is what rendering needs to know of the person looking, taken once
// from a request, so that a transport can keep rendering for its visitor
// after the upgrade.
type Viewer struct {
	AcceptLanguage string
	CSRF           string
	ReturnTo       string
	// Localization is the visitor's allowed `localization` option, used
	// until a chat fixes its own language.
	Localization string
}

// ViewerOf is the person looking at r, who came from the page returnTo.
func (s *Surface) ViewerOf(c echo.Context, returnTo string) Viewer {
	r := c.Request()
	return Viewer{AcceptLanguage: r.Header.Get("Accept-Language"), CSRF: s.CSRFToken(c), ReturnTo: returnTo}
}

// Translator picks the chat's own catalog, or for a visitor with no chat
// the best match of the browser's languages.
func (s *Surface) Translator(v Viewer, chat *chatstate.Chat) *localization.Catalog {
	if chat != nil && chat.Locale != "" {
		if cat, err := s.Catalogs.Resolve(chat.Locale); err == nil {
			return cat
		}
	}
	cat, err := s.Catalogs.Negotiate(v.Localization, v.AcceptLanguage)
	if err != nil {
		return s.Catalogs.Default()
	}
	return cat
}

// csrfContextKey is where the request's token of Parley's forms is kept; a
// name of its own, so a host's CSRF middleware keeps its "csrf".
const csrfContextKey = "parley_csrf"

// csrfCookieMaxAge keeps the token a day past its last use.
const csrfCookieMaxAge = 86400

// CheckCSRF guards Parley's forms with a double-submitted token: a request
// that changes anything must carry, in the X-Parley-CSRF header or the
// parley_csrf field, the token of the visitor's CSRF cookie, which another
// site can neither read nor set.
func (s *Surface) CheckCSRF(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		var want string
		if cookie, err := r.Cookie(CookieName(s.Cookies.CSRF, s.ViaTLS(r))); err == nil {
			want = cookie.Value
		}
		s.CSRFToken(c) // issues or renews the cookie
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			return next(c)
		}
		sent := r.Header.Get("X-Parley-CSRF")
		if sent == "" {
			sent = c.FormValue("parley_csrf")
		}
		if !validCSRFToken(want) || subtle.ConstantTimeCompare([]byte(sent), []byte(want)) != 1 {
			return ErrCSRF()
		}
		return next(c)
	}
}

// CSRFToken is the token of Parley's forms for this request: the one in
// the visitor's cookie, or a new one. Either way the cookie is (re)written,
// so it lasts a day past its last use.
func (s *Surface) CSRFToken(c echo.Context) string {
	if token, _ := c.Get(csrfContextKey).(string); token != "" {
		return token
	}
	token := ""
	secure := s.ViaTLS(c.Request())
	if cookie, err := c.Cookie(CookieName(s.Cookies.CSRF, secure)); err == nil && validCSRFToken(cookie.Value) {
		token = cookie.Value
	} else {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		token = hex.EncodeToString(b)
	}
	c.SetCookie(&http.Cookie{
		Name:     CookieName(s.Cookies.CSRF, secure),
		Value:    token,
		Path:     "/",
		MaxAge:   csrfCookieMaxAge,
		HttpOnly: true,
		Secure:   secure,
		SameSite: http.SameSiteLaxMode,
	})
	c.Set(csrfContextKey, token)
	return token
}

// validCSRFToken accepts what Parley issues, and what Echo's CSRF
// middleware issued before: letters and digits, of a sane length.
func validCSRFToken(s string) bool {
	if len(s) < 16 || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9') {
			return false
		}
	}
	return true
}
