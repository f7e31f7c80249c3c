package localization

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// fakeSource is a configured URL whose behaviour a test can change. It
// records every request's If-None-Match header.
type fakeSource struct {
	mu      sync.Mutex
	handler http.HandlerFunc
	inm     []string
}

func (f *fakeSource) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	h := f.handler
	f.inm = append(f.inm, r.Header.Get("If-None-Match"))
	f.mu.Unlock()
	h(w, r)
}

func (f *fakeSource) set(h http.HandlerFunc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.handler = h
}

// ifNoneMatch returns the If-None-Match header of every request so far.
func (f *fakeSource) ifNoneMatch() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.inm...)
}

// serve starts a test server for f, closed when the test ends.
func serve(t *testing.T, f *fakeSource) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return srv
}

// stall returns a handler that answers nothing until the request is
// cancelled or the test ends. Call it after serve, so that the handler is
// released before the server's Close waits for it.
func stall(t *testing.T) http.HandlerFunc {
	t.Helper()
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	return stallUntil(release)
}

// stallUntil returns a handler that answers nothing until the request is
// cancelled or release is closed.
func stallUntil(release <-chan struct{}) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}
}

// body returns a handler that serves data as a catalog.
func body(data []byte, etag string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if etag != "" {
			w.Header().Set("ETag", etag)
		}
		w.Write(data)
	}
}

// testLogger logs to the test's output, shown on failure or with -v.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// newCatalogs builds catalogs with one source, name → srv.
func newCatalogs(t *testing.T, name string, srv *httptest.Server, cfg Config) *Catalogs {
	t.Helper()
	cfg.Sources = map[string]string{name: srv.URL + "/" + name + ".json"}
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	cs, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// want is what a catalog should say.
type want struct {
	name, lang, dir, start string // start is T("widget.start")
}

func checkCatalog(t *testing.T, cat *Catalog, w want) {
	t.Helper()
	got := want{cat.Name(), cat.Lang(), cat.Dir(), cat.T("widget.start")}
	if got != w {
		t.Errorf("catalog = %+v, want %+v", got, w)
	}
}

// TestRefreshFailures serves each failure first (the source keeps its
// embedded fallback), then a good catalog, then the failure again (the
// source keeps the last good catalog).
func TestRefreshFailures(t *testing.T) {
	const maxBytes = 4 << 10
	good := catalogJSON(t, "fr", "ltr", frenchMessages)
	huge := catalogJSON(t, "fr", "ltr", map[string]string{"widget.intro": strings.Repeat("é", maxBytes)})
	if len(good) > maxBytes || len(huge) <= maxBytes {
		t.Fatalf("test catalogs are %d and %d bytes, want under and over %d", len(good), len(huge), maxBytes)
	}
	tests := []struct {
		name    string
		failure func(t *testing.T) http.HandlerFunc
	}{
		{"500", func(*testing.T) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "oops", http.StatusInternalServerError)
			}
		}},
		{"404", func(*testing.T) http.HandlerFunc { return http.NotFound }},
		{"304 without If-None-Match", func(*testing.T) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("If-None-Match") == "" {
					w.WriteHeader(http.StatusNotModified)
				}
			}
		}},
		{"stalls past the timeout", stall},
		{"garbage", func(*testing.T) http.HandlerFunc { return body([]byte("<html>Bad gateway</html>"), "") }},
		{"wrong shape", func(*testing.T) http.HandlerFunc { return body([]byte(`{"messages": ["Start chat"]}`), "") }},
		{"bad direction", func(t *testing.T) http.HandlerFunc {
			return body(catalogJSON(t, "fr", "sideways", frenchMessages), "")
		}},
		{"oversized with Content-Length", func(*testing.T) http.HandlerFunc { return body(huge, "") }},
		{"oversized, streamed", func(*testing.T) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				// Flushing first makes the response chunked, without a
				// Content-Length to reject it by.
				w.Write(huge[:10])
				w.(http.Flusher).Flush()
				w.Write(huge[10:])
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeSource{}
			srv := serve(t, f)
			failure := tt.failure(t)
			cs := newCatalogs(t, "fr", srv, Config{FetchTimeout: 300 * time.Millisecond, MaxBytes: maxBytes})
			ctx := t.Context()
			english := want{"fr", "en", "ltr", "Start chat"}
			french := want{"fr", "fr", "ltr", "Démarrer le chat"}

			f.set(failure)
			start := time.Now()
			cs.Refresh(ctx)
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("Refresh took %v despite a 300ms FetchTimeout", d)
			}
			checkCatalog(t, mustResolve(t, cs, "fr"), english)

			f.set(body(good, ""))
			cs.Refresh(ctx)
			checkCatalog(t, mustResolve(t, cs, "fr"), french)

			f.set(failure)
			cs.Refresh(ctx)
			checkCatalog(t, mustResolve(t, cs, "fr"), french)
		})
	}
}

// TestFallback checks what a source serves before any fetch succeeds.
func TestFallback(t *testing.T) {
	tests := []struct {
		source string
		want   want
	}{
		{"fr", want{"fr", "en", "ltr", "Start chat"}},
		{"support", want{"support", "en", "ltr", "Start chat"}},
		{"de", want{"de", "de", "ltr", "Chat starten"}},
		{"de-AT", want{"de-AT", "de", "ltr", "Chat starten"}},
		{"ar", want{"ar", "ar", "rtl", "ابدأ المحادثة"}},
	}
	for _, tt := range tests {
		t.Run(tt.source, func(t *testing.T) {
			t.Parallel()
			f := &fakeSource{handler: func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "down", http.StatusServiceUnavailable)
			}}
			cs := newCatalogs(t, tt.source, serve(t, f), Config{})
			checkCatalog(t, mustResolve(t, cs, tt.source), tt.want)
			cs.Refresh(t.Context())
			checkCatalog(t, mustResolve(t, cs, tt.source), tt.want)
			if got := len(f.ifNoneMatch()); got != 1 {
				t.Errorf("server saw %d requests, want 1", got)
			}
		})
	}
}

