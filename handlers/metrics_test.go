package handlers_test

import (
	"bufio"
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/parley/parley/handlers"
)

// metricValues reads Prometheus text into name → value.
func metricValues(t *testing.T, body []byte) map[string]string {
	t.Helper()
	values := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, value, ok := strings.Cut(line, " ")
		if !ok {
			t.Fatalf("malformed metric line %q", line)
		}
		values[name] = value
	}
	return values
}

func TestMetrics(t *testing.T) {
	en := newEnv(t)
	srv := en.server()
	sub := en.chats.Hub().Subscribe("some-chat", 1)
	defer sub.Close()

	get := func(remoteAddr string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, baseURL+"/metrics", nil)
		req.RemoteAddr = remoteAddr
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		return rec
	}
	rec := get("127.0.0.1:40000")
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics from loopback = %d, want 200", rec.Code)
	}
	values := metricValues(t, rec.Body.Bytes())
	if got := values["parley_live_subscriptions"]; got != "1" {
		t.Errorf("parley_live_subscriptions = %q, want 1 (one open subscription)", got)
	}
	for _, name := range []string{"parley_deliveries_total", "parley_lagging_subscribers_total", "parley_goroutines", "parley_heap_bytes"} {
		if _, ok := values[name]; !ok {
			t.Errorf("metric %s missing", name)
		}
	}
	sub.Close()
	if got := metricValues(t, get("[::1]:40000").Body.Bytes())["parley_live_subscriptions"]; got != "0" {
		t.Errorf("after Close, parley_live_subscriptions = %q, want 0", got)
	}
	if rec := get("192.0.2.7:40000"); rec.Code != http.StatusNotFound {
		t.Errorf("GET /metrics from another machine = %d, want 404", rec.Code)
	}
	// Through a proxy on this machine, the client is somewhere else.
	req := httptest.NewRequest(http.MethodGet, baseURL+"/metrics", nil)
	req.RemoteAddr = "127.0.0.1:40000"
	req.Header.Set("X-Forwarded-For", "203.0.113.9")
	rec = httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	if rec.Code != http.StatusNotFound {
		t.Errorf("GET /metrics forwarded by a local proxy = %d, want 404", rec.Code)
	}
}

func TestMetricsToken(t *testing.T) {
	en := newEnv(t)
	srv := newSite(handlers.Deps{Chats: en.chats, Catalogs: en.cats, SessionSecrets: [][]byte{secretNew}, MetricsToken: "s3cret-scraper-token"})
	for _, tt := range []struct {
		name, peer, auth string
		want             int
	}{
		{"token from anywhere", "192.0.2.7:40000", "Bearer s3cret-scraper-token", http.StatusOK},
		{"wrong token", "192.0.2.7:40000", "Bearer guess", http.StatusNotFound},
		{"no token, even from this machine", "127.0.0.1:40000", "", http.StatusNotFound},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, baseURL+"/metrics", nil)
			req.RemoteAddr = tt.peer
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, req)
			if rec.Code != tt.want {
				t.Errorf("GET /metrics = %d, want %d", rec.Code, tt.want)
			}
		})
	}
}
