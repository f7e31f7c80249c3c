package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/parley/parley/chatstate"
)

// What the suite assumes of the outbox where chatstate.Outbox is silent:
// leases and retry delays are kept to the millisecond or better, and a
// store's clock (its process's, or its database's) is the test's machine's.

// outboxOf is s's outbox; every backend keeps one.
func outboxOf(t *testing.T, s chatstate.Store) chatstate.Outbox {
	t.Helper()
	o, ok := s.(chatstate.Outbox)
	if !ok {
		t.Fatalf("store %T is no chatstate.Outbox: Update cannot write Event.Outbox", s)
	}
	return o
}

// mailItem is an outbox item with a payload of its own.
func mailItem(key string) chatstate.Outgoing {
	payload, _ := json.Marshal(map[string]string{"to": key + "@example.com", "note": "héllo 🎉 \"quoted\""})
	return chatstate.Outgoing{Kind: chatstate.OutboxMail, Key: key, Payload: payload}
}

// claim claims up to limit due mails for owner, failing t on error.
func claim(t *testing.T, o chatstate.Outbox, owner string, limit int, lease time.Duration) []chatstate.OutboxItem {
	t.Helper()
	items, err := o.ClaimOutbox(t.Context(), chatstate.OutboxMail, owner, limit, lease)
	if err != nil {
		t.Fatalf("ClaimOutbox(%s) = %v, want nil", owner, err)
	}
	return items
}

func keys(items []chatstate.OutboxItem) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.Key
	}
	return out
}

func mustStats(t *testing.T, o chatstate.Outbox) chatstate.OutboxStats {
	t.Helper()
	st, err := o.OutboxStats(t.Context(), chatstate.OutboxMail)
	if err != nil {
		t.Fatalf("OutboxStats() = %v, want nil", err)
	}
	return st
}

// counts is what OutboxStats reports but the age, which moves.
func counts(st chatstate.OutboxStats) [3]int64 { return [3]int64{st.Queued, st.Sent, st.Failed} }

func testOutboxUpdateWrites(t *testing.T, s chatstate.Store) {
	o := outboxOf(t, s)
	c := fullChat(newID(t))
	mustCreate(t, s, c)
	before := time.Now()
	ev := message("m1", "please mail me")
	ev.Outbox = []chatstate.Outgoing{mailItem("a"), mailItem("b")}
	_, evs := mustUpdate(t, s, c.ID, appendEvents(ev, message("m2", "no mail")))
	for i, e := range evs {
		if e.Outbox != nil {
			t.Errorf("Update() event %d Outbox = %v, want none: it is not stored in the log", i, e.Outbox)
		}
	}
	if diff := cmp.Diff(evs, mustEvents(t, s, c.ID, 0, 100), exact()); diff != "" {
		t.Errorf("Events() differ from what Update() returned (-returned +stored):\n%s", diff)
	}

	got := claim(t, o, "owner-1", 10, time.Minute)
	if len(got) != 2 {
		t.Fatalf("ClaimOutbox() = %d items %v, want the 2 enqueued", len(got), keys(got))
	}
	for i, want := range ev.Outbox {
		it := got[i]
		if it.Kind != want.Kind || it.Key != want.Key || string(it.Payload) != string(want.Payload) {
			t.Errorf("ClaimOutbox() item %d = %s %q %s, want %s %q %s", i, it.Kind, it.Key, it.Payload, want.Kind, want.Key, want.Payload)
		}
		if it.Attempts != 1 || it.LastError != "" || it.ID == 0 {
			t.Errorf("ClaimOutbox() item %d: id %d, attempts %d, last error %q; want an id, 1 attempt, no error", i, it.ID, it.Attempts, it.LastError)
		}
		if it.CreatedAt.Before(before.Add(-time.Second)) || it.CreatedAt.After(time.Now().Add(time.Second)) {
			t.Errorf("ClaimOutbox() item %d CreatedAt = %v, want about now (%v)", i, it.CreatedAt, before)
		}
	}
	if got[0].ID == got[1].ID {
		t.Errorf("ClaimOutbox() gave both items id %d", got[0].ID)
	}
}

