package static

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// maxScriptGzip is DESIGN §8's budget for chat.js: 10 KB gzipped.
const maxScriptGzip = 10 * 1024

// TestChatScriptSize keeps chat.js, as Handler serves it, within its
// budget gzipped at the best compression.
func TestChatScriptSize(t *testing.T) {
	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/chat.js", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /chat.js = %d, want 200", rec.Code)
	}
	served := rec.Body.Bytes()
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := zw.Write(served); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if got := buf.Len(); got > maxScriptGzip {
		t.Errorf("chat.js is served as %d bytes gzipped (%d raw), over the %d byte budget", got, len(served), maxScriptGzip)
	} else {
		t.Logf("chat.js: served as %d bytes gzipped, %d raw (budget %d)", got, len(served), maxScriptGzip)
	}
}

// TestCompactScript keeps code and line breaks and drops comment lines and
// indentation, and a compacted script is served with its type and an ETag
// that a revalidation matches.
func TestCompactScript(t *testing.T) {
	src := "// a comment\n(function () {\n  \"use strict\";\n  // another\n  var url = \"http://x\"; // kept: code first\n\n  return url;\n})();\n"
	want := "(function () {\n\"use strict\";\nvar url = \"http://x\"; // kept: code first\nreturn url;\n})();\n"
	if got := string(compactScript([]byte(src))); got != want {
		t.Errorf("compactScript() = %q, want %q", got, want)
	}

	h := Handler()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/chat.js", nil))
	body, _ := io.ReadAll(rec.Body)
	etag := rec.Header().Get("ETag")
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/javascript") || etag == "" {
		t.Fatalf("GET /chat.js: Content-Type %q, ETag %q; want JavaScript with an ETag", ct, etag)
	}
	if bytes.Contains(body, []byte("\n//")) || !bytes.Contains(body, []byte("window.chat")) {
		t.Error("the served chat.js still has comment lines, or lost its code")
	}
	req := httptest.NewRequest(http.MethodGet, "/chat.js", nil)
	req.Header.Set("If-None-Match", etag)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusNotModified {
		t.Errorf("revalidating with the ETag = %d, want 304", rec.Code)
	}
}
