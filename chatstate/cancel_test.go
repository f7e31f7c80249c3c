package chatstate_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parley/parley/chatstate"
	"github.com/parley/parley/chatstate/postgres"
	"github.com/parley/parley/chatstate/postgres/pgtest"
	"github.com/parley/parley/chatstate/sqlite"
)

// cancellingStore cancels the request's context in the middle of a
// commit: after the change is made, before it is stored, as a proxy that
// stalls and a tab that closes do.
type cancellingStore struct {
	chatstate.Store
	cancel context.CancelFunc
}

func (s *cancellingStore) Update(ctx context.Context, id string, change func(*chatstate.Chat) ([]chatstate.Event, error)) (chatstate.Chat, []chatstate.Event, error) {
	return s.Store.Update(ctx, id, func(c *chatstate.Chat) ([]chatstate.Event, error) {
		evs, err := change(c)
		if s.cancel != nil {
			s.cancel()
		}
		return evs, err
	})
}

// TestCommitOutlivesItsRequest sends a message whose request is cancelled
// mid-commit, on both backends. Its outcome must be known: it is stored
// and acknowledged, and the client's retry with the same client id (on
// the next resume) gets the same line, stored once. ("commit: context
// canceled" left a sender not knowing whether its line was kept.)
func TestCommitOutlivesItsRequest(t *testing.T) {
	backends := map[string]func(t *testing.T) chatstate.Store{
		"sqlite": func(t *testing.T) chatstate.Store {
			store, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "parley.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { store.Close() })
			return store
		},
		"postgres": func(t *testing.T) chatstate.Store {
			store, err := postgres.Open(t.Context(), pgtest.URL(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { store.Close() })
			return store
		},
	}
	for name, open := range backends {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			store := &cancellingStore{Store: open(t)}
			svc := chatstate.NewService(chatstate.Config{Store: store})
			chat, _ := start(t, svc)
			if _, err := svc.Register(t.Context(), chat.ID, ada); err != nil {
				t.Fatal(err)
			}

			ctx, cancel := context.WithCancel(t.Context())
			store.cancel = cancel
			sent, err := svc.SendMessage(ctx, chat.ID, visitor, "c-cancelled", "Is my order on its way?")
			store.cancel = nil
			if err != nil {
				t.Fatalf("SendMessage cancelled mid-commit = %v, want the line stored and acknowledged", err)
			}
			again, err := svc.SendMessage(t.Context(), chat.ID, visitor, "c-cancelled", "Is my order on its way?")
			if err != nil {
				t.Fatalf("the retry = %v", err)
			}
			if again.Seq != sent.Seq {
				t.Errorf("the retry got seq %d, want the stored line's %d", again.Seq, sent.Seq)
			}
			events, err := svc.EventsAfter(t.Context(), chat.ID, 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			copies := 0
			for _, e := range events {
				if strings.Contains(e.Text, "Is my order on its way?") {
					copies++
				}
			}
			if copies != 1 {
				t.Errorf("the log holds the line %d times, want once", copies)
			}

			// A request already gone before its change began changes nothing.
			gone, cancelGone := context.WithCancel(t.Context())
			cancelGone()
			if _, err := svc.SendMessage(gone, chat.ID, visitor, "c-gone", "never sent"); err == nil {
				t.Error("SendMessage with a request already gone = nil error, want it refused")
			}
			after, err := svc.EventsAfter(t.Context(), chat.ID, 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			if len(after) != len(events) {
				t.Errorf("a request already gone added %d events", len(after)-len(events))
			}
		})
	}
}
