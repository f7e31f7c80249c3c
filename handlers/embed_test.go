package handlers_test

import (
	"crypto/tls"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parley/parley/chatstate"
	"github.com/parley/parley/handlers"
)

// The script-tag embed's requests, as embed.js makes them from a page of
// another site: cross-site, with credentials, over TLS.

const (
	shopOrigin  = "https://shop.example"
	otherOrigin = "https://other.example"
	// transportOrigin may open the transports (-allowed-origin), not embed.
	transportOrigin = "https://www.parley.test"
)

// embedServer is the test site with shop.example allowed to embed.
func (en *env) embedServer() http.Handler {
	return newSite(handlers.Deps{
		Chats:          en.chats,
		Catalogs:       en.cats,
		SessionSecrets: [][]byte{secretNew},
		Logger:         slog.New(slog.DiscardHandler),
		Options:        handlers.Options{EmbedOrigins: []string{shopOrigin}, AllowedOrigins: []string{transportOrigin}},
	})
}

// overTLS is a request that came over TLS, as every embed's does.
func overTLS(r *http.Request) { r.TLS = &tls.ConnectionState{} }

// fromPage makes a request one of embed.js's on a page of origin: fetch()
// across sites, over TLS.
func fromPage(origin string) reqOpt {
	return func(r *http.Request) {
		overTLS(r)
		r.Header.Set("Origin", origin)
		r.Header.Set("Sec-Fetch-Site", "cross-site")
		r.Header.Set("Sec-Fetch-Mode", "cors")
		r.Header.Set("Accept", "application/json, text/html")
	}
}

// fromShop is a request of embed.js on the shop's page; posts carry the
// CSRF header and HX-Request, as chat.js's do.
func (v *visitor) fromShop(r *http.Request) {
	fromPage(shopOrigin)(r)
	if r.Method == http.MethodPost {
		hx(r)
		r.Header.Set("X-Parley-CSRF", v.csrf)
	}
}

// wantEmbedCORS checks the answer is readable by the shop's page, with the
// visitor's cookies, and by it only.
func wantEmbedCORS(t *testing.T, res *response) {
	t.Helper()
	if got := res.header.Get("Access-Control-Allow-Origin"); got != shopOrigin {
		t.Errorf("Access-Control-Allow-Origin = %q, want %q", got, shopOrigin)
	}
	if got := res.header.Get("Access-Control-Allow-Credentials"); got != "true" {
		t.Errorf("Access-Control-Allow-Credentials = %q, want true", got)
	}
	if !slices.Contains(res.header.Values("Vary"), "Origin") {
		t.Errorf("Vary = %q, want Origin in it", res.header.Values("Vary"))
	}
}

// wantPartitioned checks every cookie the response sets is partitioned by
// the embedding site (CHIPS), and kept as Parley writes it otherwise.
func wantPartitioned(t *testing.T, res *response) {
	t.Helper()
	if len(res.cookies) == 0 {
		t.Fatal("the response sets no cookie")
	}
	for _, c := range res.cookies {
		if !c.Partitioned || !c.Secure || c.SameSite != http.SameSiteNoneMode || c.Path != "/" || !strings.HasPrefix(c.Name, "__Host-") {
			t.Errorf("cookie %s: Partitioned %v, Secure %v, SameSite %v, Path %q; want a partitioned __Host- cookie, SameSite=None, Secure, Path=/",
				c.Name, c.Partitioned, c.Secure, c.SameSite, c.Path)
		}
	}
}

