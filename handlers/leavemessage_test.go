package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/google/go-cmp/cmp"
	"github.com/gorilla/websocket"

	"github.com/parley/parley/chatstate"
	"github.com/parley/parley/chatstate/hours"
)

// TestLeaveAMessageWhileNobodyIsOnline: with no agent online, the first
// paint of the widget already offers to leave a message; the form keeps
// its draft across reloads and its errors in place; the message waits in
// the console's list; an agent's answer is in the visitor's widget on the
// next visit, where the visitor may write again; and once an agent is
// online, a new visitor is offered a chat.
func TestLeaveAMessageWhileNobodyIsOnline(t *testing.T) {
	t.Parallel()
	en := newEnv(t)
	srv := siteAsConfigured(en.consoleDeps(nil))
	v := en.visitor(srv)

	w := v.get("/pricing").widget()
	if got := strings.TrimSpace(w.Find(".parley-start button").Text()); got != en.en("widget.leave_message") {
		t.Errorf("nobody online: the start button says %q, want %q", got, en.en("widget.leave_message"))
	}
	if got := strings.TrimSpace(w.Find(".parley-intro").Text()); got != en.en("widget.closed") {
		t.Errorf("nobody online: the intro says %q", got)
	}

	v.post("/chat/start", url.Values{"return_to": {"/pricing"}}).wantRedirect("/pricing")
	w = v.get("/pricing").widget()
	if got := w.AttrOr("data-state", ""); got != "leave_message" {
		t.Fatalf("after start the widget is %q, want the leave_message form", got)
	}
	res := v.post("/chat/draft", url.Values{"first_name": {"Ada"}, "message": {"Do you ship"}})
	res.wantStatus(http.StatusNoContent)
	w = v.get("/contact").widget()
	if got := w.Find("#parley-first_name").AttrOr("value", ""); got != "Ada" {
		t.Errorf("after a reload the name is %q, want the draft's", got)
	}
	if got := w.Find("#parley-left-message").Text(); got != "Do you ship" {
		t.Errorf("after a reload the message is %q, want the draft's", got)
	}

	// Without an email: refused in place, nothing typed lost.
	res = v.post("/chat/leave", url.Values{"return_to": {"/contact"}, "first_name": {"Ada"}, "message": {"Do you ship to Norway?"}}, hx)
	res.wantStatus(http.StatusUnprocessableEntity)
	frag := res.wantFragment()
	if got := frag.Find("#parley-email-error").Text(); got != en.en("registration.error.required") {
		t.Errorf("the email's error = %q", got)
	}
	if got := frag.Find("#parley-left-message").Text(); got != "Do you ship to Norway?" {
		t.Errorf("a refused message comes back as %q", got)
	}

	v.post("/chat/leave", url.Values{"return_to": {"/contact"}, "first_name": {"Ada"}, "email": {"ada@example.com"}, "message": {"Do you ship to Norway?"}}).wantRedirect("/contact")
	w = v.get("/contact").widget()
	if got, want := strings.TrimSpace(w.Find(".parley-status").Text()), en.en("leave.waiting", "name", "Ada", "email", "ada@example.com"); got != want {
		t.Errorf("the waiting message's status = %q, want %q", got, want)
	}
	if n := w.Find("form.parley-compose, form.parley-end").Length(); n != 0 {
		t.Errorf("a waiting message shows %d chat forms, want none: nobody is there", n)
	}
	id := w.AttrOr("data-chat-id", "")

	alice := agentBrowser(t, en, srv, "alice")
	console := alice.get("/agent").doc()
	row := console.Find("#agent-messages li")
	if row.Length() != 1 || !strings.Contains(row.Text(), "Do you ship to Norway?") || !strings.Contains(row.Text(), "ada@example.com") {
		t.Fatalf("the console's messages: %q, want Ada's", console.Find("#agent-messages").Text())
	}
	page := alice.get("/agent/messages/" + id)
	page.wantStatus(http.StatusOK)
	cid := page.doc().Find(`input[name="client_id"]`).AttrOr("value", "")
	for range 2 { // sent twice, stored once
		res = alice.post("/agent/messages/"+id+"/reply", url.Values{"client_id": {cid}, "text": {"We do, in three days."}})
		res.wantStatus(http.StatusOK)
	}
	if n := len(en.events(id, chatstate.EventMessage)); n != 1 {
		t.Errorf("the reply was stored %d times, want once", n)
	}
	if n := alice.get("/agent").doc().Find("#agent-messages li").Length(); n != 0 {
		t.Errorf("after the answer the console lists %d messages, want none", n)
	}

	// The visitor's next visit: the answer, and a way to write again.
	w = v.get("/").widget()
	lines := transcript(w)
	if len(lines) != 2 || lines[1].Text != "We do, in three days." || lines[0].Text != "Do you ship to Norway?" {
		t.Errorf("the visitor's widget shows %+v, want the message and the answer", lines)
	}
	v.post("/chat/leave", url.Values{"return_to": {"/"}, "message": {"And to Sweden?"}}).wantRedirect("/")
	if got := en.chat(id).Phase; got != chatstate.PhaseWaitingReply {
		t.Errorf("after writing again the chat is %s, want waiting_reply", got)
	}

	// Alice signed in: she is online, and a new visitor may chat.
	fresh := en.visitor(srv)
	if got := strings.TrimSpace(fresh.get("/").widget().Find(".parley-start button").Text()); got != en.en("widget.start") {
		t.Errorf("with alice online the start button says %q, want %q", got, en.en("widget.start"))
	}
}

