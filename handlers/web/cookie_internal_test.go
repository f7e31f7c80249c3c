package web

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

// The keys of the values the tests' cookies hold.
const (
	tokenKey  = "token"
	issuedKey = "issued"
)

// TestCookieValuesTellGobFromJSON: what a cookie holds reads back the same
// from either format, and a gob stream of it never passes for JSON.
func TestCookieValuesTellGobFromJSON(t *testing.T) {
	for _, values := range []map[any]any{
		{tokenKey: "tok", issuedKey: "1764800000"},
		{tokenKey: "a-much-longer-restore-token-of-forty-three-chars"},
		{tokenKey: "x"},
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
	store := NewCookieStore([][]byte{secret}, "parley cookie", 3600, "/", http.SameSiteLaxMode)
	now := time.Now()
	signing, encryption := deriveKey(secret, "parley cookie signing"), deriveKey(secret, "parley cookie encryption")

	rec := httptest.NewRecorder()
	values := map[any]any{tokenKey: "tok", issuedKey: strconv.FormatInt(now.Unix(), 10)}
	if err := SaveCookie(store, rec, httptest.NewRequest(http.MethodGet, "/", nil), "parley_chat", values, false); err != nil {
		t.Fatal(err)
	}
	written := rec.Result().Cookies()[0].Value
	previous := securecookie.New(signing, encryption)
	previous.SetSerializer(cookieValues{})
	values = nil
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
	if values, rotated, err := ReadCookie(store, req, "parley_chat", false); values[tokenKey] != "tok" || rotated || err != nil {
		t.Errorf("a gob cookie of an earlier release reads as %v, rotated %v, %v; want tok, the newest key", values, rotated, err)
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
