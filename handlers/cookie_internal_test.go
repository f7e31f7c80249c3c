package handlers

import (
	"maps"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"
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
		{"written without its time", untimedCookie(t, secret), true},
	} {
		token, stale, err := jar.Token(tt.req, now)
		if token != "tok" || stale != tt.wantStale || err != nil {
			t.Errorf("%s: Token = %q, stale %v, %v; want tok, stale %v", tt.name, token, stale, err, tt.wantStale)
		}
	}
}

// untimedCookie is a restore cookie as Parley wrote it before it kept the
// time it wrote it.
func untimedCookie(t *testing.T, secret []byte) *http.Request {
	t.Helper()
	store := sessions.NewCookieStore(deriveKey(secret, "parley cookie signing"), deriveKey(secret, "parley cookie encryption"))
	value, err := securecookie.EncodeMulti("parley_chat", map[any]any{tokenKey: "tok"}, store.Codecs...)
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.AddCookie(&http.Cookie{Name: "parley_chat", Value: value})
	return req
}

// TestCookieValuesTellGobFromJSON: what a cookie holds reads back the same
// from either format, and a gob stream of it never passes for JSON.
func TestCookieValuesTellGobFromJSON(t *testing.T) {
	for _, values := range []map[any]any{
		{tokenKey: "tok", issuedKey: "1764800000"},
		{tokenKey: "a-much-longer-restore-token-of-forty-three-chars"},
		{agentTokenKey: "x"},
		{},
	} {
		for _, writer := range []cookieValues{{}, {asJSON: true}} {
			data, err := writer.Serialize(values)
			if err != nil {
				t.Fatalf("Serialize(%v), JSON %v: %v", values, writer.asJSON, err)
			}
			if isJSON := len(data) > 0 && data[0] == '{'; isJSON != writer.asJSON {
				t.Errorf("Serialize(%v), JSON %v, starts with %q", values, writer.asJSON, data[:1])
			}
			var got map[any]any
			if err := (cookieValues{}).Deserialize(data, &got); err != nil {
				t.Fatalf("Deserialize of %v, JSON %v: %v", values, writer.asJSON, err)
			}
			if !maps.Equal(got, values) {
				t.Errorf("JSON %v: read back %v, wrote %v", writer.asJSON, got, values)
			}
		}
	}
}

// TestCookiesAcrossReleases: during a rolling upgrade, the release before
// this one (it reads gob and JSON, and writes gob) reads the cookies this
// one writes (JSON), and this one reads the gob cookies of every release
// before it. The releases before that one read gob only: an upgrade from
// them goes through it.
func TestCookiesAcrossReleases(t *testing.T) {
	secret := []byte("a secret of at least thirty-two characters")
	jar := newTokenJar([][]byte{secret}, "parley_chat", func(*http.Request) bool { return false })
	now := time.Now()
	signing, encryption := deriveKey(secret, "parley cookie signing"), deriveKey(secret, "parley cookie encryption")

	rec := httptest.NewRecorder()
	if err := jar.Set(rec, httptest.NewRequest(http.MethodGet, "/", nil), "tok", now); err != nil {
		t.Fatal(err)
	}
	written := rec.Result().Cookies()[0].Value
	previous := securecookie.New(signing, encryption)
	previous.SetSerializer(cookieValues{})
	var values map[any]any
	if err := securecookie.DecodeMulti("parley_chat", written, &values, previous); err != nil || values[tokenKey] != "tok" {
		t.Errorf("the previous release reads this one's cookie as %v, %v", values, err)
	}
	gobOnly := sessions.NewCookieStore(signing, encryption)
	if err := securecookie.DecodeMulti("parley_chat", written, &values, gobOnly.Codecs...); err == nil {
		t.Error("a release that reads only gob reads this one's cookie: then this one does not write JSON")
	}

	older := securecookie.New(signing, encryption)
	value, err := older.Encode("parley_chat", map[any]any{tokenKey: "tok", issuedKey: strconv.FormatInt(now.Unix(), 10)})
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.AddCookie(&http.Cookie{Name: "parley_chat", Value: value})
	if token, stale, err := jar.Token(req, now); token != "tok" || stale || err != nil {
		t.Errorf("a gob cookie of an earlier release reads as %q, stale %v, %v; want tok, fresh", token, stale, err)
	}
}

// TestValuesMemo: what a cookie decoded to comes back equal and the
// caller's own to change; the cookies in use stay remembered while a
// stream of others passes, and the memo stays within two generations.
func TestValuesMemo(t *testing.T) {
	const limit = 4
	m := newValuesMemo(limit)
	kept := []byte("a cookie read on every page")
	m.put(kept, map[any]any{tokenKey: "tok"})
	got, ok := m.get(kept)
	if !ok || got[tokenKey] != "tok" {
		t.Fatalf("get() = %v, %v; want the values put", got, ok)
	}
	got[tokenKey] = "changed by the caller"
	for i := range 10 * limit {
		m.put([]byte("another cookie "+strconv.Itoa(i)), map[any]any{tokenKey: strconv.Itoa(i)})
		if got, ok := m.get(kept); !ok || got[tokenKey] != "tok" {
			t.Fatalf("after %d other cookies, get() = %v, %v; want the values first put", i+1, got, ok)
		}
	}
	if n := len(m.newer) + len(m.older); n > 2*limit {
		t.Errorf("memo holds %d cookies, want at most %d", n, 2*limit)
	}
	if _, ok := m.get([]byte("another cookie 0")); ok {
		t.Errorf("a cookie not read since %d others were put is still remembered", 10*limit)
	}
}
