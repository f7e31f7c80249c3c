package e2e

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/parley/parley/parley"
)

// liveRequests records the live transports' requests (WebSocket handshakes
// and long-polls) as they end, with their status.
type liveRequests struct {
	mu   sync.Mutex
	seen []liveRequest
}

type liveRequest struct {
	path   string
	status int
	at     time.Time
}

func (l *liveRequests) record(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		err := next(c)
		if p := c.Request().URL.Path; strings.HasSuffix(p, "/poll") || strings.HasSuffix(p, "/ws") {
			l.mu.Lock()
			l.seen = append(l.seen, liveRequest{p, c.Response().Status, time.Now()})
			l.mu.Unlock()
		}
		return err
	}
}

// since are the requests to path that ended at from or later.
func (l *liveRequests) since(path string, from time.Time) []liveRequest {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []liveRequest
	for _, r := range l.seen {
		if r.path == path && !r.at.Before(from) {
			out = append(out, r)
		}
	}
	return out
}

// startGoSite runs a host site of Parley's Go API in this process, so that
// the test decides when Parley begins to shut down: shutdown does that.
func startGoSite(t *testing.T, requests *liveRequests) (url string, shutdown func()) {
	t.Helper()
	chat, err := parley.New(t.Context(), parley.Config{
		SQLitePath:  filepath.Join(t.TempDir(), "chat.db"),
		SessionKeys: [][]byte{[]byte(testSessionKey)},
		Agents:      []parley.Agent{{Name: apiAgentName, Password: apiAgentPassword}},
		Logger:      slog.New(slog.DiscardHandler),
		// Its visitors chat with no agent online.
		QueueWithoutAgents: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	e.Use(requests.record)
	chat.Mount(e)
	e.GET("/", func(c echo.Context) error {
		return hostPage(chat.AssetsNoRestore(), chat.Widget(c)).Render(c.Request().Context(), c.Response())
	})
	srv := httptest.NewServer(e)
	t.Cleanup(func() {
		srv.Close()
		if err := chat.Close(); err != nil {
			t.Errorf("close Parley: %v", err)
		}
	})
	// As a host does before its server's Shutdown: the server goes on
	// serving, and every live connection is told that it is closing.
	shutdown = func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := chat.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown() = %v", err)
		}
	}
	return srv.URL, shutdown
}

// hostPage is a host site's page with the chat's assets and widget.
func hostPage(assets, widget templ.Component) templ.Component {
	return templ.ComponentFunc(func(ctx context.Context, w io.Writer) error {
		if _, err := io.WriteString(w, `<!DOCTYPE html><html lang="en"><head><title>Shop</title>`); err != nil {
			return err
		}
		if err := assets.Render(ctx, w); err != nil {
			return err
		}
		if _, err := io.WriteString(w, `</head><body><main><h1>Shop</h1></main>`); err != nil {
			return err
		}
		if err := widget.Render(ctx, w); err != nil {
			return err
		}
		_, err := io.WriteString(w, `</body></html>`)
		return err
	})
}

// While Parley shuts down, the widget and the console are told so (503 with
// Retry-After, or a WebSocket closed as going away) and wait before they try
// again, rather than ask again at once while the server goes.
func TestClientsBackOffFromClosingServer(t *testing.T) {
	t.Parallel()
	requests := &liveRequests{}
	url, shutdown := startGoSite(t, requests)
	b := newBrowser(t)

	visitors := map[string]string{
		"/chat/poll": "{embedded: true, disableWebSockets: true}",
		"/chat/ws":   "{embedded: true}",
	}
	for path, options := range visitors {
		p := b.newPage(t)
		installSite(p, siteSetup{})
		p.navigate(url + "/")
		startEmbedded(t, p, options, "Ada")
		waitUntil(t, p, "the live transport", transportUp(path))
	}
	for path, query := range map[string]string{"/agent/poll": "?transport=longpoll", "/agent/ws": ""} {
		p := b.newPage(t)
		installSite(p, siteSetup{})
		p.navigate(url + "/agent/login")
		p.fillField("Name", apiAgentName)
		p.fillField("Password", apiAgentPassword)
		p.clickButtonAndWaitLoad("Sign in")
		p.navigate(url + "/agent" + query)
		p.waitFor(queueRole, queueName)
		waitUntil(t, p, "the console's live feed", transportUp(path))
	}

	closed := time.Now()
	shutdown()
	const window = 2 * time.Second
	time.Sleep(window)

	for _, path := range []string{"/chat/poll", "/chat/ws", "/agent/poll", "/agent/ws"} {
		got := requests.since(path, closed)
		var in []liveRequest
		for _, r := range got {
			if r.at.Before(closed.Add(window)) {
				in = append(in, r)
			}
		}
		// The poll waiting when the server began to close is answered
		// then; a client that backs off asks again after a second at the
		// least, and after Retry-After (2 s) for a poll.
		if len(in) > 2 {
			t.Errorf("%s: %d requests in the %v after the server began to close, want 2 at most", path, len(in), window)
		}
		t.Logf("%s: %d requests in the %v after the server began to close", path, len(in), window)
		var statuses []int
		for _, r := range in {
			statuses = append(statuses, r.status)
		}
		if strings.HasSuffix(path, "/poll") && !slices.Contains(statuses, 503) {
			t.Errorf("%s: answered %v after the server began to close; want a poll answered 503", path, statuses)
		}
	}
}

// transportUp is a check, for waitUntil, that the page's live transport to
// path is connected: an open WebSocket, or a long-poll under way.
func transportUp(path string) string {
	if strings.HasSuffix(path, "/ws") {
		return `e2e.live.some(s => s.readyState === 1)`
	}
	return `performance.getEntriesByType("resource").some(e => e.name.includes("` + path + `"))` +
		` || e2e.fetches.some(f => f.includes("` + path + `"))`
}
