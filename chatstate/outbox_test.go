package chatstate

import (
	"context"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// updateOnly is a store whose Update runs change on one chat in memory:
// all that Service.update needs.
type updateOnly struct {
	Store
	chat Chat
}

func (s *updateOnly) Update(_ context.Context, _ string, change func(*Chat) ([]Event, error)) (Chat, []Event, error) {
	c := s.chat
	evs, err := change(&c)
	if err != nil {
		return Chat{}, nil, err
	}
	for i := range evs {
		c.LastSeq++
		evs[i].Seq, evs[i].Outbox = c.LastSeq, nil
	}
	s.chat = c
	return c, evs, nil
}

// TestServiceOutboxed checks that a commit carrying outbox items, and only
// such a commit, wakes the sender.
func TestServiceOutboxed(t *testing.T) {
	woken := 0
	s := NewService(Config{Store: &updateOnly{chat: Chat{ID: "c", Phase: PhaseConnected}}, Outboxed: func() { woken++ }})
	mail := Outgoing{Kind: OutboxMail, Key: "k", Payload: []byte(`{}`)}
	tests := []struct {
		name      string
		events    []Event
		err       error
		wantWoken int
	}{
		{"no outbox", []Event{{Kind: EventMessage}}, nil, 0},
		{"outbox on the second event", []Event{{Kind: EventMessage}, {Kind: EventMessage, Outbox: []Outgoing{mail}}}, nil, 1},
		{"change refused", []Event{{Kind: EventMessage, Outbox: []Outgoing{mail}}}, errors.New("no"), 1},
		{"outbox again", []Event{{Kind: EventEnded, Outbox: []Outgoing{mail}}}, nil, 2},
	}
	for _, tt := range tests {
		_, _, err := s.update(t.Context(), "c", func(*Chat) ([]Event, error) { return tt.events, tt.err })
		if (err != nil) != (tt.err != nil) {
			t.Fatalf("%s: update() = %v, want %v", tt.name, err, tt.err)
		}
		if woken != tt.wantWoken {
			t.Errorf("%s: woken %d times, want %d", tt.name, woken, tt.wantWoken)
		}
	}
}

func TestOutboxReason(t *testing.T) {
	long := strings.Repeat("é", MaxOutboxError) // two bytes a rune
	got := OutboxReason(long)
	if len(got) > MaxOutboxError || !utf8.ValidString(got) || len(got) < MaxOutboxError-1 {
		t.Errorf("OutboxReason(%d bytes) = %d bytes, valid UTF-8 %v; want at most %d, cut at a rune", len(long), len(got), utf8.ValidString(got), MaxOutboxError)
	}
	if got := OutboxReason("short"); got != "short" {
		t.Errorf("OutboxReason(short) = %q", got)
	}
}
