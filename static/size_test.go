package static

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// maxScriptGzip is DESIGN §8's budget for chat.js: 10 KB gzipped. The
// script-tag embed keeps to it too, with everything it loads but the
// widget's HTML: embed.js carries chat.js and the widget's styles.
const maxScriptGzip = 10 * 1024

// TestScriptSizes keeps chat.js and embed.js, as they are served, within
// the budget gzipped at the best compression.
func TestScriptSizes(t *testing.T) {
	for _, tt := range []struct {
		name    string
		handler http.Handler
	}{
		{"chat.js", Handler()},
		{"embed.js", EmbedScript()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			tt.handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/"+tt.name, nil))
			if rec.Code != http.StatusOK {
				t.Fatalf("GET /%s = %d, want 200", tt.name, rec.Code)
			}
			served := rec.Body.Bytes()
			if got := gzipSize(t, served); got > maxScriptGzip {
				t.Errorf("%s is served as %d bytes gzipped (%d raw), over the %d byte budget", tt.name, got, len(served), maxScriptGzip)
			} else {
				t.Logf("%s: served as %d bytes gzipped, %d raw (budget %d)", tt.name, got, len(served), maxScriptGzip)
			}
		})
	}
}

func gzipSize(t *testing.T, b []byte) int {
	t.Helper()
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Len()
}

// TestServedScripts: every script builds; what is served is minified
// (no comments, no source names), typed, and revalidated by its ETag; each
// build of chat.js carries its own kind of page's code and not the other's.
func TestServedScripts(t *testing.T) {
	if _, err := build(); err != nil {
		t.Fatalf("build() = %v", err)
	}
	get := func(h http.Handler, path string, header ...string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	tests := []struct {
		name        string
		handler     http.Handler
		path        string
		has, hasNot []string
	}{
		{"chat.js", Handler(), "/chat.js", []string{"window.chat", "restoreChat"}, []string{"attachShadow", "PARLEY_EMBED", "origin_not_allowed"}},
		{"embed.js", EmbedScript(), "/embed.js", []string{"window.chat", "attachShadow", ":host", "all:initial!important"}, []string{"PARLEY_", "rem;", "rem)", "parley-popup"}},
		{"agent.js", Handler(), "/agent.js", []string{"WebSocket"}, nil},
		{"popup.js", Handler(), "/popup.js", []string{"startChatInThisWindow"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := get(tt.handler, tt.path)
			body := rec.Body.String()
			etag := rec.Header().Get("ETag")
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/javascript") || etag == "" {
				t.Fatalf("GET %s: Content-Type %q, ETag %q; want JavaScript with an ETag", tt.path, ct, etag)
			}
			if strings.Contains(body, "\n//") || strings.Contains(body, "/*") || strings.Count(body, "\n") > 5 {
				t.Errorf("GET %s is not minified:\n%.300s", tt.path, body)
			}
			for _, s := range tt.has {
				if !strings.Contains(body, s) {
					t.Errorf("GET %s lacks %q", tt.path, s)
				}
			}
			for _, s := range tt.hasNot {
				if strings.Contains(body, s) {
					t.Errorf("GET %s has %q", tt.path, s)
				}
			}
			if rec := get(tt.handler, tt.path, "If-None-Match", etag); rec.Code != http.StatusNotModified {
				t.Errorf("revalidating %s with the ETag = %d, want 304", tt.path, rec.Code)
			}
		})
	}
}

// TestEmbedScriptHeaders: embed.js is the same for every page, so any page
// may load it (a crossorigin script tag, a page under COEP), and caches may
// keep it briefly.
func TestEmbedScriptHeaders(t *testing.T) {
	rec := httptest.NewRecorder()
	EmbedScript().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/embed.js", nil))
	for name, want := range map[string]string{
		"Access-Control-Allow-Origin":  "*",
		"Cross-Origin-Resource-Policy": "cross-origin",
		"Cache-Control":                "public, max-age=300",
	} {
		if got := rec.Header().Get(name); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	if rec.Header().Get("Set-Cookie") != "" {
		t.Error("embed.js sets a cookie")
	}
}

// TestRemToPx: the embed's styles give rem lengths in px, at 16 px to the
// rem, since the page's root font size is the site's.
func TestRemToPx(t *testing.T) {
	got := remToPx("a { width: min(22rem, 100vw); margin: 0.05rem .5rem 1rem; font: 15px/1.4 x; } b { width: 2remx; }")
	want := "a { width: min(352px, 100vw); margin: 0.8px 8px 16px; font: 15px/1.4 x; } b { width: 2remx; }"
	if got != want {
		t.Errorf("remToPx() = %q, want %q", got, want)
	}
}