// TestEmbedVisitor: a visitor of the shop starts, drafts, registers,
// moves between the shop's pages and minimizes the widget, all from the
// shop's page; every answer is the shop's to read, every cookie is
// partitioned, and the chat restores from them in the state left.
func TestEmbedVisitor(t *testing.T) {
	t.Parallel()
	en := newEnv(t)
	v := en.visitor(en.embedServer())

	res := v.get("/chat/widget?return_to=/shoes&visit=1", v.fromShop)
	res.wantStatus(http.StatusOK)
	wantEmbedCORS(t, res)
	wantPartitioned(t, res) // the CSRF cookie
	wantStart(t, en, res.wantFragment())

	res = v.post("/chat/start", url.Values{"return_to": {"/shoes"}}, v.fromShop)
	res.wantStatus(http.StatusOK)
	wantEmbedCORS(t, res)
	wantPartitioned(t, res)
	if c := res.cookie("__Host-" + chatCookie); c == nil || !c.HttpOnly || c.MaxAge <= 0 {
		t.Fatalf("restore cookie = %v, want an HttpOnly __Host-%s that lasts", c, chatCookie)
	}
	w := res.wantFragment()
	id := w.AttrOr("data-chat-id", "")
	if got := w.AttrOr("data-state", ""); got != "registration" || id == "" {
		t.Fatalf("after start: data-state %q, chat %q; want the registration form of a chat", got, id)
	}
	if got := en.chat(id).Page; got != shopOrigin+"/shoes" {
		t.Errorf("the page the chat started on = %q, want %s/shoes", got, shopOrigin)
	}

	v.post("/chat/draft", url.Values{"return_to": {"/shoes"}, "first_name": {"Ada"}}, v.fromShop).wantStatus(http.StatusNoContent)
	w = v.get("/chat/widget?return_to=/shoes&visit=1", v.fromShop).wantFragment()
	if got := w.Find("input[name=first_name]").AttrOr("value", ""); got != "Ada" {
		t.Errorf("restored form's first name = %q, want the draft's Ada", got)
	}

	res = v.post("/chat/register", url.Values{"return_to": {"/shoes"}, "first_name": {"Ada"}, "email": {"ada@example.com"}}, v.fromShop)
	res.wantStatus(http.StatusOK)
	if got := res.wantFragment().AttrOr("data-phase", ""); got != string(chatstate.PhaseQueued) {
		t.Fatalf("after register: data-phase %q, want queued", got)
	}

	// A page load of the shop, then one of its own navigations.
	v.get("/chat/widget?return_to=/boots&visit=1", v.fromShop).wantStatus(http.StatusOK)
	res = v.post("/chat/visit", url.Values{"return_to": {"/socks"}}, v.fromShop)
	res.wantStatus(http.StatusNoContent)
	wantEmbedCORS(t, res)
	var trail []string
	for _, ev := range en.events(id, chatstate.EventPage) {
		trail = append(trail, ev.Page)
	}
	// The agent sees which site each page is on: one server may serve
	// several.
	if want := []string{shopOrigin + "/boots", shopOrigin + "/socks"}; !slices.Equal(trail, want) {
		t.Errorf("page trail = %q, want %q", trail, want)
	}
	// A re-render (no visit) records nothing.
	v.get("/chat/widget?return_to=/hats", v.fromShop).wantStatus(http.StatusOK)
	if got := en.chat(id).Page; got != shopOrigin+"/socks" {
		t.Errorf("page after a re-render = %q, want %s/socks still", got, shopOrigin)
	}

	res = v.post("/chat/ui", url.Values{"return_to": {"/socks"}, "open": {"false"}}, v.fromShop)
	res.wantStatus(http.StatusNoContent)
	wantPartitioned(t, res)
	w = v.get("/chat/widget?return_to=/socks&visit=1", v.fromShop).wantFragment()
	if got := w.AttrOr("data-open", ""); got != "false" || w.AttrOr("data-state", "") != "conversation" {
		t.Errorf("after minimizing: data-open %q, data-state %q; want the conversation, collapsed", got, w.AttrOr("data-state", ""))
	}
}

// TestEmbedFirstPartyCookies: the chat server's own pages keep their
// cookies as they were: SameSite=Lax, not partitioned.
func TestEmbedFirstPartyCookies(t *testing.T) {
	t.Parallel()
	en := newEnv(t)
	v := en.visitor(en.embedServer())
	v.get("/", overTLS).wantStatus(http.StatusOK)
	res := v.post("/chat/start", url.Values{"return_to": {"/"}}, overTLS, header("Origin", "https://parley.test"))
	res.wantRedirect("/")
	for _, c := range res.cookies {
		if c.Partitioned || c.SameSite != http.SameSiteLaxMode {
			t.Errorf("cookie %s: Partitioned %v, SameSite %v; want Lax, not partitioned", c.Name, c.Partitioned, c.SameSite)
		}
	}
	if res.header.Get("Access-Control-Allow-Origin") != "" {
		t.Error("a same-origin answer carries CORS headers")
	}
}

