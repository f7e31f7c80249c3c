package e2e

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// transcriptEntry is one entry of session.getTranscript().
type transcriptEntry struct {
	Seq  int64  `json:"seq"`
	Time string `json:"time"`
	Text string `json:"text"`
	From struct {
		Type string `json:"type"`
		Name string `json:"name"`
	} `json:"from"`
}

// startEmbedded starts a chat with the page's startChat(options), fills in
// the built-in registration form and checks that the promise resolves only
// once the chat is registered. It returns the chat's id.
func startEmbedded(t *testing.T, p *page, options, firstName string) string {
	t.Helper()
	start := callJS(p, "startChat", options)
	p.fillField("First name", firstName)
	p.fillField("Email", firstName+"@example.com")
	if c := siteState(p).Calls[start]; c.State != "pending" {
		t.Fatalf("startChat settled (%+v) before the registration form was submitted", c)
	}
	p.clickButton("Start")
	c := waitCall(t, p, start)
	if c.State != "done" || c.Phase != "queued" || c.Chat == "" {
		t.Fatalf("startChat(%s) = %+v, want done with a queued chat", options, c)
	}
	if id := widgetAttr(p, "data-chat-id"); id != c.Chat {
		t.Errorf("session.getChatId() = %q, the widget shows chat %q", c.Chat, id)
	}
	return c.Chat
}

func TestAPIStartRegisterReload(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "")
	p := newBrowser(t).newPage(t)
	installSite(p, siteSetup{})
	p.navigate(srv.URL + "/")

	if c := siteRestore(t, p); c.State != "fail" || c.Event == nil || c.Event.Error != nil || c.Event.Reason != "" {
		t.Errorf("restoreChat with no chat = %+v, want fail with neither error nor reason", c)
	}
	chatID := startEmbedded(t, p, "{embedded: true}", "Ada")

	seq := sendViaAPI(t, p, "Hello from the API")
	if seq <= 0 {
		t.Fatalf("sendMessage resolved with seq %d", seq)
	}
	waitTranscriptLine(t, p, "Hello from the API")
	if got := evalJS[string](p, "document.getElementById('parley-seq-' + "+strconv.FormatInt(seq, 10)+").textContent"); !strings.Contains(got, "Hello from the API") {
		t.Errorf("transcript line of seq %d = %q", seq, got)
	}
	before := p.itemsOf(logRole, logName)
	transcript := evalJS[[]transcriptEntry](p, "e2e.session.getTranscript()")
	if n := len(transcript); n == 0 || transcript[n-1].Seq != seq || transcript[n-1].Text != "Hello from the API" || transcript[n-1].From.Type != "visitor" {
		t.Errorf("getTranscript() = %+v, want it to end with the message of seq %d", transcript, seq)
	}

	p.reload()
	c := siteRestore(t, p)
	if c.State != "done" || c.Chat != chatID {
		t.Fatalf("restoreChat after reload = %+v, want done with chat %s", c, chatID)
	}
	if diff := cmp.Diff(before, p.itemsOf(logRole, logName)); diff != "" {
		t.Errorf("transcript after reload differs (-before +after):\n%s", diff)
	}
	if diff := cmp.Diff(transcript, evalJS[[]transcriptEntry](p, "e2e.session.getTranscript()")); diff != "" {
		t.Errorf("getTranscript() after reload differs (-before +after):\n%s", diff)
	}
	if next := sendViaAPI(t, p, "Still here after the reload"); next <= seq {
		t.Errorf("a message after the reload got seq %d, not after %d", next, seq)
	}
	waitLines(t, p, "Still here after the reload", 1)
}

func TestAPIRestoreDuringRegistration(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "")
	p := openSite(t, newBrowser(t), srv, "/pricing", siteSetup{})

	start := callJS(p, "startChat", "{embedded: true}")
	typed := map[string]string{"First name": "Grace", "Last name": "Hopper", "Email": "grace@example.com", "Subject": "Tent poles"}
	for _, field := range []string{"First name", "Last name", "Email", "Subject"} {
		p.fillField(field, typed[field])
	}
	chatID := widgetAttr(p, "data-chat-id")
	waitDraftSaved(t, p, typed)
	if c := siteState(p).Calls[start]; c.State != "pending" {
		t.Fatalf("startChat settled before registration: %+v", c)
	}

	p.reload()
	p.waitFor("textbox", "First name")
	checkForm(t, p, "after reload", typed)
	// The values come from the server's HTML (the fields' default values),
	// not from the browser refilling a reloaded form.
	served := evalJS[map[string]string](p, `Object.fromEntries(Array.from(
		document.querySelectorAll("#parley-widget label[for]"),
		l => [l.textContent.trim(), document.getElementById(l.htmlFor).defaultValue]))`)
	if diff := cmp.Diff(typed, served); diff != "" {
		t.Errorf("the form the server rendered after reload (-typed +served):\n%s", diff)
	}
	// The page's restoreChat waits for the visitor: it must not settle
	// while the form is on screen.
	waitUntil(t, p, "the site's restoreChat call", "window.e2e && e2e.calls.length === 1")
	if c := siteState(p).Calls[0]; c.State != "pending" {
		t.Fatalf("restoreChat in the registration phase settled before the form was submitted: %+v", c)
	}
	p.fillField("Subject", "Tent poles, again")
	if c := siteState(p).Calls[0]; c.State != "pending" {
		t.Fatalf("restoreChat settled while the visitor typed: %+v", c)
	}
	// A site may call restoreChat again (say, after a partial navigation):
	// both calls settle, with the one chat.
	again := callJS(p, "restoreChat", "{embedded: true}")

	p.clickButton("Start")
	for _, i := range []int{0, again} {
		c := waitCall(t, p, i)
		if c.State != "done" || c.Phase != "queued" || c.Chat != chatID {
			t.Fatalf("restoreChat call %d after submitting = %+v, want done once chat %s is queued", i, c, chatID)
		}
	}
	if n := evalJS[int](p, "e2e.sessions.length"); n != 1 {
		t.Errorf("the page made %d sessions, want 1", n)
	}
	p.waitText("Thanks, Grace! An agent will be with you shortly.")
	waitLines(t, p, sendAndWait(t, p, "Hello after registering"), 1)
}

