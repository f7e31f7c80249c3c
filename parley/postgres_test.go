package parley_test

import (
	"cmp"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/parley/parley/chatstate"
	"github.com/parley/parley/chatstate/postgres"
	"github.com/parley/parley/chatstate/postgres/pgtest"
	"github.com/parley/parley/parley"
)

// TestPostgres runs Parley on PostgreSQL (Config.DatabaseURL): a chat
// started through one Parley is restored, transcript and all, by another
// opened on the same database, as after a restart.
func TestPostgres(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.SQLitePath, cfg.DatabaseURL = "", pgtest.URL(t)
	first := hostSite(t, cfg)
	v := newClient(t, first.URL)

	_, doc := v.get("/")
	res, _ := v.post("/chat/start", url.Values{"parley_csrf": {chatToken(doc)}, "return_to": {"/"}})
	wantStatus(t, "start", res, http.StatusSeeOther)
	_, doc = v.get("/")
	res, _ = v.post("/chat/register", url.Values{"parley_csrf": {chatToken(doc)}, "return_to": {"/"},
		"first_name": {"Grace"}, "email": {"grace@example.com"}})
	wantStatus(t, "register", res, http.StatusSeeOther)
	_, doc = v.get("/")
	res, _ = v.post("/chat/messages", url.Values{"parley_csrf": {chatToken(doc)}, "return_to": {"/"},
		"text": {"Kept in PostgreSQL"}})
	wantStatus(t, "send", res, http.StatusSeeOther)
	_, doc = v.get("/")
	chatID := doc.Find("#parley-widget").AttrOr("data-chat-id", "")
	if chatID == "" {
		t.Fatalf("after sending the widget shows %q and no chat", widgetState(doc))
	}

	// The cookie jar keys cookies by host, not port: the second server
	// gets the first one's restore cookie.
	v.base = hostSite(t, cfg).URL
	_, doc = v.get("/")
	if got := doc.Find("#parley-widget").AttrOr("data-chat-id", ""); got != chatID {
		t.Fatalf("the second Parley shows chat %q (%s), want %q", got, widgetState(doc), chatID)
	}
	if got := doc.Find(".parley-log .parley-text").Text(); !strings.Contains(got, "Kept in PostgreSQL") {
		t.Errorf("the second Parley's transcript is %q, want the message sent through the first", got)
	}
}

// TestInstancesShareLimits runs three Parleys on one database, as three
// processes behind a load balancer: the limits that protect what they
// share (chat starts, agent sign-in) count every instance's requests, so a
// client that spreads its attempts over the instances gets no more.
func TestInstancesShareLimits(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.SQLitePath, cfg.DatabaseURL = "", pgtest.URL(t)
	var sites []string
	for range 3 {
		sites = append(sites, hostSite(t, cfg).URL)
	}

	// Sign-in: after five wrong guesses a name is under attack, and an
	// address that guessed three times for it is held up.
	guesser := newClient(t, sites[0])
	guesser.get("/agent/login")
	csrf := guesser.cookie("parley_csrf")
	if csrf == nil {
		t.Fatal("no CSRF cookie from the sign-in page")
	}
	var codes []int
	for i := range 6 {
		guesser.base = sites[i%3]
		res, _ := guesser.post("/agent/login", url.Values{"parley_csrf": {csrf.Value}, "name": {"alice"}, "password": {"guess"}})
		codes = append(codes, res.StatusCode)
	}
	want := []int{401, 401, 401, 401, 401, 429}
	if !slices.Equal(codes, want) {
		t.Errorf("six wrong sign-ins spread over three instances answered %v, want %v", codes, want)
	}

	// Chat starts: five at once per address, then one per 5 s.
	codes = nil
	for i := range 6 {
		v := newClient(t, sites[i%3])
		_, doc := v.get("/")
		res, _ := v.post("/chat/start", url.Values{"parley_csrf": {chatToken(doc)}, "return_to": {"/"}})
		codes = append(codes, res.StatusCode)
	}
	want = []int{303, 303, 303, 303, 303, 429}
	if !slices.Equal(codes, want) {
		t.Errorf("six chat starts from one address spread over three instances answered %v, want %v", codes, want)
	}
}

