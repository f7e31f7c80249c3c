package e2e

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"
)

// The widget as assistive technology names it.
const (
	widgetRole, widgetName = "region", "Chat with us"
	logRole, logName       = "log", "Conversation"
)

// openWidget opens the collapsed widget from its launcher.
func openWidget(p *page) {
	p.t.Helper()
	p.clickButton("Open chat")
	p.waitFor("button", "Minimize chat")
}

// openChat loads the site's home page, opens the widget, starts a chat and
// registers, with JavaScript on, and waits for the waiting line.
func openChat(t testing.TB, p *page, srv *server, firstName, email string) {
	t.Helper()
	p.navigate(srv.URL + "/")
	openWidget(p)
	p.clickButton("Start chat")
	p.fillField("First name", firstName)
	p.fillField("Email", email)
	p.clickButton("Start")
	p.waitText("Thanks, " + firstName + "! An agent will be with you shortly.")
}

// sendMessage types text into the compose box, clicks Send and waits until
// the transcript shows it.
func sendMessage(t testing.TB, p *page, text string) {
	t.Helper()
	p.fillField("Message", text)
	p.clickButton("Send")
	waitTranscriptLine(t, p, text)
}

// waitTranscriptLine waits until a line of the transcript holds text.
func waitTranscriptLine(t testing.TB, p *page, text string) {
	t.Helper()
	p.waitFor(logRole, logName)
	p.waitText(text)
	for _, line := range p.itemsOf(logRole, logName) {
		if strings.Contains(line, text) {
			return
		}
	}
	t.Fatalf("%q is on the page but not in the transcript: %q", text, p.itemsOf(logRole, logName))
}

func TestTranscriptSurvivesReload(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "")
	p := newBrowser(t).newPage(t)

	openChat(t, p, srv, "Ada", "ada@example.com")
	sendMessage(t, p, "Do the Scree boots come in size 46?")
	// Enter sends too, as in every chat.
	p.fillField("Message", "And can I return them?")
	p.pressEnter("Message")
	waitTranscriptLine(t, p, "And can I return them?")
	if got := p.fieldValue("Message"); got != "" {
		t.Errorf("after sending, the message box holds %q, want it empty", got)
	}
	before := p.itemsOf(logRole, logName)
	if len(before) != 2 {
		t.Fatalf("transcript before reload = %q, want the 2 messages sent", before)
	}

	p.reload()

	p.waitText("Thanks, Ada! An agent will be with you shortly.")
	after := p.itemsOf(logRole, logName)
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("transcript after reload differs (-before +after):\n%s", diff)
	}
	if n := p.count("button", "Start chat"); n != 0 {
		t.Errorf("after reload the start button shows (%d), want the conversation only", n)
	}
	// The restored chat is live: it takes another message.
	sendMessage(t, p, "Thanks!")
	if got := p.itemsOf(logRole, logName); len(got) != 3 {
		t.Errorf("transcript after a third message = %q, want 3 lines", got)
	}
}

func TestRegistrationDraftSurvivesReload(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "")
	p := newBrowser(t).newPage(t)
	p.navigate(srv.URL + "/pricing")
	openWidget(p)
	p.clickButton("Start chat")

	typed := map[string]string{
		"First name": "Grace",
		"Last name":  "Hopper",
		"Email":      "grace@example.com",
		"Subject":    "Tent poles",
	}
	for _, field := range []string{"First name", "Last name", "Email", "Subject"} {
		p.fillField(field, typed[field])
	}
	// The page saves the draft a moment after typing stops. Wait until the
	// server has all of it (what a reload would render) rather than
	// sleeping for a guessed time; the check after the reload is the test.
	waitDraftSaved(t, p, typed)

	p.reload()
	checkForm(t, p, "after reload", typed)
	// A browser may refill a reloaded form by itself; a new page load shows
	// that the server restored it.
	p.navigate(srv.URL + "/contact")
	checkForm(t, p, "on another page", typed)

	// And the restored form still submits.
	p.clickButton("Start")
	p.waitText("Thanks, Grace! An agent will be with you shortly.")
}

// checkForm checks the value of each field (label → value).
func checkForm(t *testing.T, p *page, when string, want map[string]string) {
	t.Helper()
	for field, value := range want {
		if got := p.fieldValue(field); got != value {
			t.Errorf("%s, %s = %q, want %q", when, field, got, value)
		}
	}
}

// waitDraftSaved polls the widget as the server renders it now until its
// registration form holds want (field label → value).
func waitDraftSaved(t *testing.T, p *page, want map[string]string) {
	t.Helper()
	var got map[string]string
	ok := p.poll(func(ctx context.Context) bool {
		var err error
		got, err = renderedForm(ctx, "/chat/widget")
		return err == nil && cmp.Equal(got, want)
	})
	if !ok {
		t.Fatalf("the server never saved the draft; its widget form holds %q, want %q", got, want)
	}
}

