package storetest

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/parley/parley/chatstate"
)

func testUpdateAppends(t *testing.T, s chatstate.Store) {
	created := fullChat(newID(t))
	created.Phase = chatstate.PhaseRegistration
	mustCreate(t, s, created)

	var all []chatstate.Event
	steps := []struct {
		name     string
		change   func(*chatstate.Chat)
		events   []chatstate.Event
		wantSeqs []int64
	}{
		{"one event", func(c *chatstate.Chat) { c.Phase = chatstate.PhaseQueued }, []chatstate.Event{
			{Kind: chatstate.EventRegistered, From: chatstate.Party{Type: chatstate.PartyVisitor}},
		}, []int64{1}},
		{"three events", func(c *chatstate.Chat) {
			c.Phase = chatstate.PhaseConnected
			c.AgentName = "bob"
			c.Visitor.UserData = map[string]string{"tier": "gold"}
			c.UpdatedAt = baseTime().Add(time.Hour)
		}, []chatstate.Event{
			// Seq and ChatID set by the caller are the store's to overwrite.
			{Kind: chatstate.EventAgentJoined, Seq: 42, ChatID: "someone-else", From: chatstate.Party{Type: chatstate.PartyAgent, Name: "bob"}},
			message("m1", "hello"),
			message("", "typed without an id"),
		}, []int64{2, 3, 4}},
		{"no events", func(c *chatstate.Chat) { c.Page = "/contact" }, nil, nil},
		{"one more", func(c *chatstate.Chat) {}, []chatstate.Event{message("m2", "bye")}, []int64{5}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			before := mustChat(t, s, created.ID)
			var seen chatstate.Chat
			got, evs := mustUpdate(t, s, created.ID, func(c *chatstate.Chat) ([]chatstate.Event, error) {
				seen = *c
				st.change(c)
				return st.events, nil
			})
			if diff := cmp.Diff(before, seen, exact()); diff != "" {
				t.Errorf("change saw a chat other than the stored one (-stored +seen):\n%s", diff)
			}

			if diff := cmp.Diff(st.wantSeqs, seqs(evs), exact()); diff != "" {
				t.Errorf("Update() seqs mismatch (-want +got):\n%s", diff)
			}
			for i, e := range evs {
				if e.ChatID != created.ID {
					t.Errorf("Update() event %d ChatID = %q, want %q", i, e.ChatID, created.ID)
				}
				want := st.events[i]
				want.ChatID, want.Seq = created.ID, e.Seq
				if diff := cmp.Diff(want, e, stored()); diff != "" {
					t.Errorf("Update() event %d mismatch (-want +got):\n%s", i, diff)
				}
			}
			all = append(all, evs...)

			wantChat := before
			st.change(&wantChat)
			wantChat.LastSeq = int64(len(all))
			if diff := cmp.Diff(wantChat, got, stored()); diff != "" {
				t.Errorf("Update() chat mismatch (-want +got):\n%s", diff)
			}
			if after := mustChat(t, s, created.ID); !cmp.Equal(got, after, exact()) {
				t.Errorf("Update() returned a chat other than the stored one (-returned +stored):\n%s", cmp.Diff(got, after, exact()))
			}
			if diff := cmp.Diff(all, mustEvents(t, s, created.ID, 0, 100), exact()); diff != "" {
				t.Errorf("Events() differ from what Update() returned (-returned +stored):\n%s", diff)
			}
		})
	}
}

