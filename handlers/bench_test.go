package handlers_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"
)

// BenchmarkRestorePage300 measures what DESIGN §8 targets: a page render
// that restores a chat of 300 messages from the cookie (p99 ≤ 10 ms).
func BenchmarkRestorePage300(b *testing.B) {
	en := newEnv(b)
	srv := en.server()
	v := en.visitor(srv)
	id := v.register("/", "Ada")
	ctx := context.Background()
	if _, err := en.chats.Accept(ctx, id, agentName); err != nil {
		b.Fatal(err)
	}
	for i := range 300 {
		if _, err := en.chats.SendMessage(ctx, id, agentParty(), fmt.Sprintf("m%d", i), fmt.Sprintf("message number %d", i)); err != nil {
			b.Fatal(err)
		}
	}
	req := httptest.NewRequest(http.MethodGet, baseURL+"/pricing", nil)
	for _, c := range v.cookies {
		req.AddCookie(c)
	}
	durations := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		durations = append(durations, time.Since(start))
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d", rec.Code)
		}
	}
	slices.Sort(durations)
	b.ReportMetric(float64(durations[len(durations)*99/100].Microseconds())/1000, "p99-ms")
}
