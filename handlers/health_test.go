package handlers_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/parley/parley/handlers"
)

// lockedBuffer is a log sink that handlers may write to at once.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// take returns what was logged since the last take.
func (b *lockedBuffer) take() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.buf.String()
	b.buf.Reset()
	return s
}

// TestHealthLogsStartingAsInfo: a check that has not passed yet is a server
// starting up (the listener connecting to PostgreSQL); /healthz answers 503
// and the log says so at INFO. Once a check has passed, its failure is an
// ERROR.
func TestHealthLogsStartingAsInfo(t *testing.T) {
	en := newEnv(t)
	var failing atomic.Bool
	failing.Store(true)
	var logs lockedBuffer
	site := newSite(handlers.Deps{
		Chats:          en.chats,
		Catalogs:       en.cats,
		SessionSecrets: [][]byte{secretNew},
		Checks: []handlers.HealthCheck{{Name: "listener", Check: func(context.Context) error {
			if failing.Load() {
				return errors.New("not listening yet")
			}
			return nil
		}}},
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	health := func() int {
		rec := httptest.NewRecorder()
		site.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
		return rec.Code
	}

	if got := health(); got != http.StatusServiceUnavailable {
		t.Fatalf("starting: /healthz = %d, want 503", got)
	}
	if got := logs.take(); !strings.Contains(got, "level=INFO") || strings.Contains(got, "level=ERROR") {
		t.Errorf("starting: logged %q, want INFO and no ERROR", got)
	}
	failing.Store(false)
	if got := health(); got != http.StatusOK {
		t.Fatalf("ready: /healthz = %d, want 200", got)
	}
	failing.Store(true)
	if got := health(); got != http.StatusServiceUnavailable {
		t.Fatalf("failing after ready: /healthz = %d, want 503", got)
	}
	if got := logs.take(); !strings.Contains(got, "level=ERROR") {
		t.Errorf("failing after ready: logged %q, want an ERROR", got)
	}
}
