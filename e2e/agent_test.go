package e2e

import (
	"context"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The agent console as assistive technology names it.
const (
	queueRole, queueName = "complementary", "Waiting chats"
	takenLine            = "Another agent has already accepted this chat."
)

// agentPasswords are the accounts startConsoleServer configures.
var agentPasswords = map[string]string{"alice": "alice-pw-1", "bob": "bob-pw-2"}

// startConsoleServer runs parley with two agents, alice and bob.
func startConsoleServer(t *testing.T) *server {
	t.Helper()
	return startServer(t, "", "-agent", "alice:"+agentPasswords["alice"], "-agent", "bob:"+agentPasswords["bob"])
}

// signIn signs an agent in to the console as a person would.
func signIn(t *testing.T, p *page, srv *server, name, password string) {
	t.Helper()
	p.navigate(srv.URL + "/agent")
	p.waitFor("button", "Sign in")
	p.fillField("Name", name)
	p.fillField("Password", password)
	p.clickButtonAndWaitLoad("Sign in")
	p.waitFor(queueRole, queueName)
}

// chatRegion and chatLog name the console's pane and transcript of the
// chat with a visitor.
func chatRegion(visitor string) string { return "Chat with " + visitor }
func chatLog(visitor string) string    { return "Conversation with " + visitor }

// acceptChat has a visitor open a chat and the signed-in agent accept it
// from the live queue.
func acceptChat(t *testing.T, agent, visitor *page, srv *server, agentName, firstName string) {
	t.Helper()
	openChat(t, visitor, srv, firstName, strings.ToLower(firstName)+"@example.com")
	agent.waitFor("heading", firstName)
	agent.clickButton("Accept")
	agent.waitFor("region", chatRegion(firstName))
	visitor.waitText(agentName + " joined the chat.")
}

// waitLogLine waits until a line of the log named name holds text.
func waitLogLine(t *testing.T, p *page, name, text string) {
	t.Helper()
	p.waitFor("log", name)
	p.waitText(text)
	for _, line := range p.itemsOf("log", name) {
		if strings.Contains(line, text) {
			return
		}
	}
	t.Fatalf("%q is on the page but not in the log %q: %q", text, name, p.itemsOf("log", name))
}

// waitTitle waits until the tab's title is want.
func waitTitle(t *testing.T, p *page, want string) {
	t.Helper()
	var got string
	if !p.poll(func(ctx context.Context) bool {
		title, err := chromedp.Run(ctx, chromedp.Evaluate[string]("document.title"))
		got = title
		return err == nil && title == want
	}) {
		t.Fatalf("title = %q, want %q", got, want)
	}
}

// waitTrail waits until the visitor's page trail ends with page.
func waitTrail(t *testing.T, p *page, page string) []string {
	t.Helper()
	var items []string
	if !p.poll(func(ctx context.Context) bool {
		var err error
		items, err = chromedp.Run(ctx, chromedp.Evaluate[[]string](`Array.from(
			document.querySelectorAll(".agent-pane:not([hidden]) .agent-trail-page"), el => el.textContent)`))
		return err == nil && len(items) > 0 && items[len(items)-1] == page
	}) {
		t.Fatalf("page trail = %q, want it to end with %q", items, page)
	}
	// Read it again as a screen reader would.
	return p.itemsOf("list", "Page trail")
}

func TestConsoleFullChat(t *testing.T) {
	srv := startConsoleServer(t)
	b := newBrowser(t)
	agent, visitor := b.newPage(t), b.newPage(t)

	signIn(t, agent, srv, "alice", agentPasswords["alice"])
	waitTitle(t, agent, "Parley agent")

	// A new chat appears without a reload, with a notice, a sound cue and
	// the count in the title.
	openChat(t, visitor, srv, "Ada", "ada@example.com")
	agent.waitFor("heading", "Ada")
	agent.waitText("New chat: Ada")
	agent.waitText("ada@example.com")
	waitTitle(t, agent, "(1) Parley agent")
	waitUntil(t, agent, "one sound cue", `document.body.getAttribute("data-cues") === "1"`)

	agent.clickButton("Accept")
	agent.waitFor("region", chatRegion("Ada"))
	waitTitle(t, agent, "Parley agent")
	// The notice of a chat no longer waiting goes with it, rather than at
	// the end of its 8 s, most of which are still to run.
	taken := time.Now()
	if !agent.poll(func(ctx context.Context) bool {
		body, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
		return err == nil && !strings.Contains(body, "New chat: Ada")
	}) || time.Since(taken) > 3*time.Second {
		t.Errorf("the notice of Ada's chat was still shown %v after the chat was taken", time.Since(taken).Round(100*time.Millisecond))
	}
	visitor.waitText("alice joined the chat.")
	// Accepting puts the keyboard in the reply box.
	if got := evalJS[string](agent, `document.activeElement.labels && document.activeElement.labels.length ? document.activeElement.labels[0].textContent : ""`); got != "Message" {
		t.Errorf("after Accept, focus is on %q, want the Message box", got)
	}

	// Typing shows on the other side, both ways.
	visitor.fillField("Message", "Do the Scree boots come in size 46?")
	agent.waitText("Ada is typing…")
	visitor.clickButton("Send")
	waitTranscriptLine(t, visitor, "Do the Scree boots come in size 46?")
	waitLogLine(t, agent, chatLog("Ada"), "Do the Scree boots come in size 46?")
	agent.fillField("Message", "Yes, they do.")
	visitor.waitText("alice is typing…")
	agent.clickButton("Send")
	waitTranscriptLine(t, visitor, "Yes, they do.")
	// The message ends the typing notice at once, not when its 6 s are up.
	arrived := time.Now()
	waitUntil(t, visitor, "the typing notice gone", `document.querySelector("#parley-widget .parley-typing").textContent === ""`)
	if after := time.Since(arrived); after > 2*time.Second {
		t.Errorf("the agent's typing notice stayed %v after the agent's message arrived", after.Round(100*time.Millisecond))
	}
	waitLogLine(t, agent, chatLog("Ada"), "Yes, they do.")
	if got := agent.fieldValue("Message"); got != "" {
		t.Errorf("after Send, the agent's message box holds %q", got)
	}
	sendMessage(t, visitor, "Great, I'll order them.")
	waitLogLine(t, agent, chatLog("Ada"), "Great, I'll order them.")

	visitor.clickButton("End chat")
	waitLogLine(t, agent, chatLog("Ada"), "Ada ended the chat.")
	if n := agent.count("textbox", "Message"); n != 0 {
		t.Errorf("after the visitor ended the chat, the agent still has %d Message boxes", n)
	}

	// The history finds the chat by what was said, with its transcript.
	agent.clickLinkAndWaitLoad("History")
	agent.fillField("Search", "scree boots")
	agent.clickButtonAndWaitLoad("Search")
	agent.clickLinkAndWaitLoad("Ada")
	want := []string{"Do the Scree boots come in size 46?", "Yes, they do.", "Great, I'll order them.", "Ada ended the chat."}
	lines := agent.itemsOf("log", chatLog("Ada"))
	for _, w := range want {
		found := false
		for _, l := range lines {
			found = found || strings.Contains(l, w)
		}
		if !found {
			t.Errorf("history transcript %q lacks %q", lines, w)
		}
	}
}

// TestConsoleNoticeNamesEveryNewChat: chats that arrive together are
// announced together, and a chat taken leaves the notice.
func TestConsoleNoticeNamesEveryNewChat(t *testing.T) {
	srv := startConsoleServer(t)
	b := newBrowser(t)
	agent, ada, bob := b.newPage(t), b.newPage(t), b.newPage(t)
	signIn(t, agent, srv, "alice", agentPasswords["alice"])
	waitTitle(t, agent, "Parley agent")

	// Both fill in the form, then send it, one right after the other.
	for _, v := range []struct {
		p    *page
		name string
	}{{ada, "Ada"}, {bob, "Bob"}} {
		v.p.navigate(srv.URL + "/")
		openWidget(v.p)
		v.p.clickButton("Start chat")
		v.p.fillField("First name", v.name)
		v.p.fillField("Email", strings.ToLower(v.name)+"@example.com")
	}
	ada.clickButton("Start")
	ada.waitText("Thanks, Ada! An agent will be with you shortly.")
	bob.clickButton("Start")
	waitTitle(t, agent, "(2) Parley agent")
	waitNotice := func(want string) {
		t.Helper()
		var got string
		if !agent.poll(func(ctx context.Context) bool {
			text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("agent-notice").textContent`))
			got = text
			return err == nil && got == want
		}) {
			t.Errorf("notice = %q, want %q", got, want)
		}
	}
	waitNotice("New chats: Ada, Bob")

	evalJS[bool](agent, `document.querySelector('#agent-queue-list > li[data-name="Ada"] button').click(), true`)
	agent.waitFor("region", chatRegion("Ada"))
	waitNotice("New chat: Bob")
}

func TestConsoleVisitorNavigates(t *testing.T) {
	srv := startConsoleServer(t)
	b := newBrowser(t)
	agent, visitor := b.newPage(t), b.newPage(t)
	signIn(t, agent, srv, "alice", agentPasswords["alice"])
	acceptChat(t, agent, visitor, srv, "alice", "Ada")
	if got, want := strings.Join(strings.Fields(agent.textOf("region", "Page trail")), " "), "Page trail No page changes yet."; got != want {
		t.Errorf("page trail before any move reads %q, want %q", got, want)
	}

	// The agent types while the visitor moves, by a boosted link and by a
	// full page load; each move shows in the trail as it happens.
	agent.fillField("Message", "Let me check the sizes.")
	visitor.clickLink("Products")
	trail := waitTrail(t, agent, "/products")
	agent.clickButton("Send")
	waitTranscriptLine(t, visitor, "Let me check the sizes.")

	visitor.clickLinkAndWaitLoad("Contact")
	agent.fillField("Message", "Size 46 is in stock.")
	trail = waitTrail(t, agent, "/contact")
	agent.clickButton("Send")
	waitTranscriptLine(t, visitor, "Size 46 is in stock.")
	waitTranscriptLine(t, visitor, "Let me check the sizes.")

	if len(trail) != 2 || !strings.HasSuffix(trail[0], "/products") || !strings.HasSuffix(trail[1], "/contact") {
		t.Errorf("page trail = %q, want /products then /contact", trail)
	}
	if got := agent.textOf("region", "Page trail"); strings.Contains(got, "No page changes yet.") {
		t.Errorf("page trail after two moves reads %q, want no \"No page changes yet.\"", got)
	}
	if got := agent.textOf("region", chatRegion("Ada")); !strings.Contains(got, "Current page\n/contact") && !strings.Contains(got, "Current page /contact") {
		t.Errorf("the chat does not show /contact as the current page:\n%s", got)
	}
}

func TestConsoleSwitchAndReload(t *testing.T) {
	srv := startConsoleServer(t)
	b := newBrowser(t)
	agent, ada, grace := b.newPage(t), b.newPage(t), b.newPage(t)
	signIn(t, agent, srv, "alice", agentPasswords["alice"])
	acceptChat(t, agent, ada, srv, "alice", "Ada")
	acceptChat(t, agent, grace, srv, "alice", "Grace")
	agent.fillField("Message", "Draft for Grace")

	// Ada writes while Grace's chat is on screen: the count shows.
	sendMessage(t, ada, "Hello? Anyone?")
	waitTitle(t, agent, "(1) Parley agent")
	agent.clickLink("Ada 1 new message")
	agent.waitFor("region", chatRegion("Ada"))
	waitTitle(t, agent, "Parley agent")
	if got := evalJS[string](agent, "document.activeElement.textContent"); got != chatRegion("Ada") {
		t.Errorf("after switching, focus is on %q, want the heading %q", got, chatRegion("Ada"))
	}
	waitLogLine(t, agent, chatLog("Ada"), "Hello? Anyone?")
	if got := agent.fieldValue("Message"); got != "" {
		t.Errorf("Ada's message box holds %q, want it empty", got)
	}
	agent.fillField("Message", "Draft for Ada")
	agent.clickLink("Grace")
	agent.waitFor("region", chatRegion("Grace"))
	if got := agent.fieldValue("Message"); got != "Draft for Grace" {
		t.Errorf("back in Grace's chat, the draft is %q", got)
	}

	// A reload keeps the chat on screen, its transcript and both drafts.
	before := agent.itemsOf("log", chatLog("Grace"))
	agent.reload()
	agent.waitFor("region", chatRegion("Grace"))
	if got := agent.itemsOf("log", chatLog("Grace")); strings.Join(got, "|") != strings.Join(before, "|") {
		t.Errorf("after reload Grace's transcript = %q, want %q", got, before)
	}
	if got := agent.fieldValue("Message"); got != "Draft for Grace" {
		t.Errorf("after reload Grace's draft is %q", got)
	}
	agent.clickLink("Ada")
	agent.waitFor("region", chatRegion("Ada"))
	if got := agent.fieldValue("Message"); got != "Draft for Ada" {
		t.Errorf("after reload Ada's draft is %q", got)
	}

	// And it is live again: messages flow both ways.
	sendMessage(t, ada, "Still there?")
	waitLogLine(t, agent, chatLog("Ada"), "Still there?")
	agent.clickButton("Send")
	waitTranscriptLine(t, ada, "Draft for Ada")
	if got := agent.fieldValue("Message"); got != "" {
		t.Errorf("after sending, Ada's draft is still %q", got)
	}
}

func TestConsoleAcceptRace(t *testing.T) {
	srv := startConsoleServer(t)
	b := newBrowser(t)
	alice, bob, visitor := b.newPage(t), b.newPage(t), b.newPage(t)
	signIn(t, alice, srv, "alice", agentPasswords["alice"])
	signIn(t, bob, srv, "bob", agentPasswords["bob"])
	openChat(t, visitor, srv, "Ada", "ada@example.com")

	agents := []*page{alice, bob}
	for _, p := range agents {
		p.waitFor("button", "Accept")
		evalOn[bool](p, "button", "Accept", "function () { window.acceptButton = this; return true; }")
	}
	// Both click at the same moment.
	var wg sync.WaitGroup
	errs := make([]error, len(agents))
	for i, p := range agents {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(p.ctx, actionTimeout)
			defer cancel()
			_, errs[i] = chromedp.Run(ctx, chromedp.Evaluate[bool]("window.acceptButton.click(), true"))
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("agent %d clicking Accept: %v", i, err)
		}
	}

	// Exactly one gets the chat; the other is told.
	var winner, loser *page
	if !alice.poll(func(context.Context) bool {
		for _, p := range agents {
			pctx, cancel := context.WithTimeout(p.ctx, actionTimeout)
			won, err := chromedp.Run(pctx, chromedp.Evaluate[bool](`!!document.querySelector(".agent-pane:not([hidden])")`))
			told, err2 := chromedp.Run(pctx, chromedp.Evaluate[string](`(document.getElementById("agent-alert") || {}).textContent || ""`))
			cancel()
			if err != nil || err2 != nil {
				return false
			}
			if won {
				winner = p
			}
			if told == takenLine {
				loser = p
			}
		}
		return winner != nil && loser != nil
	}) {
		t.Fatalf("after both clicked Accept: winner %v, loser %v; want one of each", winner != nil, loser != nil)
	}
	if winner == loser {
		t.Fatal("one agent both won and lost")
	}
	winner.waitFor("region", chatRegion("Ada"))
	loser.waitText(takenLine)
	if n := loser.count("region", chatRegion("Ada")); n != 0 {
		t.Errorf("the losing agent shows the chat too")
	}
	if n := loser.count("button", "Accept"); n != 0 {
		t.Errorf("the losing agent's queue still offers Accept (%d)", n)
	}
	name := map[*page]string{alice: "alice", bob: "bob"}[winner]
	visitor.waitText(name + " joined the chat.")
	joined := 0
	for _, line := range visitor.itemsOf(logRole, logName) {
		if strings.Contains(line, "joined the chat") {
			joined++
		}
	}
	if joined != 1 {
		t.Errorf("the visitor was told of %d agents joining, want 1", joined)
	}
}

func TestConsoleEnding(t *testing.T) {
	tests := []struct {
		by        string
		end       func(agent, visitor *page)
		agentLine string
		visitLine string
	}{
		{"agent", func(agent, _ *page) { agent.clickButton("End chat") }, "alice ended the chat.", "alice ended the chat."},
		{"visitor", func(_, visitor *page) { visitor.clickButton("End chat") }, "Ada ended the chat.", "You ended the chat."},
	}
	for _, tt := range tests {
		t.Run(tt.by, func(t *testing.T) {
			srv := startConsoleServer(t)
			b := newBrowser(t)
			agent, visitor := b.newPage(t), b.newPage(t)
			signIn(t, agent, srv, "alice", agentPasswords["alice"])
			acceptChat(t, agent, visitor, srv, "alice", "Ada")
			sendMessage(t, visitor, "Thanks for the help!")
			waitLogLine(t, agent, chatLog("Ada"), "Thanks for the help!")

			tt.end(agent, visitor)

			waitLogLine(t, agent, chatLog("Ada"), tt.agentLine)
			if n := agent.count("textbox", "Message"); n != 0 {
				t.Errorf("the ended chat still offers the agent a Message box")
			}
			waitTranscriptLine(t, visitor, tt.visitLine)
			if n := visitor.count("textbox", "Message"); n != 0 {
				t.Errorf("the ended chat still offers the visitor a Message box")
			}
			// A reload of the console keeps showing how it ended.
			agent.reload()
			waitLogLine(t, agent, chatLog("Ada"), tt.agentLine)
		})
	}
}

func TestConsoleDemoAgent(t *testing.T) {
	srv := startServer(t, "")
	m := regexp.MustCompile(`agent demo password: (\S+)`).FindStringSubmatch(srv.log())
	if m == nil {
		t.Fatalf("no demo agent password printed:\n%s", srv.log())
	}
	p := newBrowser(t).newPage(t)
	p.navigate(srv.URL + "/agent")
	p.fillField("Name", "demo")
	p.fillField("Password", "not the password")
	p.clickButtonAndWaitLoad("Sign in")
	p.waitText("Wrong name or password.")
	if got := p.fieldValue("Name"); got != "demo" {
		t.Errorf("after a failed sign-in the Name field holds %q", got)
	}
	p.fillField("Password", m[1])
	p.clickButtonAndWaitLoad("Sign in")
	p.waitFor(queueRole, queueName)
	p.waitText("Signed in as demo")
	p.clickButtonAndWaitLoad("Sign out")
	p.waitFor("button", "Sign in")
}

// TestConsoleLongPoll runs the console over its long-poll fallback, as a
// network that blocks WebSockets would force it to.
func TestConsoleLongPoll(t *testing.T) {
	srv := startConsoleServer(t)
	b := newBrowser(t)
	agent, visitor := b.newPage(t), b.newPage(t)
	signIn(t, agent, srv, "alice", agentPasswords["alice"])
	agent.navigate(srv.URL + "/agent?transport=longpoll")
	agent.waitFor(queueRole, queueName)

	acceptChat(t, agent, visitor, srv, "alice", "Ada")
	sendMessage(t, visitor, "Can you hear me over long-polling?")
	waitLogLine(t, agent, chatLog("Ada"), "Can you hear me over long-polling?")
	agent.fillField("Message", "Loud and clear.")
	agent.clickButton("Send")
	waitTranscriptLine(t, visitor, "Loud and clear.")
	visitor.clickLink("Pricing")
	waitTrail(t, agent, "/pricing")
	if n := evalJS[int](agent, `performance.getEntriesByType("resource").filter(e => e.name.includes("/agent/poll")).length`); n == 0 {
		t.Error("the console made no long-poll requests")
	}
}
