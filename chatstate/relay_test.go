package chatstate_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/parley/parley/chatstate"
	"github.com/parley/parley/chatstate/sqlite"
	"github.com/parley/parley/chatstate/storetest"
)

// bus stands in for PostgreSQL's NOTIFY between instances sharing a
// store: every commit that appends events is announced, in commit order,
// to each instance's inbox, where a delivery goroutine passes it on late
// (as a listener does) or drops it (as a listener that lost its
// connection does).
type bus struct {
	chatstate.Store
	// mu serializes commits with their announcement, so that the log of
	// announcements is in commit order, as PostgreSQL delivers them.
	mu      sync.Mutex
	inboxes []chan note
}

type note struct {
	id  string
	seq int64
}

// Update commits and announces, in one step.
func (b *bus) Update(ctx context.Context, id string, change func(*chatstate.Chat) ([]chatstate.Event, error)) (chatstate.Chat, []chatstate.Event, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var before int64
	c, evs, err := b.Store.Update(ctx, id, func(c *chatstate.Chat) ([]chatstate.Event, error) {
		before = c.LastSeq
		return change(c)
	})
	if err == nil && c.LastSeq > before {
		for _, in := range b.inboxes {
			in <- note{id, c.LastSeq}
		}
	}
	return c, evs, err
}

// noCluster is a Cluster of one process: the relay's tests need only that
// one is set.
type noCluster struct{ mu sync.Mutex }

func (c *noCluster) Exclusive(ctx context.Context, _ string, fn func(context.Context) error) (bool, error) {
	if !c.mu.TryLock() {
		return false, nil
	}
	defer c.mu.Unlock()
	return true, fn(ctx)
}

func (*noCluster) RecordSeen(context.Context, map[string]time.Time) error { return nil }

// instance is one of several Services sharing a store, with its inbox.
type instance struct {
	*chatstate.Service
	inbox chan note
	// lose, while set, drops what arrives instead of passing it on.
	mu   sync.Mutex
	lose bool
	idle sync.WaitGroup
	// hold, while locked, keeps what arrives waiting.
	hold sync.Mutex
}

// instances returns n Services on one SQLite store behind a bus, each
// passing its notifications on with random delays until the test ends.
func instances(t *testing.T, n int) (*bus, []*instance) {
	t.Helper()
	store, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "parley.db"))
	if err != nil {
		t.Fatalf("sqlite.Open() = %v", err)
	}
	t.Cleanup(func() { store.Close() })
	b := &bus{Store: store}
	cluster := &noCluster{}
	var all []*instance
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		in := &instance{
			Service: chatstate.NewService(chatstate.Config{Store: b, Cluster: cluster}),
			inbox:   make(chan note, 100000),
		}
		b.inboxes = append(b.inboxes, in.inbox)
		all = append(all, in)
		rng := rand.New(rand.NewPCG(uint64(i), 7))
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				case nt := <-in.inbox:
					if rng.IntN(3) == 0 {
						time.Sleep(time.Duration(rng.IntN(2000)) * time.Microsecond)
					}
					in.hold.Lock()
					in.hold.Unlock() // only waits while the test holds it
					in.mu.Lock()
					lose := in.lose
					in.mu.Unlock()
					if !lose {
						if err := in.Notified(context.Background(), nt.id, nt.seq); err != nil {
							t.Errorf("Notified(%s, %d) = %v", nt.id, nt.seq, err)
						}
					}
					in.idle.Done()
				}
			}
		})
	}
	t.Cleanup(func() {
		close(stop)
		wg.Wait()
	})
	return b, all
}

// drained waits until every inbox has passed on what expect counted.
func drained(ins []*instance) {
	for _, in := range ins {
		in.idle.Wait()
	}
}

// expect counts the notification the next commit will bring every inbox.
func expect(ins []*instance, n int) {
	for _, in := range ins {
		in.idle.Add(n)
	}
}