// renderedForm fetches the widget at url with the page's cookies (those
// of the chat server's site, partitioned by the page's, for the embed) and
// reads the value of each labelled field of the form in it.
func renderedForm(ctx context.Context, url string) (map[string]string, error) {
	return chromedp.Run(ctx, chromedp.Evaluate[map[string]string](fmt.Sprintf(`fetch(%q, {credentials: "include"})
		.then(r => r.text())
		.then(html => {
			const doc = new DOMParser().parseFromString(html, "text/html");
			const form = {};
			for (const label of doc.querySelectorAll("#parley-widget label[for]")) {
				const field = doc.getElementById(label.htmlFor);
				if (field) form[label.textContent.trim()] = field.value;
			}
			return form;
		})`, url), chromedp.EvalAwaitPromise))
}

func TestChatSurvivesNavigation(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "")
	p := newBrowser(t).newPage(t)
	openChat(t, p, srv, "Ada", "ada@example.com")
	sendMessage(t, p, "Which tent for two?")
	transcript := p.itemsOf(logRole, logName)

	t.Run("full page load", func(t *testing.T) {
		markDocument(p)
		p.clickLinkAndWaitLoad("Contact")
		p.waitFor("heading", "Contact")
		if documentMarked(p) {
			t.Fatal("the Contact link did not load a new document; this case must test a full load")
		}
		if diff := cmp.Diff(transcript, p.itemsOf(logRole, logName)); diff != "" {
			t.Errorf("transcript after a full load differs (-before +after):\n%s", diff)
		}
	})

	t.Run("hx-boost navigation keeps the widget", func(t *testing.T) {
		markDocument(p)
		evalOn[bool](p, widgetRole, widgetName, "function () { this.e2eTag = 'kept'; return true; }")

		p.clickLink("Products")
		p.waitFor("heading", "Products")

		if got := p.path(); got != "/products" {
			t.Errorf("location after clicking Products = %q, want /products", got)
		}
		if !documentMarked(p) {
			t.Fatal("the Products link loaded a new document; want a boosted swap")
		}
		if tag := evalOn[string](p, widgetRole, widgetName, "function () { return this.e2eTag || ''; }"); tag != "kept" {
			t.Error("the widget is a new element after the boosted navigation; want the same DOM node kept")
		}
		if diff := cmp.Diff(transcript, p.itemsOf(logRole, logName)); diff != "" {
			t.Errorf("transcript after a boosted navigation differs (-before +after):\n%s", diff)
		}
		// The kept widget still works on the new page.
		sendMessage(t, p, "Sent from the products page")
	})
}

// markDocument tags the current document, so that documentMarked tells
// whether a navigation replaced it.
func markDocument(p *page) {
	p.t.Helper()
	evalJS[bool](p, "window.e2eDocumentMark = true")
}

func documentMarked(p *page) bool {
	p.t.Helper()
	return evalJS[bool](p, "window.e2eDocumentMark === true")
}

func TestChatSurvivesServerKill(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "")
	p := newBrowser(t).newPage(t)
	openChat(t, p, srv, "Ada", "ada@example.com")
	sendMessage(t, p, "Is the Ridge 2 in stock?")
	before := p.itemsOf(logRole, logName)

	srv.kill9()
	srv.restart()
	p.reload()

	p.waitText("Thanks, Ada! An agent will be with you shortly.")
	if diff := cmp.Diff(before, p.itemsOf(logRole, logName)); diff != "" {
		t.Errorf("transcript after kill -9 and restart differs (-before +after):\n%s", diff)
	}
	sendMessage(t, p, "Still there after the restart?")
}

func TestChatWithoutJavaScript(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "")
	p := newBrowser(t).newPage(t)
	p.disableScripts()
	p.navigate(srv.URL + "/pricing")
	if evalJS[bool](p, "typeof window.chat !== 'undefined'") {
		t.Fatal("chat.js ran; this test needs JavaScript disabled")
	}

	// Without JavaScript the launcher is a form: the page comes back open.
	p.clickButtonAndWaitLoad("Open chat")
	p.clickButtonAndWaitLoad("Start chat")
	p.fillField("First name", "Ada")
	p.fillField("Email", "ada@example.com")
	p.clickButtonAndWaitLoad("Start")
	p.waitText("Thanks, Ada! An agent will be with you shortly.")
	p.fillField("Message", "Hello without JavaScript")
	p.clickButtonAndWaitLoad("Send")

	waitTranscriptLine(t, p, "Hello without JavaScript")
	if got := p.path(); got != "/pricing" {
		t.Errorf("after sending, the browser is on %q, want back on /pricing", got)
	}
	// A reload after the redirect shows the same, and posts nothing again.
	p.reload()
	if got := p.itemsOf(logRole, logName); len(got) != 1 || !strings.Contains(got[0], "Hello without JavaScript") {
		t.Errorf("transcript after reload = %q, want the one message", got)
	}
}

