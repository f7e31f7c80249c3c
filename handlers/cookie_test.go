package handlers_test

import (
	"encoding/base64"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/parley/parley/handlers"
)

// TestKeyRotation: a cookie written with the old key is restored by a server
// that lists [new, old] and comes back written with the new key, which a
// server with only [new] reads; that server refuses the old cookie.
func TestKeyRotation(t *testing.T) {
	t.Parallel()
	en := newEnv(t)
	oldSrv, rotating, newSrv := en.server(secretOld), en.server(secretNew, secretOld), en.server(secretNew)

	v := en.visitor(oldSrv)
	id := v.startChat("/").AttrOr("data-chat-id", "")
	oldCookie := v.cookies[chatCookie].Value

	// A copy of the visitor, holding only the old cookie, on the new server.
	stale := en.visitor(newSrv)
	stale.cookies[chatCookie] = &http.Cookie{Name: chatCookie, Value: oldCookie}

	v.srv = rotating
	res := v.get("/")
	if got := res.widget().AttrOr("data-chat-id", ""); got != id {
		t.Fatalf("rotating server restored chat %q, want %q", got, id)
	}
	renewed := res.cookie(chatCookie)
	if renewed == nil || renewed.MaxAge <= 0 {
		t.Fatalf("rotating server's restore cookie = %v, want it rewritten", renewed)
	}
	if renewed.Value == oldCookie {
		t.Fatal("rotating server sent the old cookie back, want it rewritten with the new key")
	}

	v.srv = newSrv
	res = v.get("/")
	w := res.widget()
	if got := w.AttrOr("data-chat-id", ""); got != id {
		t.Errorf("new-key server restored chat %q from the rewritten cookie, want %q", got, id)
	}
	wantError(t, w, "", "")

	res = stale.get("/")
	w = res.widget()
	wantStart(t, en, w)
	wantError(t, w, "invalid_token", en.en("error.invalid_token"))
	wantCleared(t, res, true)
}

// TestCookieFlags checks the attributes of Parley's cookies over plain HTTP
// and over TLS, where they carry the __Host- prefix: a browser then takes
// them only from a secure origin for the whole host, so neither a sibling
// subdomain nor a plain-HTTP page can plant one.
func TestCookieFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		base       string
		trusted    string
		proto      string
		wantSecure bool
	}{
		{"http", "http://parley.test", "", "", false},
		{"https", "https://parley.test", "", "", true},
		// httptest's requests come from 192.0.2.1.
		{"https at a trusted proxy", "http://parley.test", "192.0.2.0/24", "https", true},
		{"forwarded header from elsewhere", "http://parley.test", "10.0.0.0/8", "https", false},
		{"forwarded header, no proxy trusted", "http://parley.test", "", "https", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			prefix := ""
			if tt.wantSecure {
				prefix = "__Host-"
			}
			en := newEnv(t)
			v := en.visitor(newSite(handlers.Deps{
				Chats:          en.chats,
				Catalogs:       en.cats,
				SessionSecrets: [][]byte{secretNew},
				Logger:         slog.New(slog.DiscardHandler),
				Options:        handlers.Options{TrustedProxies: prefixes(tt.trusted)},
			}))
			if tt.proto != "" {
				v.header = http.Header{"X-Forwarded-Proto": {tt.proto}}
			}
			v.do(httptest.NewRequest(http.MethodGet, tt.base+"/", nil)).wantStatus(http.StatusOK)
			form := url.Values{"parley_csrf": {v.csrf}, "return_to": {"/"}}
			req := httptest.NewRequest(http.MethodPost, tt.base+"/chat/start", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			res := v.do(req)
			res.wantRedirect("/")
			if c := res.cookie(prefix + csrfCookie); c == nil || c.Secure != tt.wantSecure || c.Path != "/" || c.Domain != "" {
				t.Errorf("CSRF cookie %s = %v, want Secure=%v, Path=/, no Domain", prefix+csrfCookie, c, tt.wantSecure)
			}
			c := res.cookie(prefix + chatCookie)
			if c == nil {
				t.Fatalf("POST /chat/start set no %s cookie", prefix+chatCookie)
			}
			checkFlags(t, c, tt.wantSecure)
			if c.MaxAge <= 0 {
				t.Errorf("MaxAge = %d, want > 0", c.MaxAge)
			}
			// The cookie restores the chat on the next page.
			if w := v.do(httptest.NewRequest(http.MethodGet, tt.base+"/", nil)).widget(); w.AttrOr("data-state", "") != "registration" {
				t.Errorf("after start, the page's widget is %q, want the registration form", w.AttrOr("data-state", ""))
			}

			// The cookie that clears a tampered one carries the same flags.
			v.cookies[prefix+chatCookie].Value = flipMiddle(v.cookies[prefix+chatCookie].Value)
			res = v.do(httptest.NewRequest(http.MethodGet, tt.base+"/", nil))
			c = res.cookie(prefix + chatCookie)
			if c == nil || c.MaxAge >= 0 {
				t.Fatalf("restore cookie after tampering = %v, want cleared", c)
			}
			checkFlags(t, c, tt.wantSecure)
		})
	}
}

