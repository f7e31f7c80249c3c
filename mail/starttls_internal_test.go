package mail

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/parley/parley/chatstate"
	"github.com/parley/parley/chatstate/sqlite"
	"github.com/parley/parley/mail/mailtest"
)

// TestSTARTTLSRequired sends to a server named mail.test (not this
// machine, as far as the sender can tell; dialAddr takes it to the test's
// server): one that offers no STARTTLS gets no mail, and no password, and
// one that offers it gets the mail over TLS.
func TestSTARTTLSRequired(t *testing.T) {
	for _, offer := range []bool{false, true} {
		t.Run(map[bool]string{false: "not offered", true: "offered"}[offer], func(t *testing.T) {
			var cfg mailtest.Config
			serverTLS, roots := mailtest.Certificate(t, "mail.test")
			if offer {
				cfg.TLS = serverTLS
			}
			srv := mailtest.Start(t, cfg)
			st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "parley.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			o, err := Message{To: "ada@example.com", Subject: "Hi", Text: "Hi"}.Outgoing("k")
			if err != nil {
				t.Fatal(err)
			}
			if err := st.EnqueueOutbox(t.Context(), o); err != nil {
				t.Fatal(err)
			}
			s, err := NewSender(Config{Outbox: st, SMTPURL: "smtp://mail.test:587", From: "chat@shop.example",
				TLSConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
				Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)), MinRetry: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			s.server.dialAddr = srv.Addr()
			if s.client, err = s.server.client(s.cfg.Timeout, s.cfg.TLSConfig); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			s.drain(ctx)
			st2, err := s.Stats(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if !offer {
				if len(srv.Mails()) != 0 || st2.Retried != 1 || st2.Outbox.Queued != 1 {
					t.Errorf("without STARTTLS: %d mails arrived, stats %+v; want none, the mail queued for a retry", len(srv.Mails()), st2)
				}
				items, err := st.ClaimOutbox(t.Context(), chatstate.OutboxMail, "x", 1, time.Minute)
				if err != nil {
					t.Fatal(err)
				}
				if len(items) != 0 {
					t.Errorf("the retry is due at once, want it an hour away")
				}
				return
			}
			mails := srv.Mails()
			if len(mails) != 1 || !mails[0].TLS {
				t.Errorf("with STARTTLS: %d mails, want one, over TLS (%+v)", len(mails), mails)
			}
		})
	}
}