// sendAndWait sends text with the session API and waits for its line.
func sendAndWait(t *testing.T, p *page, text string) string {
	t.Helper()
	sendViaAPI(t, p, text)
	waitTranscriptLine(t, p, text)
	return text
}

func TestAPINavigation(t *testing.T) {
	t.Parallel()
	_, agent, p, chatID := embeddedChat(t)
	agent.accept(chatID)
	p.waitText("alice joined the chat.")

	t.Run("full page load", func(t *testing.T) {
		markDocument(p)
		p.clickLinkAndWaitLoad("Contact")
		if documentMarked(p) {
			t.Fatal("the Contact link did not load a new document")
		}
		if c := siteRestore(t, p); c.State != "done" || c.Chat != chatID {
			t.Fatalf("restoreChat after a full load = %+v, want done with chat %s", c, chatID)
		}
		sendAndWait(t, p, "Sent after a full load")
		agent.send(chatID, "Agent reply after a full load")
		ev := waitEvent(t, p, "the agent's reply", func(e sessionEvent) bool {
			return e.Callback == "onMessageReceived" && e.Text == "Agent reply after a full load"
		})
		if ev.From.Type != "agent" || ev.From.Name != apiAgentName {
			t.Errorf("onMessageReceived from = %+v, want agent %s", ev.From, apiAgentName)
		}
		waitLines(t, p, "Agent reply after a full load", 1)
	})

	t.Run("hx-boost keeps the widget and the session", func(t *testing.T) {
		markDocument(p)
		evalJS[bool](p, `(e2e.keptSession = e2e.session, document.getElementById("parley-widget").e2eTag = "kept", true)`)
		before := siteState(p)

		p.clickLink("Products")
		p.waitFor("heading", "Products")
		if got := p.path(); got != "/products" {
			t.Errorf("location after clicking Products = %q", got)
		}
		if !documentMarked(p) {
			t.Fatal("the Products link loaded a new document; want a boosted swap")
		}
		if !evalJS[bool](p, `document.getElementById("parley-widget").e2eTag === "kept"`) {
			t.Error("the widget is a new element after the boosted navigation")
		}
		// Pricing is boosted too: two swaps in a row, and back again.
		p.clickLink("Compare prices")
		p.waitFor("heading", "Pricing")
		evalJS[bool](p, "history.back(), true")
		p.waitFor("heading", "Products")
		p.clickLink("Compare prices")
		p.waitFor("heading", "Pricing")
		if !documentMarked(p) || !evalJS[bool](p, `document.getElementById("parley-widget").e2eTag === "kept"`) {
			t.Fatal("going back and forth replaced the document or the widget")
		}

		after := siteState(p)
		restores := 0
		for _, c := range after.Calls {
			if c.Name == "restoreChat" {
				restores++
			}
		}
		if restores != 1 {
			t.Errorf("restoreChat ran %d times in this document after boosted navigations, want 1", restores)
		}
		if len(after.Sockets) != len(before.Sockets) {
			t.Errorf("boosted navigations opened WebSockets %q (had %q), want the session's one kept", after.Sockets, before.Sockets)
		}
		if !evalJS[bool](p, "e2e.session === e2e.keptSession && e2e.sessions.length === 1") {
			t.Error("the session object changed after boosted navigations")
		}
		sendAndWait(t, p, "Sent after hx-boost")
		agent.send(chatID, "Agent reply after hx-boost")
		waitEvent(t, p, "the agent's reply", func(e sessionEvent) bool {
			return e.Callback == "onMessageReceived" && e.Text == "Agent reply after hx-boost"
		})
		waitLines(t, p, "Agent reply after hx-boost", 1)
		waitLines(t, p, "Sent after hx-boost", 1)
		if n := len(siteState(p).Events); n == 0 {
			t.Error("no session callbacks fired after the boosted navigation")
		}
		// The agent sees where the visitor is.
		agent.waitPane(chatID, "the visitor on /pricing", func(c chatPane) bool { return strings.Contains(c.Facts, "/pricing") })
	})
}

// usedLongPoll reports whether the page's fetches include the long-poll
// endpoints.
func usedLongPoll(s harnessState) bool {
	poll, frames := false, false
	for _, u := range s.Fetches {
		poll = poll || strings.Contains(u, "/chat/poll")
		frames = frames || strings.Contains(u, "/chat/frames")
	}
	return poll && frames
}