func testOutboxDedup(t *testing.T, s chatstate.Store) {
	o := outboxOf(t, s)
	c := fullChat(newID(t))
	mustCreate(t, s, c)
	ev := message("m1", "hello")
	ev.Outbox = []chatstate.Outgoing{mailItem("once")}
	mustUpdate(t, s, c.ID, appendEvents(ev))
	// A retry of the same event (same ClientID) enqueues nothing, even
	// with an item of another key: the event is not appended again.
	retry := message("m1", "hello")
	retry.Outbox = []chatstate.Outgoing{mailItem("once"), mailItem("from a retry")}
	mustUpdate(t, s, c.ID, appendEvents(retry))
	// Another event deciding the same mail stores it once, in an Update
	// or outside one.
	again := message("m2", "again")
	again.Outbox = []chatstate.Outgoing{mailItem("once"), mailItem("once")}
	mustUpdate(t, s, c.ID, appendEvents(again))
	if err := o.EnqueueOutbox(t.Context(), mailItem("once"), mailItem("digest")); err != nil {
		t.Fatalf("EnqueueOutbox() = %v, want nil", err)
	}
	// The same key in another kind is another item.
	hook := mailItem("once")
	hook.Kind = "webhook"
	if err := o.EnqueueOutbox(t.Context(), hook); err != nil {
		t.Fatalf("EnqueueOutbox(webhook) = %v, want nil", err)
	}

	if diff := cmp.Diff([]string{"once", "digest"}, keys(claim(t, o, "owner", 10, time.Minute))); diff != "" {
		t.Errorf("ClaimOutbox(mail) keys mismatch (-want +got):\n%s", diff)
	}
	hooks, err := o.ClaimOutbox(t.Context(), "webhook", "owner", 10, time.Minute)
	if err != nil || len(hooks) != 1 || hooks[0].Key != "once" {
		t.Errorf("ClaimOutbox(webhook) = %v, %v; want the one webhook item", keys(hooks), err)
	}
	// Once sent, the key still stores nothing new.
	if err := o.EnqueueOutbox(t.Context(), mailItem("once")); err != nil {
		t.Fatalf("EnqueueOutbox() = %v, want nil", err)
	}
	if st := mustStats(t, o); st.Queued != 2 {
		t.Errorf("OutboxStats().Queued = %d, want 2", st.Queued)
	}
}

func testOutboxFailedUpdate(t *testing.T, s chatstate.Store) {
	o := outboxOf(t, s)
	c := fullChat(newID(t))
	mustCreate(t, s, c)
	bad := mailItem("bad")
	bad.Payload = json.RawMessage(`{"to": `)
	noKey := mailItem("")
	tests := []struct {
		name   string
		change func(*chatstate.Chat) ([]chatstate.Event, error)
	}{
		{"the change fails", func(*chatstate.Chat) ([]chatstate.Event, error) {
			ev := message("m1", "hi")
			ev.Outbox = []chatstate.Outgoing{mailItem("lost")}
			return []chatstate.Event{ev}, errors.New("refused")
		}},
		{"a later item is not JSON", func(*chatstate.Chat) ([]chatstate.Event, error) {
			first, second := message("m1", "hi"), message("m2", "there")
			first.Outbox = []chatstate.Outgoing{mailItem("lost")}
			second.Outbox = []chatstate.Outgoing{bad}
			return []chatstate.Event{first, second}, nil
		}},
		{"an item has no key", func(*chatstate.Chat) ([]chatstate.Event, error) {
			ev := message("m1", "hi")
			ev.Outbox = []chatstate.Outgoing{mailItem("lost"), noKey}
			return []chatstate.Event{ev}, nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := s.Update(t.Context(), c.ID, tt.change); err == nil {
				t.Fatalf("Update() = nil, want an error")
			}
			if evs := mustEvents(t, s, c.ID, 0, 100); len(evs) != 0 {
				t.Errorf("Events() after a failed Update = %d events, want none", len(evs))
			}
			if items := claim(t, o, "owner", 10, time.Minute); len(items) != 0 {
				t.Errorf("ClaimOutbox() after a failed Update = %v, want nothing", keys(items))
			}
		})
	}
	if err := o.EnqueueOutbox(t.Context(), mailItem("fine"), bad); err == nil {
		t.Errorf("EnqueueOutbox(one not JSON) = nil, want an error")
	}
	if st := mustStats(t, o); counts(st) != [3]int64{} {
		t.Errorf("OutboxStats() after failed writes = %+v, want all zero", st)
	}
}