// TestClosedHoursOfferAMessage: outside the hours the widget offers to
// leave a message even with an agent online, and says when chat opens.
func TestClosedHoursOfferAMessage(t *testing.T) {
	t.Parallel()
	en := newEnv(t)
	today := time.Now().UTC()
	schedule, err := hours.Parse("UTC; Mon-Sun 09:00-17:00; closed " + today.Format("2006-01-02"))
	if err != nil {
		t.Fatal(err)
	}
	d := en.consoleDeps(nil)
	d.Options.Hours = schedule
	srv := siteAsConfigured(d)
	agentBrowser(t, en, srv, "alice") // online, but the hours say closed
	w := en.visitor(srv).get("/").widget()
	if got := strings.TrimSpace(w.Find(".parley-start button").Text()); got != en.en("widget.leave_message") {
		t.Errorf("closed today: the start button says %q, want %q", got, en.en("widget.leave_message"))
	}
	want := en.en("widget.opens_at", "day", en.en("day.tomorrow"), "time", "09:00", "zone", "UTC")
	if diff := cmp.Diff(want, strings.TrimSpace(w.Find(".parley-opens").Text())); diff != "" {
		t.Errorf("when chat opens (-want +got):\n%s", diff)
	}
}

// TestLeftMessagesLimitedPerEmail: one address takes five messages in a
// burst, from however many visitors, and then no more for a while: the
// answers go there, and a script must not fill an inbox through Parley.
func TestLeftMessagesLimitedPerEmail(t *testing.T) {
	t.Parallel()
	en := newEnv(t)
	srv := siteAsConfigured(en.consoleDeps(nil))
	var first *visitor
	for i := range 5 {
		v := en.visitor(srv)
		v.get("/").wantStatus(http.StatusOK)
		v.post("/chat/start", url.Values{"return_to": {"/"}}).wantRedirect("/")
		res := v.post("/chat/leave", url.Values{"return_to": {"/"}, "first_name": {"Ada"}, "email": {" ADA@example.com"}, "message": {"hello"}}, hx)
		if res.status != http.StatusOK {
			t.Fatalf("message %d for one address: status %d, want 200", i+1, res.status)
		}
		if i == 0 {
			first = v
		}
	}
	// The sixth, writing again after an answer, is one too many.
	id := first.get("/").widget().AttrOr("data-chat-id", "")
	if _, err := en.chats.Reply(context.Background(), id, agentParty(), "r1", "Hello Ada"); err != nil {
		t.Fatal(err)
	}
	if res := first.post("/chat/leave", url.Values{"return_to": {"/"}, "message": {"again"}}, hx); res.status != http.StatusTooManyRequests {
		t.Errorf("a sixth message for one address: status %d, want 429", res.status)
	}
}