// exchange sends a message each way between the page's session and the
// agent and checks each shows once.
func exchange(t *testing.T, p *page, agent *agentClient, chatID, tag string) {
	t.Helper()
	mine := "Visitor says " + tag
	sendViaAPI(t, p, mine)
	waitLines(t, p, mine, 1)
	agent.waitPane(chatID, "the visitor's message", func(c chatPane) bool { return strings.Contains(strings.Join(c.Lines, "\n"), mine) })
	theirs := "Agent says " + tag
	agent.send(chatID, theirs)
	waitEvent(t, p, "the agent's message", func(e sessionEvent) bool { return e.Callback == "onMessageReceived" && e.Text == theirs })
	waitLines(t, p, theirs, 1)
}

func TestAPIDisableWebSockets(t *testing.T) {
	t.Parallel()
	srv := startAPIServer(t)
	agent := signInAgent(t, srv)
	p := openSite(t, newBrowser(t), srv, "/", siteSetup{restoreOptions: "{disableWebSockets: true}"})
	chatID := startEmbedded(t, p, "{embedded: true, disableWebSockets: true}", "Ada")
	agent.accept(chatID)
	exchange(t, p, agent, chatID, "before reload")
	s := siteState(p)
	if len(s.Sockets) != 0 || !usedLongPoll(s) {
		t.Errorf("with disableWebSockets: WebSockets %q, long-poll used %v; want none and long-poll", s.Sockets, usedLongPoll(s))
	}

	p.reload()
	if c := siteRestore(t, p); c.State != "done" {
		t.Fatalf("restoreChat after reload = %+v", c)
	}
	exchange(t, p, agent, chatID, "after reload")
	s = siteState(p)
	if len(s.Sockets) != 0 || !usedLongPoll(s) {
		t.Errorf("after reload: WebSockets %q, long-poll used %v; want none and long-poll", s.Sockets, usedLongPoll(s))
	}
}

func TestAPIWebSocketBlocked(t *testing.T) {
	t.Parallel()
	srv := startAPIServer(t)
	agent := signInAgent(t, srv)
	p := openSite(t, newBrowser(t), srv, "/", siteSetup{webSocket: "block"})
	chatID := startEmbedded(t, p, "{embedded: true}", "Ada")
	agent.accept(chatID)
	// The accept re-renders the widget: the form is another element after it.
	waitTranscriptLine(t, p, apiAgentName+" joined the chat.")
	// The UI works as well as the API.
	sendMessage(t, p, "Typed while WebSockets are blocked")
	exchange(t, p, agent, chatID, "over the fallback")
	s := siteState(p)
	if len(s.Sockets) == 0 {
		t.Error("the page never tried a WebSocket; want WebSocket first")
	}
	if !usedLongPoll(s) {
		t.Errorf("the page did not fall back to long-poll; it fetched %q", s.Fetches)
	}
	waitLines(t, p, "Typed while WebSockets are blocked", 1)
}

// customTransport is a site's own transport: it wraps the built-in
// long-poll transport and counts the frames it moves.
const customTransport = `e2e.frames = {connects: 0, sent: [], received: []};
  e2e.transport = (() => {
    let inner = null;
    return {
      connect(handlers) {
        e2e.frames.connects++;
        inner = inner || window.chat.transports.longpoll();
        inner.connect({
          open: () => handlers.open(),
          frame: f => { e2e.frames.received.push(f.type); handlers.frame(f); },
          close: info => handlers.close(info)
        });
      },
      send(frame) {
        e2e.frames.sent.push(frame.type);
        if (frame.type === "message" && e2e.dropMessages) return true; // lost on the way
        if (frame.type === "message" && e2e.duplicateMessages) inner.send(frame); // sent twice
        return inner.send(frame);
      },
      close() { if (inner) inner.close(); }
    };
  })();`

type frameCounts struct {
	Connects int      `json:"connects"`
	Sent     []string `json:"sent"`
	Received []string `json:"received"`
}

func TestAPICustomTransport(t *testing.T) {
	t.Parallel()
	srv := startAPIServer(t)
	agent := signInAgent(t, srv)
	p := openSite(t, newBrowser(t), srv, "/", siteSetup{prelude: customTransport, restoreOptions: "{transport: e2e.transport}"})
	chatID := startEmbedded(t, p, "{embedded: true, transport: e2e.transport}", "Ada")
	agent.accept(chatID)

	for _, when := range []string{"before reload", "after reload"} {
		if when == "after reload" {
			p.reload()
			if c := siteRestore(t, p); c.State != "done" {
				t.Fatalf("restoreChat after reload = %+v", c)
			}
		}
		exchange(t, p, agent, chatID, when)
		frames := evalJS[frameCounts](p, "e2e.frames")
		s := siteState(p)
		if frames.Connects == 0 || !slices.Contains(frames.Sent, "hello") || !slices.Contains(frames.Sent, "message") {
			t.Errorf("%s: the custom transport connected %d times and sent %q; want hello and the message through it", when, frames.Connects, frames.Sent)
		}
		for _, kind := range []string{"resume", "ack", "event"} {
			if !slices.Contains(frames.Received, kind) {
				t.Errorf("%s: the custom transport received %q, want a %s frame among them", when, frames.Received, kind)
			}
		}
		if len(s.Sockets) != 0 {
			t.Errorf("%s: the page opened WebSockets %q besides the custom transport", when, s.Sockets)
		}
	}

	// A send lost on the way is retried by the next page, and stored once.
	evalJS[bool](p, `(e2e.dropMessages = true, e2e.session.sendMessage("Lost on the way, then retried"), true)`)
	waitUntil(t, p, "the lost message was sent", `e2e.frames.sent.filter(k => k === "message").length >= 1`)
	p.reload()
	siteRestore(t, p)
	waitLines(t, p, "Lost on the way, then retried", 1)
	agent.waitPane(chatID, "the retried message", func(c chatPane) bool {
		return strings.Contains(strings.Join(c.Lines, "\n"), "Lost on the way, then retried")
	})

	// A send that reaches the server twice is stored and shown once.
	seq := evalJS[int64](p, `(e2e.duplicateMessages = true, e2e.session.sendMessage("Sent twice, stored once").then(r => r.seq))`)
	waitLines(t, p, "Sent twice, stored once", 1)
	agent.send(chatID, "After the duplicate")
	waitLines(t, p, "After the duplicate", 1)
	pane := agent.pane(chatID)
	n := 0
	for _, line := range pane.Lines {
		if strings.Contains(line, "Sent twice, stored once") {
			n++
		}
	}
	if n != 1 || seq <= 0 {
		t.Errorf("a message sent twice is %d times in the agent's transcript (seq %d), want once", n, seq)
	}
}