func testOutboxLifecycle(t *testing.T, s chatstate.Store) {
	o := outboxOf(t, s)
	ctx := t.Context()
	if err := o.EnqueueOutbox(ctx, mailItem("sent"), mailItem("retried"), mailItem("failed"), mailItem("later")); err != nil {
		t.Fatalf("EnqueueOutbox() = %v, want nil", err)
	}
	if st := mustStats(t, o); counts(st) != [3]int64{4, 0, 0} {
		t.Errorf("OutboxStats() = %+v, want 4 queued", st)
	}
	items := claim(t, o, "a", 10, time.Hour)
	if diff := cmp.Diff([]string{"sent", "retried", "failed", "later"}, keys(items)); diff != "" {
		t.Fatalf("ClaimOutbox() keys mismatch (-want +got):\n%s", diff)
	}
	byKey := map[string]chatstate.OutboxItem{}
	for _, it := range items {
		byKey[it.Key] = it
	}
	// Leased: nobody else gets them, nor does the owner twice.
	if again := claim(t, o, "b", 10, time.Hour); len(again) != 0 {
		t.Errorf("ClaimOutbox() while leased = %v, want nothing", keys(again))
	}

	if err := o.MarkOutboxSent(ctx, byKey["sent"].ID); err != nil {
		t.Fatalf("MarkOutboxSent() = %v", err)
	}
	if err := o.RetryOutbox(ctx, byKey["retried"].ID, "b", "not b's", 0); !errors.Is(err, chatstate.ErrLeaseLost) {
		t.Errorf("RetryOutbox(by another owner) = %v, want ErrLeaseLost", err)
	}
	if err := o.FailOutbox(ctx, byKey["failed"].ID, "b", "not b's"); !errors.Is(err, chatstate.ErrLeaseLost) {
		t.Errorf("FailOutbox(by another owner) = %v, want ErrLeaseLost", err)
	}
	if err := o.RetryOutbox(ctx, byKey["sent"].ID, "a", "too late", 0); !errors.Is(err, chatstate.ErrLeaseLost) {
		t.Errorf("RetryOutbox(sent item) = %v, want ErrLeaseLost", err)
	}
	if err := o.RetryOutbox(ctx, byKey["retried"].ID, "a", "451 try again", 0); err != nil {
		t.Fatalf("RetryOutbox() = %v", err)
	}
	if err := o.RetryOutbox(ctx, byKey["later"].ID, "a", "421 busy", time.Hour); err != nil {
		t.Fatalf("RetryOutbox(in an hour) = %v", err)
	}
	if err := o.FailOutbox(ctx, byKey["failed"].ID, "a", "550 no such user"); err != nil {
		t.Fatalf("FailOutbox() = %v", err)
	}
	if err := o.FailOutbox(ctx, byKey["failed"].ID, "a", "twice"); !errors.Is(err, chatstate.ErrLeaseLost) {
		t.Errorf("FailOutbox(failed item) = %v, want ErrLeaseLost", err)
	}
	if st := mustStats(t, o); counts(st) != [3]int64{2, 1, 1} {
		t.Errorf("OutboxStats() = %+v, want 2 queued, 1 sent, 1 failed", st)
	}

	// Only the item retried at once is due: the sent and failed are done,
	// the other waits an hour.
	again := claim(t, o, "b", 10, time.Hour)
	if len(again) != 1 || again[0].Key != "retried" {
		t.Fatalf("ClaimOutbox() after retry = %v, want only the item retried at once", keys(again))
	}
	if again[0].Attempts != 2 || again[0].LastError != "451 try again" || again[0].ID != byKey["retried"].ID {
		t.Errorf("ClaimOutbox() retried item: attempts %d, last error %q; want 2 and the reason given", again[0].Attempts, again[0].LastError)
	}
	// The first owner's lease is gone with it.
	if err := o.RetryOutbox(ctx, again[0].ID, "a", "stale", 0); !errors.Is(err, chatstate.ErrLeaseLost) {
		t.Errorf("RetryOutbox(by the owner before) = %v, want ErrLeaseLost", err)
	}
	// Sent is sent whoever reports it: the mail went out.
	if err := o.MarkOutboxSent(ctx, again[0].ID); err != nil {
		t.Fatalf("MarkOutboxSent() = %v", err)
	}
	if err := o.MarkOutboxSent(ctx, again[0].ID); err != nil {
		t.Errorf("MarkOutboxSent(twice) = %v, want nil", err)
	}
	st := mustStats(t, o)
	if counts(st) != [3]int64{1, 2, 1} {
		t.Errorf("OutboxStats() = %+v, want 1 queued, 2 sent, 1 failed", st)
	}
	if st.OldestQueued <= 0 || st.OldestQueued > time.Minute {
		t.Errorf("OutboxStats().OldestQueued = %v, want the age of the item enqueued just now", st.OldestQueued)
	}

	// Pruning drops the sent items only.
	n, err := o.PruneOutbox(ctx, chatstate.OutboxMail, time.Hour)
	if err != nil || n != 0 {
		t.Errorf("PruneOutbox(older than an hour) = %d, %v; want 0, nil", n, err)
	}
	time.Sleep(2 * time.Millisecond)
	n, err = o.PruneOutbox(ctx, chatstate.OutboxMail, time.Millisecond)
	if err != nil || n != 2 {
		t.Errorf("PruneOutbox() = %d, %v; want the 2 sent, nil", n, err)
	}
	if st := mustStats(t, o); counts(st) != [3]int64{1, 0, 1} {
		t.Errorf("OutboxStats() after pruning = %+v, want 1 queued, 1 failed", st)
	}
}