func checkFlags(t *testing.T, c *http.Cookie, wantSecure bool) {
	t.Helper()
	if !c.HttpOnly {
		t.Error("HttpOnly = false, want true")
	}
	if c.SameSite != http.SameSiteLaxMode {
		t.Errorf("SameSite = %v, want Lax", c.SameSite)
	}
	if c.Path != "/" {
		t.Errorf("Path = %q, want /", c.Path)
	}
	if c.Secure != wantSecure {
		t.Errorf("Secure = %v, want %v", c.Secure, wantSecure)
	}
}

// TestTamperedCookie tries the ways a cookie can be damaged: each leaves the
// visitor free to start anew, says invalid_token, and clears the cookie.
// The server has read the good cookie, so that what it decoded to is
// remembered (valuesMemo) when each damaged copy comes.
func TestTamperedCookie(t *testing.T) {
	t.Parallel()
	en := newEnv(t)
	srv := en.server()
	good := en.visitor(srv)
	good.register("/", "Ada")
	value := good.cookies[chatCookie].Value
	foreign := en.visitor(en.server([]byte("a different server's secret, long enough")))
	foreign.startChat("/")

	tests := []struct {
		name  string
		value string
	}{
		{"one character flipped", flipMiddle(value)},
		{"truncated", value[:len(value)-4]},
		{"extended", value + "AAAA"},
		{"empty", ""},
		{"not base64", "%%%not-a-cookie%%%"},
		{"base64 garbage", base64.URLEncoding.EncodeToString([]byte("1700000000|Zm9v|bWFj"))},
		{"signed by another server", foreign.cookies[chatCookie].Value},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := en.visitor(srv)
			v.t = t
			v.cookies[chatCookie] = &http.Cookie{Name: chatCookie, Value: tt.value}
			res := v.get("/")
			res.wantStatus(http.StatusOK)
			w := res.widget()
			wantStart(t, en, w)
			wantError(t, w, "invalid_token", en.en("error.invalid_token"))
			wantCleared(t, res, true)
		})
	}
}

// FuzzTokenCookie: no cookie value panics the server or restores a chat;
// only the server's own, untouched cookies do that.
func FuzzTokenCookie(f *testing.F) {
	en := newEnv(f)
	srv := en.server()
	// A chat exists, so a forged cookie would have something to restore.
	v := en.visitor(srv)
	v.startChat("/")
	own := v.cookies[chatCookie].Value

	f.Add(own[:len(own)/2])
	f.Add(flipMiddle(own))
	f.Add(own + "=")
	f.Add("")
	f.Add("MTcwMDAwMDAwMHxab29ifGJXRmo=")
	f.Add(strings.Repeat("A", 4096))
	f.Add("\x00\xff|||")
	f.Fuzz(func(t *testing.T, value string) {
		req := httptest.NewRequest(http.MethodGet, baseURL+"/chat/widget", nil)
		req.Header.Set("Cookie", chatCookie+"="+value)
		if c, err := req.Cookie(chatCookie); err == nil && c.Value == own {
			t.Skip("the server's own cookie, quoted or followed by another")
		}
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("status = %d, want 200", rec.Code)
		}
		res := &response{t: t, status: rec.Code, body: rec.Body.Bytes()}
		w := res.widget()
		if state, id := w.AttrOr("data-state", ""), w.AttrOr("data-chat-id", ""); state != "start" || id != "" {
			t.Fatalf("cookie %q restored data-state=%q data-chat-id=%q, want start and no chat", value, state, id)
		}
	})
}
