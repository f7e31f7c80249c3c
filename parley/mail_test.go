package parley_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"go.uber.org/goleak"

	"github.com/parley/parley/chatstate"
	"github.com/parley/parley/chatstate/sqlite"
	"github.com/parley/parley/mail"
	"github.com/parley/parley/mail/mailtest"
	"github.com/parley/parley/parley"
)

// metricsText scrapes chat's metrics as the server's own machine.
func metricsText(t *testing.T, chat *parley.Parley) string {
	t.Helper()
	e := echo.New()
	e.GET("/metrics", chat.Metrics)
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.RemoteAddr = "127.0.0.1:40000"
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics = %d, want 200", rec.Code)
	}
	return rec.Body.String()
}

// TestMailSentAndCounted configures SMTP: New starts the sender, which
// sends what the outbox holds through a real SMTP server, the metrics
// count it, and Close stops it.
func TestMailSentAndCounted(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Config{})
	store, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "chat.db"))
	if err != nil {
		t.Fatalf("sqlite.Open() = %v", err)
	}
	defer store.Close()
	o, err := mail.Message{To: "ada@example.com", Subject: "Sam answered", Text: "Hello"}.Outgoing("reply:1")
	if err != nil {
		t.Fatal(err)
	}
	if err := store.EnqueueOutbox(t.Context(), o); err != nil {
		t.Fatal(err)
	}

	leaks := goleak.IgnoreCurrent()
	cfg := testConfig(t)
	cfg.SQLitePath, cfg.Store = "", store
	cfg.SMTPURL, cfg.MailFrom = srv.URL(), "Parley <chat@shop.example>"
	chat, err := parley.New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("parley.New() = %v", err)
	}
	got := srv.Wait(t, 1, 10*time.Second)[0]
	if got.Subject != "Sam answered" || got.MessageID != mail.MessageID("reply:1", "shop.example") || got.From != "chat@shop.example" {
		t.Errorf("mail arrived: subject %q, Message-ID %q, from %q", got.Subject, got.MessageID, got.From)
	}
	deadline := time.Now().Add(10 * time.Second)
	want := []*regexp.Regexp{
		regexp.MustCompile(`\nparley_mail_sent_total 1\n`),
		regexp.MustCompile(`\nparley_mail_queued 0\n`),
		regexp.MustCompile(`\nparley_mail_failed 0\n`),
		regexp.MustCompile(`\nparley_mail_oldest_queued_seconds 0\n`),
		regexp.MustCompile(`\nparley_mail_failed_total 0\n`),
		regexp.MustCompile(`\nparley_mail_retries_total 0\n`),
	}
	for {
		text := metricsText(t, chat)
		var missing []string
		for _, re := range want {
			if !re.MatchString(text) {
				missing = append(missing, strings.TrimSpace(re.String()))
			}
		}
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics lack %v:\n%s", missing, text)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := chat.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	goleak.VerifyNone(t, leaks)
}

// TestMailMetricsOnlyWithSMTP: without SMTP there is no sender, and no
// mail metrics to mislead.
func TestMailMetricsOnlyWithSMTP(t *testing.T) {
	if text := metricsText(t, newParley(t, testConfig(t))); strings.Contains(text, "parley_mail_") {
		t.Errorf("metrics without SMTP show mail:\n%s", text)
	}
}

// bareStore hides every method of the store it holds but chatstate.Store's.
type bareStore struct{ chatstate.Store }

// TestMailNeedsAnOutbox: a Store without an outbox (and no Unwrap to one)
// cannot send mail, and New says so rather than dropping mails.
func TestMailNeedsAnOutbox(t *testing.T) {
	store, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "chat.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	cfg := testConfig(t)
	cfg.SQLitePath, cfg.Store = "", bareStore{store}
	cfg.SMTPURL, cfg.MailFrom = "smtp://127.0.0.1:1025", "chat@shop.example"
	if chat, err := parley.New(t.Context(), cfg); err == nil {
		chat.Close()
		t.Fatal("parley.New() = nil error, want one saying the store keeps no outbox")
	} else if !strings.Contains(err.Error(), "keeps no outbox") {
		t.Errorf("parley.New() = %v, want it to say the store keeps no outbox", err)
	}
}
