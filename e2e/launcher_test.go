package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// servedWidget is the widget as the server renders it into the current
// page's HTML for this visitor now: what the browser paints first, before
// any script runs.
type servedWidget struct {
	Open           string // data-open
	PanelHidden    bool
	LauncherHidden bool
	Unread         string // the badge's data-count
	BadgeHidden    bool
	DescribedBy    string // the launcher button's aria-describedby
}

func served(p *page) servedWidget {
	p.t.Helper()
	return evalJS[servedWidget](p, `fetch(location.href, {credentials: "same-origin"})
		.then(r => r.text())
		.then(html => {
			const doc = new DOMParser().parseFromString(html, "text/html");
			const w = doc.getElementById("parley-widget");
			if (!w) return {};
			const badge = w.querySelector(".parley-unread"), launcher = w.querySelector(".parley-launcher");
			return {
				Open: w.getAttribute("data-open"),
				PanelHidden: w.querySelector("#parley-panel").hidden,
				LauncherHidden: launcher.hidden,
				Unread: badge.getAttribute("data-count"),
				BadgeHidden: badge.hidden,
				DescribedBy: launcher.querySelector("button").getAttribute("aria-describedby") || ""
			};
		})`)
}

// checkServed checks that the server renders the page with the widget open
// or collapsed, and that the page shows it so.
func checkServed(t *testing.T, p *page, when string, open bool) {
	t.Helper()
	s := served(p)
	if s.Open != fmt.Sprint(open) || s.PanelHidden == open || s.LauncherHidden != open {
		t.Errorf("%s: the server renders the widget %+v, want open=%v", when, s, open)
	}
	if got := widgetAttr(p, "data-open"); got != fmt.Sprint(open) {
		t.Errorf("%s: the page shows the widget with data-open=%q, want %v", when, got, open)
	}
}

// widgetIs is a check run in the page: the widget shows open or collapsed.
func widgetIs(open bool) string {
	return fmt.Sprintf(`document.getElementById("parley-widget").getAttribute("data-open") === "%v"`, open)
}

// TestWidgetOpenStateFollowsVisitor checks that the widget stays as the
// visitor left it, open or minimized: the server renders the next page load
// that way (no flash of the other state), htmx navigation keeps it, and the
// visitor's other tabs follow at once without reloading. While minimized,
// the unread count survives reloads and navigation in the title and on the
// launcher, and opening the widget in one tab clears it in the others.
func TestWidgetOpenStateFollowsVisitor(t *testing.T) {
	t.Parallel()
	srv := startAPIServer(t)
	agent := signInAgent(t, srv)
	p := newBrowser(t).newPage(t)

	p.navigate(srv.URL + "/")
	checkServed(t, p, "a first visit", false)
	openWidget(p)
	p.reload()
	checkServed(t, p, "a reload after opening", true)

	// A second tab of the same visitor opens where the first left it.
	q, _ := siblingPage(t, p)
	q.navigate(srv.URL + "/pricing")
	checkServed(t, q, "another tab", true)
	markDocument(q)
	p.clickButton("Minimize chat")
	waitUntil(t, q, "the other tab collapses when the first minimizes", widgetIs(false))
	q.clickButton("Open chat")
	waitUntil(t, p, "the first tab opens when the other opens", widgetIs(true))
	if !documentMarked(q) {
		t.Error("the other tab reloaded to follow; want it to follow in place")
	}

	// A chat, and an agent's message while minimized.
	p.clickButton("Start chat")
	p.fillField("First name", "Ada")
	p.fillField("Email", "ada@example.com")
	p.clickButton("Start")
	p.waitText("Thanks, Ada!")
	chatID := widgetAttr(p, "data-chat-id")
	agent.accept(chatID)
	waitTranscriptLine(t, p, apiAgentName+" joined the chat.")
	// A tab open before the chat started joins it on its next page load.
	q.reload()
	waitTranscriptLine(t, q, apiAgentName+" joined the chat.")
	p.clickButton("Minimize chat")
	waitUntil(t, q, "the other tab collapses", widgetIs(false))
	agent.send(chatID, "Are you still there?")
	for _, tab := range []*page{p, q} {
		waitUntil(t, tab, "the title counts the message", `document.title.startsWith("(1) ")`)
	}

	p.reload()
	checkServed(t, p, "a reload with an unread message", false)
	if s := served(p); s.Unread != "1" || s.BadgeHidden || s.DescribedBy != "parley-unread" {
		t.Errorf("after a reload the server renders the unread count as %+v, want 1, shown, describing the launcher", s)
	}
	checkUnread(t, p, "after a reload", "Home", 1)

	p.clickLinkAndWaitLoad("Contact")
	checkServed(t, p, "a full page load, minimized", false)
	checkUnread(t, p, "after a full page load", "Contact", 1)
	markDocument(p)
	p.clickLink("Back home") // hx-boost
	p.waitFor("heading", "Gear for every trail")
	if !documentMarked(p) {
		t.Fatal("Back home loaded a new document; want an htmx swap")
	}
	checkUnread(t, p, "after an htmx navigation", "Home", 1)
	if got := widgetAttr(p, "data-open"); got != "false" {
		t.Errorf("after an htmx navigation the widget's data-open = %q, want it still collapsed", got)
	}

	// Opening reads the message, in every tab.
	openWidget(p)
	checkUnread(t, p, "after opening", "Home", 0)
	waitUntil(t, q, "the other tab opens", widgetIs(true))
	waitUntil(t, q, "the other tab's title drops the count", `!document.title.startsWith("(")`)

	markDocument(p)
	p.clickLink("Products") // hx-boost
	p.waitFor("heading", "Products")
	if !documentMarked(p) {
		t.Fatal("Products loaded a new document; want an htmx swap")
	}
	checkServed(t, p, "an htmx navigation, open", true)
	p.clickLinkAndWaitLoad("Contact")
	checkServed(t, p, "a full page load, open", true)
	checkUnread(t, p, "on another page after opening", "Contact", 0)
}

// checkUnread checks the count of unread messages in the page's title (the
// demo's "Home · Parley demo") and in the launcher's description.
func checkUnread(t *testing.T, p *page, when, pageTitle string, n int) {
	t.Helper()
	want := pageTitle + " · Parley demo"
	if n > 0 {
		want = fmt.Sprintf("(%d) %s", n, want)
	}
	// htmx sets a new page's title as it swaps, and chat.js counts in it
	// once htmx has settled: poll.
	var got string
	if !p.poll(func(ctx context.Context) bool {
		title, err := chromedp.Run(ctx, chromedp.Evaluate[string]("document.title"))
		got = title
		return err == nil && title == want
	}) {
		t.Errorf("%s: the title is %q, want %q", when, got, want)
	}
	if n == 0 {
		return
	}
	launcher := p.axNode("button", "Open chat")
	if got, wantDesc := axString(launcher.Description), fmt.Sprintf("%d new", n); !strings.EqualFold(got, wantDesc) {
		t.Errorf("%s: the launcher's description is %q, want %q", when, got, wantDesc)
	}
}