func testUpdateEventFields(t *testing.T, s chatstate.Store) {
	c := fullChat(newID(t))
	mustCreate(t, s, c)
	at := baseTime()
	in := []chatstate.Event{
		{Kind: chatstate.EventRegistered, Time: at, From: chatstate.Party{Type: chatstate.PartyVisitor, Name: "Ada"}},
		{Kind: chatstate.EventAgentJoined, Time: at.Add(time.Second), From: chatstate.Party{Type: chatstate.PartyAgent, Name: "alice"}},
		{Kind: chatstate.EventMessage, Time: at.Add(2 * time.Second), From: chatstate.Party{Type: chatstate.PartyVisitor, Name: "Ada"},
			Text: "مرحبا 👋\nsecond line, 'quotes' \"too\"", ClientID: "c-1"},
		{Kind: chatstate.EventTyping, Time: at.Add(3 * time.Second), From: chatstate.Party{Type: chatstate.PartyAgent, Name: "alice"}},
		{Kind: chatstate.EventPage, Time: at.Add(4 * time.Second), From: chatstate.Party{Type: chatstate.PartyVisitor}, Page: "/pricing"},
		{Kind: chatstate.EventAgentLeft, Time: at.Add(5 * time.Second), From: chatstate.Party{Type: chatstate.PartyAgent, Name: "alice"}},
		{Kind: chatstate.EventEnded, Time: at.Add(6 * time.Second), From: chatstate.Party{Type: chatstate.PartySystem}, Reason: chatstate.ReasonOffline},
		{Kind: chatstate.EventMessage, From: chatstate.Party{Type: chatstate.PartySystem}, Text: "zero time"},
	}
	_, got := mustUpdate(t, s, c.ID, appendEvents(in...))
	want := make([]chatstate.Event, len(in))
	for i, e := range in {
		e.ChatID, e.Seq = c.ID, int64(i+1)
		want[i] = e
	}
	if diff := cmp.Diff(want, got, stored()); diff != "" {
		t.Errorf("Update() events mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, mustEvents(t, s, c.ID, 0, 100), stored()); diff != "" {
		t.Errorf("Events() mismatch (-want +got):\n%s", diff)
	}
}

func testUpdateChangeError(t *testing.T, s chatstate.Store) {
	c := fullChat(newID(t))
	mustCreate(t, s, c)
	mustUpdate(t, s, c.ID, appendEvents(message("m1", "first")))
	before := mustChat(t, s, c.ID)
	beforeEvents := mustEvents(t, s, c.ID, 0, 100)

	errRefused := errors.New("refused by the rules")
	_, _, err := s.Update(t.Context(), c.ID, func(c *chatstate.Chat) ([]chatstate.Event, error) {
		c.Phase = chatstate.PhaseEnded
		c.EndReason = chatstate.ReasonVisitor
		c.Page = "/changed"
		return []chatstate.Event{message("m2", "must not be stored"), {Kind: chatstate.EventEnded}},
			fmt.Errorf("ending: %w", errRefused)
	})
	if !errors.Is(err, errRefused) {
		t.Fatalf("Update() = %v, want the change's error", err)
	}
	if diff := cmp.Diff(before, mustChat(t, s, c.ID), exact()); diff != "" {
		t.Errorf("chat changed by a failed Update (-before +after):\n%s", diff)
	}
	if diff := cmp.Diff(beforeEvents, mustEvents(t, s, c.ID, 0, 100), exact()); diff != "" {
		t.Errorf("events changed by a failed Update (-before +after):\n%s", diff)
	}

	// The failed change used no seq and left its ClientID free.
	_, evs := mustUpdate(t, s, c.ID, appendEvents(message("m2", "stored now")))
	if len(evs) != 1 || evs[0].Seq != 2 || evs[0].Text != "stored now" {
		t.Errorf("Update() after a failed one = %+v, want one event with seq 2 and the new text", evs)
	}
}

func testClientIDDedup(t *testing.T, s chatstate.Store) {
	c := fullChat(newID(t))
	mustCreate(t, s, c)
	_, first := mustUpdate(t, s, c.ID, appendEvents(message("m1", "hello")))
	original := first[0]

	steps := []struct {
		name     string
		events   []chatstate.Event
		wantSeqs []int64
		wantText []string
		wantLast int64
	}{
		{"retry with other text", []chatstate.Event{message("m1", "hello, retried")},
			[]int64{1}, []string{"hello"}, 1},
		{"retry and new message", []chatstate.Event{message("m1", "again"), message("m2", "new")},
			[]int64{1, 2}, []string{"hello", "new"}, 2},
		{"same id twice in one update", []chatstate.Event{message("m3", "once"), message("m3", "twice")},
			[]int64{3, 3}, []string{"once", "once"}, 3},
		{"empty ids never dedup", []chatstate.Event{message("", "a"), message("", "a")},
			[]int64{4, 5}, []string{"a", "a"}, 5},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			got, evs := mustUpdate(t, s, c.ID, appendEvents(st.events...))
			if diff := cmp.Diff(st.wantSeqs, seqs(evs)); diff != "" {
				t.Errorf("Update() seqs mismatch (-want +got):\n%s", diff)
			}
			var texts []string
			for _, e := range evs {
				texts = append(texts, e.Text)
			}
			if diff := cmp.Diff(st.wantText, texts); diff != "" {
				t.Errorf("Update() texts mismatch (-want +got):\n%s", diff)
			}
			if got.LastSeq != st.wantLast {
				t.Errorf("Update().LastSeq = %d, want %d", got.LastSeq, st.wantLast)
			}
			if n := len(mustEvents(t, s, c.ID, 0, 100)); int64(n) != st.wantLast {
				t.Errorf("Events() has %d events, want %d", n, st.wantLast)
			}
		})
	}
	t.Run("returns the stored event", func(t *testing.T) {
		_, evs := mustUpdate(t, s, c.ID, appendEvents(message("m1", "late retry")))
		if diff := cmp.Diff([]chatstate.Event{original}, evs, exact()); diff != "" {
			t.Errorf("Update() retry mismatch (-original +got):\n%s", diff)
		}
	})
	t.Run("other chat, same id", func(t *testing.T) {
		other := fullChat(newID(t))
		mustCreate(t, s, other)
		_, evs := mustUpdate(t, s, other.ID, appendEvents(message("m1", "mine")))
		if len(evs) != 1 || evs[0].Seq != 1 || evs[0].Text != "mine" || evs[0].ChatID != other.ID {
			t.Errorf("Update(other chat) = %+v, want its own event with seq 1", evs)
		}
	})
}

