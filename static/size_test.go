package static

import (
	"bytes"
	"compress/gzip"
	"testing"
)

// maxScriptGzip is DESIGN §8's budget for chat.js: 10 KB gzipped.
const maxScriptGzip = 10 * 1024

// TestChatScriptSize keeps chat.js within its budget, measured as
// `gzip -9 -c static/chat.js | wc -c` measures it (give or take the header).
func TestChatScriptSize(t *testing.T) {
	src, err := files.ReadFile("chat.js")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := zw.Write(src); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if got := buf.Len(); got > maxScriptGzip {
		t.Errorf("chat.js is %d bytes gzipped (%d raw), over the %d byte budget", got, len(src), maxScriptGzip)
	} else {
		t.Logf("chat.js: %d bytes gzipped, %d raw (budget %d)", got, len(src), maxScriptGzip)
	}
}