// TestHealthReportsListener: with PostgreSQL, /healthz names the database
// and the listener that hears the other instances' commits.
func TestHealthReportsListener(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.SQLitePath, cfg.DatabaseURL = "", pgtest.URL(t)
	chat := newParley(t, cfg)
	e := echo.New()
	e.GET("/healthz", chat.Health)
	deadline := time.Now().Add(10 * time.Second)
	for {
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
		if rec.Code == http.StatusOK {
			if want := "ok\ndatabase: ok\nlistener: ok\n"; rec.Body.String() != want {
				t.Errorf("GET /healthz = %q, want %q", rec.Body.String(), want)
			}
			return
		}
		if !strings.Contains(rec.Body.String(), "listener: failing") || time.Now().After(deadline) {
			t.Fatalf("GET /healthz = %d %q, want 200 once the listener listens", rec.Code, rec.Body.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// tracingStore wraps a store as a host's tracing or metrics layer would:
// it passes on the chat methods, and says what it wraps.
type tracingStore struct {
	chatstate.Store
	calls atomic.Int64
}

func (s *tracingStore) Chat(ctx context.Context, id string) (chatstate.Chat, error) {
	s.calls.Add(1)
	return s.Store.Chat(ctx, id)
}

func (s *tracingStore) Unwrap() chatstate.Store { return s.Store }

// TestWrappedStoreStaysShared runs three Parleys on one database, each
// through a wrapper of its PostgreSQL store: Parley asks the store what
// it can do rather than checking its type, so the wrapped instances still
// share their limits and hear each other.
func TestWrappedStoreStaysShared(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.URL(t)
	var sites []string
	var first *postgres.Store
	for range 3 {
		store, err := postgres.Open(t.Context(), dbURL)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { store.Close() })
		first = cmp.Or(first, store)
		cfg := testConfig(t)
		cfg.SQLitePath, cfg.Store = "", &tracingStore{Store: store}
		sites = append(sites, hostSite(t, cfg).URL)
	}
	codes := []int{}
	for i := range 6 {
		v := newClient(t, sites[i%3])
		_, doc := v.get("/")
		res, _ := v.post("/chat/start", url.Values{"parley_csrf": {chatToken(doc)}, "return_to": {"/"}})
		codes = append(codes, res.StatusCode)
	}
	if want := []int{303, 303, 303, 303, 303, 429}; !slices.Equal(codes, want) {
		t.Errorf("six chat starts from one address spread over three wrapped instances answered %v, want %v", codes, want)
	}

	cfg := testConfig(t)
	cfg.SQLitePath, cfg.Store = "", &tracingStore{Store: first}
	e := echo.New()
	e.GET("/healthz", newParley(t, cfg).Health)
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if !strings.Contains(rec.Body.String(), "\nlistener: ") {
		t.Errorf("GET /healthz = %q, want the listener that hears the other instances", rec.Body.String())
	}
}

// halfSharedStore passes on the shared store's limits and hides the rest,
// as a careless wrapper would.
type halfSharedStore struct {
	chatstate.Store
	shared *postgres.Store
}

func (s halfSharedStore) TakeToken(ctx context.Context, key string, perSecond float64, burst int) (bool, error) {
	return s.shared.TakeToken(ctx, key, perSecond, burst)
}

func (s halfSharedStore) HasToken(ctx context.Context, key string, perSecond float64, burst int) (bool, error) {
	return s.shared.HasToken(ctx, key, perSecond, burst)
}

// TestHalfSharedStoreRefused: a store that offers part of sharing would
// leave instances out of step without a word; New refuses it instead.
func TestHalfSharedStoreRefused(t *testing.T) {
	t.Parallel()
	store, err := postgres.Open(t.Context(), pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	cfg := testConfig(t)
	cfg.SQLitePath, cfg.Store = "", halfSharedStore{Store: store, shared: store}
	chat, err := parley.New(t.Context(), cfg)
	if err == nil {
		chat.Close()
		t.Fatal("parley.New() = nil error, want one saying the store is shared only in part")
	}
	if !strings.Contains(err.Error(), "shared only in part") {
		t.Errorf("parley.New() = %q, want it to say the store is shared only in part", err)
	}
}
