package storetest

import (
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/parley/parley/chatstate"
)

// sessionHash derives a distinct session hash per name, as the handlers do
// from a random token.
func sessionHash(name string) []byte {
	h := sha256.Sum256([]byte("agent session " + name))
	return h[:]
}

func testAgentSessionLifecycle(t *testing.T, s chatstate.Store) {
	ctx := t.Context()
	now := baseTime()
	want := chatstate.AgentSession{IDHash: sessionHash("a"), Agent: "alice", CreatedAt: now, ExpiresAt: now.Add(12 * time.Hour)}
	if err := s.CreateAgentSession(ctx, want); err != nil {
		t.Fatalf("CreateAgentSession() = %v", err)
	}
	other := chatstate.AgentSession{IDHash: sessionHash("b"), Agent: "alice", CreatedAt: now, ExpiresAt: now.Add(12 * time.Hour)}
	if err := s.CreateAgentSession(ctx, other); err != nil {
		t.Fatalf("CreateAgentSession(second browser) = %v", err)
	}
	if err := s.CreateAgentSession(ctx, want); err == nil {
		t.Errorf("CreateAgentSession(same hash again) = nil, want an error")
	}
	got, err := s.AgentSession(ctx, want.IDHash, now.Add(time.Minute))
	if err != nil {
		t.Fatalf("AgentSession() = %v", err)
	}
	if diff := cmp.Diff(want, got, stored()); diff != "" {
		t.Errorf("AgentSession() mismatch (-want +got):\n%s", diff)
	}
	if _, err := s.AgentSession(ctx, sessionHash("never"), now); !errors.Is(err, chatstate.ErrNotFound) {
		t.Errorf("AgentSession(unknown) = %v, want ErrNotFound", err)
	}

	if err := s.DeleteAgentSession(ctx, want.IDHash); err != nil {
		t.Fatalf("DeleteAgentSession() = %v", err)
	}
	if _, err := s.AgentSession(ctx, want.IDHash, now); !errors.Is(err, chatstate.ErrNotFound) {
		t.Errorf("AgentSession(after delete) = %v, want ErrNotFound", err)
	}
	if _, err := s.AgentSession(ctx, other.IDHash, now); err != nil {
		t.Errorf("AgentSession(the other browser's) = %v: deleting one session ended another", err)
	}
	if err := s.DeleteAgentSession(ctx, want.IDHash); err != nil {
		t.Errorf("DeleteAgentSession(already deleted) = %v, want nil", err)
	}
}

func testAgentSessionExpiry(t *testing.T, s chatstate.Store) {
	ctx := t.Context()
	now := baseTime()
	old := chatstate.AgentSession{IDHash: sessionHash("old"), Agent: "bob", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := s.CreateAgentSession(ctx, old); err != nil {
		t.Fatalf("CreateAgentSession() = %v", err)
	}
	if _, err := s.AgentSession(ctx, old.IDHash, now.Add(time.Hour)); !errors.Is(err, chatstate.ErrNotFound) {
		t.Errorf("AgentSession(at its expiry) = %v, want ErrNotFound", err)
	}
	if _, err := s.AgentSession(ctx, old.IDHash, now.Add(59*time.Minute)); err != nil {
		t.Errorf("AgentSession(before its expiry) = %v, want it", err)
	}
	// A later sign-in sweeps expired sessions; the old one stays gone even
	// when asked about with a clock from before its expiry.
	later := now.Add(2 * time.Hour)
	fresh := chatstate.AgentSession{IDHash: sessionHash("fresh"), Agent: "bob", CreatedAt: later, ExpiresAt: later.Add(time.Hour)}
	if err := s.CreateAgentSession(ctx, fresh); err != nil {
		t.Fatalf("CreateAgentSession(later) = %v", err)
	}
	if _, err := s.AgentSession(ctx, old.IDHash, now); !errors.Is(err, chatstate.ErrNotFound) {
		t.Errorf("AgentSession(expired, after a later sign-in) = %v, want ErrNotFound: expired sessions are never swept", err)
	}
}
