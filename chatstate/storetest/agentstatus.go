package storetest

import (
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/parley/parley/chatstate"
)

// testAgentPresences: a choice and a console's times are kept per agent;
// a console's time never goes back, whichever instance writes last.
func testAgentPresences(t *testing.T, s chatstate.Store) {
	ctx := t.Context()
	if got, err := s.AgentPresences(ctx); err != nil || len(got) != 0 {
		t.Fatalf("AgentPresences() of a new store = %v, %v; want none", got, err)
	}
	now := baseTime()
	if err := s.SetAgentChoice(ctx, "alice", chatstate.AgentAway); err != nil {
		t.Fatalf("SetAgentChoice() = %v", err)
	}
	if err := s.MarkConsolesSeen(ctx, []string{"alice", "bob"}, now); err != nil {
		t.Fatalf("MarkConsolesSeen() = %v", err)
	}
	if err := s.MarkConsolesSeen(ctx, []string{"bob"}, now.Add(-time.Minute)); err != nil {
		t.Fatalf("MarkConsolesSeen(earlier) = %v", err)
	}
	if err := s.SetAgentChoice(ctx, "carol", chatstate.AgentOffline); err != nil {
		t.Fatalf("SetAgentChoice() = %v", err)
	}
	if err := s.SetAgentChoice(ctx, "alice", chatstate.AgentOnline); err != nil {
		t.Fatalf("SetAgentChoice(again) = %v", err)
	}
	want := []chatstate.AgentPresence{
		{Agent: "alice", Chosen: chatstate.AgentOnline, ConsoleSeenAt: now},
		{Agent: "bob", ConsoleSeenAt: now},
		{Agent: "carol", Chosen: chatstate.AgentOffline},
	}
	if diff := cmp.Diff(want, presencesByName(t, s), stored()); diff != "" {
		t.Errorf("AgentPresences() mismatch (-want +got):\n%s", diff)
	}
}

// testAgentPresencesConcurrent: instances telling the store of their
// consoles at once, each with its own clock, leave each agent the latest
// time any of them wrote.
func testAgentPresencesConcurrent(t *testing.T, s chatstate.Store) {
	ctx := t.Context()
	now := baseTime()
	agents := []string{"alice", "bob", "carol"}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 10 {
				if err := s.MarkConsolesSeen(ctx, agents, now.Add(time.Duration(w*10+i)*time.Second)); err != nil {
					t.Errorf("MarkConsolesSeen() = %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	latest := now.Add(79 * time.Second)
	for _, p := range presencesByName(t, s) {
		if p.ConsoleSeenAt.Sub(latest).Abs() >= time.Microsecond {
			t.Errorf("%s: console seen at %v, want the latest written, %v", p.Agent, p.ConsoleSeenAt, latest)
		}
	}
}

func presencesByName(t *testing.T, s chatstate.Store) []chatstate.AgentPresence {
	t.Helper()
	got, err := s.AgentPresences(t.Context())
	if err != nil {
		t.Fatalf("AgentPresences() = %v", err)
	}
	slices.SortFunc(got, func(a, b chatstate.AgentPresence) int { return strings.Compare(a.Agent, b.Agent) })
	return got
}