func testClientIDDedupConcurrent(t *testing.T, s chatstate.Store) {
	c := fullChat(newID(t))
	mustCreate(t, s, c)
	const senders = 8
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		got   = make([][]chatstate.Event, senders)
	)
	for i := range senders {
		wg.Go(func() {
			<-start
			_, evs, err := s.Update(t.Context(), c.ID, appendEvents(message("same", fmt.Sprint("try ", i))))
			if err != nil {
				t.Errorf("Update() sender %d = %v, want nil", i, err)
			}
			got[i] = evs
		})
	}
	close(start)
	wg.Wait()

	log := mustEvents(t, s, c.ID, 0, 100)
	if len(log) != 1 {
		t.Fatalf("Events() = %d events, want 1: %+v", len(log), log)
	}
	for i, evs := range got {
		if diff := cmp.Diff(log, evs, exact()); diff != "" {
			t.Errorf("Update() sender %d mismatch (-stored +got):\n%s", i, diff)
		}
	}
	if last := mustChat(t, s, c.ID).LastSeq; last != 1 {
		t.Errorf("LastSeq = %d, want 1", last)
	}
}

func testIndependentChats(t *testing.T, s chatstate.Store) {
	a, b := fullChat(newID(t)), fullChat(newID(t))
	mustCreate(t, s, a)
	mustCreate(t, s, b)
	var gotA, gotB []chatstate.Event
	for i := range 3 {
		_, evs := mustUpdate(t, s, a.ID, appendEvents(message(fmt.Sprint("a", i), "to a")))
		gotA = append(gotA, evs...)
		_, evs = mustUpdate(t, s, b.ID, appendEvents(message(fmt.Sprint("b", i), "to b"), message("", "b extra")))
		gotB = append(gotB, evs...)
	}
	if diff := cmp.Diff(seqRange(1, 3), seqs(gotA)); diff != "" {
		t.Errorf("chat a seqs mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(seqRange(1, 6), seqs(gotB)); diff != "" {
		t.Errorf("chat b seqs mismatch (-want +got):\n%s", diff)
	}
	for _, e := range mustEvents(t, s, a.ID, 0, 100) {
		if e.ChatID != a.ID || e.Text != "to a" {
			t.Errorf("Events(a) holds %+v", e)
		}
	}
}

func testUpdateConcurrent(t *testing.T, s chatstate.Store) {
	c := fullChat(newID(t))
	c.Page = "0" // counts updates, to catch lost read-modify-writes
	mustCreate(t, s, c)
	const workers, perWorker = 8, 50
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		seen = map[int64]int{}
	)
	for w := range workers {
		wg.Go(func() {
			var last int64
			for i := range perWorker {
				_, evs, err := s.Update(t.Context(), c.ID, func(c *chatstate.Chat) ([]chatstate.Event, error) {
					n, err := strconv.Atoi(c.Page)
					if err != nil {
						return nil, err
					}
					c.Page = strconv.Itoa(n + 1)
					return []chatstate.Event{message(fmt.Sprintf("w%d-%d", w, i), "hi")}, nil
				})
				if err != nil {
					t.Errorf("Update() worker %d #%d = %v, want nil", w, i, err)
					return
				}
				if len(evs) != 1 {
					t.Errorf("Update() worker %d #%d returned %d events, want 1", w, i, len(evs))
					return
				}
				if evs[0].Seq <= last {
					t.Errorf("worker %d got seq %d after %d", w, evs[0].Seq, last)
				}
				last = evs[0].Seq
				mu.Lock()
				seen[evs[0].Seq]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()

	const n = workers * perWorker
	for seq := int64(1); seq <= n; seq++ {
		if seen[seq] != 1 {
			t.Errorf("seq %d returned %d times, want once", seq, seen[seq])
		}
	}
	if len(seen) != n {
		t.Errorf("got %d distinct seqs, want %d", len(seen), n)
	}
	if diff := cmp.Diff(seqRange(1, n), seqs(mustEvents(t, s, c.ID, 0, 2*n))); diff != "" {
		t.Errorf("Events() seqs mismatch (-want +got):\n%s", diff)
	}
	got := mustChat(t, s, c.ID)
	if got.LastSeq != n || got.Page != strconv.Itoa(n) {
		t.Errorf("chat after %d updates has LastSeq %d, Page %q; want %d, %q", n, got.LastSeq, got.Page, n, strconv.Itoa(n))
	}
}

func testEventsPaging(t *testing.T, s chatstate.Store) {
	c := fullChat(newID(t))
	mustCreate(t, s, c)
	var all []chatstate.Event
	for i := range 10 {
		_, evs := mustUpdate(t, s, c.ID, appendEvents(message(fmt.Sprint("m", i), fmt.Sprint("message ", i+1))))
		all = append(all, evs...)
	}
	tests := []struct {
		after int64
		limit int
		want  []int64
	}{
		{0, 3, seqRange(1, 3)},
		{3, 3, seqRange(4, 6)},
		{5, 1, []int64{6}},
		{9, 5, []int64{10}},
		{10, 5, nil},
		{50, 5, nil},
		{0, 100, seqRange(1, 10)},
		{0, 10, seqRange(1, 10)},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("after %d limit %d", tt.after, tt.limit), func(t *testing.T) {
			got := mustEvents(t, s, c.ID, tt.after, tt.limit)
			if diff := cmp.Diff(tt.want, seqs(got), exact()); diff != "" {
				t.Errorf("seqs mismatch (-want +got):\n%s", diff)
			}
			for _, e := range got {
				if want := all[e.Seq-1]; !cmp.Equal(want, e, exact()) {
					t.Errorf("event %d differs from what Update returned (-returned +read):\n%s", e.Seq, cmp.Diff(want, e, exact()))
				}
			}
		})
	}
	t.Run("page through", func(t *testing.T) {
		var got []chatstate.Event
		var after int64
		for range 10 {
			page := mustEvents(t, s, c.ID, after, 4)
			if len(page) == 0 {
				break
			}
			got = append(got, page...)
			after = page[len(page)-1].Seq
		}
		if diff := cmp.Diff(all, got, exact()); diff != "" {
			t.Errorf("paged events mismatch (-want +got):\n%s", diff)
		}
	})
}

// testLastEvents reads the latest page of a log where the wanted kinds
// alternate with others (messages with typing), as a restore does.
func testLastEvents(t *testing.T, s chatstate.Store) {
	c := fullChat(newID(t))
	mustCreate(t, s, c)
	var all []chatstate.Event
	for i := range 10 {
		typing := chatstate.Event{Kind: chatstate.EventTyping, Time: baseTime(), From: chatstate.Party{Type: chatstate.PartyVisitor, Name: "Ada"}}
		_, evs := mustUpdate(t, s, c.ID, appendEvents(message(fmt.Sprint("m", i), fmt.Sprint("message ", i+1)), typing))
		all = append(all, evs...)
	}
	// Messages are the odd seqs 1, 3, …, 19; typing the even ones.
	messages := []chatstate.EventKind{chatstate.EventMessage}
	tests := []struct {
		before int64
		kinds  []chatstate.EventKind
		limit  int
		want   []int64
	}{
		{21, messages, 3, []int64{15, 17, 19}},
		{100, messages, 3, []int64{15, 17, 19}},
		{17, messages, 2, []int64{13, 15}},
		{4, messages, 5, []int64{1, 3}},
		{1, messages, 5, nil},
		{21, messages, 0, nil},
		{21, nil, 5, nil},
		{21, []chatstate.EventKind{chatstate.EventMessage, chatstate.EventTyping}, 3, []int64{18, 19, 20}},
		{21, []chatstate.EventKind{chatstate.EventEnded}, 3, nil},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("before %d kinds %v limit %d", tt.before, tt.kinds, tt.limit), func(t *testing.T) {
			got, err := s.LastEvents(t.Context(), c.ID, tt.before, tt.kinds, tt.limit)
			if err != nil {
				t.Fatalf("LastEvents() = %v", err)
			}
			if diff := cmp.Diff(tt.want, seqs(got), exact()); diff != "" {
				t.Errorf("seqs mismatch (-want +got):\n%s", diff)
			}
			for _, e := range got {
				if want := all[e.Seq-1]; !cmp.Equal(want, e, exact()) {
					t.Errorf("event %d differs from what Update returned (-returned +read):\n%s", e.Seq, cmp.Diff(want, e, exact()))
				}
			}
		})
	}
	if got, err := s.LastEvents(t.Context(), "no-such-chat", 10, messages, 5); err != nil || len(got) != 0 {
		t.Errorf("LastEvents(missing chat) = %v, %v; want nothing", got, err)
	}
}
