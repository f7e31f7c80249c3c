package handlers_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/parley/parley/chatstate"
	"github.com/parley/parley/chatstate/sqlite"
	"github.com/parley/parley/handlers"
	"github.com/parley/parley/localization"
)

// Fixed cookie secrets, so tests can rotate keys between servers.
var (
	secretOld = []byte("old secret, at least thirty-two characters long")
	secretNew = []byte("new secret, at least thirty-two characters long")
)

const (
	chatCookie = "parley_chat"
	csrfCookie = "parley_csrf"
	baseURL    = "http://parley.test"
)

// env is one Parley deployment under test: a real SQLite store in
// t.TempDir, the real Service over it and the embedded catalogs. Servers
// built from it share the store, as restarted or rotated instances would.
type env struct {
	t     testing.TB
	store *faultyStore
	chats *chatstate.Service
	cats  *localization.Catalogs
	addrs atomic.Int32
}

func newEnv(t testing.TB) *env {
	t.Helper()
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "parley.db"))
	if err != nil {
		t.Fatalf("sqlite.Open() = %v, want nil", err)
	}
	store := &faultyStore{Store: db}
	t.Cleanup(func() { store.Close() })
	cats, err := localization.New(localization.Config{})
	if err != nil {
		t.Fatalf("localization.New() = %v, want nil", err)
	}
	return &env{
		t:     t,
		store: store,
		chats: chatstate.NewService(chatstate.Config{Store: store}),
		cats:  cats,
	}
}

// server builds the handlers with the given cookie secrets, newest first;
// none means [secretNew].
func (en *env) server(secrets ...[]byte) http.Handler {
	if len(secrets) == 0 {
		secrets = [][]byte{secretNew}
	}
	return newSite(handlers.Deps{
		Chats:          en.chats,
		Catalogs:       en.cats,
		SessionSecrets: secrets,
		Logger:         slog.New(slog.DiscardHandler),
	})
}

// catalog returns an embedded catalog by name.
func (en *env) catalog(name string) *localization.Catalog {
	en.t.Helper()
	cat, err := en.cats.Resolve(name)
	if err != nil {
		en.t.Fatalf("Resolve(%q) = %v", name, err)
	}
	return cat
}

// en returns the English string for key.
func (en *env) en(key string, args ...string) string {
	return en.catalog("en").T(key, args...)
}

// chat reads a chat from the store.
func (en *env) chat(id string) chatstate.Chat {
	en.t.Helper()
	c, err := en.chats.Chat(context.Background(), id)
	if err != nil {
		en.t.Fatalf("Chat(%s) = %v", id, err)
	}
	return c
}

// subscriptionsReach waits up to 5 s for the hub's count of subscriptions
// to satisfy ok, and reports whether it did: a live transport subscribes
// once it is parked or connected, and lets go once it has ended.
func (en *env) subscriptionsReach(ok func(n int) bool) bool {
	for deadline := time.Now().Add(5 * time.Second); !ok(en.chats.Hub().Stats().Subscriptions); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			return false
		}
	}
	return true
}

// events returns a chat's log, filtered to the given kinds (all when none).
func (en *env) events(id string, kinds ...chatstate.EventKind) []chatstate.Event {
	en.t.Helper()
	all, err := en.chats.Transcript(context.Background(), id)
	if err != nil {
		en.t.Fatalf("Transcript(%s) = %v", id, err)
	}
	if len(kinds) == 0 {
		return all
	}
	var out []chatstate.Event
	for _, ev := range all {
		for _, k := range kinds {
			if ev.Kind == k {
				out = append(out, ev)
			}
		}
	}
	return out
}

// chatCount is how many chats the store holds.
func (en *env) chatCount() int {
	en.t.Helper()
	chats, err := en.store.ListChats(context.Background(), chatstate.ChatFilter{})
	if err != nil {
		en.t.Fatalf("ListChats() = %v", err)
	}
	return len(chats)
}

