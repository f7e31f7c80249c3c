package main

import (
	"io"
	"log/slog"
	"net/http"
	"testing"
)

// TestProfilerOnLoopbackOnly: profiles show what the server does, so the
// profiler listens on loopback addresses only, answers only requests that
// name it (not a rebound DNS name), and has no command line to show.
func TestProfilerOnLoopbackOnly(t *testing.T) {
	logger := slog.New(slog.DiscardHandler)
	for _, addr := range []string{"0.0.0.0:0", ":0", "192.0.2.1:6060", "localhost:6060", "127.0.0.1"} {
		if _, stop, err := serveProfiler(addr, logger); err == nil {
			stop()
			t.Errorf("serveProfiler(%q) = nil error, want a refusal", addr)
		}
	}
	bound, stop, err := serveProfiler("127.0.0.1:0", logger)
	if err != nil {
		t.Fatalf("serveProfiler(127.0.0.1:0) = %v", err)
	}
	defer stop()
	get := func(host, path string) int {
		req, _ := http.NewRequest(http.MethodGet, "http://"+bound.String()+path, nil)
		req.Host = host
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	if got := get(bound.String(), "/debug/pprof/"); got != http.StatusOK {
		t.Errorf("GET /debug/pprof/ = %d, want 200", got)
	}
	if got := get("attacker.example:80", "/debug/pprof/"); got != http.StatusMisdirectedRequest {
		t.Errorf("GET /debug/pprof/ with Host attacker.example = %d, want 421", got)
	}
	if got := get(bound.String(), "/debug/pprof/cmdline"); got != http.StatusNotFound {
		t.Errorf("GET /debug/pprof/cmdline = %d, want 404: it shows the flags, secrets included", got)
	}
}
