package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/parley/parley/chatstate"
)

// Clock is a test's time, moved by hand.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a Clock that reads now until it is moved.
func NewClock(now time.Time) *Clock { return &Clock{now: now} }

func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// availabilityOn runs an Availability over store, on clk, as one instance
// of several does, until t ends.
func availabilityOn(t *testing.T, store chatstate.Store, clk *Clock) *chatstate.Availability {
	t.Helper()
	// Every read goes to the store: what one instance told it, the other
	// sees as soon as it is there.
	a := chatstate.NewAvailability(chatstate.AvailabilityConfig{Store: store, OfflineAfter: time.Minute, Now: clk.Now, ReadEvery: -1})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.Run(ctx, func(err error) { t.Errorf("availability: %v", err) })
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return a
}

// AgentAvailability follows two agents through a day, on two instances
// sharing a store (storeA and storeB: one store twice, or two of one
// database): a console makes its agent online on both, a choice of
// away holds, consoles all gone for the limit make an agent offline by
// itself, and a console coming back brings back what the agent chose.
func AgentAvailability(t *testing.T, storeA, storeB chatstate.Store) {
	clk := &Clock{now: time.Date(2026, 12, 8, 9, 0, 0, 0, time.UTC)}
	a, b := availabilityOn(t, storeA, clk), availabilityOn(t, storeB, clk)
	var err error
	ctx := t.Context()
	team := []string{"alice", "bob"}
	// want waits for what instance in says of the team: the other
	// instance's console reaches the store in a moment.
	want := func(what string, in *chatstate.Availability, alice, bob chatstate.AgentStatus, online bool) {
		t.Helper()
		var got []chatstate.AgentState
		for deadline := time.Now().Add(10 * time.Second); ; {
			got, err = in.Team(ctx, team)
			if err != nil {
				t.Fatal(err)
			}
			if got[0].Status == alice && got[1].Status == bob || time.Now().After(deadline) {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		if diff := cmp.Diff([]chatstate.AgentStatus{alice, bob}, []chatstate.AgentStatus{got[0].Status, got[1].Status}); diff != "" {
			t.Errorf("%s: statuses of alice and bob (-want +got):\n%s", what, diff)
		}
		if any, err := in.AnyOnline(ctx); err != nil || any != online {
			t.Errorf("%s: AnyOnline() = %v, %v; want %v", what, any, err, online)
		}
	}

	want("before anybody came", a, chatstate.AgentOffline, chatstate.AgentOffline, false)
	closeAlice := a.ConsoleOpened("alice")
	want("alice's console on a, seen from a", a, chatstate.AgentOnline, chatstate.AgentOffline, true)
	want("alice's console on a, seen from b", b, chatstate.AgentOnline, chatstate.AgentOffline, true)

	if err := b.Choose(ctx, "alice", chatstate.AgentAway); err != nil {
		t.Fatal(err)
	}
	want("alice chose away", a, chatstate.AgentAway, chatstate.AgentOffline, false)
	closeBob := b.ConsoleOpened("bob")
	want("bob's console on b", a, chatstate.AgentAway, chatstate.AgentOnline, true)

	// Alice's tab closes: she stays away, then is offline once her
	// consoles have been gone for the limit.
	closeAlice()
	closeAlice() // a second call changes nothing
	want("alice's console just closed", b, chatstate.AgentAway, chatstate.AgentOnline, true)
	clk.Advance(time.Minute + time.Second)
	want("alice's consoles gone for the limit", b, chatstate.AgentOffline, chatstate.AgentOnline, true)
	if got, err := b.Team(ctx, []string{"alice"}); err != nil || got[0].Chosen != chatstate.AgentAway {
		t.Errorf("alice offline by herself: Team() = %+v, %v; want her choice, away, kept", got, err)
	}

	// Bob's console closes too: nobody is online.
	closeBob()
	clk.Advance(2 * time.Minute)
	want("every console gone", a, chatstate.AgentOffline, chatstate.AgentOffline, false)

	// Alice comes back, on b: what she chose is back.
	b.ConsoleOpened("alice")
	want("alice back on b", a, chatstate.AgentAway, chatstate.AgentOffline, false)
	if err := a.Choose(ctx, "alice", chatstate.AgentOnline); err != nil {
		t.Fatal(err)
	}
	want("alice chose online", b, chatstate.AgentOnline, chatstate.AgentOffline, true)
}

// AgentSeenWithoutAConsole: an agent who loads a page of the console,
// with no live console open, is online for the limit, on every instance.
func AgentSeenWithoutAConsole(t *testing.T, storeA, storeB chatstate.Store) {
	clk := &Clock{now: time.Date(2026, 12, 8, 9, 0, 0, 0, time.UTC)}
	a, b := availabilityOn(t, storeA, clk), availabilityOn(t, storeB, clk)
	status := func(in *chatstate.Availability) chatstate.AgentStatus {
		t.Helper()
		got, err := in.Team(t.Context(), []string{"carol"})
		if err != nil {
			t.Fatal(err)
		}
		return got[0].Status
	}
	a.Seen("carol")
	if got := status(a); got != chatstate.AgentOnline {
		t.Errorf("carol just loaded a page on a: a says %s, want online", got)
	}
	// b hears of it as soon as a tells the store.
	deadline := time.Now().Add(10 * time.Second)
	for status(b) != chatstate.AgentOnline {
		if time.Now().After(deadline) {
			t.Fatal("b never heard that carol loaded a page on a")
		}
		time.Sleep(5 * time.Millisecond)
	}
	clk.Advance(time.Minute + time.Second)
	if got := status(b); got != chatstate.AgentOffline {
		t.Errorf("carol a minute after her last page: b says %s, want offline", got)
	}
}