// faultyStore is the real store with a switch that makes ChatByToken fail,
// as a store that is down would.
type faultyStore struct {
	chatstate.Store
	failRestore atomic.Bool
	// queueReads counts ListChats calls that read the waiting chats.
	queueReads atomic.Int64
	// chatReads counts reads of one chat by its id.
	chatReads atomic.Int64
	// afterTokenRead, when set, runs after each read of a chat by its
	// token, before the reader has it.
	afterTokenRead atomic.Pointer[func()]
	closeOnce      sync.Once
	closeErr       error
}

var errStoreDown = errors.New("store is down")

func (s *faultyStore) ListChats(ctx context.Context, f chatstate.ChatFilter) ([]chatstate.Chat, error) {
	if slices.Equal(f.Phases, []chatstate.Phase{chatstate.PhaseQueued}) {
		s.queueReads.Add(1)
	}
	return s.Store.ListChats(ctx, f)
}

func (s *faultyStore) Chat(ctx context.Context, id string) (chatstate.Chat, error) {
	s.chatReads.Add(1)
	return s.Store.Chat(ctx, id)
}

func (s *faultyStore) ChatByToken(ctx context.Context, hash []byte) (chatstate.Chat, error) {
	if s.failRestore.Load() {
		return chatstate.Chat{}, errStoreDown
	}
	c, err := s.Store.ChatByToken(ctx, hash)
	if hook := s.afterTokenRead.Load(); hook != nil {
		(*hook)()
	}
	return c, err
}

// Close closes the real store once, so a test may close it early.
func (s *faultyStore) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.Store.Close() })
	return s.closeErr
}

// visitor is one browser: a cookie jar, the CSRF token of the last form it
// saw, and its language.
type visitor struct {
	t       testing.TB
	srv     http.Handler
	addr    string
	lang    string
	cookies map[string]*http.Cookie
	csrf    string
	// header is set on every request, as a proxy in front would.
	header http.Header
}

func (en *env) visitor(srv http.Handler) *visitor {
	n := en.addrs.Add(1)
	return &visitor{
		t:       en.t,
		srv:     srv,
		addr:    fmt.Sprintf("192.0.2.%d:%d", n%250+1, 40000+n),
		cookies: map[string]*http.Cookie{},
	}
}

// reqOpt changes a request before it is served.
type reqOpt func(*http.Request)

// hx marks a request as an HTMX-style swap.
func hx(r *http.Request) { r.Header.Set("HX-Request", "true") }

func header(name, value string) reqOpt {
	return func(r *http.Request) { r.Header.Set(name, value) }
}

// response is a served response with its body read.
type response struct {
	t       testing.TB
	status  int
	header  http.Header
	cookies []*http.Cookie
	body    []byte
}

func (v *visitor) do(req *http.Request, opts ...reqOpt) *response {
	v.t.Helper()
	req.RemoteAddr = v.addr
	if v.lang != "" {
		req.Header.Set("Accept-Language", v.lang)
	}
	for _, c := range v.cookies {
		req.AddCookie(c)
	}
	for name, values := range v.header {
		req.Header[name] = values
	}
	for _, opt := range opts {
		opt(req)
	}
	rec := httptest.NewRecorder()
	v.srv.ServeHTTP(rec, req)
	res := rec.Result()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		v.t.Fatalf("read body: %v", err)
	}
	for _, c := range res.Cookies() {
		if c.MaxAge < 0 {
			delete(v.cookies, c.Name)
		} else {
			v.cookies[c.Name] = &http.Cookie{Name: c.Name, Value: c.Value}
		}
	}
	for _, name := range []string{csrfCookie, "__Host-" + csrfCookie} {
		if c := v.cookies[name]; c != nil && v.csrf == "" {
			v.csrf = c.Value
		}
	}
	return &response{t: v.t, status: res.StatusCode, header: res.Header, cookies: res.Cookies(), body: body}
}