// TestRefreshETag walks a source through its versions: a 304 to the
// matching If-None-Match keeps the cached catalog, a new ETag brings new
// strings.
func TestRefreshETag(t *testing.T) {
	f := &fakeSource{}
	srv := serve(t, f)
	cs := newCatalogs(t, "fr", srv, Config{})
	version := func(etag, start string) http.HandlerFunc {
		data := catalogJSON(t, "fr", "ltr", map[string]string{"widget.start": start})
		return func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("If-None-Match") == etag {
				w.WriteHeader(http.StatusNotModified)
				return
			}
			body(data, etag)(w, r)
		}
	}
	steps := []struct {
		name      string
		handler   http.HandlerFunc
		wantStart string
		wantINM   string // If-None-Match the server saw
		wantSame  bool   // the catalog is the very one from the step before
	}{
		{"first fetch", version(`"v1"`, "Démarrer"), "Démarrer", "", false},
		{"not modified", version(`"v1"`, "Démarrer"), "Démarrer", `"v1"`, true},
		{"new version", version(`"v2"`, "Commencer"), "Commencer", `"v1"`, false},
		{"new version not modified", version(`"v2"`, "Commencer"), "Commencer", `"v2"`, true},
		{"server forgets ETags", body(catalogJSON(t, "fr", "ltr", map[string]string{"widget.start": "Go"}), ""), "Go", `"v2"`, false},
		{"no ETag, no If-None-Match", body(catalogJSON(t, "fr", "ltr", map[string]string{"widget.start": "Go"}), ""), "Go", "", true},
	}
	prev := mustResolve(t, cs, "fr")
	for i, step := range steps {
		f.set(step.handler)
		cs.Refresh(t.Context())
		cat := mustResolve(t, cs, "fr")
		if got := cat.T("widget.start"); got != step.wantStart {
			t.Errorf("%s: T(widget.start) = %q, want %q", step.name, got, step.wantStart)
		}
		if got := cat == prev; got != step.wantSame {
			t.Errorf("%s: catalog unchanged = %v, want %v", step.name, got, step.wantSame)
		}
		if inm := f.ifNoneMatch(); len(inm) != i+1 || inm[i] != step.wantINM {
			t.Errorf("%s: If-None-Match headers = %q, want the last to be %q", step.name, inm, step.wantINM)
		}
		prev = cat
	}
}

// TestRefreshPlaceholderMismatch checks that a fetched string with the
// wrong placeholders is replaced by English, and logged.
func TestRefreshPlaceholderMismatch(t *testing.T) {
	var logs bytes.Buffer
	messages := map[string]string{
		"conversation.waiting":   "Merci, {nom} !",
		"error.message_too_long": "Votre message est trop long : {max} caractères au maximum.",
	}
	f := &fakeSource{handler: body(catalogJSON(t, "fr", "ltr", messages), "")}
	cs := newCatalogs(t, "fr", serve(t, f), Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	cs.Refresh(t.Context())

	cat := mustResolve(t, cs, "fr")
	for _, tt := range []struct{ key, want string }{
		{"conversation.waiting", "Thanks, Ana! An agent will be with you shortly."},
		{"error.message_too_long", "Votre message est trop long : 5 caractères au maximum."},
	} {
		if got := cat.T(tt.key, "name", "Ana", "max", "5"); got != tt.want {
			t.Errorf("T(%q) = %q, want %q", tt.key, got, tt.want)
		}
	}
	if got := logs.String(); !strings.Contains(got, "key=conversation.waiting") {
		t.Errorf("logs = %q, want a line about conversation.waiting", got)
	}
}

// TestRun checks that Run fetches, refreshes, and returns with every
// goroutine it started once ctx is cancelled, also mid-fetch.
func TestRun(t *testing.T) {
	tests := []struct {
		name     string
		handler  func(release <-chan struct{}) http.HandlerFunc
		requests int // wait for this many requests before cancelling
	}{
		{"refreshes until cancelled", func(<-chan struct{}) http.HandlerFunc {
			return body(catalogJSON(t, "fr", "ltr", frenchMessages), "")
		}, 3},
		{"cancelled mid-fetch", stallUntil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
			f := &fakeSource{}
			srv := httptest.NewServer(f)
			// Closed before the leak check, which t.Cleanup would run after.
			defer srv.Close()
			release := make(chan struct{})
			defer close(release) // before srv.Close, which waits for handlers
			f.set(tt.handler(release))
			cs := newCatalogs(t, "fr", srv, Config{RefreshEvery: 10 * time.Millisecond, FetchTimeout: time.Minute})

			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			done := make(chan struct{})
			go func() {
				defer close(done)
				cs.Run(ctx)
			}()
			deadline := time.Now().Add(10 * time.Second)
			for len(f.ifNoneMatch()) < tt.requests {
				if time.Now().After(deadline) {
					t.Fatalf("server saw %d requests, want %d", len(f.ifNoneMatch()), tt.requests)
				}
				time.Sleep(5 * time.Millisecond)
			}
			cancel()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("Run did not return after ctx was cancelled")
			}
		})
	}
}

func mustResolve(t *testing.T, cs *Catalogs, option string) *Catalog {
	t.Helper()
	cat, err := cs.Resolve(option)
	if err != nil {
		t.Fatalf("Resolve(%q): %v", option, err)
	}
	return cat
}
