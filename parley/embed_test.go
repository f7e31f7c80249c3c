package parley_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"
)

// TestEmbedOrigins: Config.EmbedOrigins takes origins as browsers send
// them, and lets exactly those sites' pages read the widget, under the
// site's own prefix too, and load embed.js from there.
func TestEmbedOrigins(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.EmbedOrigins = []string{"https://shop.example", "http://localhost:8080", "https://[::1]:8443"}
	chat := newParley(t, cfg)
	e := echo.New()
	chat.Mount(e.Group("/support"))

	for origin, allowed := range map[string]bool{
		"https://shop.example":  true,
		"http://localhost:8080": true,
		"https://[::1]:8443":    true,
		"https://evil.example":  false,
		"http://shop.example":   false,
	} {
		req := httptest.NewRequest(http.MethodGet, "/support/chat/widget?return_to=/", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		want := http.StatusForbidden
		if allowed {
			want = http.StatusOK
		}
		if rec.Code != want {
			t.Errorf("GET the widget from %s = %d, want %d", origin, rec.Code, want)
		}
	}

	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/support/chat/embed.js", nil))
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "text/javascript; charset=utf-8" {
		t.Errorf("GET /support/chat/embed.js = %d %q, want the script", rec.Code, rec.Header().Get("Content-Type"))
	}
}
