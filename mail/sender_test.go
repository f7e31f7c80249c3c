package mail_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/parley/parley/chatstate"
	"github.com/parley/parley/chatstate/sqlite"
	"github.com/parley/parley/mail"
	"github.com/parley/parley/mail/mailtest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const from = "Parley <chat@shop.example>"

// store is a SQLite store under t's temporary directory, closed when t
// ends, with one chat whose events carry the test's mails.
type store struct {
	*sqlite.Store
	chat string
}

func openStore(t *testing.T) store {
	t.Helper()
	return openStoreAt(t, filepath.Join(t.TempDir(), "parley.db"))
}

func openStoreAt(t *testing.T, path string) store {
	t.Helper()
	st := openStoreUnclosed(t, path)
	t.Cleanup(func() { st.Close() })
	return st
}

// openStoreUnclosed is openStoreAt for a test that closes the store itself.
func openStoreUnclosed(t *testing.T, path string) store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatalf("sqlite.Open() = %v", err)
	}
	st := store{Store: s, chat: "chat-1"}
	if _, err := s.Chat(t.Context(), st.chat); errors.Is(err, chatstate.ErrNotFound) {
		if err := s.CreateChat(t.Context(), chatstate.Chat{ID: st.chat, Phase: chatstate.PhaseConnected}, []byte("token hash")); err != nil {
			t.Fatalf("CreateChat() = %v", err)
		}
	}
	return st
}

// enqueue commits one chat event per mail, each carrying its mail, as the
// chat rules will.
func (s store) enqueue(t *testing.T, mails map[string]mail.Message) {
	t.Helper()
	// In key order, so that the outbox's order is the keys'.
	for _, key := range slices.Sorted(maps.Keys(mails)) {
		m := mails[key]
		o, err := m.Outgoing(key)
		if err != nil {
			t.Fatalf("Outgoing(%q) = %v", key, err)
		}
		_, _, err = s.Update(t.Context(), s.chat, func(*chatstate.Chat) ([]chatstate.Event, error) {
			return []chatstate.Event{{Kind: chatstate.EventMessage, From: chatstate.Party{Type: chatstate.PartyAgent, Name: "Sam"},
				Text: "reply " + key, Outbox: []chatstate.Outgoing{o}}}, nil
		})
		if err != nil {
			t.Fatalf("Update() = %v", err)
		}
	}
}

// numbered returns n mails, key "m000" to ada+0@example.com and on.
func numbered(n int) map[string]mail.Message {
	out := map[string]mail.Message{}
	for i := range n {
		out[fmt.Sprintf("m%03d", i)] = mail.Message{
			To:      fmt.Sprintf("ada+%d@example.com", i),
			Subject: fmt.Sprintf("Reply %d", i),
			Text:    fmt.Sprintf("Reply number %d", i),
			HTML:    fmt.Sprintf("<p>Reply number %d</p>", i),
		}
	}
	return out
}

// quick is a sender's Config for tests: short waits everywhere.
func quick(outbox mail.Outbox, url string) mail.Config {
	return mail.Config{
		Outbox:   outbox,
		SMTPURL:  url,
		From:     from,
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		Poll:     20 * time.Millisecond,
		Batch:    5,
		Lease:    2 * time.Second,
		Timeout:  5 * time.Second,
		MinRetry: 20 * time.Millisecond,
		MaxRetry: 100 * time.Millisecond,
	}
}

// running is a Sender running in a goroutine of the test's.
type running struct {
	*mail.Sender
	stop func()
}

// run starts a sender on cfg; it stops when the test ends, or on stop,
// which waits for Run to return.
func run(t *testing.T, cfg mail.Config) running {
	t.Helper()
	s, err := mail.NewSender(cfg)
	if err != nil {
		t.Fatalf("NewSender() = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Run(ctx)
	}()
	stop := sync.OnceFunc(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Errorf("Run() did not return within 10 s of its context ending")
		}
	})
	t.Cleanup(stop)
	return running{Sender: s, stop: stop}
}

// byMessageID counts the mails that arrived under each Message-ID.
func byMessageID(mails []mailtest.Mail) map[string]int {
	out := map[string]int{}
	for _, m := range mails {
		out[m.MessageID]++
	}
	return out
}

