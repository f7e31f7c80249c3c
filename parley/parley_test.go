package parley_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/gorilla/sessions"
	"github.com/gorilla/websocket"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"go.uber.org/goleak"
	"golang.org/x/crypto/bcrypt"

	"github.com/parley/parley/parley"
)

var testKey = []byte("parley test key, thirty-two bytes or more")

func testConfig(t *testing.T) parley.Config {
	return parley.Config{
		SQLitePath:        filepath.Join(t.TempDir(), "chat.db"),
		SessionKeys:       [][]byte{testKey},
		Agents:            []parley.Agent{{Name: "alice", Password: "alice-password"}},
		AgentPasswordCost: bcrypt.MinCost,
		Logger:            slog.New(slog.DiscardHandler),
		// These tests' visitors chat with no agent online.
		QueueWithoutAgents: true,
	}
}

func newParley(t *testing.T, cfg parley.Config) *parley.Parley {
	t.Helper()
	return newParleyCtx(t, t.Context(), cfg)
}

// newParleyCtx builds Parley with ctx bounding its opening, and closes it
// when the test ends.
func newParleyCtx(t *testing.T, ctx context.Context, cfg parley.Config) *parley.Parley {
	t.Helper()
	chat, err := parley.New(ctx, cfg)
	if err != nil {
		t.Fatalf("parley.New() = %v, want nil", err)
	}
	t.Cleanup(func() {
		if err := chat.Close(); err != nil {
			t.Errorf("Close() = %v", err)
		}
	})
	return chat
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change func(*parley.Config)
		want   string
	}{
		{"no store", func(c *parley.Config) { c.SQLitePath = "" }, "no store"},
		{"no keys", func(c *parley.Config) { c.SessionKeys = nil }, "no SessionKeys"},
		{"short key", func(c *parley.Config) { c.SessionKeys = [][]byte{testKey, []byte("short")} }, "SessionKeys[1] is 5 bytes"},
		{"postgres and sqlite", func(c *parley.Config) { c.DatabaseURL = "postgres://db/parley" }, "set one of SQLitePath, DatabaseURL or Store"},
		{"other database", func(c *parley.Config) { c.SQLitePath, c.DatabaseURL = "", "mysql://db" }, "want a postgres://"},
		{"relative chat path", func(c *parley.Config) { c.ChatPath = "chat" }, `path "chat"`},
		{"trailing slash", func(c *parley.Config) { c.ConsolePath = "/agent/" }, `path "/agent/"`},
		{"same paths", func(c *parley.Config) { c.ConsolePath = "/chat" }, "both \"/chat\""},
		{"negative offline", func(c *parley.Config) { c.MaxOffline = -time.Second }, "must not be negative"},
		{"agent without password", func(c *parley.Config) { c.Agents = []parley.Agent{{Name: "bob"}} }, "agents"},
		{"bad catalog URL", func(c *parley.Config) { c.Localization = map[string]string{"fr": "ftp://x/fr.json"} }, "localization"},
		{"bad proxy", func(c *parley.Config) { c.TrustedProxies = []string{"proxy.internal"} }, "TrustedProxies"},
		{"embed origin with a path", func(c *parley.Config) { c.EmbedOrigins = []string{"https://shop.example/"} }, `EmbedOrigins: "https://shop.example/"`},
		{"embed origin without a scheme", func(c *parley.Config) { c.EmbedOrigins = []string{"shop.example"} }, "EmbedOrigins"},
		{"embed origin in capitals", func(c *parley.Config) { c.EmbedOrigins = []string{"https://Shop.example"} }, "EmbedOrigins"},
		{"embed origin with the default port", func(c *parley.Config) { c.EmbedOrigins = []string{"https://shop.example:443"} }, "EmbedOrigins"},
		{"embed origin of every site", func(c *parley.Config) { c.EmbedOrigins = []string{"*"} }, "EmbedOrigins"},
		{"embed origin not on the web", func(c *parley.Config) { c.EmbedOrigins = []string{"file:///shop"} }, "EmbedOrigins"},
		{"embed origin null", func(c *parley.Config) { c.EmbedOrigins = []string{"null"} }, `EmbedOrigins: "null"`},
		{"allowed origin null", func(c *parley.Config) { c.AllowedOrigins = []string{"null"} }, `AllowedOrigins: "null"`},
		{"allowed origin with a path", func(c *parley.Config) { c.AllowedOrigins = []string{"https://a.example/x"} }, "AllowedOrigins"},
		{"SMTP without a sender", func(c *parley.Config) { c.SMTPURL = "smtp://127.0.0.1:1025" }, "MailFrom is not"},
		{"a sender without SMTP", func(c *parley.Config) { c.MailFrom = "chat@shop.example" }, "SMTPURL is not"},
		{"SMTP URL of another scheme", func(c *parley.Config) {
			c.SMTPURL, c.MailFrom = "http://user:s3cret@mail.example.com", "chat@shop.example"
		}, "SMTPURL: SMTP URL http://user:xxxxx@mail.example.com"},
		{"two senders", func(c *parley.Config) {
			c.SMTPURL, c.MailFrom = "smtp://127.0.0.1:1025", "a@shop.example, b@shop.example"
		}, "MailFrom: 2 addresses"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig(t)
			tt.change(&cfg)
			chat, err := parley.New(t.Context(), cfg)
			if err == nil {
				chat.Close()
				t.Fatalf("parley.New() = nil error, want one saying %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("parley.New() = %q, want it to say %q", err, tt.want)
			}
		})
	}
}

