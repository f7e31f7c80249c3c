package sqlite_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"go.uber.org/goleak"

	"github.com/parley/parley/chatstate"
	"github.com/parley/parley/chatstate/sqlite"
	"github.com/parley/parley/chatstate/storetest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// open opens a store on a new file under t.TempDir; storetest closes it.
func open(t *testing.T) chatstate.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "parley.db"))
	if err != nil {
		t.Fatalf("Open() = %v, want nil", err)
	}
	return s
}

func TestStore(t *testing.T) {
	storetest.Run(t, open)
}

func TestOpenPaths(t *testing.T) {
	tests := []struct {
		name string
		rel  string
	}{
		{"plain", "parley.db"},
		{"missing parent directories", filepath.Join("a", "b", "parley.db")},
		{"URI characters in the path", filepath.Join("we?ird #dir%20", "parley.db")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), tt.rel)
			s, err := sqlite.Open(t.Context(), path)
			if err != nil {
				t.Fatalf("Open(%q) = %v, want nil", path, err)
			}
			defer s.Close()
			if err := s.CreateChat(t.Context(), chatstate.Chat{ID: "c"}, []byte("h")); err != nil {
				t.Fatalf("CreateChat() = %v, want nil", err)
			}
			if _, err := os.Stat(path); err != nil {
				t.Errorf("database file: %v", err)
			}
		})
	}
}

// TestReopen checks that a chat and its log survive closing and reopening
// the file, as they must survive a restart, and that reopening migrates
// nothing twice.
func TestReopen(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "data", "parley.db")
	hash := sha256.Sum256([]byte("restore token"))
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatalf("Open() = %v, want nil", err)
	}
	at := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	c := chatstate.Chat{
		ID:         "chat-1",
		Phase:      chatstate.PhaseQueued,
		Visitor:    chatstate.Registration{FirstName: "Ada", Email: "ada@example.com", UserData: map[string]string{"k": "v"}},
		MaxOffline: 10 * time.Minute,
		CreatedAt:  at,
		UpdatedAt:  at,
	}
	if err := s.CreateChat(ctx, c, hash[:]); err != nil {
		t.Fatalf("CreateChat() = %v, want nil", err)
	}
	wantChat, wantEvents, err := s.Update(ctx, c.ID, func(c *chatstate.Chat) ([]chatstate.Event, error) {
		c.Phase = chatstate.PhaseConnected
		c.AgentName = "alice"
		return []chatstate.Event{
			{Kind: chatstate.EventAgentJoined, Time: at, From: chatstate.Party{Type: chatstate.PartyAgent, Name: "alice"}},
			{Kind: chatstate.EventMessage, Time: at, From: chatstate.Party{Type: chatstate.PartyVisitor}, Text: "hello", ClientID: "m1"},
		}, nil
	})
	if err != nil {
		t.Fatalf("Update() = %v, want nil", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close() = %v, want nil", err)
	}

	for i := range 2 {
		s, err := sqlite.Open(ctx, path)
		if err != nil {
			t.Fatalf("reopen %d: Open() = %v, want nil", i, err)
		}
		gotChat, err := s.ChatByToken(ctx, hash[:])
		if err != nil {
			t.Fatalf("reopen %d: ChatByToken() = %v, want nil", i, err)
		}
		if diff := cmp.Diff(wantChat, gotChat, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("reopen %d: chat mismatch (-want +got):\n%s", i, diff)
		}
		gotEvents, err := s.Events(ctx, c.ID, 0, 100)
		if err != nil {
			t.Fatalf("reopen %d: Events() = %v, want nil", i, err)
		}
		if diff := cmp.Diff(wantEvents, gotEvents); diff != "" {
			t.Errorf("reopen %d: events mismatch (-want +got):\n%s", i, diff)
		}
		// The seq counter and the ClientID index carry over too.
		_, evs, err := s.Update(ctx, c.ID, func(*chatstate.Chat) ([]chatstate.Event, error) {
			return []chatstate.Event{{Kind: chatstate.EventMessage, Text: "hello", ClientID: "m1"}}, nil
		})
		if err != nil || len(evs) != 1 || evs[0].Seq != 2 {
			t.Errorf("reopen %d: retried send = %+v, %v; want the stored seq 2", i, evs, err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("reopen %d: Close() = %v, want nil", i, err)
		}
	}
}

// newBenchStore opens an empty store under b.TempDir.
func newBenchStore(b *testing.B) chatstate.Store {
	b.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "parley.db"))
	if err != nil {
		b.Fatalf("Open() = %v, want nil", err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// BenchmarkAppendMessage: storetest.BenchmarkAppendMessage, each commit
// fsynced; in "parallel-chats" the Updates waiting together share one
// commit.
func BenchmarkAppendMessage(b *testing.B) {
	storetest.BenchmarkAppendMessage(b, newBenchStore)
}

// BenchmarkRestore300 measures the store's part of a restore: the chat by
// its token, then its 300 events.
func BenchmarkRestore300(b *testing.B) {
	s, id := newBenchStore(b), "bench"
	storetest.CreateBenchChat(b, s, id)
	hash := storetest.BenchTokenHash(id)
	ctx := context.Background()
	for i := range 300 {
		if err := storetest.AppendMessage(ctx, s, id, fmt.Sprint("m", i)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		c, err := s.ChatByToken(ctx, hash)
		if err != nil {
			b.Fatal(err)
		}
		evs, err := s.Events(ctx, c.ID, 0, 1000)
		if err != nil {
			b.Fatal(err)
		}
		if len(evs) != 300 {
			b.Fatalf("Events() = %d events, want 300", len(evs))
		}
	}
}

// BenchmarkOfflineSweep: the sweep's query beside 20,000 ended chats and
// 2,000 live ones.
func BenchmarkOfflineSweep(b *testing.B) {
	s, err := sqlite.Open(b.Context(), filepath.Join(b.TempDir(), "parley.db"))
	if err != nil {
		b.Fatalf("Open() = %v, want nil", err)
	}
	defer s.Close()
	storetest.BenchmarkOfflineSweep(b, s, 20000, 2000, nil)
}