// customRegistration is a site's own registration: it counts its calls and
// waits until the test hands it the visitor's data.
const customRegistration = `e2e.registrations = 0;
  e2e.registration = () => { e2e.registrations++; return new Promise(resolve => { e2e.register = resolve; }); };`

func TestAPICustomRegistration(t *testing.T) {
	t.Parallel()
	srv := startAPIServer(t)
	agent := signInAgent(t, srv)
	p := openSite(t, newBrowser(t), srv, "/", siteSetup{prelude: customRegistration, restoreOptions: "{registration: e2e.registration}"})

	start := callJS(p, "startChat", "{embedded: true, registration: e2e.registration}")
	waitUntil(t, p, "the site's registration function is called", "e2e.registrations === 1")
	if n := p.count("textbox", "First name"); n != 0 {
		t.Error("the built-in registration form shows although the site registers the visitor itself")
	}
	if c := siteState(p).Calls[start]; c.State != "pending" {
		t.Fatalf("startChat settled before the registration function returned: %+v", c)
	}

	// Reloaded in the registration phase: the function is called again.
	p.reload()
	waitUntil(t, p, "the registration function is called again after reload", "e2e.registrations === 1 && !!e2e.register")
	if c := siteState(p).Calls[0]; c.State != "pending" {
		t.Fatalf("restoreChat settled before the registration function returned: %+v", c)
	}
	evalJS[bool](p, `(e2e.register({firstName: "Reggie", lastName: "Stration", email: "reggie@example.com",
		subject: "Boots by custom form", userData: {plan: "gold"}}), true)`)
	c := waitCall(t, p, 0)
	if c.State != "done" || c.Phase != "queued" {
		t.Fatalf("restoreChat after the registration function returned = %+v, want done with a queued chat", c)
	}
	p.waitText("Thanks, Reggie! An agent will be with you shortly.")

	agent.accept(c.Chat)
	pane := agent.pane(c.Chat)
	for _, want := range []string{"Reggie Stration", "reggie@example.com", "Boots by custom form", "plan", "gold"} {
		if !strings.Contains(pane.Facts, want) {
			t.Errorf("the agent's view of the chat lacks %q: %s", want, pane.Facts)
		}
	}
	if got := evalJS[int](p, "e2e.registrations"); got != 1 {
		t.Errorf("the registration function ran %d times in the restored page, want 1", got)
	}
}

func TestAPIWithoutUI(t *testing.T) {
	t.Parallel()
	srv := startAPIServer(t)
	agent := signInAgent(t, srv)
	p := newBrowser(t).newPage(t)
	const reg = `e2e.registration = () => Promise.resolve({firstName: "Hedy", email: "hedy@example.com"});`
	installSite(p, siteSetup{prelude: reg, restoreOptions: "{ui: false, registration: e2e.registration}"})
	p.navigate(srv.URL + "/")
	siteRestore(t, p)
	hidden := func(when string) {
		t.Helper()
		if n := p.count(widgetRole, widgetName); n != 0 || !evalJS[bool](p, `document.getElementById("parley-widget").hidden`) {
			t.Errorf("%s: the widget is visible with ui: false", when)
		}
	}
	hidden("on load")

	start := callJS(p, "startChat", "{embedded: true, ui: false, registration: e2e.registration}")
	c := waitCall(t, p, start)
	if c.State != "done" || c.Phase != "queued" {
		t.Fatalf("startChat with ui: false = %+v", c)
	}
	hidden("after start")
	seq := sendViaAPI(t, p, "Hello without a widget")
	if seq <= 0 {
		t.Fatalf("sendMessage resolved with seq %d", seq)
	}

	agent.accept(c.Chat)
	joined := waitEvent(t, p, "the agent joining", func(e sessionEvent) bool { return e.Callback == "onAgentConnected" })
	agent.send(c.Chat, "Hello, Hedy")
	reply := waitEvent(t, p, "the agent's reply", func(e sessionEvent) bool { return e.Callback == "onMessageReceived" && e.Text == "Hello, Hedy" })
	if reply.From.Type != "agent" || reply.From.Name != apiAgentName || reply.Seq <= joined.Seq || reply.Seq <= seq || !validTime(reply.Time) {
		t.Errorf("onMessageReceived = %+v, want the agent's message after seq %d and %d with a time", reply, seq, joined.Seq)
	}
	hidden("after the agent joined and replied")

	p.reload()
	if c := siteRestore(t, p); c.State != "done" {
		t.Fatalf("restoreChat with ui: false after reload = %+v", c)
	}
	hidden("after reload")
	transcript := evalJS[[]transcriptEntry](p, "e2e.session.getTranscript()")
	var texts []string
	for _, e := range transcript {
		texts = append(texts, e.Text)
	}
	if !slices.Contains(texts, "Hello without a widget") || !slices.Contains(texts, "Hello, Hedy") {
		t.Errorf("getTranscript() after reload = %q, want both messages", texts)
	}

	evalJS[bool](p, "e2e.session.leave().then(() => true)")
	ended := waitEvent(t, p, "the end", func(e sessionEvent) bool { return e.Callback == "onSessionEnded" })
	if ended.Reason != "visitor" {
		t.Errorf("onSessionEnded after leave() = %+v, want reason visitor", ended)
	}
	agent.waitPane(c.Chat, "the end", func(c chatPane) bool { return !c.Live })
	hidden("after leave")
}