// client is one browser: its own cookies, no redirects followed.
type client struct {
	t    *testing.T
	base string
	http *http.Client
}

func newClient(t *testing.T, base string) *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: t, base: base, http: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

func (cl *client) do(method, path string, form url.Values, header http.Header) (*http.Response, *goquery.Document) {
	cl.t.Helper()
	var body *strings.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	} else {
		body = strings.NewReader("")
	}
	req, err := http.NewRequest(method, cl.base+path, body)
	if err != nil {
		cl.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := cl.http.Do(req)
	if err != nil {
		cl.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	doc, err := goquery.NewDocumentFromReader(res.Body)
	if err != nil {
		cl.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return res, doc
}

func (cl *client) get(path string) (*http.Response, *goquery.Document) {
	return cl.do(http.MethodGet, path, nil, nil)
}

func (cl *client) post(path string, form url.Values) (*http.Response, *goquery.Document) {
	return cl.do(http.MethodPost, path, form, nil)
}

func (cl *client) cookie(name string) *http.Cookie {
	u, _ := url.Parse(cl.base + "/")
	for _, c := range cl.http.Jar.Cookies(u) {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func wantStatus(t *testing.T, what string, res *http.Response, want int) {
	t.Helper()
	if res.StatusCode != want {
		t.Fatalf("%s: status %d, want %d", what, res.StatusCode, want)
	}
}

// widgetState is what the widget shows: start, registration or
// conversation.
func widgetState(doc *goquery.Document) string {
	return doc.Find("#parley-widget").AttrOr("data-state", "")
}

func TestMountUnderGroupLeavesTheSiteAlone(t *testing.T) {
	t.Parallel()
	chat := newParley(t, testConfig(t))
	e := echo.New()
	e.HTTPErrorHandler = func(err error, c echo.Context) {
		_ = c.HTML(http.StatusTeapot, "<p id=site-error>the site's own error page</p>")
	}
	e.GET("/", func(c echo.Context) error {
		return layout("Home", chat.Assets(), chat.Widget(c)).Render(c.Request().Context(), c.Response())
	})
	chat.Mount(e.Group("/support"))
	srv := httptest.NewServer(e)
	defer srv.Close()
	v := newClient(t, srv.URL)

	res, doc := v.get("/")
	wantStatus(t, "GET /", res, http.StatusOK)
	for sel, want := range map[string]string{
		`script[src$="chat.js"]`:           "/support/chat/static/chat.js",
		`link[rel="stylesheet"]`:           "/support/chat/static/chat.css",
		`#parley-widget form.parley-start`: "/support/chat/start",
	} {
		attr := "src"
		if strings.HasPrefix(sel, "link") {
			attr = "href"
		} else if strings.HasPrefix(sel, "#") {
			attr = "action"
		}
		if got := doc.Find(sel).AttrOr(attr, ""); got != want {
			t.Errorf("%s %s = %q, want %q", sel, attr, got, want)
		}
	}
	res, _ = v.get("/support/chat/static/chat.js")
	wantStatus(t, "chat.js under the prefix", res, http.StatusOK)

	// Parley answers its own errors; the site's error handler keeps the rest.
	res, doc = v.get("/support/chat/no-such-route")
	if res.StatusCode != http.StatusNotFound || doc.Find("#site-error").Length() != 0 {
		t.Errorf("unknown Parley route: status %d, site error page %v; want Parley's own 404", res.StatusCode, doc.Find("#site-error").Length() > 0)
	}
	res, doc = v.get("/support/chat/static/no-such-file.js")
	if res.StatusCode != http.StatusNotFound || doc.Find("#site-error").Length() != 0 || doc.Find("h1").Text() != "Not Found" {
		t.Errorf("unknown Parley file: status %d, heading %q; want Parley's own 404 page", res.StatusCode, doc.Find("h1").Text())
	}
	res, doc = v.get("/no-such-page")
	if res.StatusCode != http.StatusTeapot || doc.Find("#site-error").Length() != 1 {
		t.Errorf("unknown site page: status %d; want the site's own error handler (418)", res.StatusCode)
	}
	// Nor do Parley's security headers leak onto the site's pages.
	res, _ = v.get("/")
	if csp := res.Header.Get("Content-Security-Policy"); csp != "" {
		t.Errorf("the site's page got Parley's CSP %q; the site sets its own", csp)
	}

	// The console is under the prefix, and so is its cookie.
	res, doc = v.get("/support/agent/login")
	wantStatus(t, "console sign-in", res, http.StatusOK)
	token := doc.Find(`input[name="parley_csrf"]`).AttrOr("value", "")
	res, _ = v.post("/support/agent/login", url.Values{"parley_csrf": {token}, "name": {"alice"}, "password": {"alice-password"}})
	wantStatus(t, "sign in", res, http.StatusSeeOther)
	if loc := res.Header.Get("Location"); loc != "/support/agent" {
		t.Errorf("sign-in redirects to %q, want /support/agent", loc)
	}
	var agentCookie *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == "parley_agent" {
			agentCookie = c
		}
	}
	if agentCookie == nil || agentCookie.Path != "/support/agent" {
		t.Errorf("agent cookie = %v, want one on path /support/agent", agentCookie)
	}
	for _, path := range []string{"/support/agent", "/support/agent/"} {
		if res, doc := v.get(path); res.StatusCode != http.StatusOK || doc.Find(`body[data-agent-page="console"]`).Length() == 0 {
			t.Errorf("GET %s signed in: status %d, want the console", path, res.StatusCode)
		}
	}
}

// hostSite is an existing site: its own CSRF middleware on every route, its
// own session cookie for signed-in users, a form of its own, and Parley.
func hostSite(t *testing.T, cfg parley.Config) *httptest.Server {
	t.Helper()
	sessionStore := sessions.NewCookieStore([]byte("the host site's own session key, 32+"))
	signedIn := func(c echo.Context) (string, bool) {
		s, err := sessionStore.Get(c.Request(), "site_session")
		if err != nil {
			return "", false
		}
		user, _ := s.Values["user"].(string)
		return user, user != ""
	}
	cfg.Visitor = func(c echo.Context) (parley.Visitor, bool) {
		user, ok := signedIn(c)
		if !ok {
			return parley.Visitor{}, false
		}
		return parley.Visitor{ID: "u-" + user, FirstName: strings.ToUpper(user[:1]) + user[1:], Email: user + "@example.com"}, true
	}
	chat := newParley(t, cfg)

	e := echo.New()
	e.Use(middleware.CSRFWithConfig(middleware.CSRFConfig{TokenLookup: "form:_csrf", Skipper: chat.Skipper}))
	page := func(c echo.Context) error {
		token, _ := c.Get("csrf").(string)
		widget := chat.Widget(c)
		var b strings.Builder
		b.WriteString(`<html><body><form id="site-form"><input name="_csrf" value="` + token + `"></form>`)
		if err := widget.Render(c.Request().Context(), &b); err != nil {
			return err
		}
		b.WriteString(`</body></html>`)
		return c.HTML(http.StatusOK, b.String())
	}
	e.GET("/", page)
	e.GET("/account", page)
	e.POST("/login", func(c echo.Context) error {
		s, _ := sessionStore.New(c.Request(), "site_session")
		s.Values["user"] = c.FormValue("user")
		if err := s.Save(c.Request(), c.Response()); err != nil {
			return err
		}
		return c.Redirect(http.StatusSeeOther, "/account")
	})
	e.POST("/logout", func(c echo.Context) error {
		s, _ := sessionStore.New(c.Request(), "site_session")
		s.Options.MaxAge = -1
		if err := s.Save(c.Request(), c.Response()); err != nil {
			return err
		}
		return c.Redirect(http.StatusSeeOther, "/")
	})
	e.POST("/profile", func(c echo.Context) error {
		if _, ok := signedIn(c); !ok {
			return echo.ErrUnauthorized
		}
		return c.String(http.StatusOK, "saved")
	})
	chat.Mount(e)
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return srv
}

// siteToken and chatToken are the host's and Parley's CSRF tokens on a page.
func siteToken(doc *goquery.Document) string {
	return doc.Find(`#site-form input[name="_csrf"]`).AttrOr("value", "")
}

func chatToken(doc *goquery.Document) string {
	return doc.Find(`#parley-widget input[name="parley_csrf"]`).AttrOr("value", "")
}

func TestHostCSRFAndSessionKeepWorking(t *testing.T) {
	t.Parallel()
	srv := hostSite(t, testConfig(t))
	v := newClient(t, srv.URL)

	_, doc := v.get("/")
	res, _ := v.post("/login", url.Values{"_csrf": {siteToken(doc)}, "user": {"ada"}})
	wantStatus(t, "the site's sign-in with its token", res, http.StatusSeeOther)
	_, doc = v.get("/account")
	if siteToken(doc) == "" || chatToken(doc) == "" || siteToken(doc) == chatToken(doc) {
		t.Fatalf("site token %q, chat token %q: want two distinct tokens", siteToken(doc), chatToken(doc))
	}

	// The site's CSRF check still guards the site's forms...
	res, _ = v.post("/profile", url.Values{"_csrf": {"forged"}})
	wantStatus(t, "the site's form with a forged token", res, http.StatusForbidden)
	res, _ = v.post("/profile", url.Values{"_csrf": {siteToken(doc)}})
	wantStatus(t, "the site's form with its token", res, http.StatusOK)

	// ...Parley checks its own on its routes...
	res, _ = v.post("/chat/start", url.Values{"parley_csrf": {"forged"}, "return_to": {"/account"}})
	wantStatus(t, "Parley's form with a forged token", res, http.StatusForbidden)
	res, _ = v.post("/chat/start", url.Values{"parley_csrf": {chatToken(doc)}, "return_to": {"/account"}})
	wantStatus(t, "Parley's form with its token", res, http.StatusSeeOther)

	// ...and neither cookie clobbered the other.
	for _, name := range []string{"_csrf", "parley_csrf", "site_session"} {
		if v.cookie(name) == nil {
			t.Errorf("cookie %s is gone", name)
		}
	}
	res, _ = v.post("/profile", url.Values{"_csrf": {siteToken(doc)}})
	wantStatus(t, "the site's form after chatting (still signed in)", res, http.StatusOK)
}

func TestSignedInUserIsTheVisitor(t *testing.T) {
	t.Parallel()
	srv := hostSite(t, testConfig(t))
	signIn := func(user string) *client {
		v := newClient(t, srv.URL)
		_, doc := v.get("/")
		res, _ := v.post("/login", url.Values{"_csrf": {siteToken(doc)}, "user": {user}})
		wantStatus(t, "sign in as "+user, res, http.StatusSeeOther)
		return v
	}

	laptop := signIn("ada")
	_, doc := laptop.get("/account")
	if got := widgetState(doc); got != "start" {
		t.Fatalf("before a chat the widget shows %q, want start", got)
	}
	// The site knows Ada's name and email: no form, straight to the queue.
	res, doc := laptop.do(http.MethodPost, "/chat/start", url.Values{"parley_csrf": {chatToken(doc)}, "return_to": {"/account"}}, http.Header{"Hx-Request": {"true"}})
	wantStatus(t, "start", res, http.StatusOK)
	if got := widgetState(doc); got != "conversation" {
		t.Fatalf("after start the widget shows %q, want the conversation (no form for a signed-in user)", got)
	}
	if got := doc.Find(".parley-status").Text(); !strings.Contains(got, "Thanks, Ada!") {
		t.Errorf("status line = %q, want the site's name for the user", got)
	}
	if laptop.cookie("parley_chat") != nil {
		t.Error("a signed-in user's chat set a restore cookie; it should restore by the user")
	}
	res, _ = laptop.post("/chat/messages", url.Values{"parley_csrf": {chatToken(doc)}, "return_to": {"/account"}, "text": {"Sent from my laptop"}})
	wantStatus(t, "send", res, http.StatusSeeOther)

	// On another device where Ada signs in, the same chat comes back.
	phone := signIn("ada")
	_, doc = phone.get("/account")
	if got := doc.Find(".parley-log .parley-text").Text(); got != "Sent from my laptop" {
		t.Errorf("on the phone the transcript is %q, want Ada's message from the laptop", got)
	}
	// Nobody else sees it: not another user, not an anonymous visitor.
	_, doc = signIn("bob").get("/account")
	if got := widgetState(doc); got != "start" {
		t.Errorf("Bob's widget shows %q, want start", got)
	}
	_, doc = newClient(t, srv.URL).get("/")
	if got := widgetState(doc); got != "start" {
		t.Errorf("an anonymous visitor's widget shows %q, want start", got)
	}
	// Signed out, the laptop no longer shows Ada's chat.
	_, doc = laptop.get("/account")
	res, _ = laptop.post("/logout", url.Values{"_csrf": {siteToken(doc)}})
	wantStatus(t, "sign out", res, http.StatusSeeOther)
	_, doc = laptop.get("/")
	if got := widgetState(doc); got != "start" {
		t.Errorf("after signing out the widget shows %q, want start", got)
	}
}

func TestChatStartedBeforeSignInBecomesTheUsers(t *testing.T) {
	t.Parallel()
	srv := hostSite(t, testConfig(t))
	v := newClient(t, srv.URL)
	_, doc := v.get("/")
	res, _ := v.post("/chat/start", url.Values{"parley_csrf": {chatToken(doc)}, "return_to": {"/"}})
	wantStatus(t, "anonymous start", res, http.StatusSeeOther)
	_, doc = v.get("/")
	res, _ = v.post("/chat/register", url.Values{"parley_csrf": {chatToken(doc)}, "return_to": {"/"}, "first_name": {"Grace"}, "email": {"grace@example.com"}})
	wantStatus(t, "anonymous registration", res, http.StatusSeeOther)
	_, doc = v.get("/")
	chatID := doc.Find("#parley-widget").AttrOr("data-chat-id", "")

	res, _ = v.post("/login", url.Values{"_csrf": {siteToken(doc)}, "user": {"grace"}})
	wantStatus(t, "sign in", res, http.StatusSeeOther)
	_, doc = v.get("/account")
	if got := doc.Find("#parley-widget").AttrOr("data-chat-id", ""); got != chatID {
		t.Fatalf("after signing in the widget shows chat %q, want the one started before, %q", got, chatID)
	}
	// It is Grace's now: it follows her to another device.
	other := newClient(t, srv.URL)
	_, doc = other.get("/")
	res, _ = other.post("/login", url.Values{"_csrf": {siteToken(doc)}, "user": {"grace"}})
	wantStatus(t, "sign in elsewhere", res, http.StatusSeeOther)
	_, doc = other.get("/account")
	if got := doc.Find("#parley-widget").AttrOr("data-chat-id", ""); got != chatID {
		t.Errorf("on another device Grace's widget shows chat %q, want %q", got, chatID)
	}
}

func TestIPExtractorBelievesOnlyTrustedProxies(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name    string
		trusted []string
		peer    string
		want    string
	}{
		{"no proxy trusted", nil, "10.1.2.3:5000", "10.1.2.3"},
		{"from the trusted proxy", []string{"10.0.0.0/8"}, "10.1.2.3:5000", "203.0.113.9"},
		{"from a single trusted address", []string{"10.1.2.3"}, "10.1.2.3:5000", "203.0.113.9"},
		{"from anyone else", []string{"10.0.0.0/8"}, "192.0.2.4:5000", "192.0.2.4"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig(t)
			cfg.TrustedProxies = tt.trusted
			chat := newParley(t, cfg)
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.RemoteAddr = tt.peer
			req.Header.Set("X-Forwarded-For", "203.0.113.9")
			if got := chat.IPExtractor()(req); got != tt.want {
				t.Errorf("client address = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestCookieNamesAreConfigurable(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.Cookies = parley.CookieNames{Chat: "shop_chat", Agent: "shop_agent", CSRF: "shop_chat_csrf"}
	chat := newParley(t, cfg)
	e := echo.New()
	e.GET("/", func(c echo.Context) error {
		return layout("Home", chat.Assets(), chat.Widget(c)).Render(c.Request().Context(), c.Response())
	})
	chat.Mount(e)
	srv := httptest.NewServer(e)
	defer srv.Close()
	v := newClient(t, srv.URL)
	_, doc := v.get("/")
	v.post("/chat/start", url.Values{"parley_csrf": {chatToken(doc)}, "return_to": {"/"}})
	for _, name := range []string{"shop_chat", "shop_chat_csrf"} {
		if v.cookie(name) == nil {
			t.Errorf("no cookie %s", name)
		}
	}
	for _, name := range []string{"parley_chat", "parley_csrf"} {
		if v.cookie(name) != nil {
			t.Errorf("cookie %s set although renamed", name)
		}
	}
}

func TestCloseEndsBackgroundWork(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	chat, err := parley.New(context.Background(), testConfig(t))
	if err != nil {
		t.Fatalf("parley.New() = %v", err)
	}
	if err := chat.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	if err := chat.Close(); err != nil {
		t.Errorf("second Close() = %v, want nil", err)
	}
}

// syncBuffer is a log sink that goroutines may write to at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestPlainHTTPOriginsWarned: an http:// page off this machine can be
// changed on its way to the visitor; Parley says so at start, and keeps
// quiet about loopback, where plain HTTP is for trying it out.
func TestPlainHTTPOriginsWarned(t *testing.T) {
	var logs syncBuffer
	cfg := testConfig(t)
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	cfg.EmbedOrigins = []string{"http://shop.example", "http://127.0.0.1:8000", "https://blog.example"}
	cfg.AllowedOrigins = []string{"http://localhost:3000"}
	newParley(t, cfg)
	got := logs.String()
	if !strings.Contains(got, "level=WARN") || !strings.Contains(got, "origin=http://shop.example") {
		t.Errorf("log %q: want a warning naming http://shop.example", got)
	}
	for _, quiet := range []string{"127.0.0.1:8000", "localhost:3000", "blog.example"} {
		if strings.Contains(got, quiet) {
			t.Errorf("log %q: want no warning about %s", got, quiet)
		}
	}
}

// liveSite is a host site with Parley mounted, for tests of live
// connections.
func liveSite(t *testing.T, chat *parley.Parley) *httptest.Server {
	t.Helper()
	e := echo.New()
	e.GET("/", func(c echo.Context) error {
		return layout("Home", chat.Assets(), chat.Widget(c)).Render(c.Request().Context(), c.Response())
	})
	chat.Mount(e)
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return srv
}

// registeredVisitor starts and registers a chat on srv, and returns its
// client and the headers that open its transports.
func registeredVisitor(t *testing.T, srv *httptest.Server) (*client, http.Header) {
	t.Helper()
	v := newClient(t, srv.URL)
	_, doc := v.get("/")
	res, _ := v.post("/chat/start", url.Values{"parley_csrf": {chatToken(doc)}, "return_to": {"/"}})
	wantStatus(t, "start", res, http.StatusSeeOther)
	_, doc = v.get("/")
	res, _ = v.post("/chat/register", url.Values{"parley_csrf": {chatToken(doc)}, "return_to": {"/"}, "first_name": {"Ada"}, "email": {"ada@example.com"}})
	wantStatus(t, "register", res, http.StatusSeeOther)
	u, _ := url.Parse(srv.URL)
	header := http.Header{"Origin": {srv.URL}}
	for _, c := range v.http.Jar.Cookies(u) {
		header.Add("Cookie", c.Name+"="+c.Value)
	}
	return v, header
}

// dialChat opens a chat's WebSocket and reads its first frame.
func dialChat(t *testing.T, srv *httptest.Server, header http.Header) *websocket.Conn {
	t.Helper()
	conn, res, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/chat/ws?page=/", header)
	if err != nil {
		t.Fatalf("dial: %v (%v)", err, res)
	}
	if err := conn.WriteJSON(map[string]any{"type": "hello", "lastSeq": 0}); err != nil {
		t.Fatal(err)
	}
	var resume map[string]any
	if err := conn.ReadJSON(&resume); err != nil || resume["type"] != "resume" {
		t.Fatalf("first frame %v, %v; want resume", resume, err)
	}
	return conn
}

// TestSetupContextEndsEarly builds Parley under the host's usual setup
// timeout, which ends long before the server does: the context bounds the
// opening only, and chats go on after it; were it Parley's lifetime, every
// WebSocket would be refused and every long-poll answered at once, and the
// clients would spin.
func TestSetupContextEndsEarly(t *testing.T) {
	setup, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	chat := newParleyCtx(t, setup, testConfig(t))
	cancel() // the host's setup is over

	srv := liveSite(t, chat)
	_, header := registeredVisitor(t, srv)
	conn := dialChat(t, srv, header)
	defer conn.Close()
	if err := conn.WriteJSON(map[string]any{"type": "message", "clientId": "c-1", "text": "still here?"}); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	var seq float64
	for {
		var f map[string]any
		if err := conn.ReadJSON(&f); err != nil {
			t.Fatalf("waiting for the ack: %v", err)
		}
		if f["type"] == "ack" {
			seq, _ = f["seq"].(float64)
			break
		}
	}

	// A long-poll that is up to date waits for news, as it should.
	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/chat/poll?after=%d", srv.URL, int64(seq)), nil)
	req.Header = header.Clone()
	pollCtx, stopPoll := context.WithTimeout(t.Context(), time.Second)
	defer stopPoll()
	res, err := http.DefaultClient.Do(req.WithContext(pollCtx))
	if err == nil {
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		t.Fatalf("an up-to-date poll was answered at once: %d %s; want it to wait", res.StatusCode, body)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("poll: %v", err)
	}
}

// TestShutdownWithLiveSockets shuts Parley down with visitors' WebSockets
// open, as main does on SIGTERM: Shutdown closes them ("going away") and
// waits, and Close closes the store after, so none of them writes to a
// closed database.
func TestShutdownWithLiveSockets(t *testing.T) {
	var logs syncBuffer
	cfg := testConfig(t)
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	chat, err := parley.New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := liveSite(t, chat)

	// One visitor with many tabs open: their sockets all close at once.
	_, header := registeredVisitor(t, srv)
	const sockets = 12
	var conns []*websocket.Conn
	for range sockets {
		conns = append(conns, dialChat(t, srv, header))
	}

	shutdownCtx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := chat.Shutdown(shutdownCtx); err != nil {
		t.Fatalf("Shutdown() = %v", err)
	}
	for _, conn := range conns {
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				if !websocket.IsCloseError(err, websocket.CloseGoingAway) {
					t.Errorf("socket ended with %v, want close 1001 going away", err)
				}
				break
			}
		}
		conn.Close()
	}
	srv.Close()
	if err := chat.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	if strings.Contains(logs.String(), "database is closed") || strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("shutdown logged errors:\n%s", logs.String())
	}
}

// TestTwoInstancesServeMetrics builds two Parleys in one process, as a host
// with two sites might: each registers its metrics in a registry of its
// own, so neither panics on the other's names, and both serve them.
func TestTwoInstancesServeMetrics(t *testing.T) {
	for i, chat := range []*parley.Parley{newParley(t, testConfig(t)), newParley(t, testConfig(t))} {
		text := metricsText(t, chat)
		for _, name := range []string{"go_goroutines", "process_resident_memory_bytes", "parley_live_subscriptions", "parley_restore_render_seconds_count"} {
			if !strings.Contains(text, "\n"+name+" ") {
				t.Errorf("instance %d: metric %s missing", i, name)
			}
		}
	}
}
