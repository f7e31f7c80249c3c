package e2e

import (
	"strings"
	"testing"
)

// signInToExample signs in to the example site with its own form, as its
// user would.
func signInToExample(t *testing.T, p *page, srv *server, name, password string) {
	t.Helper()
	p.navigate(srv.URL + "/login")
	p.fillField("User name", name)
	p.fillField("Password", password)
	p.clickButton("Sign in")
	p.waitFor("heading", "My account")
}

// TestExistingSiteExample adopts Parley as examples/existingsite does: the
// site's own layout, sign-in, CSRF check and CSP, and Turbo Drive for its
// navigation. The signed-in user chats as themselves, skips the form, and
// finds the chat again on another device; the widget survives Turbo's
// navigation with one live connection, and the agent sees each page.
func TestExistingSiteExample(t *testing.T) {
	t.Parallel()
	srv := startExample(t, "-agent", apiAgentName+":"+apiAgentPassword)
	// An agent is at work (signed in: online), so chat is open.
	agent := signInAgent(t, srv)
	b := newBrowser(t)
	laptop := b.newPage(t)
	countSockets(laptop)

	signInToExample(t, laptop, srv, "ada", "ada-password")
	if got := laptop.path(); got != "/account" {
		t.Fatalf("after signing in the browser is on %s, want /account", got)
	}

	// The site knows Ada: no registration form.
	openWidget(laptop)
	laptop.clickButton("Start chat")
	laptop.waitText("Thanks, Ada! An agent will be with you shortly.")
	if n := laptop.count("textbox", "First name"); n != 0 {
		t.Error("the registration form showed for a signed-in user")
	}
	chatID := evalJS[string](laptop, `document.getElementById("parley-widget").getAttribute("data-chat-id")`)
	agent.accept(chatID)
	laptop.waitText("alice joined the chat.")
	sendMessage(t, laptop, "Where is order 1051?")
	agent.waitPane(chatID, "the visitor's message", func(p chatPane) bool { return paneHas(p, "Where is order 1051?") })
	if facts := agent.pane(chatID).Facts; !strings.Contains(facts, "ada@example.com") {
		t.Errorf("the agent sees %q, want the site's email for Ada", facts)
	}

	// Turbo Drive navigation keeps the page, the widget and its connection.
	markDocumentAndWidget(laptop)
	laptop.clickLink("My orders")
	laptop.waitText("#1051: 3 desk lamps, on its way")
	checkSamePage(t, laptop, "after Turbo's visit to My orders")
	agent.send(chatID, "It left the warehouse this morning.")
	waitTranscriptLine(t, laptop, "It left the warehouse this morning.")
	agent.waitPane(chatID, "the visitor on /orders", func(p chatPane) bool { return strings.Contains(p.Facts, "/orders") })

	laptop.clickLink("My account")
	laptop.waitFor("heading", "My account")
	checkSamePage(t, laptop, "after Turbo's visit to My account")
	agent.waitPane(chatID, "the visitor back on /account", func(p chatPane) bool { return strings.Contains(p.Facts, "/account") })
	if n := evalJS[int](laptop, "window.__parleySockets"); n != 1 {
		t.Errorf("the page opened %d WebSockets over its Turbo visits, want 1", n)
	}

	// A reload restores the conversation from the server.
	want := laptop.itemsOf(logRole, logName)
	laptop.reload()
	waitTranscriptLine(t, laptop, "It left the warehouse this morning.")
	if got := laptop.itemsOf(logRole, logName); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("after a reload the transcript is %q, want %q", got, want)
	}

	// On another device (its own cookies), Ada signs in and finds the chat.
	phone := b.newPage(t)
	signInToExample(t, phone, srv, "ada", "ada-password")
	openWidget(phone)
	waitTranscriptLine(t, phone, "It left the warehouse this morning.")
	waitTranscriptLine(t, phone, "Where is order 1051?")
	sendMessage(t, phone, "Thanks, sent from my phone")
	waitTranscriptLine(t, laptop, "Thanks, sent from my phone")

	// Signed out, the phone shows no chat, although Turbo keeps the widget
	// element across its visits: the server's widget for the new page wins.
	phone.clickButton("Sign out")
	phone.waitText("Office supplies, next day")
	phone.waitFor("button", "Start chat")
	if n := phone.count(logRole, logName); n != 0 {
		t.Error("after signing out the phone still shows Ada's conversation")
	}
	signInToExample(t, phone, srv, "grace", "grace-password")
	phone.waitFor("button", "Start chat")
}

// markDocumentAndWidget marks the document and the widget element, so that
// checkSamePage can tell a partial navigation from a new page.
func markDocumentAndWidget(p *page) {
	p.t.Helper()
	evalJS[bool](p, `(window.__doc = "same", document.getElementById("parley-widget").__mark = "kept", true)`)
}

// checkSamePage checks that the document was not reloaded and the widget
// element is the one marked.
func checkSamePage(t *testing.T, p *page, when string) {
	t.Helper()
	if got := evalJS[string](p, `String(window.__doc)`); got != "same" {
		t.Errorf("%s: the document was reloaded", when)
	}
	if got := evalJS[string](p, `String(document.getElementById("parley-widget").__mark)`); got != "kept" {
		t.Errorf("%s: the widget is a new element, want the one the page had", when)
	}
}

func paneHas(p chatPane, text string) bool {
	for _, line := range p.Lines {
		if strings.Contains(line, text) {
			return true
		}
	}
	return false
}
