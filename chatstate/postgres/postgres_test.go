package postgres_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/jackc/pgx/v5"
	"go.uber.org/goleak"

	"github.com/parley/parley/chatstate"
	"github.com/parley/parley/chatstate/postgres"
	"github.com/parley/parley/chatstate/postgres/pgtest"
	"github.com/parley/parley/chatstate/storetest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// openURL opens a store on url, closed when t ends.
func openURL(t testing.TB, url string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), url)
	if err != nil {
		t.Fatalf("Open() = %v, want nil", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// open opens a store on a new database; storetest closes it.
func open(t *testing.T) chatstate.Store {
	t.Helper()
	s, err := postgres.Open(t.Context(), pgtest.URL(t))
	if err != nil {
		t.Fatalf("Open() = %v, want nil", err)
	}
	return s
}

func TestStore(t *testing.T) {
	storetest.Run(t, open)
}

// wantMigrations lists the migration files, as schema_migrations should
// record them: "1 0001_init.sql", …
func wantMigrations(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir("migrations")
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for i, e := range entries {
		want = append(want, fmt.Sprintf("%d %s", i+1, e.Name()))
	}
	return want
}

// appliedMigrations reads schema_migrations in version order.
func appliedMigrations(t *testing.T, s *postgres.Store) []string {
	t.Helper()
	rows, err := s.Pool().Query(t.Context(), `SELECT version, name FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (string, error) {
		var v int
		var name string
		err := r.Scan(&v, &name)
		return fmt.Sprintf("%d %s", v, name), err
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestOpenConcurrent starts several instances at once on one fresh
// database: all must open, and each migration must be applied once.
func TestOpenConcurrent(t *testing.T) {
	url := pgtest.URL(t)
	const instances = 8
	var (
		wg     sync.WaitGroup
		start  = make(chan struct{})
		stores = make([]*postgres.Store, instances)
		errs   = make([]error, instances)
	)
	for i := range instances {
		wg.Go(func() {
			<-start
			stores[i], errs[i] = postgres.Open(t.Context(), url)
		})
	}
	close(start)
	wg.Wait()
	for i, s := range stores {
		if errs[i] != nil {
			t.Errorf("Open() instance %d = %v, want nil", i, errs[i])
			continue
		}
		defer s.Close()
	}
	if t.Failed() {
		return
	}
	if diff := cmp.Diff(wantMigrations(t), appliedMigrations(t, stores[0])); diff != "" {
		t.Errorf("schema_migrations mismatch (-want +got):\n%s", diff)
	}
	// Every instance works on the one schema.
	c := chatstate.Chat{ID: "chat-1", Phase: chatstate.PhaseQueued}
	if err := stores[0].CreateChat(t.Context(), c, []byte("h")); err != nil {
		t.Fatalf("CreateChat() = %v", err)
	}
	for i, s := range stores {
		if _, err := s.Chat(t.Context(), c.ID); err != nil {
			t.Errorf("instance %d: Chat() = %v, want the chat", i, err)
		}
	}
}

// TestReopen checks that a chat and its log survive closing and reopening,
// as they must survive a restart, and that reopening migrates nothing
// twice.
func TestReopen(t *testing.T) {
	ctx := t.Context()
	url := pgtest.URL(t)
	hash := sha256.Sum256([]byte("restore token"))
	s, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatalf("Open() = %v, want nil", err)
	}
	at := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	c := chatstate.Chat{ID: "chat-1", Phase: chatstate.PhaseQueued, CreatedAt: at, UpdatedAt: at,
		Visitor: chatstate.Registration{FirstName: "Ada", Email: "ada@example.com", UserData: map[string]string{"k": "v"}}}
	if err := s.CreateChat(ctx, c, hash[:]); err != nil {
		t.Fatalf("CreateChat() = %v, want nil", err)
	}
	wantChat, wantEvents, err := s.Update(ctx, c.ID, func(c *chatstate.Chat) ([]chatstate.Event, error) {
		c.Phase = chatstate.PhaseConnected
		return []chatstate.Event{{Kind: chatstate.EventMessage, Time: at, Text: "hello", ClientID: "m1",
			From: chatstate.Party{Type: chatstate.PartyVisitor, Name: "Ada"}}}, nil
	})
	if err != nil {
		t.Fatalf("Update() = %v, want nil", err)
	}
	s.Close()

	for i := range 2 {
		s := openURL(t, url)
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
		if diff := cmp.Diff(wantMigrations(t), appliedMigrations(t, s)); diff != "" {
			t.Errorf("reopen %d: schema_migrations mismatch (-want +got):\n%s", i, diff)
		}
		s.Close()
	}
}

// TestOpenNewerSchema refuses a database that a newer Parley migrated.
func TestOpenNewerSchema(t *testing.T) {
	url := pgtest.URL(t)
	s := openURL(t, url)
	if _, err := s.Pool().Exec(t.Context(), `INSERT INTO schema_migrations (version, name) VALUES (999, '0999_future.sql')`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s2, err := postgres.Open(t.Context(), url)
	if err == nil {
		s2.Close()
		t.Fatal("Open(newer schema) = nil, want an error")
	}
	if !strings.Contains(err.Error(), "newer") {
		t.Errorf("Open(newer schema) = %v, want it to say the schema is newer", err)
	}
}

func TestOpenBadURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		url  string
	}{
		{"empty", ""},
		{"not a URL", "postgres://[::1"},
		// Port 1 on loopback: nothing listens, so the connection is refused.
		{"no server", "postgres://parley:s3cret-pw@127.0.0.1:1/parley?connect_timeout=5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := postgres.Open(t.Context(), tt.url)
			if err == nil {
				s.Close()
				t.Fatalf("Open(%q) = nil, want an error", tt.url)
			}
			if strings.Contains(err.Error(), "s3cret-pw") {
				t.Errorf("Open() = %v: the error shows the password", err)
			}
		})
	}
}

// TestUpdateAcrossInstances appends to one chat from several pools at once,
// as several Parley processes would, each message sent twice through two
// different instances (a retry that reached another one): every message
// must be stored once, with contiguous seqs, and both sends must be told
// the one seq.
func TestUpdateAcrossInstances(t *testing.T) {
	url := pgtest.URL(t)
	const instances, senders, perSender = 4, 16, 20
	stores := make([]*postgres.Store, instances)
	for i := range stores {
		stores[i] = openURL(t, url)
	}
	c := chatstate.Chat{ID: "chat-shared", Phase: chatstate.PhaseConnected, Page: "0"}
	if err := stores[0].CreateChat(t.Context(), c, []byte("h")); err != nil {
		t.Fatalf("CreateChat() = %v", err)
	}

	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		start = make(chan struct{})
		seqOf = map[string][]int64{} // client id → seqs its sends were told
	)
	send := func(s *postgres.Store, clientID string) {
		_, evs, err := s.Update(t.Context(), c.ID, func(c *chatstate.Chat) ([]chatstate.Event, error) {
			// Counts the changes, to catch lost read-modify-writes.
			n, err := strconv.Atoi(c.Page)
			if err != nil {
				return nil, err
			}
			c.Page = strconv.Itoa(n + 1)
			return []chatstate.Event{{Kind: chatstate.EventMessage, Text: "hi " + clientID, ClientID: clientID}}, nil
		})
		if err != nil {
			t.Errorf("Update(%s) = %v, want nil", clientID, err)
			return
		}
		if len(evs) != 1 || evs[0].ClientID != clientID || evs[0].Text != "hi "+clientID {
			t.Errorf("Update(%s) = %+v, want its one message", clientID, evs)
			return
		}
		mu.Lock()
		seqOf[clientID] = append(seqOf[clientID], evs[0].Seq)
		mu.Unlock()
	}
	for w := range senders {
		for _, inst := range []int{w % instances, (w + 1) % instances} {
			wg.Go(func() {
				<-start
				for i := range perSender {
					send(stores[inst], fmt.Sprintf("w%d-%d", w, i))
				}
			})
		}
	}
	close(start)
	wg.Wait()

	const n = senders * perSender
	evs, err := stores[instances-1].Events(t.Context(), c.ID, 0, 0)
	if err != nil {
		t.Fatalf("Events() = %v", err)
	}
	var seqs []int64
	stored := map[string]int64{}
	for _, e := range evs {
		seqs = append(seqs, e.Seq)
		if prev, dup := stored[e.ClientID]; dup {
			t.Errorf("client id %s stored twice, seqs %d and %d", e.ClientID, prev, e.Seq)
		}
		stored[e.ClientID] = e.Seq
	}
	want := make([]int64, n)
	for i := range want {
		want[i] = int64(i + 1)
	}
	if diff := cmp.Diff(want, seqs); diff != "" {
		t.Errorf("Events() seqs mismatch (-want +got):\n%s", diff)
	}
	for id, got := range seqOf {
		if len(got) != 2 || got[0] != got[1] || got[0] != stored[id] {
			t.Errorf("sends of %s were told seqs %v, want both the stored %d", id, got, stored[id])
		}
	}
	final, err := stores[0].Chat(t.Context(), c.ID)
	if err != nil {
		t.Fatal(err)
	}
	// 2n changes ran; each sees the chat the one before saved.
	if final.LastSeq != n || final.Page != fmt.Sprint(2*n) {
		t.Errorf("chat after the sends: LastSeq %d, Page %q; want %d, %q", final.LastSeq, final.Page, n, fmt.Sprint(2*n))
	}
}

// TestNotify checks that a commit that appends events notifies
// postgres.Channel with the chat's id and new last seq, and that one that
// appends nothing, or fails, does not.
func TestNotify(t *testing.T) {
	s := openURL(t, pgtest.URL(t))
	ctx := t.Context()
	listener, err := s.Pool().Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Release()
	if _, err := listener.Exec(ctx, "LISTEN "+postgres.Channel); err != nil {
		t.Fatal(err)
	}
	c := chatstate.Chat{ID: "chat-n", Phase: chatstate.PhaseConnected}
	if err := s.CreateChat(ctx, c, []byte("h")); err != nil {
		t.Fatal(err)
	}
	errRefused := errors.New("refused")
	steps := []struct {
		name   string
		change func(*chatstate.Chat) ([]chatstate.Event, error)
	}{
		{"two events", func(*chatstate.Chat) ([]chatstate.Event, error) {
			return []chatstate.Event{{Kind: chatstate.EventAgentJoined}, {Kind: chatstate.EventMessage, Text: "a", ClientID: "m1"}}, nil
		}},
		{"no events", func(c *chatstate.Chat) ([]chatstate.Event, error) {
			c.VisitorSeenAt = time.Now()
			return nil, nil
		}},
		{"a retried send", func(*chatstate.Chat) ([]chatstate.Event, error) {
			return []chatstate.Event{{Kind: chatstate.EventMessage, Text: "a", ClientID: "m1"}}, nil
		}},
		{"a refused change", func(*chatstate.Chat) ([]chatstate.Event, error) {
			return []chatstate.Event{{Kind: chatstate.EventEnded}}, errRefused
		}},
		{"one more", func(*chatstate.Chat) ([]chatstate.Event, error) {
			return []chatstate.Event{{Kind: chatstate.EventMessage, Text: "b", ClientID: "m2"}}, nil
		}},
	}
	for _, st := range steps {
		if _, _, err := s.Update(ctx, c.ID, st.change); err != nil && !errors.Is(err, errRefused) {
			t.Fatalf("Update(%s) = %v", st.name, err)
		}
	}
	var got []string
	for {
		wait, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		n, err := listener.Conn().WaitForNotification(wait)
		cancel()
		if err != nil {
			break // no more within the wait
		}
		if n.Channel != postgres.Channel {
			t.Errorf("notification on %q, want %q", n.Channel, postgres.Channel)
		}
		got = append(got, n.Payload)
	}
	if diff := cmp.Diff([]string{"chat-n:2", "chat-n:3"}, got); diff != "" {
		t.Errorf("notifications mismatch (-want +got):\n%s", diff)
	}
}

// BenchmarkAppendMessage: storetest.BenchmarkAppendMessage on a new
// database each; the log says whether the server fsyncs its commits (a
// figure without that is no durable send). "parallel-chats" goes through
// the pool's connections.
func BenchmarkAppendMessage(b *testing.B) {
	storetest.BenchmarkAppendMessage(b, func(b *testing.B) chatstate.Store {
		s := openURL(b, pgtest.URL(b))
		var fsync, syncCommit string
		if err := s.Pool().QueryRow(context.Background(), `SELECT current_setting('fsync'), current_setting('synchronous_commit')`).Scan(&fsync, &syncCommit); err != nil {
			b.Fatal(err)
		}
		b.Logf("server: fsync=%s synchronous_commit=%s", fsync, syncCommit)
		return s
	})
}

// BenchmarkOfflineSweep: the sweep's query beside 20,000 ended chats and
// 2,000 live ones, the table analyzed.
func BenchmarkOfflineSweep(b *testing.B) {
	s := openURL(b, pgtest.URL(b))
	storetest.BenchmarkOfflineSweep(b, s, 20000, 2000, s.Analyze)
}

// TestOutboxClaimAcrossStores claims one outbox from two stores at once, as
// two instances do: each item goes to exactly one of them.
func TestOutboxClaimAcrossStores(t *testing.T) {
	url := pgtest.URL(t)
	stores := []*postgres.Store{openURL(t, url), openURL(t, url)}
	const total = 300
	items := make([]chatstate.Outgoing, total)
	for i := range items {
		items[i] = chatstate.Outgoing{Kind: chatstate.OutboxMail, Key: fmt.Sprintf("m%d", i), Payload: []byte(`{}`)}
	}
	if err := stores[0].EnqueueOutbox(t.Context(), items...); err != nil {
		t.Fatalf("EnqueueOutbox() = %v", err)
	}
	var outboxes []chatstate.Outbox
	for _, s := range stores {
		for range 4 {
			outboxes = append(outboxes, s)
		}
	}
	if got := storetest.ClaimConcurrently(t, outboxes, 5, false); got != total {
		t.Errorf("claimed %d items, want %d", got, total)
	}
}

// TestAgentAvailabilityAcrossInstances: storetest's availability scenarios
// on two stores of one database, as two instances hold them.
func TestAgentAvailabilityAcrossInstances(t *testing.T) {
	url := pgtest.URL(t)
	t.Run("statuses", func(t *testing.T) {
		storetest.AgentAvailability(t, openURL(t, url), openURL(t, url))
	})
	t.Run("seen without a console", func(t *testing.T) {
		storetest.AgentSeenWithoutAConsole(t, openURL(t, url), openURL(t, url))
	})
}
