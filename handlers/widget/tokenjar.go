package widget

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/sessions"
	"github.com/parley/parley/handlers/web"
)

const (
	tokenKey = "token"
	// issuedKey holds when the cookie was written, in Unix seconds.
	issuedKey = "issued"
	// tokenCookieMaxAge keeps a chat restorable across a week of visits;
	// page views renew it.
	tokenCookieMaxAge = 7 * 24 * 60 * 60
	// tokenRenewAfter is how old a cookie gets before a page view writes
	// it again: encoding it on every page cost more than rendering the
	// latest lines of a long chat.
	tokenRenewAfter = time.Hour
)

var (
	errNoTokenCookie  = errors.New("no chat cookie")
	errBadTokenCookie = errors.New("chat cookie undecodable")
)

// tokenJar keeps the visitor's restore token in a signed and encrypted
// gorilla/sessions cookie.
type tokenJar struct {
	store  *sessions.CookieStore
	name   string
	viaTLS func(*http.Request) bool
}

// newTokenJar keeps the restore token for a week of visits, readable by
// every page of the site.
func newTokenJar(secrets [][]byte, name string, viaTLS func(*http.Request) bool) *tokenJar {
	return &tokenJar{store: web.NewCookieStore(secrets, "parley cookie", tokenCookieMaxAge, "/", http.SameSiteLaxMode), name: name, viaTLS: viaTLS}
}

// Token returns the restore token in the request's cookie: errNoTokenCookie
// when there is none, errBadTokenCookie when it was tampered with or signed
// by a key no longer configured. stale reports a cookie to write again:
// older than tokenRenewAfter, or written with a key other than the newest.
func (j *tokenJar) Token(r *http.Request, now time.Time) (token string, stale bool, err error) {
	values, rotated, err := web.ReadCookie(j.store, r, j.name, j.viaTLS(r))
	if errors.Is(err, http.ErrNoCookie) {
		return "", false, errNoTokenCookie
	}
	if err != nil {
		return "", false, errBadTokenCookie
	}
	token, _ = values[tokenKey].(string)
	if token == "" {
		return "", false, errBadTokenCookie
	}
	issuedText, _ := values[issuedKey].(string)
	issued, err := strconv.ParseInt(issuedText, 10, 64)
	stale = rotated || err != nil || now.Sub(time.Unix(issued, 0)) > tokenRenewAfter
	return token, stale, nil
}

// Set writes the token with the newest key, renewing its expiry.
func (j *tokenJar) Set(w http.ResponseWriter, r *http.Request, token string, now time.Time) error {
	values := map[any]any{tokenKey: token, issuedKey: strconv.FormatInt(now.Unix(), 10)}
	return web.SaveCookie(j.store, w, r, j.name, values, j.viaTLS(r))
}

// Clear deletes the cookie.
func (j *tokenJar) Clear(w http.ResponseWriter, r *http.Request) {
	web.ExpireCookie(j.store, w, j.name, j.viaTLS(r))
}
