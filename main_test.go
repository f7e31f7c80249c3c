package main

import (
	"log/slog"
	"testing"
)

// TestProfilerOnLoopbackOnly: profiles show what the server does, so the
// profiler listens on loopback addresses only.
func TestProfilerOnLoopbackOnly(t *testing.T) {
	logger := slog.New(slog.DiscardHandler)
	for _, addr := range []string{"0.0.0.0:0", ":0", "192.0.2.1:6060", "localhost:6060", "127.0.0.1"} {
		if stop, err := serveProfiler(addr, logger); err == nil {
			stop()
			t.Errorf("serveProfiler(%q) = nil error, want a refusal", addr)
		}
	}
	stop, err := serveProfiler("127.0.0.1:0", logger)
	if err != nil {
		t.Fatalf("serveProfiler(127.0.0.1:0) = %v", err)
	}
	stop()
}