func testOutboxLeaseExpiry(t *testing.T, s chatstate.Store) {
	o := outboxOf(t, s)
	if err := o.EnqueueOutbox(t.Context(), mailItem("crash")); err != nil {
		t.Fatalf("EnqueueOutbox() = %v, want nil", err)
	}
	const lease = 100 * time.Millisecond
	first := claim(t, o, "dies", 1, lease)
	if len(first) != 1 {
		t.Fatalf("ClaimOutbox() = %v, want the item", keys(first))
	}
	if got := claim(t, o, "next", 1, lease); len(got) != 0 {
		t.Fatalf("ClaimOutbox() within the lease = %v, want nothing", keys(got))
	}
	// The owner died mid-send: once the lease ends, another takes it.
	deadline := time.Now().Add(5 * time.Second)
	var got []chatstate.OutboxItem
	for len(got) == 0 && time.Now().Before(deadline) {
		time.Sleep(lease / 4)
		got = claim(t, o, "next", 1, time.Hour)
	}
	if len(got) != 1 || got[0].ID != first[0].ID || got[0].Attempts != 2 {
		t.Fatalf("ClaimOutbox() after the lease = %+v, want the item on its second attempt", got)
	}
	if err := o.FailOutbox(t.Context(), got[0].ID, "dies", "back from the dead"); !errors.Is(err, chatstate.ErrLeaseLost) {
		t.Errorf("FailOutbox(by the lapsed owner) = %v, want ErrLeaseLost", err)
	}
}

func testOutboxClaimConcurrent(t *testing.T, s chatstate.Store) {
	o := outboxOf(t, s)
	const total, claimers, batch = 200, 8, 7
	items := make([]chatstate.Outgoing, total)
	for i := range items {
		items[i] = mailItem(fmt.Sprintf("m%03d", i))
	}
	if err := o.EnqueueOutbox(t.Context(), items...); err != nil {
		t.Fatalf("EnqueueOutbox() = %v, want nil", err)
	}
	outboxes := make([]chatstate.Outbox, claimers)
	for i := range outboxes {
		outboxes[i] = o
	}
	if got := ClaimConcurrently(t, outboxes, batch, true); got != total {
		t.Errorf("claimed %d items, want %d", got, total)
	}
	if st := mustStats(t, o); counts(st) != [3]int64{0, total, 0} {
		t.Errorf("OutboxStats() = %+v, want all %d sent", st, total)
	}
}

// ClaimConcurrently runs one claimer per outbox at once (several may share
// one, as one instance's goroutines do; different stores are instances),
// each claiming batch items at a time until none is left, and marking them
// sent when send is set. It fails t when an item is claimed twice, and
// returns how many were claimed.
func ClaimConcurrently(t *testing.T, outboxes []chatstate.Outbox, batch int, send bool) int {
	t.Helper()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		seen = map[int64]string{}
	)
	for w, o := range outboxes {
		wg.Go(func() {
			owner := fmt.Sprintf("claimer-%d", w)
			for {
				got, err := o.ClaimOutbox(t.Context(), chatstate.OutboxMail, owner, batch, time.Hour)
				if err != nil {
					t.Errorf("ClaimOutbox(%s) = %v", owner, err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, it := range got {
					if prev, ok := seen[it.ID]; ok {
						t.Errorf("item %s claimed by %s and %s", it.Key, prev, owner)
					}
					seen[it.ID] = owner
				}
				mu.Unlock()
				for _, it := range got {
					if !send {
						break
					}
					if err := o.MarkOutboxSent(t.Context(), it.ID); err != nil {
						t.Errorf("MarkOutboxSent() = %v", err)
					}
				}
			}
		})
	}
	wg.Wait()
	return len(seen)
}