// wantEachOnce checks that each key's mail arrived exactly once, but for
// those in twice, which arrived exactly twice.
func wantEachOnce(t *testing.T, mails []mailtest.Mail, keys []string, twice ...string) {
	t.Helper()
	got := byMessageID(mails)
	for _, k := range keys {
		want := 1
		for _, k2 := range twice {
			if k == k2 {
				want = 2
			}
		}
		if n := got[mail.MessageID(k, "shop.example")]; n != want {
			t.Errorf("mail %s arrived %d times, want %d", k, n, want)
		}
	}
	if len(got) != len(keys) {
		t.Errorf("%d distinct mails arrived, want %d", len(got), len(keys))
	}
}

func keysOf(mails map[string]mail.Message) []string {
	var out []string
	for k := range mails {
		out = append(out, k)
	}
	return out
}

// waitFor polls cond until it holds, or fails t after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func stats(t *testing.T, s *mail.Sender) mail.Stats {
	t.Helper()
	st, err := s.Stats(t.Context())
	if err != nil {
		t.Fatalf("Stats() = %v", err)
	}
	return st
}

// TestSendArrives sends a mail through a real SMTP server and reads what
// arrived: envelope, headers, both parts, the stable Message-ID.
func TestSendArrives(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Config{})
	st := openStore(t)
	st.enqueue(t, map[string]mail.Message{
		"reply:chat-1:7": {
			To:      "Åsa Lind <asa@example.com>",
			Subject: "Sam answered: «where is my order?»",
			Text:    "Hello Åsa,\nyour parcel left today.\nhttps://shop.example/chat?restore=1",
			HTML:    `<p>Hello Åsa,</p><p>your parcel left today.</p><a href="https://shop.example/chat?restore=1">Back to the chat</a>`,
		},
		"text-only": {To: "bob@example.com", Subject: "Plain", Text: "Only text"},
	})
	sender := run(t, quick(st, srv.URL()))
	mails := srv.Wait(t, 2, 10*time.Second)

	var rich, plain mailtest.Mail
	for _, m := range mails {
		if m.MessageID == mail.MessageID("reply:chat-1:7", "shop.example") {
			rich = m
		} else {
			plain = m
		}
	}
	checks := []struct{ what, got, want string }{
		{"envelope from", rich.From, "chat@shop.example"},
		{"envelope to", strings.Join(rich.To, ","), "asa@example.com"},
		{"From", rich.Header.Get("From"), `"Parley" <chat@shop.example>`},
		{"Subject", rich.Subject, "Sam answered: «where is my order?»"},
		{"text part", rich.Text, "Hello Åsa,\r\nyour parcel left today.\r\nhttps://shop.example/chat?restore=1"},
		{"HTML part", rich.HTML, `<p>Hello Åsa,</p><p>your parcel left today.</p><a href="https://shop.example/chat?restore=1">Back to the chat</a>`},
		{"Auto-Submitted", rich.Header.Get("Auto-Submitted"), "auto-generated"},
		{"plain: to", strings.Join(plain.To, ","), "bob@example.com"},
		{"plain: Message-ID", plain.MessageID, mail.MessageID("text-only", "shop.example")},
		{"plain: text part", plain.Text, "Only text"},
		{"plain: HTML part", plain.HTML, ""},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.what, c.got, c.want)
		}
	}
	if to, err := rich.Header.AddressList("To"); err != nil || len(to) != 1 || to[0].Name != "Åsa Lind" || to[0].Address != "asa@example.com" {
		t.Errorf("To header = %v, %v; want Åsa Lind <asa@example.com> alone", to, err)
	}
	waitFor(t, 5*time.Second, "both marked sent", func() bool { return stats(t, sender.Sender).Outbox.Sent == 2 })
	if got := stats(t, sender.Sender); got.Sent != 2 || got.Outbox.Queued != 0 || got.Retried != 0 || got.Failed != 0 {
		t.Errorf("Stats() = %+v, want 2 sent and nothing else", got)
	}
}

// TestSendWake checks that Wake sends at once, without waiting for the
// poll.
func TestSendWake(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Config{})
	st := openStore(t)
	cfg := quick(st, srv.URL())
	cfg.Poll = time.Hour
	sender := run(t, cfg)
	time.Sleep(50 * time.Millisecond) // the first look found nothing
	st.enqueue(t, numbered(1))
	sender.Wake()
	srv.Wait(t, 1, 5*time.Second)
}

