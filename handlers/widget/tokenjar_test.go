package widget

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gorilla/securecookie"
)

// TestTokenCookieRenewal: a page view writes the restore cookie again
// only when it is over an hour old, and a cookie an older Parley wrote,
// without its time, still restores and is renewed. (A cookie of an older
// key: TestKeyRotation.)
func TestTokenCookieRenewal(t *testing.T) {
	secret := []byte("a secret of at least thirty-two characters")
	jar := newTokenJar([][]byte{secret}, "parley_chat", func(*http.Request) bool { return false })
	now := time.Now()
	written := func(at time.Time) *http.Request {
		rec := httptest.NewRecorder()
		if err := jar.Set(rec, httptest.NewRequest(http.MethodGet, "/", nil), "tok", at); err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		for _, c := range rec.Result().Cookies() {
			req.AddCookie(c)
		}
		return req
	}
	for _, tt := range []struct {
		name      string
		req       *http.Request
		wantStale bool
	}{
		{"written a minute ago", written(now.Add(-time.Minute)), false},
		{"written two hours ago", written(now.Add(-2 * time.Hour)), true},
		{"written without its time", untimedCookie(t, jar), true},
	} {
		token, stale, err := jar.Token(tt.req, now)
		if token != "tok" || stale != tt.wantStale || err != nil {
			t.Errorf("%s: Token = %q, stale %v, %v; want tok, stale %v", tt.name, token, stale, err, tt.wantStale)
		}
	}
}

// untimedCookie is a restore cookie without the time it was written, as
// Parley wrote them before it kept that time.
func untimedCookie(t *testing.T, jar *tokenJar) *http.Request {
	t.Helper()
	value, err := securecookie.EncodeMulti("parley_chat", map[any]any{tokenKey: "tok"}, jar.store.Codecs...)
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.AddCookie(&http.Cookie{Name: "parley_chat", Value: value})
	return req
}