func validTime(s string) bool {
	_, err := time.Parse(time.RFC3339Nano, s)
	return err == nil
}

func TestAPIPopup(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "")
	p := openSite(t, newBrowser(t), srv, "/", siteSetup{})

	popup := openPopup(t, p, `e2e.call("startChat", {})`)
	if c := waitCall(t, p, 1); c.State != "done" || !c.Popup {
		t.Errorf("startChat without embedded = %+v, want done with the popup", c)
	}
	popup.waitFor("textbox", "First name")
	if got := popup.path(); got != "/chat/popup" {
		t.Errorf("the popup is at %q, want /chat/popup", got)
	}
	popup.fillField("First name", "Ada")
	popup.fillField("Email", "ada@example.com")
	popup.clickButton("Start")
	popup.waitText("Thanks, Ada! An agent will be with you shortly.")
	sendMessage(t, popup, "Written in the popup")
	before := popup.itemsOf(logRole, logName)

	// The popup restores itself on reload; record its API calls from now on.
	installSite(popup, siteSetup{})
	popup.reload()
	if c := waitCall(t, popup, 0); c.Name != "startChatInThisWindow" || c.State != "done" || c.Phase != "queued" {
		t.Fatalf("the reloaded popup's startChatInThisWindow = %+v, want done with the queued chat", c)
	}
	if diff := cmp.Diff(before, popup.itemsOf(logRole, logName)); diff != "" {
		t.Errorf("the popup's transcript after reload differs (-before +after):\n%s", diff)
	}
	sendAndWait(t, popup, "Sent with the popup's session API")
	waitLines(t, popup, "Written in the popup", 1)
}

// failure calls method(options) on the page and returns its failure event,
// failing the test if it does not fail.
func failure(t *testing.T, p *page, method, options string) failEvent {
	t.Helper()
	c := waitCall(t, p, callJS(p, method, options))
	if c.State != "fail" || c.Event == nil {
		t.Fatalf("%s(%s) = %+v, want it to fail", method, options, c)
	}
	return *c.Event
}

func checkError(t *testing.T, call string, got failEvent, code int, name string) {
	t.Helper()
	if got.Error == nil || got.Error.Code != code || got.Error.Name != name || got.Error.Description == "" {
		t.Errorf("%s failed with %+v, want error %d %s with a description", call, got.Error, code, name)
	}
}

func TestAPIErrors(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "")
	b := newBrowser(t)
	p := openSite(t, b, srv, "/", siteSetup{})
	// Another tab of the same visitor, open before any chat starts.
	other, _ := siblingPage(t, p)
	installSite(other, siteSetup{})
	other.navigate(srv.URL + "/products")
	siteRestore(t, other)

	for _, options := range []string{"{}", "undefined", "{embedded: false}"} {
		checkError(t, "restoreChat("+options+")", failure(t, p, "restoreChat", options), 202, "embedded_required")
	}
	checkError(t, `startChat({localization: "nope"})`, failure(t, p, "startChat", `{embedded: true, localization: "nope"}`), 103, "localization_not_allowed")
	checkError(t, `restoreChat({localization: "nope"})`, failure(t, p, "restoreChat", `{embedded: true, localization: "nope"}`), 103, "localization_not_allowed")
	if n := p.count("button", "Start chat"); n != 1 {
		t.Errorf("after refused calls the page shows %d Start chat buttons, want the widget untouched", n)
	}

	// startChat twice on one page: at once, while registering, and once
	// the chat runs.
	first := callJS(p, "startChat", "{embedded: true}")
	checkError(t, "startChat at once again", failure(t, p, "startChat", "{embedded: true}"), 200, "chat_already_running")
	p.waitFor("textbox", "First name")
	checkError(t, "startChat during registration", failure(t, p, "startChat", "{embedded: true}"), 200, "chat_already_running")
	p.fillField("First name", "Ada")
	p.fillField("Email", "ada@example.com")
	p.clickButton("Start")
	c := waitCall(t, p, first)
	if c.State != "done" {
		t.Fatalf("the first startChat = %+v, want done", c)
	}
	checkError(t, "startChat with a chat running", failure(t, p, "startChat", "{embedded: true}"), 200, "chat_already_running")

	// The other tab still shows the start button, but the cookie holds the
	// chat: startChat there is told to restore it, and starts nothing.
	checkError(t, "startChat in another tab", failure(t, other, "startChat", "{embedded: true}"), 201, "chat_running_elsewhere")
	r := waitCall(t, other, callJS(other, "restoreChat", "{embedded: true}"))
	if r.State != "done" || r.Chat != c.Chat {
		t.Errorf("restoreChat in the other tab after 201 = %+v, want done with chat %s", r, c.Chat)
	}
	p.reload()
	if r := siteRestore(t, p); r.State != "done" || r.Chat != c.Chat {
		t.Errorf("after the other tab's startChat, this tab restores %+v, want chat %s", r, c.Chat)
	}
}