// TestQueuedVisitorLeavesItAsAMessage: a visitor waits in the queue and
// the last agent goes; the widget says so and offers to leave the chat as
// a message, which keeps what the visitor wrote and puts it among the
// messages agents answer.
func TestQueuedVisitorLeavesItAsAMessage(t *testing.T) {
	t.Parallel()
	en := newEnv(t)
	srv := siteAsConfigured(en.consoleDeps(nil))
	alice := agentBrowser(t, en, srv, "alice")
	v := en.visitor(srv)
	id := v.register("/", "Ada")
	v.say("/", "Is anyone there?")
	if n := v.get("/").widget().Find("form.parley-to-message").Length(); n != 0 {
		t.Errorf("with alice online the queued visitor is offered %d ways to leave a message, want none", n)
	}

	alice.post("/agent/status", url.Values{"status": {"offline"}}).wantRedirect("/agent")
	w := v.get("/").widget()
	offer := w.Find("form.parley-to-message")
	if got, want := strings.TrimSpace(offer.Find("p").Text()), en.en("leave.nobody", "email", "ada@example.com"); got != want {
		t.Fatalf("nobody online: the queued visitor is told %q, want %q", got, want)
	}
	v.post("/chat/to-message", url.Values{"return_to": {"/"}}).wantRedirect("/")
	if got := en.chat(id).Phase; got != chatstate.PhaseWaitingReply {
		t.Fatalf("after leaving it as a message the chat is %s", got)
	}
	lines := transcript(v.get("/").widget())
	if len(lines) == 0 || lines[len(lines)-1].Text != "Is anyone there?" {
		t.Errorf("the widget shows %+v, want what the visitor wrote, kept", lines)
	}
	row := alice.get("/agent").doc().Find("#agent-messages li")
	if row.Length() != 1 || !strings.Contains(row.Text(), "Is anyone there?") {
		t.Errorf("the console lists %q, want Ada's chat with what she wrote", row.Text())
	}
}

// TestConsoleSeesAQueuedChatLeftAsAMessage: when a waiting visitor leaves
// the chat as a message, an open console's live feed takes the chat off
// the queue and puts it among the messages, in one frame.
func TestConsoleSeesAQueuedChatLeftAsAMessage(t *testing.T) {
	t.Parallel()
	en := newEnv(t)
	d := en.consoleDeps(nil)
	ls := startLiveServer(t, d)
	_, id := registeredVisitor(t, en, ls)
	alice := agentBrowser(t, en, ls.Config.Handler, "alice")
	wsURL := "ws" + strings.TrimPrefix(ls.URL, "http") + "/agent/ws?" + en.chatsQueueVersion(t, alice)
	conn, _, err := websocket.DefaultDialer.Dial(wsURL, http.Header{"Origin": {ls.URL}, "Cookie": {alice.cookieHeader()}})
	if err != nil {
		t.Fatalf("dial /agent/ws: %v", err)
	}
	defer conn.Close()
	send(t, conn, map[string]any{"type": "hello", "lastSeq": 0})
	wantResume(t, next(t, conn), true)

	if _, err := en.chats.QueuedToMessage(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	f := nextWith(t, conn, "agent-messages")
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(f.HTML))
	if err != nil {
		t.Fatal(err)
	}
	if n := doc.Find("#agent-queue-list > li").Length(); n != 0 || doc.Find("#agent-queue-list").Length() != 1 {
		t.Errorf("the frame's queue has %d rows (list sent: %d), want the chat gone from it", n, doc.Find("#agent-queue-list").Length())
	}
	if n := doc.Find("#agent-messages li").Length(); n != 1 {
		t.Errorf("the frame's messages list %d, want the chat left as a message", n)
	}
}
