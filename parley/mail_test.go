package parley_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
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

// TestAnswerToALeftMessageArrivesByMail: out of hours a visitor leaves a
// message; an agent's answer, sent twice, reaches the visitor's address
// once through a real SMTP server, in both parts, with the link back to
// the page the message was left on, and nothing the visitor or the agent
// typed unescaped in the HTML.
func TestAnswerToALeftMessageArrivesByMail(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Config{})
	cfg := testConfig(t)
	cfg.QueueWithoutAgents = false
	cfg.SMTPURL, cfg.MailFrom, cfg.SiteURL = srv.URL(), "Shop <chat@shop.example>", "https://shop.example"
	chat := newParley(t, cfg)
	site := liveSite(t, chat)

	v := newClient(t, site.URL)
	_, doc := v.get("/")
	if got := widgetState(doc); got != "start" || !strings.Contains(doc.Find(".parley-start button").Text(), "Leave a message") {
		t.Fatalf("nobody online: the widget is %q with %q, want the start of a message", got, doc.Find(".parley-start button").Text())
	}
	res, _ := v.post("/chat/start", url.Values{"parley_csrf": {chatToken(doc)}, "return_to": {"/"}})
	wantStatus(t, "start", res, http.StatusSeeOther)
	_, doc = v.get("/")
	res, _ = v.post("/chat/leave", url.Values{"parley_csrf": {chatToken(doc)}, "return_to": {"/"},
		"first_name": {"Ada <b>"}, "email": {"ada@example.com"}, "message": {"Do you ship <script>?"}})
	wantStatus(t, "leave a message", res, http.StatusSeeOther)
	_, doc = v.get("/")
	chatID := doc.Find("#parley-widget").AttrOr("data-chat-id", "")

	agent := newClient(t, site.URL)
	_, doc = agent.get("/agent/login")
	res, _ = agent.post("/agent/login", url.Values{"parley_csrf": {formToken(doc)}, "name": {"alice"}, "password": {"alice-password"}})
	wantStatus(t, "sign in", res, http.StatusSeeOther)
	_, doc = agent.get("/agent/messages/" + chatID)
	form := url.Values{"parley_csrf": {formToken(doc)}, "client_id": {doc.Find(`input[name="client_id"]`).AttrOr("value", "")},
		"text": {"We do, <i>in three days</i>."}}
	for range 2 {
		res, _ = agent.post("/agent/messages/"+chatID+"/reply", form)
		wantStatus(t, "reply", res, http.StatusOK)
	}

	got := srv.Wait(t, 1, 10*time.Second)[0]
	if len(got.To) != 1 || got.To[0] != "ada@example.com" {
		t.Errorf("the mail went to %q, want ada@example.com only", got.To)
	}
	if got.Subject != "alice answered your message" {
		t.Errorf("subject %q", got.Subject)
	}
	for _, want := range []string{"alice answered your message:", "We do, <i>in three days</i>.", "Read the conversation and write again: https://shop.example/"} {
		if !strings.Contains(got.Text, want) {
			t.Errorf("the text part lacks %q:\n%s", want, got.Text)
		}
	}
	html, err := goquery.NewDocumentFromReader(strings.NewReader(got.HTML))
	if err != nil {
		t.Fatal(err)
	}
	if html.Find("i, script, b").Length() != 0 || !strings.Contains(html.Find("blockquote").Text(), "We do, <i>in three days</i>.") {
		t.Errorf("the HTML part does not show the answer as text:\n%s", got.HTML)
	}
	if href := html.Find("a").AttrOr("href", ""); href != "https://shop.example/" {
		t.Errorf("the HTML part links to %q, want the page the message was left on", href)
	}
	// Nothing else is queued or on its way: the outbox kept one mail.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		text := metricsText(t, chat)
		if strings.Contains(text, "\nparley_mail_queued 0\n") && strings.Contains(text, "\nparley_mail_sent_total 1\n") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the outbox never settled at one mail sent:\n%s", text)
		}
	}
	if n := len(srv.Mails()); n != 1 {
		t.Errorf("%d mails arrived for one answer sent twice, want 1", n)
	}
}

// formToken is Parley's CSRF token in the first form of a page of its own.
func formToken(doc *goquery.Document) string {
	return doc.Find(`form input[name="parley_csrf"]`).AttrOr("value", "")
}
