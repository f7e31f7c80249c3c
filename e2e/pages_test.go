package e2e

import (
	"io"
	"net/http"
	"testing"
)

// TestPagesStateTheirLength loads pages rendered by the demo site, by
// Parley's own handlers and by the existing-site example: each is rendered
// whole before it is sent, so it must say how long it is and come in one
// piece, not in chunks.
func TestPagesStateTheirLength(t *testing.T) {
	t.Parallel()
	demo := startServer(t, "")
	example := startExample(t)
	for _, url := range []string{
		demo.URL + "/",
		demo.URL + "/products",
		demo.URL + "/no-such-page", // the demo's error page
		demo.URL + "/agent/login",
		example.URL + "/",
	} {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("%s: %v", url, err)
		}
		if len(body) == 0 {
			t.Errorf("%s: %d with an empty body", url, resp.StatusCode)
		}
		if resp.ContentLength != int64(len(body)) || len(resp.TransferEncoding) > 0 {
			t.Errorf("%s: Content-Length %d, Transfer-Encoding %v for a body of %d bytes; want the length, no chunks",
				url, resp.ContentLength, resp.TransferEncoding, len(body))
		}
	}
}