// TestEmbedPreflight: the shop's posts are allowed, with Parley's headers,
// for two hours; another site's are not, and a preflight writes no cookie.
func TestEmbedPreflight(t *testing.T) {
	t.Parallel()
	en := newEnv(t)
	srv := en.embedServer()
	for _, tt := range []struct {
		origin string
		status int
	}{
		{shopOrigin, http.StatusNoContent},
		{otherOrigin, http.StatusForbidden},
	} {
		t.Run(tt.origin, func(t *testing.T) {
			for _, path := range []string{"/chat/start", "/chat/frames", "/chat/transcript?before=9"} {
				req := httptest.NewRequest(http.MethodOptions, baseURL+path, nil)
				fromPage(tt.origin)(req)
				req.Header.Set("Access-Control-Request-Method", "POST")
				req.Header.Set("Access-Control-Request-Headers", "hx-request,x-parley-csrf")
				rec := httptest.NewRecorder()
				srv.ServeHTTP(rec, req)
				if rec.Code != tt.status {
					t.Errorf("OPTIONS %s = %d, want %d", path, rec.Code, tt.status)
				}
				if len(rec.Result().Cookies()) != 0 {
					t.Errorf("OPTIONS %s sets cookies %v, want none", path, rec.Result().Cookies())
				}
				allowed := rec.Header().Get("Access-Control-Allow-Methods") != ""
				if allowed != (tt.origin == shopOrigin) {
					t.Errorf("OPTIONS %s: Access-Control-Allow-Methods %q", path, rec.Header().Get("Access-Control-Allow-Methods"))
				}
				if tt.origin == shopOrigin {
					h := rec.Header()
					if !strings.Contains(h.Get("Access-Control-Allow-Headers"), "X-Parley-CSRF") || h.Get("Access-Control-Max-Age") != "7200" {
						t.Errorf("OPTIONS %s: Allow-Headers %q, Max-Age %q", path, h.Get("Access-Control-Allow-Headers"), h.Get("Access-Control-Max-Age"))
					}
				}
			}
		})
	}
}

// TestEmbedRefusesOtherSites: a script on a page of a site that may not
// embed the widget, even one whose requests carry the visitor's cookies,
// gets the refusal and nothing of any chat: no widget, transcript or
// frames, no cookie, no visit recorded. The refusal is the page's to read,
// so that embed.js can say why. Same-origin requests pass as before.
func TestEmbedRefusesOtherSites(t *testing.T) {
	t.Parallel()
	en := newEnv(t)
	srv := en.embedServer()
	v := en.visitor(srv)
	id := v.register("/", "Ada")
	v.say("/", "My order number is 4711")
	before := len(en.events(id))

	for _, path := range []string{
		"/chat/widget?return_to=/&visit=1",
		"/chat/transcript?before=99",
		"/chat/poll?after=0",
		"/chat/static/chat.css",
	} {
		for _, site := range []string{"cross-site", "same-site", ""} {
			t.Run(path+" "+site, func(t *testing.T) {
				res := v.get(path, fromPage(otherOrigin), header("Sec-Fetch-Site", site))
				res.wantStatus(http.StatusForbidden)
				var body struct {
					Error struct {
						Code int    `json:"code"`
						Name string `json:"name"`
					} `json:"error"`
				}
				if err := json.Unmarshal(res.body, &body); err != nil || body.Error.Name != "origin_not_allowed" || body.Error.Code != 112 {
					t.Errorf("body = %s (%v), want the 112 origin_not_allowed error", res.body, err)
				}
				for _, secret := range []string{id, "Ada", "4711"} {
					if strings.Contains(string(res.body), secret) {
						t.Errorf("the refusal shows %q:\n%s", secret, res.body)
					}
				}
				if len(res.cookies) != 0 {
					t.Errorf("the refusal sets cookies %v, want none", res.cookies)
				}
				if got := res.header.Get("Access-Control-Allow-Origin"); got != otherOrigin {
					t.Errorf("Access-Control-Allow-Origin = %q, want %q, so the page can read why", got, otherOrigin)
				}
			})
		}
	}
	if after := len(en.events(id)); after != before {
		t.Errorf("the chat's log grew from %d to %d events; the refused requests must change nothing", before, after)
	}

	// Parley's own pages, and the origins of -allowed-origin, as before.
	v.get("/chat/widget?return_to=/").wantStatus(http.StatusOK)
	v.get("/chat/widget?return_to=/", header("Origin", transportOrigin), header("Sec-Fetch-Site", "same-site")).wantStatus(http.StatusOK)
	// The browser says same-origin while Parley sees another scheme (TLS
	// ended at a proxy not listed as trusted): not refused here.
	v.get("/chat/widget?return_to=/", header("Origin", "https://parley.test"), header("Sec-Fetch-Site", "same-origin")).wantStatus(http.StatusOK)
}

// TestEmbedTransports: the shop's pages open the WebSocket; another site's
// do not.
func TestEmbedTransports(t *testing.T) {
	t.Parallel()
	en := newEnv(t)
	ls := startLiveServer(t, handlers.Deps{
		Chats:          en.chats,
		Catalogs:       en.cats,
		SessionSecrets: [][]byte{secretNew},
		Logger:         slog.New(slog.DiscardHandler),
		Options:        handlers.Options{EmbedOrigins: []string{shopOrigin}},
	})
	v, _ := registeredVisitor(t, en, ls)
	conn, _, err := dial(t, ls, v, shopOrigin)
	if err != nil {
		t.Fatalf("dial from the shop's page: %v", err)
	}
	send(t, conn, map[string]any{"type": "hello", "lastSeq": 0})
	if f := next(t, conn); f.Type != "resume" {
		t.Errorf("first frame = %q, want resume", f.Type)
	}
	_, res, err := dial(t, ls, v, otherOrigin)
	if err == nil || res == nil || res.StatusCode != http.StatusForbidden {
		t.Errorf("dial from another site: err %v, response %v; want 403", err, res)
	}
}

