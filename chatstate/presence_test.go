package chatstate_test

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley/parley/chatstate"
	"github.com/parley/parley/chatstate/sqlite"
	"github.com/parley/parley/chatstate/storetest"
)

// countingStore counts the writes that reach the store: each is a synced
// SQLite transaction.
type countingStore struct {
	chatstate.Store
	updates atomic.Int64
}

func (s *countingStore) Update(ctx context.Context, id string, change func(*chatstate.Chat) ([]chatstate.Event, error)) (chatstate.Chat, []chatstate.Event, error) {
	s.updates.Add(1)
	return s.Store.Update(ctx, id, change)
}

// TestHeartbeatsWriteNothing: thousands of heartbeats of connected visitors
// cost no store write, and still keep their chats from ending; a chat the
// store thinks offline whose visitor is here gets that written, once.
func TestHeartbeatsWriteNothing(t *testing.T) {
	t.Parallel()
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "parley.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	store := &countingStore{Store: db}
	clk := storetest.NewClock(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	s := chatstate.NewService(chatstate.Config{Store: store, Now: clk.Now, DefaultMaxOffline: time.Minute})
	ctx := context.Background()
	here, away := queued(t, s), queued(t, s)

	before := store.updates.Load()
	for range 90 {
		clk.Advance(time.Second)
		for range 50 {
			if err := s.Seen(ctx, here.ID); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.ExpireOffline(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// 4,500 heartbeats over 90 s: one write ends the away chat, one writes
	// the present visitor's time when the store first thinks it offline.
	if n := store.updates.Load() - before; n > 3 {
		t.Errorf("4,500 heartbeats and 90 sweeps made %d store writes, want at most 3", n)
	}
	if got, _ := s.Chat(ctx, here.ID); got.Phase != chatstate.PhaseQueued || clk.Now().Sub(got.VisitorSeenAt) > time.Minute {
		t.Errorf("present chat: phase %s, stored last seen %v ago; want queued and seen within its limit", got.Phase, clk.Now().Sub(got.VisitorSeenAt))
	}
	if got, _ := s.Chat(ctx, away.ID); got.Phase != chatstate.PhaseEnded || got.EndReason != chatstate.ReasonOffline {
		t.Errorf("away chat: phase %s, reason %q; want ended offline", got.Phase, got.EndReason)
	}
}

// TestRestartWaitsForVisitors: presence lives in the process. After a
// restart (a new service over the same store), a chat whose visitor was
// connected to the old process is not ended before its visitor has had
// time to reconnect; a visitor who does reconnect keeps the chat, one who
// does not loses it once that time is up.
func TestRestartWaitsForVisitors(t *testing.T) {
	t.Parallel()
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "parley.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	clk := storetest.NewClock(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	ctx := context.Background()
	old := chatstate.NewService(chatstate.Config{Store: db, Now: clk.Now, DefaultMaxOffline: 10 * time.Second})
	back, gone := queued(t, old), queued(t, old)
	for range 30 {
		clk.Advance(time.Second)
		old.Seen(ctx, back.ID)
		old.Seen(ctx, gone.ID)
	}

	// The old process dies; the new one starts on the same store.
	restarted := chatstate.NewService(chatstate.Config{Store: db, Now: clk.Now, DefaultMaxOffline: 10 * time.Second})
	clk.Advance(3 * time.Second)
	if n, err := restarted.ExpireOffline(ctx); err != nil || n != 0 {
		t.Fatalf("ExpireOffline() just after the restart = %d, %v; want 0 ended", n, err)
	}
	for range 60 {
		clk.Advance(time.Second)
		restarted.Seen(ctx, back.ID)
		if _, err := restarted.ExpireOffline(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := restarted.Chat(ctx, back.ID); got.Phase != chatstate.PhaseQueued {
		t.Errorf("the visitor who reconnected: chat %s, want queued", got.Phase)
	}
	if got, _ := restarted.Chat(ctx, gone.ID); got.Phase != chatstate.PhaseEnded {
		t.Errorf("the visitor who did not: chat %s, want ended", got.Phase)
	}
}

// TestConnectedNeedsNoHeartbeat: a visitor holding a connection is present
// for as long as it is held, with no heartbeat; each connection's release
// counts once, however often it is called, and the chat ends only when its
// last connection has been gone for longer than its limit.
func TestConnectedNeedsNoHeartbeat(t *testing.T) {
	t.Parallel()
	s, clk := newService(t, chatstate.Config{DefaultMaxOffline: time.Minute})
	ctx := context.Background()
	phase := func(c chatstate.Chat) chatstate.Phase {
		t.Helper()
		got, err := s.Chat(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got.Phase
	}
	sweepFor := func(d time.Duration) {
		t.Helper()
		for range int(d / time.Second) {
			clk.Advance(time.Second)
			if _, err := s.ExpireOffline(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	tabs, left := queued(t, s), queued(t, s)
	firstTab, secondTab := s.Connected(tabs), s.Connected(tabs)
	s.Connected(left)()

	sweepFor(10 * time.Minute)
	if got := phase(tabs); got != chatstate.PhaseQueued {
		t.Fatalf("visitor holding two connections for 10 min with no heartbeat: chat %s, want queued", got)
	}
	if got := phase(left); got != chatstate.PhaseEnded {
		t.Errorf("visitor whose connection closed 10 min ago: chat %s, want ended", got)
	}

	firstTab()
	firstTab() // a second call must not release the other tab's connection
	sweepFor(5 * time.Minute)
	if got := phase(tabs); got != chatstate.PhaseQueued {
		t.Fatalf("visitor still holding one connection: chat %s, want queued", got)
	}
	secondTab()
	sweepFor(30 * time.Second)
	if got := phase(tabs); got != chatstate.PhaseQueued {
		t.Errorf("30 s after the last connection closed, within the 1 min limit: chat %s, want queued", got)
	}
	sweepFor(45 * time.Second)
	if got := phase(tabs); got != chatstate.PhaseEnded {
		t.Errorf("75 s after the last connection closed: chat %s, want ended", got)
	}
}
