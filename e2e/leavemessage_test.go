package e2e

import (
	"context"
	"net/url"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"
)

// startTexts records, from before the page's first byte, every text the
// widget's start button shows: the first entry is what the first paint
// showed, and any other would be a flash.
const startTexts = `(() => {
  window.__startTexts = [];
  const note = () => {
    const b = document.querySelector("#parley-widget .parley-start button");
    const text = b ? b.textContent.trim() : "";
    if (text && window.__startTexts[window.__startTexts.length - 1] !== text) window.__startTexts.push(text);
  };
  new MutationObserver(note).observe(document, {subtree: true, childList: true, characterData: true});
  const frame = () => { note(); if (!window.__startTexts.length) requestAnimationFrame(frame); };
  requestAnimationFrame(frame);
})();`

// recordStartTexts installs startTexts in every document p loads.
func recordStartTexts(p *page) {
	p.t.Helper()
	p.do("record the start button's texts", chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, cdppage.AddScriptToEvaluateOnNewDocument, cdppage.AddScriptToEvaluateOnNewDocumentParams{Source: startTexts})
		return err
	}))
}

// TestLeaveAMessageInChromium: with no agent online, the widget's first
// paint offers to leave a message, and nothing else ever shows there; the
// visitor leaves one, which a reload keeps; an agent answers it; the
// visitor reads the answer on the next visit and writes again; and once an
// agent is online, a new visitor's first paint offers a chat.
func TestLeaveAMessageInChromium(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "", "-queue-without-agents=false", "-agent", apiAgentName+":"+apiAgentPassword)
	b := newBrowser(t)
	p := b.newPage(t)
	recordStartTexts(p)

	p.navigate(srv.URL + "/products")
	p.waitFor("button", "Open chat")
	if got := evalJS[[]string](p, "window.__startTexts"); !cmp.Equal(got, []string{"Leave a message"}) {
		t.Errorf("the start button showed %q from the first frame on, want only \"Leave a message\"", got)
	}
	openWidget(p)
	p.waitText("We're not here right now.")
	p.clickButton("Leave a message")
	p.fillField("First name", "Ada")
	p.fillField("Email", "ada@example.com")
	p.fillField("Message", "Do you ship tents to Norway?")
	waitDraftSaved(t, p, map[string]string{"First name": "Ada", "Email": "ada@example.com", "Message": "Do you ship tents to Norway?"})
	p.reload() // the draft is kept
	p.waitFor("textbox", "Message")
	if got := p.fieldValue("Message"); got != "Do you ship tents to Norway?" {
		t.Errorf("after a reload the message reads %q, want the draft", got)
	}
	p.clickButton("Send message")
	p.waitText("Thanks, Ada! We'll answer by email at ada@example.com.")
	if n := p.count("textbox", "Message"); n != 0 {
		t.Errorf("a waiting message shows %d message boxes, want none: nobody is there", n)
	}
	chatID := widgetAttr(p, "data-chat-id")

	agent := signInAgent(t, srv)
	doc := agent.get("/agent")
	if row := doc.Find("#agent-messages li"); row.Length() != 1 {
		t.Fatalf("the console lists %d messages, want Ada's", row.Length())
	}
	page := agent.get("/agent/messages/" + chatID)
	form := url.Values{"client_id": {page.Find(`input[name="client_id"]`).AttrOr("value", "")}, "text": {"We do, in three days."}}
	if _, err := agent.client.PostForm(context.Background(), "/agent/messages/"+chatID+"/reply", agent.console.CSRF, form); err != nil {
		t.Fatalf("agent's answer: %v", err)
	}

	p.navigate(srv.URL + "/")
	waitTranscriptLine(t, p, "We do, in three days.")
	p.fillField("Write again", "And to Sweden?")
	p.clickButton("Send message")
	p.waitText("Thanks, Ada! We'll answer by email at ada@example.com.")
	waitTranscriptLine(t, p, "And to Sweden?")

	// The agent signed in: a new visitor's first paint offers a chat.
	fresh := b.newPage(t)
	recordStartTexts(fresh)
	fresh.navigate(srv.URL + "/")
	fresh.waitFor("button", "Open chat")
	if got := evalJS[[]string](fresh, "window.__startTexts"); !cmp.Equal(got, []string{"Start chat"}) {
		t.Errorf("with an agent online the start button showed %q, want only \"Start chat\"", got)
	}
}

