package mail_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/parley/parley/chatstate"
	"github.com/parley/parley/chatstate/postgres"
	"github.com/parley/parley/chatstate/postgres/pgtest"
	"github.com/parley/parley/mail"
	"github.com/parley/parley/mail/mailtest"
)

// TestSendTwoInstances runs a sender on each of two stores sharing one
// PostgreSQL database, as two instances do, over 200 mails enqueued by
// chat events on both: each mail arrives exactly once, sent by one of
// them.
func TestSendTwoInstances(t *testing.T) {
	url := pgtest.URL(t)
	var stores [2]*postgres.Store
	for i := range stores {
		s, err := postgres.Open(context.Background(), url)
		if err != nil {
			t.Fatalf("postgres.Open() = %v", err)
		}
		t.Cleanup(func() { s.Close() })
		stores[i] = s
	}
	srv := mailtest.Start(t, mailtest.Config{})
	const chats, perChat = 20, 10
	var keys []string
	for c := range chats {
		id := fmt.Sprintf("chat-%02d", c)
		if err := stores[0].CreateChat(t.Context(), chatstate.Chat{ID: id, Phase: chatstate.PhaseConnected}, []byte("token "+id)); err != nil {
			t.Fatalf("CreateChat() = %v", err)
		}
	}
	var senders [2]running
	for i, s := range stores {
		cfg := quick(s, srv.URL())
		senders[i] = run(t, cfg)
	}
	// Mails are enqueued while both senders run, each woken by the
	// instance whose event it was.
	for c := range chats {
		id := fmt.Sprintf("chat-%02d", c)
		for n := range perChat {
			key := fmt.Sprintf("reply:%s:%d", id, n)
			keys = append(keys, key)
			o, err := mail.Message{To: fmt.Sprintf("visitor+%d-%d@example.com", c, n), Subject: "Reply", Text: key}.Outgoing(key)
			if err != nil {
				t.Fatalf("Outgoing() = %v", err)
			}
			i := (c + n) % 2
			_, _, err = stores[i].Update(t.Context(), id, func(*chatstate.Chat) ([]chatstate.Event, error) {
				return []chatstate.Event{{Kind: chatstate.EventMessage, Text: key, Outbox: []chatstate.Outgoing{o}}}, nil
			})
			if err != nil {
				t.Fatalf("Update() = %v", err)
			}
			senders[i].Wake()
		}
	}
	srv.Wait(t, chats*perChat, 60*time.Second)
	waitFor(t, 20*time.Second, "all marked sent", func() bool {
		return stats(t, senders[0].Sender).Outbox.Sent == chats*perChat
	})
	time.Sleep(300 * time.Millisecond) // time for a stray resend to show
	wantEachOnce(t, srv.Mails(), keys)
	a, b := stats(t, senders[0].Sender), stats(t, senders[1].Sender)
	if a.Sent+b.Sent != chats*perChat || a.Retried+b.Retried != 0 {
		t.Errorf("senders sent %d + %d with %d + %d retries, want %d in all and no retry", a.Sent, b.Sent, a.Retried, b.Retried, chats*perChat)
	}
	t.Logf("one instance sent %d, the other %d", a.Sent, b.Sent)
	// Every mail went to its own recipient.
	for _, m := range srv.Mails() {
		if len(m.To) != 1 || m.Text == "" {
			t.Errorf("mail %s to %v, want one recipient", m.MessageID, m.To)
		}
	}
}