func TestAPILocalization(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "")
	b := newBrowser(t)

	t.Run("restoreChat option and the widget's own start button", func(t *testing.T) {
		p := openSite(t, b, srv, "/", siteSetup{restoreOptions: `{localization: "de"}`})
		p.waitFor(widgetRole, "Chatten Sie mit uns")
		p.clickButton("Chat öffnen")
		p.clickButton("Chat starten")
		p.fillField("Vorname", "Ada")
		p.fillField("E-Mail", "ada@example.com")
		p.clickButton("Starten")
		p.waitText("Danke, Ada!")
		p.reload()
		p.waitFor(widgetRole, "Chatten Sie mit uns")
		p.waitText("Danke, Ada!")
		if lang := widgetAttr(p, "lang"); lang != "de" {
			t.Errorf("widget lang = %q, want de", lang)
		}
	})

	t.Run("startChat option", func(t *testing.T) {
		p := openSite(t, b, srv, "/", siteSetup{})
		start := callJS(p, "startChat", `{embedded: true, localization: "de"}`)
		p.waitFor(widgetRole, "Chatten Sie mit uns")
		p.fillField("Vorname", "Ada")
		p.fillField("E-Mail", "ada@example.com")
		p.clickButton("Starten")
		if c := waitCall(t, p, start); c.State != "done" {
			t.Fatalf("startChat in German = %+v", c)
		}
		p.waitText("Danke, Ada!")
		p.fillField("Nachricht", "Guten Tag")
		p.clickButton("Senden")
		waitLines(t, p, "Guten Tag", 1)
		if lang := widgetAttr(p, "lang"); lang != "de" {
			t.Errorf("widget lang = %q, want de", lang)
		}
	})
}

func TestAPITwoTabs(t *testing.T) {
	t.Parallel()
	srv, agent, a, chatID := embeddedChat(t)

	b, _ := siblingPage(t, a)
	installSite(b, siteSetup{})
	b.navigate(srv.URL + "/products")
	if c := siteRestore(t, b); c.State != "done" || c.Chat != chatID {
		t.Fatalf("restoreChat in the second tab = %+v, want done with chat %s", c, chatID)
	}

	sendMessage(t, a, "Typed in tab A")
	waitLines(t, b, "Typed in tab A", 1)
	waitLines(t, a, "Typed in tab A", 1)
	sendAndWait(t, b, "Sent from tab B")
	waitLines(t, a, "Sent from tab B", 1)
	waitLines(t, b, "Sent from tab B", 1)

	agent.accept(chatID)
	agent.send(chatID, "The agent writes to both tabs")
	for _, p := range []*page{a, b} {
		waitEvent(t, p, "the agent's message", func(e sessionEvent) bool {
			return e.Callback == "onMessageReceived" && e.Text == "The agent writes to both tabs"
		})
		waitLines(t, p, "The agent writes to both tabs", 1)
		waitLines(t, p, "alice joined the chat.", 1)
	}
	if diff := cmp.Diff(a.itemsOf(logRole, logName), b.itemsOf(logRole, logName)); diff != "" {
		t.Errorf("the two tabs show different transcripts (-A +B):\n%s", diff)
	}
}

func TestAPIAgentMessageWhileNavigating(t *testing.T) {
	t.Parallel()
	srv, agent, p, chatID := embeddedChat(t)
	agent.accept(chatID)
	p.waitText("alice joined the chat.")

	// Away from the site entirely: the next page renders the message.
	p.navigate("about:blank")
	agent.send(chatID, "Sent while the visitor was away")
	p.navigate(srv.URL + "/pricing")
	waitLines(t, p, "Sent while the visitor was away", 1)

	// Messages sent as the browser loads the next page (a full load, then a
	// boosted swap) arrive between the page's render and its transport's
	// resume, or during either: each shows once.
	for _, nav := range []struct {
		name     string
		navigate func()
		done     string
	}{
		{"full load", func() { p.clickLinkAndWaitLoad("Contact") }, "Contact"},
		{"hx-boost", func() { p.clickLink("Back home") }, "Gear for every trail"},
	} {
		errs := make(chan error, 1)
		texts := []string{"During " + nav.name + " 1", "During " + nav.name + " 2", "During " + nav.name + " 3"}
		go func() {
			var err error
			for _, text := range texts {
				if err = agent.trySend(chatID, text); err != nil {
					break
				}
				time.Sleep(30 * time.Millisecond) // spread over the navigation
			}
			errs <- err
		}()
		nav.navigate()
		p.waitFor("heading", nav.done)
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
		for _, text := range texts {
			waitLines(t, p, text, 1)
		}
	}
	checkSeqOrder(t, p)
	if c := siteRestore(t, p); c.State != "done" {
		t.Errorf("restoreChat on the last full load = %+v", c)
	}
}

