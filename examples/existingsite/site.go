package main

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"io/fs"
	"net/http"

	"github.com/a-h/templ"
	"github.com/gorilla/sessions"
	"github.com/labstack/echo/v4"

	"github.com/parley/parley/parley"
	"github.com/parley/parley/static"
)

//go:embed assets
var assets embed.FS

// user is an account of the site.
type user struct {
	ID        string
	Name      string
	Password  string
	FirstName string
	LastName  string
	Email     string
}

// site is the existing site, before and apart from the chat: its accounts,
// its session cookie and its pages.
type site struct {
	users    map[string]*user
	sessions *sessions.CookieStore
}

const sessionCookie = "northwind_session"

func newSite(sessionKey []byte, users ...*user) *site {
	s := &site{users: map[string]*user{}, sessions: sessions.NewCookieStore(sessionKey)}
	s.sessions.Options.HttpOnly = true
	s.sessions.Options.SameSite = http.SameSiteLaxMode
	for _, u := range users {
		s.users[u.Name] = u
	}
	return s
}

// user is the signed-in user of the request, or nil.
func (s *site) user(c echo.Context) *user {
	session, err := s.sessions.Get(c.Request(), sessionCookie)
	if err != nil {
		return nil
	}
	name, _ := session.Values["user"].(string)
	return s.users[name]
}

// chatVisitor tells Parley who the signed-in user is: the chat is theirs,
// on any device they sign in on, and they need not introduce themselves.
func (s *site) chatVisitor(c echo.Context) (parley.Visitor, bool) {
	u := s.user(c)
	if u == nil {
		return parley.Visitor{}, false
	}
	return parley.Visitor{ID: u.ID, FirstName: u.FirstName, LastName: u.LastName, Email: u.Email}, true
}

// requireLogin sends visitors who are not signed in to the sign-in page.
func (s *site) requireLogin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if s.user(c) == nil {
			return c.Redirect(http.StatusSeeOther, "/login")
		}
		return next(c)
	}
}

// security sets the site's own headers: a CSP whose per-request nonce lets
// Turbo's progress bar style in; Parley needs nothing beyond 'self'.
func security(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		nonce := base64.StdEncoding.EncodeToString(b)
		c.Set("nonce", nonce)
		h := c.Response().Header()
		h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self' 'nonce-"+nonce+"'; "+
			"connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-store")
		return next(c)
	}
}

// page fills in what the layout shows around a page's content.
func (s *site) page(c echo.Context, title string) page {
	token, _ := c.Get("csrf").(string)
	nonce, _ := c.Get("nonce").(string)
	return page{Title: title, Path: c.Request().URL.Path, User: s.user(c), CSRF: token, Nonce: nonce}
}

// login checks the user name and password, and signs the user in with
// the site's own session cookie.
func (s *site) login(c echo.Context) (ok bool, err error) {
	u := s.users[c.FormValue("user")]
	if u == nil || subtle.ConstantTimeCompare([]byte(u.Password), []byte(c.FormValue("password"))) != 1 {
		return false, nil
	}
	session, _ := s.sessions.New(c.Request(), sessionCookie)
	session.Values["user"] = u.Name
	return true, session.Save(c.Request(), c.Response())
}

// logout ends the site's session.
func (s *site) logout(c echo.Context) error {
	session, _ := s.sessions.New(c.Request(), sessionCookie)
	session.Options.MaxAge = -1
	return session.Save(c.Request(), c.Response())
}

// render writes a page once it rendered whole.
func render(c echo.Context, status int, view templ.Component) error {
	var buf bytes.Buffer
	if err := view.Render(c.Request().Context(), &buf); err != nil {
		return err
	}
	return c.HTMLBlob(status, buf.Bytes())
}

// assetsHandler serves the site's styles, and the vendored Turbo Drive
// under vendor/.
func assetsHandler() http.Handler {
	own, _ := fs.Sub(assets, "assets")
	mux := http.NewServeMux()
	mux.Handle("/vendor/", http.StripPrefix("/vendor/", static.Vendor()))
	mux.Handle("/", http.FileServerFS(own))
	return mux
}