func TestRegistrationErrorsShowInPlace(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		javascript bool
	}{
		{"with JavaScript", true},
		{"without JavaScript", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t, "")
			p := newBrowser(t).newPage(t)
			click := p.clickButton
			if !tc.javascript {
				p.disableScripts()
				click = p.clickButtonAndWaitLoad
			}
			p.navigate(srv.URL + "/")
			click("Open chat")
			click("Start chat")
			p.fillField("First name", "Ada")
			p.fillField("Last name", "Lovelace")
			p.fillField("Email", "ada@example")
			p.fillField("Subject", "Boot sizing")
			if tc.javascript {
				markDocument(p)
			}
			click("Start")

			p.waitText("Please correct the highlighted fields.")
			if got, want := p.textOf("alert", ""), "Please correct the highlighted fields."; got != want {
				t.Errorf("the alert announced = %q, want %q", got, want)
			}
			if tc.javascript && !documentMarked(p) {
				t.Error("the form's errors came with a new page load; want them swapped in place")
			}
			if got, want := p.fieldError("Email"), "Please enter a valid email address, like name@example.com."; got != want {
				t.Errorf("Email's error = %q, want %q", got, want)
			}
			for _, field := range []string{"First name", "Last name", "Subject"} {
				if got := p.fieldError(field); got != "" {
					t.Errorf("%s has error %q, want none", field, got)
				}
			}
			checkForm(t, p, "after the error", map[string]string{
				"First name": "Ada", "Last name": "Lovelace", "Email": "ada@example", "Subject": "Boot sizing",
			})
			if n := p.count("textbox", "Message"); n != 0 {
				t.Error("the conversation opened although the registration was invalid")
			}

			// Correcting the field is enough to go on.
			p.fillField("Email", "ada@example.com")
			click("Start")
			p.waitText("Thanks, Ada! An agent will be with you shortly.")
		})
	}
}

func TestRestoreCausesNoLayoutShift(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "")
	p := ownBrowser(t).newPage(t)

	p.navigate(srv.URL + "/products")
	fresh := mainBox(p)
	checkNoLayoutShift(t, p, "a first visit")

	openWidget(p)
	p.clickButton("Start chat")
	p.fillField("First name", "Ada")
	p.fillField("Email", "ada@example.com")
	p.clickButton("Start")
	p.waitText("Thanks, Ada!")
	for i := range 6 {
		sendMessage(t, p, "Question number "+strconv.Itoa(i+1))
	}

	p.reload()
	waitTranscriptLine(t, p, "Question number 6")
	if restored := mainBox(p); restored != fresh {
		t.Errorf("the page's main content moved when a chat was restored: %+v without a chat, %+v with one", fresh, restored)
	}
	checkNoLayoutShift(t, p, "a page load restoring a chat")

	// No flash: the restored conversation is in the server's HTML, not
	// drawn by a script after load. (Times are left out: chat.js shows them
	// in the visitor's own format.)
	served := evalJS[[]string](p, `fetch(location.href, {credentials: "same-origin"})
		.then(r => r.text())
		.then(html => {
			const doc = new DOMParser().parseFromString(html, "text/html");
			const log = doc.querySelector('[role="log"][aria-label="Conversation"]');
			return log ? Array.from(log.querySelector("ol").children, li => {
				li.querySelectorAll("time").forEach(t => t.remove());
				return li.textContent.replace(/\s+/g, " ").trim();
			}) : [];
		})`)
	var want []string
	for i := range 6 {
		want = append(want, "You Question number "+strconv.Itoa(i+1))
	}
	if diff := cmp.Diff(want, served); diff != "" {
		t.Errorf("the page's HTML does not carry the transcript (-want +served):\n%s", diff)
	}
}

// box is an element's position and size in CSS pixels.
type box struct {
	X      float64 `json:"x"`
	Y      float64 `json:"y"`
	Width  float64 `json:"width"`
	Height float64 `json:"height"`
}

func mainBox(p *page) box {
	p.t.Helper()
	return evalJS[box](p, `(() => {
		const r = document.querySelector("main").getBoundingClientRect();
		return {x: r.x, y: r.y, width: r.width, height: r.height};
	})()`)
}

// checkNoLayoutShift fails the test if the browser recorded any layout
// shift since the page loaded (the Layout Instability API, which Core Web
// Vitals' CLS is built on).
func checkNoLayoutShift(t *testing.T, p *page, when string) {
	t.Helper()
	if !evalJS[bool](p, `PerformanceObserver.supportedEntryTypes.includes("layout-shift")`) {
		t.Fatal("this Chromium does not report layout shifts; the check would pass blindly")
	}
	shifts := evalJS[[]float64](p, `new Promise(resolve => {
		const seen = [];
		const observer = new PerformanceObserver(list => {
			for (const e of list.getEntries()) seen.push(e.value);
		});
		observer.observe({type: "layout-shift", buffered: true});
		// Buffered entries arrive in the next task; give them a frame or two.
		setTimeout(() => { observer.disconnect(); resolve(seen); }, 300);
	})`)
	if len(shifts) > 0 {
		t.Errorf("layout shifted on %s: %v", when, shifts)
	}
}
