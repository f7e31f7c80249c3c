package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley/parley/chatstate"
	"github.com/parley/parley/chatstate/postgres"
	"github.com/parley/parley/chatstate/postgres/pgtest"
	"github.com/parley/parley/chatstate/storetest"
)

// node is one Parley instance's chat layer on a shared database: its own
// store (pool), service and listener, as a process of its own has.
type node struct {
	store    *postgres.Store
	svc      *chatstate.Service
	listener *postgres.Listener
}

// startNode opens a store on url named name (so that its sessions can be
// found in pg_stat_activity), and runs a listener for it until t ends.
func startNode(t testing.TB, url, name string) *node {
	t.Helper()
	s := openURL(t, url+"&application_name="+name)
	n := &node{store: s, svc: chatstate.NewService(chatstate.Config{Store: s, Cluster: s})}
	n.listener = postgres.NewListener(s, postgres.ListenerConfig{Relay: n.svc,
		SyncEvery: 100 * time.Millisecond, SyncTimeout: time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		n.listener.Run(ctx)
	}()
	// Cleanups run in reverse: the listener stops before its store closes.
	t.Cleanup(func() {
		cancel()
		<-done
	})
	waitFor(t, name+" listening", func() bool { return n.listener.Check(context.Background()) == nil })
	return n
}

func waitFor(t testing.TB, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10 s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitChecks waits until the listener's check has come back twice more:
// whatever was followed before is settled.
func (n *node) waitChecks(t *testing.T) {
	t.Helper()
	from := n.listener.Synced()
	waitFor(t, "two checks", func() bool { return n.listener.Synced() >= from+2 })
}

// connectedChat starts, registers and accepts a chat through svc.
func connectedChat(t testing.TB, svc *chatstate.Service) chatstate.Chat {
	t.Helper()
	ctx := context.Background()
	c, _, err := svc.Start(ctx, chatstate.StartParams{Locale: "en", Page: "/"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Register(ctx, c.ID, chatstate.Registration{FirstName: "Ada", Email: "ada@example.com"}); err != nil {
		t.Fatal(err)
	}
	c, err = svc.Accept(ctx, c.ID, chatstate.AgentParty("alice", "Alice"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// terminateListener ends the listening session of the instance named
// name, as a dropped connection or a restarted server would.
func terminateListener(t *testing.T, s *postgres.Store, name string) {
	t.Helper()
	var n int
	err := s.Pool().QueryRow(t.Context(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = $1`, name+" listener").Scan(&n)
	if err != nil || n != 1 {
		t.Fatalf("terminate the listener of %s: %d sessions, %v; want 1", name, n, err)
	}
}

// TestListenerAcrossInstances runs two instances on one database, each
// writing to one chat at once: a subscriber of the chat and a watcher of
// every chat on the other instance get every event once, in seq order.
// Then the second instance's listening connection is cut while the first
// writes on: it reconnects and catches up from the log, losing nothing and
// repeating nothing.
func TestListenerAcrossInstances(t *testing.T) {
	url := pgtest.URL(t)
	a, b := startNode(t, url, "instance-a"), startNode(t, url, "instance-b")
	c := connectedChat(t, a.svc)
	chatSub := b.svc.Hub().Subscribe(c.ID, 1000)
	defer chatSub.Close()
	watcher := b.svc.Hub().Subscribe("", 1000)
	defer watcher.Close()
	localSub := a.svc.Hub().Subscribe(c.ID, 1000)
	defer localSub.Close()
	followers := []struct {
		what string
		sub  *chatstate.Subscription
		last map[string]int64
		got  map[string]int64
	}{
		{"b's subscriber", chatSub, map[string]int64{c.ID: c.LastSeq}, map[string]int64{}},
		{"b's watcher", watcher, map[string]int64{c.ID: c.LastSeq}, map[string]int64{}},
		{"a's subscriber", localSub, map[string]int64{c.ID: c.LastSeq}, map[string]int64{}},
	}

	const each = 40
	var wg sync.WaitGroup
	for w, n := range []*node{a, b, a, b} {
		wg.Go(func() {
			for i := range each {
				if _, err := n.svc.SendMessage(context.Background(), c.ID, chatstate.Party{Type: chatstate.PartyVisitor},
					fmt.Sprintf("w%d-%d", w, i), "hello"); err != nil {
					t.Errorf("writer %d: %v", w, err)
					return
				}
			}
		})
	}
	wg.Wait()
	want := c.LastSeq + 4*each
	for _, f := range followers {
		storetest.Follow(t, f.what, f.sub, f.last, f.got, c.ID, want)
	}

	// The chat is followed across a check, then b stops hearing.
	b.waitChecks(t)
	sessions := b.listener.Sessions()
	terminateListener(t, a.store, "instance-b")
	for i := range 10 {
		if _, err := a.svc.SendMessage(context.Background(), c.ID, chatstate.AgentParty("alice", "Alice"),
			fmt.Sprintf("gap-%d", i), "while b reconnects"); err != nil {
			t.Fatal(err)
		}
	}
	want += 10
	for _, f := range followers {
		storetest.Follow(t, f.what+" across a reconnection", f.sub, f.last, f.got, c.ID, want)
	}
	if b.listener.Sessions() <= sessions {
		t.Errorf("b's listener made %d connections, want a new one after its connection was cut", b.listener.Sessions())
	}
	a.waitChecks(t)
	b.waitChecks(t)
	for _, f := range followers {
		select {
		case ev, ok := <-f.sub.Events():
			if ok {
				t.Errorf("%s: chat %s published seq %d after the last", f.what, ev.ChatID, ev.Seq)
			}
		default:
		}
	}
}

// TestNewsOfOtherInstances: an instance hears of another's commit to a
// chat that nobody follows there, which its relay does not publish: its
// hub's News moves all the same. A live transport that read the chat
// before subscribing counts on it to know that what it read may be stale.
func TestNewsOfOtherInstances(t *testing.T) {
	url := pgtest.URL(t)
	a, b := startNode(t, url, "instance-a"), startNode(t, url, "instance-b")
	c := connectedChat(t, a.svc)
	b.waitChecks(t) // b has heard of every commit so far
	before := b.svc.Hub().News()
	if _, err := a.svc.SendMessage(context.Background(), c.ID, chatstate.AgentParty("alice", "Alice"), "", "unfollowed on b"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b's hub hears of a's commit", func() bool { return b.svc.Hub().News() != before })
	if n := b.svc.Hub().Stats().Delivered; n != 0 {
		t.Errorf("b's hub delivered %d events of a chat nobody follows there, want none", n)
	}
}

// TestListenerNoticesDeafConnection: a connection that stays up but no
// longer delivers notifications (a pause, a silent peer) is noticed by the
// listener's own check, which does not come back: it reconnects, and says
// it is not listening meanwhile.
func TestListenerNoticesDeafConnection(t *testing.T) {
	url := pgtest.URL(t)
	n := startNode(t, url, "deaf")
	n.listener.Deafen()
	terminateListener(t, n.store, "deaf")
	before := n.listener.Sessions()
	var down atomic.Bool
	waitFor(t, "a reconnection after a check that did not come back", func() bool {
		if n.listener.Check(context.Background()) != nil {
			down.Store(true)
		}
		return n.listener.Sessions() >= before+2
	})
	if !down.Load() {
		t.Errorf("Check() never failed while the listener heard nothing")
	}
}

// TestExclusive: work under one name runs on one instance at a time, and
// runs again once the holder is done.
func TestExclusive(t *testing.T) {
	url := pgtest.URL(t)
	a, b := openURL(t, url), openURL(t, url)
	held, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		ran, err := a.Exclusive(context.Background(), "sweep", func(context.Context) error {
			close(held)
			<-release
			return nil
		})
		if err == nil && !ran {
			err = errors.New("a did not run")
		}
		done <- err
	}()
	<-held
	ran, err := b.Exclusive(t.Context(), "sweep", func(context.Context) error { return nil })
	if err != nil || ran {
		t.Errorf("b.Exclusive(sweep) while a runs = %v, %v; want false, nil", ran, err)
	}
	ran, err = b.Exclusive(t.Context(), "other", func(context.Context) error { return nil })
	if err != nil || !ran {
		t.Errorf("b.Exclusive(other) while a runs sweep = %v, %v; want true, nil", ran, err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	ran, err = b.Exclusive(t.Context(), "sweep", func(context.Context) error { return nil })
	if err != nil || !ran {
		t.Errorf("b.Exclusive(sweep) after a = %v, %v; want true, nil", ran, err)
	}
}

// neverSweeps is an instance that never gets the sweep's lock, so that
// another instance always sweeps.
type neverSweeps struct{ *postgres.Store }

func (neverSweeps) Exclusive(context.Context, string, func(context.Context) error) (bool, error) {
	return false, nil
}

// TestPresenceAcrossInstances: a visitor connected to one instance, by
// polls or by a connection held open, is present for the instance that
// sweeps, which ends only the chats whose visitors are connected nowhere.
func TestPresenceAcrossInstances(t *testing.T) {
	url := pgtest.URL(t)
	holderStore, sweeperStore := openURL(t, url), openURL(t, url)
	cfg := chatstate.Config{DefaultMaxOffline: 2 * time.Second}
	cfg.Store, cfg.Cluster = holderStore, neverSweeps{holderStore}
	holder := chatstate.NewService(cfg)
	cfg.Store, cfg.Cluster = sweeperStore, sweeperStore
	sweeper := chatstate.NewService(cfg)

	here, held, away, left := connectedChat(t, holder), connectedChat(t, holder), connectedChat(t, holder), connectedChat(t, holder)
	// held's visitor keeps a connection open, which says nothing more
	// until it closes; left's closed at once.
	defer holder.Connected(held)()
	holder.Connected(left)()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	for _, s := range []*chatstate.Service{holder, sweeper} {
		wg.Go(func() {
			s.RunExpiry(ctx, 100*time.Millisecond, func(err error) { t.Errorf("RunExpiry: %v", err) })
		})
	}
	// The holder has the visitor's connection, and says so as a transport
	// does: at each heartbeat.
	wg.Go(func() {
		for ctx.Err() == nil {
			if err := holder.Seen(ctx, here.ID); err != nil && ctx.Err() == nil {
				t.Errorf("Seen() = %v", err)
			}
			time.Sleep(chatstate.HeartbeatEvery(here))
		}
	})
	for _, gone := range []chatstate.Chat{away, left} {
		waitFor(t, "the chat of a visitor connected nowhere ended", func() bool {
			c, err := sweeper.Chat(context.Background(), gone.ID)
			return err == nil && c.Phase == chatstate.PhaseEnded
		})
	}
	time.Sleep(3 * time.Second) // longer than the chats' limit
	for _, present := range []chatstate.Chat{here, held} {
		if c, err := sweeper.Chat(context.Background(), present.ID); err != nil || c.Phase != chatstate.PhaseConnected {
			t.Errorf("chat whose visitor is connected to another instance: %s, %v; want it connected", c.Phase, err)
		}
	}
}

// TestAcceptRaceAcrossInstances: agents on different instances accept one
// chat at once; one wins, the others are told it is taken.
func TestAcceptRaceAcrossInstances(t *testing.T) {
	url := pgtest.URL(t)
	var svcs []*chatstate.Service
	for range 4 {
		s := openURL(t, url)
		svcs = append(svcs, chatstate.NewService(chatstate.Config{Store: s, Cluster: s}))
	}
	ctx := context.Background()
	for round := range 5 {
		c, _, err := svcs[0].Start(ctx, chatstate.StartParams{Locale: "en"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svcs[0].Register(ctx, c.ID, chatstate.Registration{FirstName: "Ada", Email: "ada@example.com"}); err != nil {
			t.Fatal(err)
		}
		var won, taken atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i, s := range svcs {
			wg.Go(func() {
				<-start
				_, err := s.Accept(ctx, c.ID, chatstate.AgentParty(fmt.Sprintf("agent%d", i), ""))
				switch {
				case err == nil:
					won.Add(1)
				case errors.Is(err, chatstate.ErrAlreadyAccepted):
					taken.Add(1)
				default:
					t.Errorf("Accept() = %v", err)
				}
			})
		}
		close(start)
		wg.Wait()
		if won.Load() != 1 || taken.Load() != int32(len(svcs)-1) {
			t.Errorf("round %d: %d accepts won and %d were told it was taken; want 1 and %d", round, won.Load(), taken.Load(), len(svcs)-1)
		}
	}
}

// TestTakeTokenAcrossInstances: a bucket is one across instances: what
// one spends, the others cannot; it refills by the database's clock; and
// peeking spends nothing.
func TestTakeTokenAcrossInstances(t *testing.T) {
	url := pgtest.URL(t)
	stores := []*postgres.Store{openURL(t, url), openURL(t, url), openURL(t, url)}
	ctx := t.Context()
	take := func(s *postgres.Store, key string) bool {
		t.Helper()
		ok, err := s.TakeToken(ctx, key, 5, 4) // refills one every 200 ms
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	taken := 0
	for i := range 12 {
		if take(stores[i%3], "start\x00203.0.113.7") {
			taken++
		}
	}
	if taken < 4 || taken > 5 {
		t.Errorf("12 takes across 3 instances at once got %d tokens, want the burst of 4 (5 if one refilled)", taken)
	}
	if ok, err := stores[1].HasToken(ctx, "start\x00203.0.113.7", 5, 4); err != nil || ok {
		t.Errorf("HasToken() of the spent bucket = %v, %v; want false", ok, err)
	}
	if !take(stores[2], "start\x00198.51.100.1") {
		t.Errorf("another key's bucket was spent too")
	}
	time.Sleep(300 * time.Millisecond)
	if ok, err := stores[0].HasToken(ctx, "start\x00203.0.113.7", 5, 4); err != nil || !ok {
		t.Errorf("HasToken() after a refill = %v, %v; want true", ok, err)
	}
	if !take(stores[0], "start\x00203.0.113.7") {
		t.Errorf("no token after a refill")
	}
	if ok, err := stores[0].HasToken(ctx, "never used", 5, 4); err != nil || !ok {
		t.Errorf("HasToken() of a new bucket = %v, %v; want true", ok, err)
	}
}

// TestListenerIgnoresStrangers: notifications that name no chat of this
// database, or are not Parley's at all, neither stop the listener nor
// reach anyone.
func TestListenerIgnoresStrangers(t *testing.T) {
	url := pgtest.URL(t)
	a, b := startNode(t, url, "writer"), startNode(t, url, "reader")
	watcher := b.svc.Hub().Subscribe("", 100)
	defer watcher.Close()
	for _, payload := range []string{"0123abcd:3", "not parley's", "x:y", "sync:someone-else:1", ":7", "abc:-1"} {
		if _, err := a.store.Pool().Exec(t.Context(), `SELECT pg_notify($1, $2)`, postgres.Channel, payload); err != nil {
			t.Fatal(err)
		}
	}
	c := connectedChat(t, a.svc)
	ev, err := a.svc.SendMessage(context.Background(), c.ID, chatstate.Party{Type: chatstate.PartyVisitor}, "m1", "hello")
	if err != nil {
		t.Fatal(err)
	}
	storetest.Follow(t, "b's watcher", watcher, map[string]int64{}, map[string]int64{}, c.ID, ev.Seq)
	if n := b.listener.Sessions(); n != 1 {
		t.Errorf("b's listener made %d connections, want 1: strangers' notifications must not end it", n)
	}
}