// TestEmbedScriptRoute: /chat/embed.js is one script for every page: no
// cookie, cacheable, readable by any page.
func TestEmbedScriptRoute(t *testing.T) {
	t.Parallel()
	en := newEnv(t)
	v := en.visitor(en.embedServer())
	res := v.get("/chat/embed.js")
	res.wantStatus(http.StatusOK)
	if ct := res.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/javascript") {
		t.Errorf("Content-Type = %q", ct)
	}
	if len(res.cookies) != 0 || res.header.Get("Cache-Control") != "public, max-age=300" || res.header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("cookies %v, Cache-Control %q, Access-Control-Allow-Origin %q; want none, public, *",
			res.cookies, res.header.Get("Cache-Control"), res.header.Get("Access-Control-Allow-Origin"))
	}
	if !strings.Contains(string(res.body), "attachShadow") {
		t.Error("embed.js does not mount a shadow root")
	}
}

// TestScriptsAnswerHead: what a site links to (embed.js, chat.js,
// chat.css) answers HEAD as GET but with no body, as uptime checks, CDNs
// and link checkers expect, and writes no cookie, which a shared cache
// would hand to everybody; what is not there is still not found.
func TestScriptsAnswerHead(t *testing.T) {
	t.Parallel()
	en := newEnv(t)
	v := en.visitor(en.embedServer())
	for _, path := range []string{"/chat/embed.js", "/chat/static/chat.js", "/chat/static/chat.css"} {
		get := v.get(path)
		get.wantStatus(http.StatusOK)
		if len(get.cookies) != 0 || get.header.Get("Set-Cookie") != "" {
			t.Errorf("GET %s sets cookies %v, want none", path, get.header.Values("Set-Cookie"))
		}
		head := v.do(httptest.NewRequest(http.MethodHead, baseURL+path, nil))
		if head.status != http.StatusOK || len(head.body) != 0 {
			t.Errorf("HEAD %s: status %d, %d bytes of body; want 200 and none", path, head.status, len(head.body))
		}
		for _, h := range []string{"Content-Type", "Content-Length", "ETag", "Cache-Control"} {
			if head.header.Get(h) != get.header.Get(h) {
				t.Errorf("HEAD %s: %s %q, GET's %q", path, h, head.header.Get(h), get.header.Get(h))
			}
		}
	}
	if res := v.do(httptest.NewRequest(http.MethodHead, baseURL+"/chat/static/nothing.js", nil)); res.status != http.StatusNotFound {
		t.Errorf("HEAD of a file that is not there: status %d, want 404", res.status)
	}
}

// TestEmbedLeavesTheConsoleAlone: the embedding sites' pages get nothing
// of the agent console.
func TestEmbedLeavesTheConsoleAlone(t *testing.T) {
	t.Parallel()
	en := newEnv(t)
	v := en.visitor(en.embedServer())
	for _, path := range []string{"/agent/login", "/agent"} {
		res := v.get(path, fromPage(shopOrigin))
		if got := res.header.Get("Access-Control-Allow-Origin"); got != "" {
			t.Errorf("GET %s from the shop: Access-Control-Allow-Origin %q, want none", path, got)
		}
	}
}

// TestPartitionCookies: a cookie of an embed's answer keeps everything
// Parley gave it, and becomes partitioned.
func TestPartitionCookies(t *testing.T) {
	t.Parallel()
	en := newEnv(t)
	v := en.visitor(en.embedServer())
	v.get("/chat/widget?return_to=/", v.fromShop)
	res := v.post("/chat/start", url.Values{"return_to": {"/"}}, v.fromShop)
	c := res.cookie("__Host-" + chatCookie)
	if c == nil {
		t.Fatal("no restore cookie")
	}
	if c.MaxAge != 7*24*60*60 || c.Expires.Before(time.Now().Add(6*24*time.Hour)) || !c.HttpOnly {
		t.Errorf("restore cookie: Max-Age %d, Expires %v, HttpOnly %v; want a week, HttpOnly", c.MaxAge, c.Expires, c.HttpOnly)
	}
	// A cleared cookie is cleared in the partition too.
	v.cookies["__Host-"+chatCookie].Value = "tampered"
	res = v.get("/chat/widget?return_to=/", v.fromShop)
	if c := res.cookie("__Host-" + chatCookie); c == nil || c.MaxAge >= 0 || !c.Partitioned {
		t.Errorf("tampered cookie's answer: %v, want it cleared, partitioned", c)
	}
}
