// Package storetest is the conformance suite for chatstate.Store backends.
// A backend's tests call Run with a function that opens a fresh store; the
// suite then holds it to the contract written on chatstate.Store.
//
// What the suite assumes where the contract is silent:
//
//   - Times (Chat.VisitorSeenAt, CreatedAt, UpdatedAt, Event.Time) are kept
//     to at least the microsecond: a read may differ from what was written
//     by less than a microsecond (SQLite truncates to unix microseconds,
//     PostgreSQL's timestamptz rounds), and its location may differ (times
//     are compared with time.Time.Equal). The zero time stays zero.
//     What Update returns is "as stored": it equals a later read exactly.
//   - Chat.MaxOffline is kept to at least the millisecond.
//   - A nil and an empty Registration.UserData are the same.
//   - The store keeps every Chat field as the caller sets it, except ID and
//     LastSeq, which it owns; CreatedAt and UpdatedAt are the caller's to set.
//   - CreateChat fails when the chat's ID or token hash is already taken.
//   - Update on a missing chat does not call change.
//   - Events on a missing chat returns ErrNotFound or no events.
//   - ChatFilter.Query folds case beyond ASCII ("ÉMILE" finds "Émile") and
//     matches literally: "%" and "_" are not wildcards.
package storetest

import (
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/parley/parley/chatstate"
)

// Run runs the conformance suite. open must return a new, empty store each
// time it is called, and may be called from parallel subtests; the suite
// closes every store it opens.
func Run(t *testing.T, open func(t *testing.T) chatstate.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(*testing.T, chatstate.Store)
	}{
		{"CreateChat/RoundTrip", testCreateRoundTrip},
		{"CreateChat/Duplicate", testCreateDuplicate},
		{"NotFound", testNotFound},
		{"ChatByUser", testChatByUser},
		{"Update/AppendsEvents", testUpdateAppends},
		{"Update/EventFields", testUpdateEventFields},
		{"Update/ChangeError", testUpdateChangeError},
		{"Update/ClientIDDedup", testClientIDDedup},
		{"Update/ClientIDDedupConcurrent", testClientIDDedupConcurrent},
		{"Update/IndependentChats", testIndependentChats},
		{"Update/Concurrent", testUpdateConcurrent},
		{"Events/Paging", testEventsPaging},
		{"LastEvents", testLastEvents},
		{"ListChats/Filter", testListChatsFilter},
		{"ListChats/DefaultLimit", testListChatsDefaultLimit},
		{"ListChats/OrderFollowsUpdate", testListChatsOrderFollowsUpdate},
		{"ListChats/OldestFirst", testListChatsOldestFirst},
		{"ListChats/OfflineAt", testListChatsOfflineAt},
		{"AgentSession/Lifecycle", testAgentSessionLifecycle},
		{"AgentSession/Expiry", testAgentSessionExpiry},
		{"AgentPresences", testAgentPresences},
		{"AgentPresences/Concurrent", testAgentPresencesConcurrent},
		{"Outbox/UpdateWrites", testOutboxUpdateWrites},
		{"Outbox/Dedup", testOutboxDedup},
		{"Outbox/FailedUpdate", testOutboxFailedUpdate},
		{"Outbox/Lifecycle", testOutboxLifecycle},
		{"Outbox/LeaseExpiry", testOutboxLeaseExpiry},
		{"Outbox/ClaimConcurrent", testOutboxClaimConcurrent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, openStore(t, open))
		})
	}
	t.Run("Close", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		mustCreate(t, s, fullChat(newID(t)))
		if err := s.Close(); err != nil {
			t.Errorf("Close() = %v, want nil", err)
		}
	})
}

// openStore opens a store that is closed when t ends.
func openStore(t *testing.T, open func(t *testing.T) chatstate.Store) chatstate.Store {
	t.Helper()
	s := open(t)
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close() = %v, want nil", err)
		}
	})
	return s
}

// stored compares values written to a store with values read back, to the
// precision stores promise (see the package comment).
func stored() cmp.Option {
	return cmp.Options{cmpopts.EquateApproxTime(time.Microsecond), cmpopts.EquateEmpty()}
}

// exact compares two values read from, or returned by, a store.
func exact() cmp.Option {
	return cmpopts.EquateEmpty()
}

// newID returns a random chat id.
func newID(t *testing.T) string {
	t.Helper()
	return "chat-" + rand.Text()
}