// checkSeqOrder checks that the transcript's lines are in strictly
// increasing seq order, with none twice.
func checkSeqOrder(t *testing.T, p *page) {
	t.Helper()
	seqs := evalJS[[]int64](p, `Array.from(document.querySelectorAll("#parley-widget .parley-log > li"), li => Number(li.dataset.seq))`)
	for i := 1; i < len(seqs); i++ {
		if seqs[i] <= seqs[i-1] {
			t.Fatalf("transcript seqs = %v, want strictly increasing", seqs)
		}
	}
}

func TestAPIMaxOfflineDuration(t *testing.T) {
	t.Parallel()
	srv := startAPIServer(t)
	agent := signInAgent(t, srv)
	holder := newBrowser(t).newPage(t)
	visitor, closeTab := siblingPage(t, holder)
	installSite(visitor, siteSetup{})
	visitor.navigate(srv.URL + "/")
	siteRestore(t, visitor)
	// Meanwhile another visitor opens the registration form and leaves it
	// alone: with no transport in that phase, the chat expires.
	idle := openSite(t, newBrowser(t), srv, "/contact", siteSetup{})
	idleStart := callJS(idle, "startChat", "{embedded: true, maxOfflineDuration: 2}")
	idle.waitFor("textbox", "First name")

	chatID := startEmbedded(t, visitor, "{embedded: true, maxOfflineDuration: 2}", "Ada")
	agent.accept(chatID)
	registered := time.Now()

	// Connected, the visitor outlives maxOfflineDuration (and a sweep).
	for time.Since(registered) < 3500*time.Millisecond {
		if !agent.pane(chatID).Live {
			t.Fatalf("the chat ended %v after registering although the visitor is connected", time.Since(registered))
		}
		time.Sleep(250 * time.Millisecond)
	}

	// The idle visitor comes back and submits: the promise settles, with
	// the reason, rather than waiting for ever.
	idle.fillField("First name", "Idle")
	idle.fillField("Email", "idle@example.com")
	idle.clickButton("Start")
	if c := waitCall(t, idle, idleStart); c.State != "fail" || c.Event == nil || c.Event.Error != nil || c.Event.Reason != "offline" {
		t.Errorf("startChat whose chat expired during registration = %+v (event %+v), want fail with reason offline", c, c.Event)
	}
	waitTranscriptLine(t, idle, "The chat ended because you were away for too long.")

	closeTab()
	left := time.Now()
	agent.waitPane(chatID, "the chat ended for being offline", func(c chatPane) bool {
		return !c.Live && strings.Contains(strings.Join(c.Lines, "\n"), "The chat ended: the visitor was away for too long.")
	})
	if away := time.Since(left); away < 2*time.Second {
		t.Errorf("the chat ended %v after the visitor left, before its maxOfflineDuration of 2 s", away)
	}

	back, _ := siblingPage(t, holder)
	installSite(back, siteSetup{})
	back.navigate(srv.URL + "/")
	c := siteRestore(t, back)
	if c.State != "fail" || c.Event == nil || c.Event.Error != nil || c.Event.Reason != "offline" {
		t.Errorf("restoreChat after the chat expired = %+v (event %+v), want fail with reason offline and no error", c, c.Event)
	}
	waitTranscriptLine(t, back, "The chat ended because you were away for too long.")
	back.waitFor("button", "Start a new chat")
}

func TestAPIAgentCallbacks(t *testing.T) {
	t.Parallel()
	_, agent, p, chatID := embeddedChat(t)
	before := time.Now().Add(-time.Minute)

	agent.accept(chatID)
	agent.typing(chatID)
	p.waitText("alice is typing…")
	agent.send(chatID, "How can I help?")
	waitEvent(t, p, "the agent's message", func(e sessionEvent) bool { return e.Callback == "onMessageReceived" && e.Text == "How can I help?" })
	agent.end(chatID)
	waitEvent(t, p, "the end", func(e sessionEvent) bool { return e.Callback == "onSessionEnded" })
	p.waitText("alice ended the chat.")

	var got []string
	var last int64
	for _, e := range siteState(p).Events {
		if e.Callback == "onConnectionError" || e.Callback == "onReconnected" {
			continue
		}
		got = append(got, e.Callback+" "+e.Kind+" "+e.From.Type+" "+e.From.Name+" "+e.Text+" "+e.Reason)
		when, err := time.Parse(time.RFC3339Nano, e.Time)
		if err != nil || when.Before(before) || when.After(time.Now().Add(time.Minute)) {
			t.Errorf("%s: time %q is not a time of this test", e.Callback, e.Time)
		}
		if e.Seq <= last {
			t.Errorf("%s: seq %d after seq %d", e.Callback, e.Seq, last)
		}
		last = e.Seq
	}
	want := []string{
		"onAgentConnected agent_joined agent alice  ",
		"onAgentTyping typing agent alice  ",
		"onMessageReceived message agent alice How can I help? ",
		"onSessionEnded ended agent alice  agent",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("session callbacks (-want +got):\n%s", diff)
	}

	// The ended session refuses to send.
	refused := evalJS[apiError](p, `e2e.session.sendMessage("Too late").then(() => ({}), e => e.error)`)
	if refused.Code != 106 || refused.Name != "chat_ended" {
		t.Errorf("sendMessage after the end = %+v, want 106 chat_ended", refused)
	}
	// The visitor saw the end live, so a reload has no chat to restore
	// (DESIGN §3: ended and seen).
	p.reload()
	if c := siteRestore(t, p); c.State != "fail" || c.Event == nil || c.Event.Error != nil || c.Event.Reason != "" {
		t.Errorf("restoreChat after the end was seen = %+v, want fail with neither error nor reason", c)
	}
	p.waitFor("button", "Start chat")
}

