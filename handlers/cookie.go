package handlers

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"net/http"

	"github.com/gorilla/sessions"
)

const (
	tokenCookieName = "parley_chat"
	tokenKey        = "token"
	// tokenCookieMaxAge keeps a chat restorable across a week of visits;
	// every page view renews it.
	tokenCookieMaxAge = 7 * 24 * 60 * 60
)

var (
	errNoTokenCookie  = errors.New("no chat cookie")
	errBadTokenCookie = errors.New("chat cookie undecodable")
)

// tokenJar keeps the visitor's restore token in a signed and encrypted
// gorilla/sessions cookie.
type tokenJar struct {
	store *sessions.CookieStore
}

// newTokenJar derives a signing and an encryption key from each secret,
// newest first: cookies are written with the first and read with any, so
// keys can be rotated without logging anybody out.
func newTokenJar(secrets [][]byte) *tokenJar {
	pairs := make([][]byte, 0, 2*len(secrets))
	for _, secret := range secrets {
		pairs = append(pairs, deriveKey(secret, "parley cookie signing"), deriveKey(secret, "parley cookie encryption"))
	}
	store := sessions.NewCookieStore(pairs...)
	store.MaxAge(tokenCookieMaxAge)
	store.Options.HttpOnly = true
	store.Options.SameSite = http.SameSiteLaxMode
	return &tokenJar{store: store}
}

func deriveKey(secret []byte, purpose string) []byte {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(purpose))
	return mac.Sum(nil)
}

// Token returns the restore token in the request's cookie: errNoTokenCookie
// when there is none, errBadTokenCookie when it was tampered with or signed
// by a key no longer configured.
func (j *tokenJar) Token(r *http.Request) (string, error) {
	if _, err := r.Cookie(tokenCookieName); err != nil {
		return "", errNoTokenCookie
	}
	session, err := j.store.New(r, tokenCookieName)
	if err != nil {
		return "", errBadTokenCookie
	}
	token, _ := session.Values[tokenKey].(string)
	if token == "" {
		return "", errBadTokenCookie
	}
	return token, nil
}

// Set writes the token with the newest key, renewing its expiry.
func (j *tokenJar) Set(w http.ResponseWriter, r *http.Request, token string) error {
	session := sessions.NewSession(j.store, tokenCookieName)
	opts := *j.store.Options
	opts.Secure = r.TLS != nil
	session.Options = &opts
	session.Values[tokenKey] = token
	return j.store.Save(r, w, session)
}

// Clear deletes the cookie.
func (j *tokenJar) Clear(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{
		Name:     tokenCookieName,
		Value:    "",
		Path:     "/",
		MaxAge:   -1,
		HttpOnly: true,
		Secure:   r.TLS != nil,
		SameSite: http.SameSiteLaxMode,
	})
}