// TestSendTLSAndLogin sends over STARTTLS and over implicit TLS (smtps://),
// logging in, with the server's certificate checked.
func TestSendTLSAndLogin(t *testing.T) {
	for _, implicit := range []bool{false, true} {
		t.Run(fmt.Sprintf("implicit=%v", implicit), func(t *testing.T) {
			serverTLS, roots := mailtest.Certificate(t, "localhost")
			srv := mailtest.Start(t, mailtest.Config{TLS: serverTLS, ImplicitTLS: implicit, Username: "parley", Password: "s3cret:@"})
			st := openStore(t)
			st.enqueue(t, numbered(1))
			url := strings.Replace(srv.URL(), "127.0.0.1", "localhost", 1)
			cfg := quick(st, url)
			cfg.TLSConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
			run(t, cfg)
			m := srv.Wait(t, 1, 10*time.Second)[0]
			if !m.TLS || m.User != "parley" {
				t.Errorf("mail arrived with TLS %v, user %q; want TLS and the login", m.TLS, m.User)
			}
		})
	}
}

// TestSendFaults has the server refuse for a while (421/451), then go
// down, then come back: every mail arrives exactly once.
func TestSendFaults(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Config{})
	st := openStore(t)
	mails := numbered(20)
	st.enqueue(t, mails)
	srv.Refuse(451, "greylisted, try again later")
	sender := run(t, quick(st, srv.URL()))
	waitFor(t, 10*time.Second, "every mail refused once", func() bool { return stats(t, sender.Sender).Retried >= 20 })
	srv.Down()
	before := stats(t, sender.Sender).Retried
	waitFor(t, 10*time.Second, "retries while the server is down", func() bool { return stats(t, sender.Sender).Retried >= before+20 })
	srv.Accept()
	srv.Up()
	got := srv.Wait(t, 20, 20*time.Second)
	waitFor(t, 10*time.Second, "all marked sent", func() bool { return stats(t, sender.Sender).Outbox.Sent == 20 })
	time.Sleep(200 * time.Millisecond) // time for a stray resend to show
	wantEachOnce(t, srv.Mails(), keysOf(mails))
	if s := stats(t, sender.Sender); s.Sent != 20 || s.Failed != 0 || s.Outbox.Queued != 0 || s.Outbox.Failed != 0 {
		t.Errorf("Stats() = %+v, want 20 sent, none failed or queued", s)
	}
	if len(got) > 0 && got[0].Text == "" {
		t.Errorf("first mail has no text part")
	}
}

// TestSendGivesUp keeps what cannot be sent as failed, visible: a
// recipient refused for good, a payload that is not a mail (two addresses
// written into the outbox behind the Message's back), and a mail out of
// attempts.
func TestSendGivesUp(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Config{})
	st := openStore(t)
	srv.RefuseRecipient("gone@example.com")
	st.enqueue(t, map[string]mail.Message{
		"gone": {To: "gone@example.com", Subject: "Hi", Text: "Hi"},
		"fine": {To: "ada@example.com", Subject: "Hi", Text: "Hi"},
	})
	if err := st.EnqueueOutbox(t.Context(), chatstate.Outgoing{Kind: chatstate.OutboxMail, Key: "forged",
		Payload: []byte(`{"to": "ada@example.com, eve@example.com", "subject": "Hi", "text": "Hi"}`)}); err != nil {
		t.Fatalf("EnqueueOutbox() = %v", err)
	}
	sender := run(t, quick(st, srv.URL()))
	srv.Wait(t, 1, 10*time.Second)
	waitFor(t, 10*time.Second, "two mails given up", func() bool { return stats(t, sender.Sender).Outbox.Failed == 2 })
	sender.stop()
	if mails := srv.Mails(); len(mails) != 1 || mails[0].To[0] != "ada@example.com" {
		t.Errorf("arrived %d mails (%v), want the one to ada alone", len(mails), mails)
	}
	if s := stats(t, sender.Sender); s.Failed != 2 || s.Sent != 1 || s.Outbox.Queued != 0 {
		t.Errorf("Stats() = %+v, want 1 sent and 2 failed", s)
	}

	// Out of attempts: the server refuses every time.
	srv.Refuse(451, "try again later")
	st.enqueue(t, map[string]mail.Message{"never": {To: "ada@example.com", Subject: "Hi", Text: "Hi"}})
	cfg := quick(st, srv.URL())
	cfg.MaxAttempts = 3
	sender = run(t, cfg)
	waitFor(t, 10*time.Second, "the mail given up", func() bool { return stats(t, sender.Sender).Outbox.Failed == 3 })
	if s := stats(t, sender.Sender); s.Retried != 2 || s.Failed != 1 {
		t.Errorf("Stats() = %+v, want 2 retries, then given up", s)
	}
}