// settle reads the heads of what in follows from the store and settles.
func (in *instance) settle(t *testing.T, store chatstate.Store, gap bool) {
	t.Helper()
	ids, all := in.Watched()
	var heads []chatstate.Head
	seen := map[string]bool{}
	for _, id := range ids {
		seen[id] = true
	}
	if all {
		live, err := store.ListChats(context.Background(), chatstate.ChatFilter{
			Phases: []chatstate.Phase{chatstate.PhaseRegistration, chatstate.PhaseQueued, chatstate.PhaseConnected}, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range live {
			if !seen[c.ID] {
				ids = append(ids, c.ID)
			}
		}
	}
	for _, id := range ids {
		c, err := store.Chat(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		heads = append(heads, chatstate.Head{ChatID: id, LastSeq: c.LastSeq, Ended: c.Phase == chatstate.PhaseEnded})
	}
	if err := in.Settle(context.Background(), heads, gap); err != nil {
		t.Fatalf("Settle() = %v", err)
	}
}

// TestRelayAcrossInstances has two instances write to one chat at once
// while their notifications reach each other late: a subscriber of the
// chat and a watcher of every chat, on each instance, get every event
// once, in seq order, whichever instance committed it.
func TestRelayAcrossInstances(t *testing.T) {
	t.Parallel()
	_, ins := instances(t, 2)
	a, b := ins[0], ins[1]
	expect(ins, 2)
	c := queued(t, a.Service)
	c, err := b.Accept(context.Background(), c.ID, alice)
	if err != nil {
		t.Fatal(err)
	}
	drained(ins)

	const writers, each = 4, 50
	type follower struct {
		what string
		sub  *chatstate.Subscription
		last map[string]int64
		got  map[string]int64
	}
	var followers []follower
	for i, in := range ins {
		for _, topic := range []string{c.ID, ""} {
			sub := in.Hub().Subscribe(topic, 2*writers*each+10)
			defer sub.Close()
			followers = append(followers, follower{fmt.Sprintf("instance %d, topic %q", i, topic), sub, map[string]int64{c.ID: c.LastSeq}, map[string]int64{}})
		}
	}
	expect(ins, 2*writers*each)
	var wg sync.WaitGroup
	for w := range 2 * writers {
		in, from := ins[w%2], visitor
		if w%4 >= 2 {
			from = alice
		}
		wg.Go(func() {
			for i := range each {
				if _, err := in.SendMessage(context.Background(), c.ID, from, fmt.Sprintf("w%d-%d", w, i), "hello"); err != nil {
					t.Errorf("writer %d: %v", w, err)
					return
				}
			}
		})
	}
	wg.Wait()
	for _, f := range followers {
		storetest.Follow(t, f.what, f.sub, f.last, f.got, c.ID, c.LastSeq+2*writers*each)
	}
	drained(ins)
	for _, f := range followers {
		select {
		case ev, ok := <-f.sub.Events():
			if ok {
				t.Errorf("%s: published seq %d again after the last", f.what, ev.Seq)
			}
		default:
		}
	}
}

// TestRelayRecoversLostNotifications: notifications lost while an
// instance was not listening are made good from the log when it settles
// with a gap: a follower it had settled before gets what it missed, in
// order and once; one whose chat it knew nothing of gets the chat's newest
// event, which tells it that it lacks the ones before (it reads them from
// the log by seq), never left with a silent gap nor dropped.
func TestRelayRecoversLostNotifications(t *testing.T) {
	t.Parallel()
	store, ins := instances(t, 2)
	a, b := ins[0], ins[1]
	expect(ins, 4)
	known, unknown := connected(t, a.Service), connected(t, a.Service)
	drained(ins)

	// b follows known through a check (a settle without gap), then
	// loses its notifications; unknown gets a follower only afterwards.
	knownSub := b.Hub().Subscribe(known.ID, 100)
	defer knownSub.Close()
	b.settle(t, store, false)
	b.mu.Lock()
	b.lose = true
	b.mu.Unlock()
	unknownSub := b.Hub().Subscribe(unknown.ID, 100)
	defer unknownSub.Close()

	expect(ins, 10)
	for i := range 5 {
		for _, c := range []chatstate.Chat{known, unknown} {
			if _, err := a.SendMessage(context.Background(), c.ID, visitor, fmt.Sprintf("m%d", i), "while b was deaf"); err != nil {
				t.Fatal(err)
			}
		}
	}
	drained(ins)
	select {
	case ev := <-knownSub.Events():
		t.Fatalf("b published seq %d of a lost notification", ev.Seq)
	default:
	}

	b.mu.Lock()
	b.lose = false
	b.mu.Unlock()
	b.settle(t, store, true)
	storetest.Follow(t, "settled follower", knownSub, map[string]int64{known.ID: known.LastSeq}, map[string]int64{}, known.ID, known.LastSeq+5)
	// The follower of unknown gets its newest event, not a drop: what it
	// lacks before that it reads from the log, as the feeds do.
	select {
	case ev, ok := <-unknownSub.Events():
		if !ok {
			t.Fatalf("follower of a chat b had no entry for: dropped (lagged %v), want its newest event", unknownSub.Lagged())
		}
		if want := unknown.LastSeq + 5; ev.Seq != want {
			t.Errorf("follower of a chat b had no entry for: got seq %d, want the newest, %d", ev.Seq, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("follower of a chat b had no entry for: nothing published after the gap")
	}

	// From there on, b publishes what a commits again.
	expect(ins, 1)
	ev, err := a.SendMessage(context.Background(), unknown.ID, visitor, "after", "back")
	if err != nil {
		t.Fatal(err)
	}
	storetest.Follow(t, "follower after the gap", unknownSub, map[string]int64{unknown.ID: ev.Seq - 1}, map[string]int64{}, unknown.ID, ev.Seq)
}

// TestRelayCheckLearnsFollowedChats: a check (settle without gap) gives a
// followed chat with no news an entry, so that a later gap is recovered
// exactly instead of by dropping its followers; and forgets entries nobody
// needs.
func TestRelayCheckLearnsFollowedChats(t *testing.T) {
	t.Parallel()
	store, ins := instances(t, 2)
	a, b := ins[0], ins[1]
	expect(ins, 2)
	c := connected(t, a.Service)
	drained(ins)
	// Notifications seen with nobody following keep no entry.
	if ids, _ := b.Watched(); len(ids) != 0 {
		t.Errorf("b follows nothing yet keeps entries for %v", ids)
	}
	sub := b.Hub().Subscribe(c.ID, 100)
	defer sub.Close()
	b.settle(t, store, false)

	b.mu.Lock()
	b.lose = true
	b.mu.Unlock()
	expect(ins, 3)
	for i := range 3 {
		if _, err := a.SendMessage(context.Background(), c.ID, alice, fmt.Sprintf("r%d", i), "reply"); err != nil {
			t.Fatal(err)
		}
	}
	drained(ins)
	b.mu.Lock()
	b.lose = false
	b.mu.Unlock()
	b.settle(t, store, true)
	storetest.Follow(t, "follower settled by a check", sub, map[string]int64{c.ID: c.LastSeq}, map[string]int64{}, c.ID, c.LastSeq+3)

	sub.Close()
	b.settle(t, store, false)
	if ids, _ := b.Watched(); len(ids) != 0 {
		t.Errorf("after its follower left and a check, b keeps entries for %v, want none", ids)
	}
}

// TestRelayLocalCommitAfterUnseenRemote: an instance commits to a chat
// whose previous commit, made by another instance, it has not heard of yet,
// and has no record of the chat: its followers still get both, in order.
func TestRelayLocalCommitAfterUnseenRemote(t *testing.T) {
	t.Parallel()
	_, ins := instances(t, 2)
	a, b := ins[0], ins[1]
	expect(ins, 2)
	c := connected(t, a.Service)
	drained(ins)
	sub := b.Hub().Subscribe(c.ID, 100)
	defer sub.Close()
	watcher := b.Hub().Subscribe("", 100)
	defer watcher.Close()

	b.hold.Lock()
	expect(ins, 2)
	if _, err := a.SendMessage(context.Background(), c.ID, alice, "remote", "from a"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.SendMessage(context.Background(), c.ID, visitor, "local", "from b"); err != nil {
		t.Fatal(err)
	}
	b.hold.Unlock()
	drained(ins)
	for what, s := range map[string]*chatstate.Subscription{"subscriber": sub, "watcher": watcher} {
		storetest.Follow(t, what, s, map[string]int64{c.ID: c.LastSeq}, map[string]int64{}, c.ID, c.LastSeq+2)
	}
}

// TestRelayTellsWhoAccepted: an accept on one instance reaches the others'
// subscribers saying who holds the chat, as a local accept does, so that
// their consoles need not each read the chat to find out.
func TestRelayTellsWhoAccepted(t *testing.T) {
	t.Parallel()
	_, ins := instances(t, 2)
	a, b := ins[0], ins[1]
	expect(ins, 1)
	c := queued(t, a.Service)
	drained(ins)
	watcher := b.Hub().Subscribe("", 100)
	defer watcher.Close()

	expect(ins, 1)
	if _, err := a.Accept(context.Background(), c.ID, bob); err != nil {
		t.Fatal(err)
	}
	drained(ins)
	select {
	case ev := <-watcher.Events():
		if ev.Kind != chatstate.EventAgentJoined || ev.ChatPhase != chatstate.PhaseConnected || ev.ChatAgent != "bob" {
			t.Errorf("the other instance published %s with phase %q, held by %q; want agent_joined, connected, bob", ev.Kind, ev.ChatPhase, ev.ChatAgent)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the other instance published nothing of the accept")
	}
}
