package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"
)

// CookieNames are the names of Parley's cookies, which a host site may
// change where they would collide with its own.
type CookieNames struct {
	// Chat holds the visitor's restore token (default "parley_chat").
	Chat string
	// Agent holds the agent console's session (default "parley_agent").
	Agent string
	// CSRF holds the token of Parley's forms (default "parley_csrf").
	CSRF string
	// UI remembers whether the widget was left open or collapsed (default
	// "parley_ui"); chat.js writes it, so it is not HttpOnly.
	UI string
}

// DefaultCookieNames returns the cookie names Parley uses unless told
// otherwise.
func DefaultCookieNames() CookieNames {
	return CookieNames{Chat: "parley_chat", Agent: "parley_agent", CSRF: "parley_csrf", UI: "parley_ui"}
}

// hostPrefix marks a cookie that browsers take only from a secure origin,
// for the whole host (Path=/, no Domain): no sibling subdomain and no plain
// HTTP page can plant or overwrite it.
const hostPrefix = "__Host-"

// CookieName is what the cookie called name is called on a request: under
// TLS, with the __Host- prefix. (Over plain HTTP, as in development, the
// browser would refuse a prefixed cookie.)
func CookieName(name string, secure bool) string {
	if secure && !strings.HasPrefix(name, hostPrefix) {
		return hostPrefix + name
	}
	return name
}

// NewCookieStore derives a signing and an encryption key from each secret,
// newest first, for one purpose: cookies are written with the first and
// read with any, so keys can be rotated without logging anybody out, and no
// cookie can be passed off as one of another purpose.
func NewCookieStore(secrets [][]byte, purpose string, maxAge int, path string, sameSite http.SameSite) *sessions.CookieStore {
	pairs := make([][]byte, 0, 2*len(secrets))
	for _, secret := range secrets {
		pairs = append(pairs, deriveKey(secret, purpose+" signing"), deriveKey(secret, purpose+" encryption"))
	}
	store := sessions.NewCookieStore(pairs...)
	values := cookieValues{asJSON: true, memo: newValuesMemo(cookieMemoSize)}
	for _, codec := range store.Codecs {
		if sc, ok := codec.(*securecookie.SecureCookie); ok {
			sc.SetSerializer(values)
		}
	}
	store.MaxAge(maxAge)
	store.Options.Path = path
	store.Options.HttpOnly = true
	store.Options.SameSite = sameSite
	return store
}

// cookieValues writes a cookie's values inside its signed and encrypted
// envelope, and reads them back. It writes JSON (asJSON), which decodes in
// a fraction of gob's time and garbage (gob builds its decoder anew for
// every cookie: with thousands of visitors polling, more than a third of a
// poll's CPU), and still reads gob, gorilla's default, which visitors'
// older cookies hold: no instance of a rolling upgrade may take a cookie
// it cannot read for a forged one. So a rollback must not go back to a
// release that reads gob only, and cookie values must stay strings, as
// JSON carries them.
type cookieValues struct {
	asJSON bool
	// memo, when set, keeps what recent cookies decoded to.
	memo *valuesMemo
}

// cookieMemoSize bounds each generation of a cookie store's valuesMemo:
// at most twice as many cookies, a few hundred bytes each, are remembered.
const cookieMemoSize = 4096

// Serialize implements securecookie.Serializer for the string values
// Parley's cookies hold.
func (v cookieValues) Serialize(src any) ([]byte, error) {
	if !v.asJSON {
		return securecookie.GobEncoder{}.Serialize(src)
	}
	values, ok := src.(map[any]any)
	if !ok {
		return nil, fmt.Errorf("cookie values: %T, want map[any]any", src)
	}
	fields := make(map[string]string, len(values))
	for k, val := range values {
		key, ok1 := k.(string)
		text, ok2 := val.(string)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("cookie value %v: %T, want a string", k, val)
		}
		fields[key] = text
	}
	return json.Marshal(fields)
}

// Deserialize implements securecookie.Serializer, which calls it with a
// plaintext it has authenticated and decrypted.
func (v cookieValues) Deserialize(src []byte, dst any) error {
	values, ok := dst.(*map[any]any)
	if !ok {
		return fmt.Errorf("cookie values into %T, want *map[any]any", dst)
	}
	if v.memo != nil {
		if known, ok := v.memo.get(src); ok {
			*values = known
			return nil
		}
	}
	if err := decodeValues(src, values); err != nil {
		return err
	}
	if v.memo != nil {
		v.memo.put(src, *values)
	}
	return nil
}

// decodeValues reads gob or JSON. A gob stream never starts with '{': its
// first byte is the length of the message defining map[any]any
// (TestCookieValuesTellGobFromJSON).
func decodeValues(src []byte, values *map[any]any) error {
	if len(src) == 0 || src[0] != '{' {
		return securecookie.GobEncoder{}.Deserialize(src, values)
	}
	var fields map[string]string
	if err := json.Unmarshal(src, &fields); err != nil {
		return err
	}
	*values = make(map[any]any, len(fields))
	for k, text := range fields {
		(*values)[k] = text
	}
	return nil
}

func deriveKey(secret []byte, purpose string) []byte {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(purpose))
	return mac.Sum(nil)
}

// SaveCookie writes values as a fresh cookie of store with the newest key,
// Secure when the request came over TLS.
func SaveCookie(store *sessions.CookieStore, w http.ResponseWriter, r *http.Request, name string, values map[any]any, secure bool) error {
	name = CookieName(name, secure)
	session := sessions.NewSession(store, name)
	opts := *store.Options
	opts.Secure = secure
	opts.Path = cookiePath(name, opts.Path)
	session.Options = &opts
	session.Values = values
	return store.Save(r, w, session)
}

// cookiePath is path, but "/" for a __Host- cookie, which browsers take
// for the whole host only.
func cookiePath(name, path string) string {
	if strings.HasPrefix(name, hostPrefix) {
		return "/"
	}
	return path
}

// ReadCookie decodes the cookie called name (as named on r) of store.
// rotated reports that a key other than the newest one wrote it.
func ReadCookie(store *sessions.CookieStore, r *http.Request, name string, secure bool) (values map[any]any, rotated bool, err error) {
	name = CookieName(name, secure)
	cookie, err := r.Cookie(name)
	if err != nil {
		return nil, false, err
	}
	if err := store.Codecs[0].Decode(name, cookie.Value, &values); err == nil {
		return values, false, nil
	}
	if err := securecookie.DecodeMulti(name, cookie.Value, &values, store.Codecs[1:]...); err != nil {
		return nil, false, err
	}
	return values, true, nil
}

// ExpireCookie deletes a cookie of store.
func ExpireCookie(store *sessions.CookieStore, w http.ResponseWriter, name string, secure bool) {
	name = CookieName(name, secure)
	http.SetCookie(w, &http.Cookie{
		Name:     name,
		Value:    "",
		Path:     cookiePath(name, store.Options.Path),
		MaxAge:   -1,
		HttpOnly: true,
		Secure:   secure,
		SameSite: store.Options.SameSite,
	})
}