// TestSendStoppedMidSend stops a sender while the server holds a mail's
// DATA, after its body arrived but before the server's 250 (the server
// then keeps it, as a real one may). A new sender on the same store sends
// every mail: none is lost, and the one in flight arrives twice, under one
// Message-ID, which is what SMTP cannot tell apart.
func TestSendStoppedMidSend(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Config{})
	path := filepath.Join(t.TempDir(), "parley.db")
	st := openStoreAt(t, path)
	mails := numbered(5)
	st.enqueue(t, mails)
	held, release := srv.HoldData()
	cfg := quick(st, srv.URL())
	cfg.Batch = 2
	first := run(t, cfg)
	select {
	case <-held:
	case <-time.After(10 * time.Second):
		t.Fatal("no mail reached DATA")
	}
	stopped := time.Now()
	first.stop()
	if d := time.Since(stopped); d > 2*time.Second {
		t.Errorf("Run() took %v to return with the server holding: want the connection cut at once", d)
	}
	release()
	// The held mail was taken by the server, though its sender never
	// heard so.
	srv.Wait(t, 1, 5*time.Second)

	second := run(t, quick(st, srv.URL()))
	srv.Wait(t, 6, 20*time.Second)
	waitFor(t, 10*time.Second, "all marked sent", func() bool { return stats(t, second.Sender).Outbox.Sent == 5 })
	time.Sleep(200 * time.Millisecond)
	wantEachOnce(t, srv.Mails(), keysOf(mails), "m000")
}

// dies is an outbox whose first MarkOutboxSent kills its sender: the
// mail went out, the process died before it could record so.
type dies struct {
	mail.Outbox
	kill context.CancelFunc
	once sync.Once
}

func (d *dies) MarkOutboxSent(ctx context.Context, id int64) error {
	killed := false
	d.once.Do(func() {
		d.kill()
		killed = true
	})
	if killed {
		return errors.New("process killed")
	}
	return d.Outbox.MarkOutboxSent(ctx, id)
}

// TestSendKilledAfterData kills a sender between the server's 250 and
// recording the mail as sent, then closes its store, as a killed process
// would. A new process on the same file sends every mail once its lease
// ends: the one in the window arrives twice, with the same Message-ID, and
// no other.
func TestSendKilledAfterData(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Config{})
	path := filepath.Join(t.TempDir(), "parley.db")
	st := openStoreUnclosed(t, path)
	mails := numbered(6)
	st.enqueue(t, mails)

	ctx, kill := context.WithCancel(context.Background())
	cfg := quick(&dies{Outbox: st, kill: kill}, srv.URL())
	cfg.Lease = 500 * time.Millisecond
	cfg.Batch = 1
	s, err := mail.NewSender(cfg)
	if err != nil {
		t.Fatalf("NewSender() = %v", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Run(ctx)
	}()
	<-done
	if err := st.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}

	restarted := openStoreAt(t, path)
	second := run(t, quick(restarted, srv.URL()))
	srv.Wait(t, 7, 20*time.Second)
	waitFor(t, 10*time.Second, "all marked sent", func() bool { return stats(t, second.Sender).Outbox.Sent == 6 })
	time.Sleep(200 * time.Millisecond)
	wantEachOnce(t, srv.Mails(), keysOf(mails), "m000")
}

func TestNewSenderErrors(t *testing.T) {
	st := openStore(t)
	tests := []struct {
		name   string
		change func(*mail.Config)
	}{
		{"no outbox", func(c *mail.Config) { c.Outbox = nil }},
		{"no URL", func(c *mail.Config) { c.SMTPURL = "" }},
		{"bad URL", func(c *mail.Config) { c.SMTPURL = "http://user:secret@mail.example.com" }},
		{"no From", func(c *mail.Config) { c.From = "" }},
		{"two From", func(c *mail.Config) { c.From = "a@shop.example, b@shop.example" }},
		{"header in From", func(c *mail.Config) { c.From = "a@shop.example\r\nBcc: eve@example.com" }},
	}
	for _, tt := range tests {
		cfg := quick(st, "smtp://user:secret@mail.example.com")
		tt.change(&cfg)
		_, err := mail.NewSender(cfg)
		if err == nil {
			t.Errorf("%s: NewSender() = nil error, want one", tt.name)
		} else if strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: NewSender() = %v: the error shows the password", tt.name, err)
		}
	}
}
