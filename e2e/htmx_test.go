package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/chromedp/cdproto/cdp"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"
)

// socketCounter runs first in every document: it counts the WebSockets the
// page constructs in window.__parleySockets and keeps them in
// window.__parleySocketList. The subclass is a real WebSocket (instanceof,
// WebSocket.OPEN and the rest inherited), so chat.js sees no difference.
const socketCounter = `(() => {
  "use strict";
  if (window.top !== window || window.__parleySocketList) return;
  const opened = window.__parleySocketList = [];
  window.__parleySockets = 0;
  window.WebSocket = class extends window.WebSocket {
    constructor(...args) {
      super(...args);
      opened.push(this);
      window.__parleySockets = opened.length;
    }
  };
})();`

// oneOpenSocket holds when the document has constructed exactly one
// WebSocket and it is open: one live connection, not a second one.
const oneOpenSocket = `window.__parleySockets === 1 && window.__parleySocketList[0].readyState === WebSocket.OPEN`

func TestWidgetSurvivesHtmxNavigation(t *testing.T) {
	t.Parallel()
	srv := startAPIServer(t)
	agent := signInAgent(t, srv)
	p := newBrowser(t).newPage(t)
	countSockets(p)

	openChat(t, p, srv, "Ada", "ada@example.com")
	chatID := widgetAttr(p, "data-chat-id")
	if chatID == "" {
		t.Fatal("the widget has no data-chat-id after registering")
	}
	agent.accept(chatID)
	waitTranscriptLine(t, p, apiAgentName+" joined the chat.")
	waitUntil(t, p, "one WebSocket, open, on the first page", oneOpenSocket)
	talkBothWays(t, p, agent, chatID, "on the home page")
	// The trail so far (what the chat recorded of the home page, if
	// anything); each navigation must add its page, once.
	trail := agentTrail(agent, chatID)

	markDocument(p)
	evalJS[bool](p, `(document.getElementById("parley-widget").__mark = "kept", true)`)

	for _, step := range []struct {
		link, heading, path string
	}{
		{"Products", "Products", "/products"},       // hx-boost
		{"Pricing", "Pricing", "/pricing"},          // hx-boost
		{"Shipping costs", "Shipping", "/shipping"}, // hx-get into #content, URL pushed
	} {
		transcript := p.itemsOf(logRole, logName)

		p.clickLink(step.link)
		p.waitFor("heading", step.heading)
		waitUntil(t, p, "the URL after clicking "+step.link, fmt.Sprintf("location.pathname === %q", step.path))

		if !documentMarked(p) {
			t.Fatalf("clicking %q loaded a new document; want htmx to swap content in the same one", step.link)
		}
		if got := evalJS[string](p, `document.getElementById("parley-widget").__mark || ""`); got != "kept" {
			t.Errorf("after clicking %q the widget is a new element (mark %q); want the same node kept", step.link, got)
		}
		if got := evalJS[int](p, "window.__parleySockets"); got != 1 {
			t.Errorf("after clicking %q the page has constructed %d WebSockets, want the first one only", step.link, got)
		}
		if !evalJS[bool](p, "window.__parleySocketList[0].readyState === WebSocket.OPEN") {
			t.Errorf("after clicking %q the chat's first WebSocket is no longer open", step.link)
		}
		if diff := cmp.Diff(transcript, p.itemsOf(logRole, logName)); diff != "" {
			t.Errorf("transcript after clicking %q differs (-before +after):\n%s", step.link, diff)
		}

		trail = append(trail, step.path)
		waitAgentTrail(t, agent, chatID, trail)
		// Facts is the header's text run together: "…Current page/pricing".
		if facts := agent.pane(chatID).Facts; !strings.Contains(facts, "Current page"+step.path) {
			t.Errorf("the agent's view does not show %s as the current page: %s", step.path, facts)
		}
		talkBothWays(t, p, agent, chatID, "on "+step.path)
	}

	// A full page load: a new document, a new widget element, one new
	// socket, and the conversation restored from the server.
	transcript := p.itemsOf(logRole, logName)
	p.clickLinkAndWaitLoad("Contact")
	p.waitFor("heading", "Contact")
	if documentMarked(p) {
		t.Fatal("the Contact link did not load a new document; this step must test a full load")
	}
	if got := evalJS[string](p, `document.getElementById("parley-widget").__mark || ""`); got != "" {
		t.Errorf("after a full load the widget still carries the mark %q; the mark cannot tell a kept widget from a new one", got)
	}
	waitUntil(t, p, "one WebSocket, open, after the full load", oneOpenSocket)
	if diff := cmp.Diff(transcript, p.itemsOf(logRole, logName)); diff != "" {
		t.Errorf("transcript after a full load differs (-before +after):\n%s", diff)
	}
	trail = append(trail, "/contact")
	waitAgentTrail(t, agent, chatID, trail)
	talkBothWays(t, p, agent, chatID, "on /contact")
}

// countSockets installs socketCounter for every document the page loads
// from now on; call it before the first navigation.
func countSockets(p *page) {
	p.t.Helper()
	p.do("install the WebSocket counter", chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, cdppage.AddScriptToEvaluateOnNewDocument, cdppage.AddScriptToEvaluateOnNewDocumentParams{Source: socketCounter})
		return err
	}))
}

// talkBothWays has the agent send a message that the visitor's page shows
// live, and the visitor send one that the agent's view shows.
func talkBothWays(t *testing.T, p *page, agent *agentClient, chatID, where string) {
	t.Helper()
	theirs := "Agent writes " + where
	agent.send(chatID, theirs)
	waitTranscriptLine(t, p, theirs)
	mine := "Visitor writes " + where
	sendMessage(t, p, mine)
	agent.waitPane(chatID, "the visitor's message "+mine, func(c chatPane) bool {
		return strings.Contains(strings.Join(c.Lines, "\n"), mine)
	})
}

// agentTrail is the visitor's page trail as the agent's view of the chat
// shows it, oldest first (chatPane does not hold it).
func agentTrail(a *agentClient, chatID string) []string {
	a.t.Helper()
	doc := a.get("/agent/chats/" + chatID)
	var pages []string
	doc.Find(fmt.Sprintf(`.agent-pane[data-chat-id=%q] .agent-trail-page`, chatID)).Each(func(_ int, s *goquery.Selection) {
		pages = append(pages, collapse(s.Text()))
	})
	return pages
}

// waitAgentTrail polls the agent's view of the chat until its page trail is
// want. The page a partial swap loads is recorded once the response is
// written, so it may show a moment after the browser shows the page.
func waitAgentTrail(t *testing.T, a *agentClient, chatID string, want []string) {
	t.Helper()
	deadline := time.Now().Add(actionTimeout)
	for {
		got := agentTrail(a, chatID)
		if cmp.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the agent's page trail = %q, want %q", got, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
