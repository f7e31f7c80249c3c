package parley_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/parley/parley/chatstate/postgres/pgtest"
)

// TestPostgres runs Parley on PostgreSQL (Config.DatabaseURL): a chat
// started through one Parley is restored, transcript and all, by another
// opened on the same database, as after a restart.
func TestPostgres(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.SQLitePath, cfg.DatabaseURL = "", pgtest.URL(t)
	first := hostSite(t, cfg)
	v := newClient(t, first.URL)

	_, doc := v.get("/")
	res, _ := v.post("/chat/start", url.Values{"parley_csrf": {chatToken(doc)}, "return_to": {"/"}})
	wantStatus(t, "start", res, http.StatusSeeOther)
	_, doc = v.get("/")
	res, _ = v.post("/chat/register", url.Values{"parley_csrf": {chatToken(doc)}, "return_to": {"/"},
		"first_name": {"Grace"}, "email": {"grace@example.com"}})
	wantStatus(t, "register", res, http.StatusSeeOther)
	_, doc = v.get("/")
	res, _ = v.post("/chat/messages", url.Values{"parley_csrf": {chatToken(doc)}, "return_to": {"/"},
		"text": {"Kept in PostgreSQL"}})
	wantStatus(t, "send", res, http.StatusSeeOther)
	_, doc = v.get("/")
	chatID := doc.Find("#parley-widget").AttrOr("data-chat-id", "")
	if chatID == "" {
		t.Fatalf("after sending the widget shows %q and no chat", widgetState(doc))
	}

	// The cookie jar keys cookies by host, not port: the second server
	// gets the first one's restore cookie.
	v.base = hostSite(t, cfg).URL
	_, doc = v.get("/")
	if got := doc.Find("#parley-widget").AttrOr("data-chat-id", ""); got != chatID {
		t.Fatalf("the second Parley shows chat %q (%s), want %q", got, widgetState(doc), chatID)
	}
	if got := doc.Find(".parley-log .parley-text").Text(); !strings.Contains(got, "Kept in PostgreSQL") {
		t.Errorf("the second Parley's transcript is %q, want the message sent through the first", got)
	}
}