// tokenHash derives a distinct token hash per chat id, as the handlers do
// from a random token.
func tokenHash(id string) []byte {
	h := sha256.Sum256([]byte("token of " + id))
	return h[:]
}

// baseTime has nanoseconds and a zone on purpose: stores keep microseconds
// and may return another location.
func baseTime() time.Time {
	return time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.FixedZone("UTC+2", 2*60*60))
}

// fullChat returns a chat with every field set.
func fullChat(id string) chatstate.Chat {
	base := baseTime()
	return chatstate.Chat{
		ID:    id,
		Phase: chatstate.PhaseConnected,
		Draft: chatstate.Registration{
			FirstName: "Ada",
			LastName:  "Lovel",
			Email:     "ada@",
			Subject:   "Billing",
			UserData:  map[string]string{"plan": "pro"},
		},
		Visitor: chatstate.Registration{
			FirstName: "Ada",
			LastName:  "Lovelace",
			Email:     "ada@example.com",
			Subject:   "Billing question",
			UserData:  map[string]string{"plan": "pro", "ref": "newsletter", "note": "héllo 🎉 \"quoted\""},
		},
		Locale:        "ar",
		UserID:        "user-42",
		AgentName:     "alice",
		EndReason:     chatstate.ReasonAgent,
		EndSeen:       true,
		Page:          "/pricing?x=1#top",
		MaxOffline:    90 * time.Second,
		VisitorSeenAt: base.Add(3 * time.Minute),
		CreatedAt:     base,
		UpdatedAt:     base.Add(5 * time.Minute),
	}
}

// mustCreate stores c and returns its token hash.
func mustCreate(t *testing.T, s chatstate.Store, c chatstate.Chat) []byte {
	t.Helper()
	h := tokenHash(c.ID)
	if err := s.CreateChat(t.Context(), c, h); err != nil {
		t.Fatalf("CreateChat(%q) = %v, want nil", c.ID, err)
	}
	return h
}

// mustChat reads chat id.
func mustChat(t *testing.T, s chatstate.Store, id string) chatstate.Chat {
	t.Helper()
	c, err := s.Chat(t.Context(), id)
	if err != nil {
		t.Fatalf("Chat(%q) = %v, want nil", id, err)
	}
	return c
}

// mustUpdate runs Update and fails t on error.
func mustUpdate(t *testing.T, s chatstate.Store, id string, change func(*chatstate.Chat) ([]chatstate.Event, error)) (chatstate.Chat, []chatstate.Event) {
	t.Helper()
	c, evs, err := s.Update(t.Context(), id, change)
	if err != nil {
		t.Fatalf("Update(%q) = %v, want nil", id, err)
	}
	return c, evs
}

// mustEvents reads events of chat id.
func mustEvents(t *testing.T, s chatstate.Store, id string, after int64, limit int) []chatstate.Event {
	t.Helper()
	evs, err := s.Events(t.Context(), id, after, limit)
	if err != nil {
		t.Fatalf("Events(%q, %d, %d) = %v, want nil", id, after, limit, err)
	}
	return evs
}

// appendEvents is a change that only appends evs.
func appendEvents(evs ...chatstate.Event) func(*chatstate.Chat) ([]chatstate.Event, error) {
	return func(*chatstate.Chat) ([]chatstate.Event, error) { return evs, nil }
}

// message returns a visitor message.
func message(clientID, text string) chatstate.Event {
	return chatstate.Event{
		Kind:     chatstate.EventMessage,
		Time:     baseTime().Add(time.Hour),
		From:     chatstate.Party{Type: chatstate.PartyVisitor, Name: "Ada"},
		Text:     text,
		ClientID: clientID,
	}
}

// seqs returns the seqs of evs.
func seqs(evs []chatstate.Event) []int64 {
	out := make([]int64, len(evs))
	for i, e := range evs {
		out[i] = e.Seq
	}
	return out
}

// seqRange returns from, from+1, …, to.
func seqRange(from, to int64) []int64 {
	var out []int64
	for s := from; s <= to; s++ {
		out = append(out, s)
	}
	return out
}

// errNotFoundOrEmpty reports whether Events answered a missing chat as the
// contract allows.
func errNotFoundOrEmpty(evs []chatstate.Event, err error) bool {
	return errors.Is(err, chatstate.ErrNotFound) || (err == nil && len(evs) == 0)
}
