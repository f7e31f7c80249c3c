package chatstate_test

import (
	"path/filepath"
	"testing"

	"github.com/parley/parley/chatstate"
	"github.com/parley/parley/chatstate/sqlite"
	"github.com/parley/parley/chatstate/storetest"
)

func availabilityStore(t *testing.T) chatstate.Store {
	t.Helper()
	store, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "parley.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return store
}

// TestAgentAvailability: storetest.AgentAvailability, two instances on one
// SQLite store.
func TestAgentAvailability(t *testing.T) {
	store := availabilityStore(t)
	storetest.AgentAvailability(t, store, store)
}

// TestAgentSeenWithoutAConsole: storetest.AgentSeenWithoutAConsole, two
// instances on one SQLite store.
func TestAgentSeenWithoutAConsole(t *testing.T) {
	store := availabilityStore(t)
	storetest.AgentSeenWithoutAConsole(t, store, store)
}

func TestParseAgentStatus(t *testing.T) {
	for _, s := range []string{"online", "away", "offline"} {
		if got, err := chatstate.ParseAgentStatus(s); err != nil || string(got) != s {
			t.Errorf("ParseAgentStatus(%q) = %q, %v", s, got, err)
		}
	}
	for _, s := range []string{"", "Online", "busy", "online "} {
		if _, err := chatstate.ParseAgentStatus(s); err == nil {
			t.Errorf("ParseAgentStatus(%q) = nil error, want one", s)
		}
	}
}