// TestLeaveAMessageFirstPaintEverywhere: with no agent online, a Go site
// that mounts Parley (the example) and a site with the script tag show
// "Leave a message" from their widget's first paint too.
func TestLeaveAMessageFirstPaintEverywhere(t *testing.T) {
	t.Parallel()
	t.Run("Go site", func(t *testing.T) {
		t.Parallel()
		srv := startExample(t) // its agent has not signed in
		p := newBrowser(t).newPage(t)
		recordStartTexts(p)
		p.navigate(srv.URL + "/")
		p.waitFor("button", "Open chat")
		if got := evalJS[[]string](p, "window.__startTexts"); !cmp.Equal(got, []string{"Leave a message"}) {
			t.Errorf("the start button showed %q from the first frame on, want only \"Leave a message\"", got)
		}
	})
	t.Run("script tag", func(t *testing.T) {
		t.Parallel()
		sites, _, b := startShopAndChat(t, "-queue-without-agents=false")
		p := b.newPage(t)
		p.navigate(sites.origin("shop.test") + "/")
		p.waitFor("button", "Open chat")
		// The embed puts the widget the server rendered into its shadow
		// root as it came: what it shows is what was served.
		exposeShadowRoot(p)
		if got := evalJS[string](p, widgetInShadowJS+`.querySelector(".parley-start button").textContent.trim()`); got != "Leave a message" {
			t.Errorf("the embed's start button says %q, want \"Leave a message\"", got)
		}
		served := evalJS[string](p, `fetch(`+jsString(*sites.chat.Load()+"/chat/widget?return_to=/")+`, {credentials: "include"}).then(r => r.text())
			.then(html => new DOMParser().parseFromString(html, "text/html").querySelector(".parley-start button").textContent.trim())`)
		if served != "Leave a message" {
			t.Errorf("the chat server serves the embed a start button saying %q, want \"Leave a message\"", served)
		}
	})
}

// TestLeaveAMessageAccessibility audits every state of leaving a message
// with axe-core, in English and Arabic, at 1280×800 and on a 390×844
// phone: the offer, the form, the form with errors, the message waiting,
// and the answer with the form to write again.
func TestLeaveAMessageAccessibility(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "", "-queue-without-agents=false", "-agent", apiAgentName+":"+apiAgentPassword)
	b := newBrowser(t)
	for _, lang := range []string{"en", "ar"} {
		words := loadCatalog(t, lang)
		for _, phoneWidth := range []int64{0, 390} {
			name := lang + "/desktop"
			if phoneWidth != 0 {
				name = lang + "/phone"
			}
			t.Run(name, func(t *testing.T) {
				p := b.newPage(t)
				acceptLanguage(p, lang)
				if phoneWidth == 0 {
					desktop(p)
				} else {
					phone(p, phoneWidth, 844)
				}
				check := func(state string) {
					t.Helper()
					settle(p)
					auditPage(t, p, state)
					if phoneWidth != 0 {
						fitsPhone(t, p, state, phoneWidth)
						checkPressable(t, p, state)
					}
					shoot(t, p, state)
				}
				p.navigate(srv.URL + "/")
				p.clickButton(words.T("widget.open"))
				p.waitText(words.T("widget.closed"))
				check("closed")
				p.clickButton(words.T("widget.leave_message"))
				p.waitFor("textbox", words.T("leave.message"))
				check("form")
				p.clickButton(words.T("leave.submit"))
				p.waitText(words.T("registration.error.summary"))
				check("form-errors")
				p.fillField(words.T("registration.first_name"), "Ada")
				p.fillField(words.T("registration.email"), "ada@example.com")
				p.fillField(words.T("leave.message"), "Do the tents ship to Norway?")
				p.clickButton(words.T("leave.submit"))
				p.waitText(words.T("leave.waiting", "name", "Ada", "email", "ada@example.com"))
				check("waiting")

				agent := signInAgent(t, srv)
				chatID := widgetAttr(p, "data-chat-id")
				form := url.Values{"client_id": {"a-" + chatID}, "text": {"They do, in three days."}}
				if _, err := agent.client.PostForm(context.Background(), "/agent/messages/"+chatID+"/reply", agent.console.CSRF, form); err != nil {
					t.Fatalf("agent's answer: %v", err)
				}
				// The agent goes offline again, so that the next visitor
				// finds chat closed.
				if _, err := agent.client.PostForm(context.Background(), "/agent/status", agent.console.CSRF, url.Values{"status": {"offline"}}); err != nil {
					t.Fatalf("agent's status: %v", err)
				}
				p.reload()
				p.waitText("They do, in three days.")
				check("replied")
			})
		}
	}
}

// TestStartChatWhileClosed: the page's chat.startChat while chat is closed
// fails with chat_closed (204), and the widget shows the form to leave a
// message instead.
func TestStartChatWhileClosed(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "", "-queue-without-agents=false")
	p := openSite(t, newBrowser(t), srv, "/", siteSetup{})
	checkError(t, "startChat while closed", failure(t, p, "startChat", "{embedded: true}"), 204, "chat_closed")
	p.waitFor("textbox", "Message")
	if got := widgetAttr(p, "data-phase"); got != "leave_message" {
		t.Errorf("after startChat while closed the widget's phase is %q, want leave_message", got)
	}
}
