package handlers_test

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"
)

// BenchmarkRestorePage300 measures what DESIGN §8 targets: a page render
// that restores a chat of 300 messages from the cookie (p99 ≤ 10 ms, HTML
// ≤ 25 KB, CPU ≤ 5× a page without a chat), beside that page without a
// chat in the same run.
func BenchmarkRestorePage300(b *testing.B) {
	en := newEnv(b)
	srv := en.server()
	v := en.visitor(srv)
	longChat(b, en, v, 300)
	b.Run("restore", func(b *testing.B) { benchPage(b, srv, v) })
	b.Run("no-chat", func(b *testing.B) { benchPage(b, srv, en.visitor(srv)) })
}

// benchPage serves /pricing to v again and again.
func benchPage(b *testing.B, srv http.Handler, v *visitor) {
	req := httptest.NewRequest(http.MethodGet, baseURL+"/pricing", nil)
	for _, c := range v.cookies {
		req.AddCookie(c)
	}
	durations := make([]time.Duration, 0, b.N)
	size := 0
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		w := &connWriter{header: http.Header{}}
		srv.ServeHTTP(w, req)
		durations = append(durations, time.Since(start))
		if w.status != http.StatusOK {
			b.Fatalf("status %d", w.status)
		}
		size = w.written
	}
	slices.Sort(durations)
	b.ReportMetric(float64(durations[len(durations)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(size), "html-bytes")
}

// connWriter stands for a connection's response writer: it counts the
// bytes and keeps none. httptest.ResponseRecorder keeps them in a buffer
// that grows as they come: nearly a third of a restore's time in this
// benchmark, and no part of a server's.
type connWriter struct {
	header  http.Header
	status  int
	written int
}

func (w *connWriter) Header() http.Header { return w.header }

func (w *connWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

// Flush is a no-op: the test site's widget flushes when it has rendered,
// as a component rendered into a response does.
func (w *connWriter) Flush() {}

func (w *connWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	w.written += len(p)
	return len(p), nil
}