func TestAPIUIOptions(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "")
	p := newBrowser(t).newPage(t)
	const logger = `e2e.logs = [];
  e2e.logger = {};
  ["debug", "info", "warn", "error"].forEach(level => {
    e2e.logger[level] = function () { e2e.logs.push(level + " " + Array.from(arguments).join(" ")); };
  });`
	installSite(p, siteSetup{prelude: logger, restoreOptions: `{logger: e2e.logger, ui: {title: "Ask the trail team",
		position: "left", startButtonText: "Talk to us", colors: {accent: "rgb(1, 2, 3)", background: "rgb(250, 250, 240)"}}}`})
	p.navigate(srv.URL + "/")
	siteRestore(t, p)
	check := func(when string) {
		t.Helper()
		if got := evalJS[string](p, `document.querySelector("#parley-widget .parley-title").textContent`); got != "Ask the trail team" {
			t.Errorf("%s: widget title = %q", when, got)
		}
		if got := widgetAttr(p, "data-position"); got != "left" {
			t.Errorf("%s: widget position = %q, want left", when, got)
		}
		style := evalJS[[]string](p, `(w => [getComputedStyle(w).getPropertyValue("--parley-accent").trim(),
			getComputedStyle(w).getPropertyValue("--parley-bg").trim()])(document.getElementById("parley-widget"))`)
		if diff := cmp.Diff([]string{"rgb(1, 2, 3)", "rgb(250, 250, 240)"}, style); diff != "" {
			t.Errorf("%s: widget colours (-want +got):\n%s", when, diff)
		}
	}
	check("on load")
	// startButtonText labels the launcher, then the start button.
	p.clickButton("Talk to us")
	p.waitFor("button", "Minimize chat")
	p.clickButton("Talk to us")
	p.fillField("First name", "Ada")
	p.fillField("Email", "ada@example.com")
	p.clickButton("Start")
	p.waitText("Thanks, Ada!")
	check("in the conversation")
	sendMessage(t, p, "Styled hello")
	waitUntil(t, p, "the logger got the connection", `e2e.logs.some(l => l.includes("connect "))`)
	if n := len(evalJS[[]string](p, "e2e.logs")); n == 0 {
		t.Error("the logger option received nothing")
	}
}

func TestAPIReconnect(t *testing.T) {
	t.Parallel()
	srv, agent, p, chatID := embeddedChat(t)
	agent.accept(chatID)
	p.waitText("alice joined the chat.")

	srv.kill9()
	lost := waitEvent(t, p, "the lost connection", func(e sessionEvent) bool { return e.Callback == "onConnectionError" })
	if lost.Error == nil || lost.Error.Code != 107 || lost.Error.Name != "transport_failed" {
		t.Errorf("onConnectionError = %+v, want error 107 transport_failed", lost)
	}
	// Sent while the connection is down: kept and sent on reconnecting.
	evalJS[bool](p, `(e2e.session.sendMessage("Sent while disconnected").then(r => e2e.offlineSeq = r.seq), true)`)
	srv.restart()
	agent.send(chatID, "Sent before the visitor reconnected")
	waitEvent(t, p, "the reconnection", func(e sessionEvent) bool { return e.Callback == "onReconnected" })
	waitLines(t, p, "Sent before the visitor reconnected", 1)
	waitLines(t, p, "Sent while disconnected", 1)
	waitUntil(t, p, "the send made while disconnected is acknowledged", "e2e.offlineSeq > 0")
	exchange(t, p, agent, chatID, "after the restart")
	checkSeqOrder(t, p)
}

// A page whose transcript the server's log cannot bring up to date (here:
// it claims a seq far ahead and has lost its lines) is told recovered:
// false and re-renders the widget from the server: every line back, once.
func TestAPIUnrecoverableGapReRenders(t *testing.T) {
	t.Parallel()
	srv, agent, a, chatID := embeddedChat(t)
	agent.accept(chatID)
	agent.send(chatID, "Before the gap")
	waitLines(t, a, "Before the gap", 1)

	// Runs when parsing ends, before the page's deferred scripts restore.
	const outOfStep = `document.addEventListener("readystatechange", () => {
	  const w = document.getElementById("parley-widget");
	  if (document.readyState !== "interactive" || !w) return;
	  w.setAttribute("data-last-seq", "100000");
	  w.querySelectorAll(".parley-log li").forEach(li => li.remove());
	});`
	b, _ := siblingPage(t, a)
	installSite(b, siteSetup{prelude: outOfStep})
	b.navigate(srv.URL + "/pricing")
	if c := siteRestore(t, b); c.State != "done" || c.Chat != chatID {
		t.Fatalf("restoreChat = %+v, want done with chat %s", c, chatID)
	}
	waitLines(t, b, "Before the gap", 1)
	waitLines(t, b, "alice joined the chat.", 1)
	if got, want := widgetAttr(b, "data-last-seq"), widgetAttr(a, "data-last-seq"); got != want {
		t.Errorf("after re-rendering, data-last-seq = %s, want the server's %s", got, want)
	}
	agent.send(chatID, "After the gap")
	waitLines(t, b, "After the gap", 1)
}