// get loads a page or fragment, remembering the CSRF token its forms carry.
func (v *visitor) get(path string, opts ...reqOpt) *response {
	v.t.Helper()
	res := v.do(httptest.NewRequest(http.MethodGet, baseURL+path, nil), opts...)
	if res.status == http.StatusOK {
		if token, ok := res.doc().Find(`#parley-widget input[name="parley_csrf"]`).First().Attr("value"); ok && token != "" {
			v.csrf = token
		}
	}
	return res
}

// post submits a form with the visitor's CSRF token, unless the form
// carries its own parley_csrf.
func (v *visitor) post(path string, form url.Values, opts ...reqOpt) *response {
	v.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form["parley_csrf"]; !ok {
		form.Set("parley_csrf", v.csrf)
	}
	return v.postRaw(path, form.Encode(), opts...)
}

// postRaw submits an already encoded form body as is.
func (v *visitor) postRaw(path, body string, opts ...reqOpt) *response {
	v.t.Helper()
	req := httptest.NewRequest(http.MethodPost, baseURL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return v.do(req, opts...)
}

// startChat loads from, clicks "Start chat" and follows the redirect.
func (v *visitor) startChat(from string) *goquery.Selection {
	v.t.Helper()
	v.get(from)
	res := v.post("/chat/start", url.Values{"return_to": {from}})
	res.wantRedirect(from)
	w := v.get(from).widget()
	if got := w.AttrOr("data-state", ""); got != "registration" {
		v.t.Fatalf("after start, data-state = %q, want registration", got)
	}
	return w
}

// register starts a chat and submits a valid registration; it returns the
// chat's id.
func (v *visitor) register(from, firstName string) string {
	v.t.Helper()
	v.startChat(from)
	res := v.post("/chat/register", url.Values{
		"return_to":  {from},
		"first_name": {firstName},
		"last_name":  {"Lovelace"},
		"email":      {"ada@example.com"},
		"subject":    {"Sizing"},
	})
	res.wantRedirect(from)
	w := v.get(from).widget()
	if got := w.AttrOr("data-phase", ""); got != string(chatstate.PhaseQueued) {
		v.t.Fatalf("after register, data-phase = %q, want queued", got)
	}
	return w.AttrOr("data-chat-id", "")
}

// say sends a message through the compose form.
func (v *visitor) say(from, text string) {
	v.t.Helper()
	clientID := v.get(from).widget().Find(`form.parley-compose input[name="client_id"]`).AttrOr("value", "")
	res := v.post("/chat/messages", url.Values{"return_to": {from}, "client_id": {clientID}, "text": {text}})
	res.wantRedirect(from)
}

func (r *response) doc() *goquery.Document {
	r.t.Helper()
	doc, err := goquery.NewDocumentFromReader(bytes.NewReader(r.body))
	if err != nil {
		r.t.Fatalf("parse HTML: %v", err)
	}
	return doc
}

// widget returns the one #parley-widget of the response.
func (r *response) widget() *goquery.Selection {
	r.t.Helper()
	w := r.doc().Find("section#parley-widget")
	if w.Length() != 1 {
		r.t.Fatalf("response (status %d) has %d #parley-widget, want 1:\n%s", r.status, w.Length(), r.body)
	}
	return w
}

func (r *response) wantStatus(want int) {
	r.t.Helper()
	if r.status != want {
		r.t.Fatalf("status = %d, want %d; body:\n%s", r.status, want, r.body)
	}
}

func (r *response) wantRedirect(to string) {
	r.t.Helper()
	r.wantStatus(http.StatusSeeOther)
	if got := r.header.Get("Location"); got != to {
		r.t.Fatalf("Location = %q, want %q", got, to)
	}
}

// cookie returns the Set-Cookie for name, or nil.
func (r *response) cookie(name string) *http.Cookie {
	for _, c := range r.cookies {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// wantFragment checks that the response is the widget alone, as a swap
// needs it: no document around it.
func (r *response) wantFragment() *goquery.Selection {
	r.t.Helper()
	doc := r.doc()
	if n := doc.Find("head").Children().Length(); n != 0 {
		r.t.Errorf("fragment has %d elements in <head>, want 0 (a whole page?)", n)
	}
	top := doc.Find("body").Children()
	if top.Length() != 1 || !top.Is("section#parley-widget") {
		r.t.Fatalf("fragment's top-level elements = %d (%v), want only section#parley-widget:\n%s",
			top.Length(), goquery.NodeName(top), r.body)
	}
	return top
}

// wantPage checks that the response is a whole demo page.
func (r *response) wantPage() *goquery.Selection {
	r.t.Helper()
	doc := r.doc()
	if doc.Find("head title").Length() != 1 || doc.Find("main").Length() != 1 {
		r.t.Fatalf("response is not a whole page:\n%s", r.body)
	}
	return r.widget()
}

// line is one transcript line as rendered.
type line struct {
	Seq    string
	Kind   string
	From   string
	Author string
	Text   string
}

func transcript(w *goquery.Selection) []line {
	var lines []line
	w.Find("ol.parley-log > li").Each(func(_ int, li *goquery.Selection) {
		l := line{Seq: li.AttrOr("data-seq", ""), Author: li.Find(".parley-author").Text(), Text: li.Find(".parley-text").Text()}
		for _, k := range []string{"message", "notice"} {
			if li.HasClass("parley-" + k) {
				l.Kind = k
			}
		}
		for _, f := range []string{"visitor", "agent", "system"} {
			if li.HasClass("parley-from-" + f) {
				l.From = f
			}
		}
		lines = append(lines, l)
	})
	return lines
}

// wantStart checks the widget offers only the start button.
func wantStart(t *testing.T, en *env, w *goquery.Selection) {
	t.Helper()
	if got := w.AttrOr("data-state", ""); got != "start" {
		t.Errorf("data-state = %q, want start", got)
	}
	if got := w.AttrOr("data-chat-id", ""); got != "" {
		t.Errorf("data-chat-id = %q, want empty", got)
	}
	// Besides the start form, only the launcher's and the minimize button's.
	forms := w.Find("form:not(.parley-ui)")
	if forms.Length() != 1 || forms.AttrOr("action", "") != "/chat/start" || forms.AttrOr("method", "") != "post" {
		t.Errorf("widget forms = %d (first action %q), want only the start form", forms.Length(), forms.AttrOr("action", ""))
	}
	if got, want := strings.TrimSpace(forms.Find("button[type=submit]").Text()), en.en("widget.start"); got != want {
		t.Errorf("start button = %q, want %q", got, want)
	}
	if n := w.Find("ol.parley-log, textarea, input[name=first_name]").Length(); n != 0 {
		t.Errorf("start widget has %d conversation or registration controls, want 0", n)
	}
}

// wantError checks the widget's coded error and its localized line.
func wantError(t *testing.T, w *goquery.Selection, name, line string) {
	t.Helper()
	if got := w.AttrOr("data-error-name", ""); got != name {
		t.Errorf("data-error-name = %q, want %q", got, name)
	}
	alert := w.Find(`p.parley-error[role="alert"]`)
	if name == "" {
		if alert.Length() != 0 {
			t.Errorf("widget shows error line %q, want none", alert.Text())
		}
		return
	}
	if got := strings.TrimSpace(alert.Text()); got != line {
		t.Errorf("error line = %q, want %q", got, line)
	}
}

// wantCleared checks the response deletes the restore cookie.
func wantCleared(t *testing.T, res *response, cleared bool) {
	t.Helper()
	c := res.cookie(chatCookie)
	got := c != nil && c.MaxAge < 0
	if got != cleared {
		t.Errorf("restore cookie cleared = %v (Set-Cookie %v), want %v", got, c, cleared)
	}
}
