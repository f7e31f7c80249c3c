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
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		durations = append(durations, time.Since(start))
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d", rec.Code)
		}
		size = rec.Body.Len()
	}
	slices.Sort(durations)
	b.ReportMetric(float64(durations[len(durations)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(size), "html-bytes")
}
