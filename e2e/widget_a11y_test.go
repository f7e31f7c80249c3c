package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// catalog is one of the server's embedded localization catalogs, read from
// its file, so that a test finds the widget's controls by the names a
// visitor in that language hears.
type catalog struct {
	dir      string // ltr or rtl
	messages map[string]string
}

func loadCatalog(t *testing.T, lang string) catalog {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "localization", "locales", lang+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Direction string            `json:"direction"`
		Messages  map[string]string `json:"messages"`
	}
	if err := json.Unmarshal(data, &file); err != nil {
		t.Fatalf("catalog %s: %v", lang, err)
	}
	return catalog{dir: file.Direction, messages: file.Messages}
}

// T is the message key with its {placeholders} filled from name, value
// pairs, as the server renders it.
func (c catalog) T(key string, args ...string) string {
	s, ok := c.messages[key]
	if !ok {
		panic("no message " + key)
	}
	for i := 0; i+1 < len(args); i += 2 {
		s = strings.ReplaceAll(s, "{"+args[i]+"}", args[i+1])
	}
	return s
}

// acceptLanguage makes the tab ask for lang in every request's
// Accept-Language, as a browser set to that language does.
func acceptLanguage(p *page, lang string) {
	p.t.Helper()
	p.do("ask for "+lang, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
			Headers: network.Headers{"Accept-Language": lang},
		})
		return err
	}))
}

// settle waits until the page's animations (the panel opening) have
// finished, so that what is measured is where things come to rest; the
// embed's, in its shadow root, once exposeShadowRoot has made it reachable.
func settle(p *page) {
	p.t.Helper()
	evalJS[bool](p, `Promise.all([...document.getAnimations(), ...(document.querySelector("parley-chat")?.shadowRoot?.getAnimations() ?? [])]
		.map(a => a.finished.catch(() => {})))
		.then(() => new Promise(r => requestAnimationFrame(() => r(true))))`)
}

// pressKey presses a key in whatever has focus, as a keyboard does: one
// keydown carrying the key's text (Enter's is "\r"), then a keyup.
func pressKey(p *page, key, text string, keyCode int64) {
	p.t.Helper()
	p.do("press "+key, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		down := input.DispatchKeyEventTypeRawKeyDown
		if text != "" {
			down = input.DispatchKeyEventTypeKeyDown
		}
		for _, ev := range []input.DispatchKeyEventParams{
			{Type: down, Key: key, Code: key, Text: text, WindowsVirtualKeyCode: keyCode, NativeVirtualKeyCode: keyCode},
			{Type: input.DispatchKeyEventTypeKeyUp, Key: key, Code: key, WindowsVirtualKeyCode: keyCode, NativeVirtualKeyCode: keyCode},
		} {
			if _, err := cdp.Call(ctx, t, input.DispatchKeyEvent, ev); err != nil {
				return err
			}
		}
		return nil
	}))
}

// focused describes the element that has focus: where it is and whether
// the browser shows its focus ring (:focus-visible).
type focused struct {
	InPanel    bool   `json:"inPanel"`
	IsLauncher bool   `json:"isLauncher"`
	Visible    bool   `json:"visible"`
	What       string `json:"what"`
}

func focusNow(p *page) focused {
	p.t.Helper()
	return evalJS[focused](p, `(() => {
		const el = document.activeElement;
		return {
			inPanel: !!el.closest("#parley-panel"),
			isLauncher: el.matches(".parley-launcher button"),
			visible: el.matches(":focus-visible"),
			what: el.outerHTML.slice(0, 100)
		};
	})()`)
}

// TestWidgetAccessibility walks the widget through each of its states, in
// English and in Arabic (right to left), on a desktop and on two phones,
// and audits each with axe-core: collapsed, open at the start button, the
// form, the form with errors, a conversation, minimized with an unread
// message, ended. It checks what a screen reader is told of the unread
// message, that keyboard focus shows on the open widget's controls, and on
// phones that nothing lies off screen.
func TestWidgetAccessibility(t *testing.T) {
	t.Parallel()
	srv := startAPIServer(t)
	agent := signInAgent(t, srv)
	b := newBrowser(t)
	type size struct {
		name          string
		width, height int64 // of a phone; 0 for the desktop
	}
	sizes := []size{{"desktop", 0, 0}, {"phone-390x844", 390, 844}, {"phone-360x640", 360, 640}}
	for _, lang := range []string{"en", "ar"} {
		words := loadCatalog(t, lang)
		for i, s := range sizes {
			visitor := fmt.Sprintf("Ada%s%d", lang, i)
			t.Run(lang+"/"+s.name, func(t *testing.T) {
				p := b.newPage(t)
				acceptLanguage(p, lang)
				if s.width == 0 {
					desktop(p)
				} else {
					phone(p, s.width, s.height)
				}
				check := func(state string) {
					t.Helper()
					settle(p)
					auditPage(t, p, state)
					shoot(t, p, state)
					if s.width != 0 {
						fitsPhone(t, p, state, s.width)
					}
				}
				open, minimize := words.T("widget.open"), words.T("widget.minimize")

				p.navigate(srv.URL + "/")
				p.waitFor(widgetRole, words.T("widget.title"))
				if got := widgetAttr(p, "dir"); got != words.dir || (lang == "ar" && got != "rtl") {
					t.Errorf("the widget's dir = %q, want %q", got, words.dir)
				}
				p.waitFor("button", open)
				check("collapsed")

				p.clickButton(open)
				p.waitFor("button", minimize)
				check("start")
				checkFocusRings(t, p, "start")
				checkPageBehind(t, p, "start", s.width != 0)

				p.clickButton(words.T("widget.start"))
				p.waitFor("textbox", words.T("registration.first_name"))
				check("form")

				p.fillField(words.T("registration.first_name"), visitor)
				p.fillField(words.T("registration.email"), "ada@example")
				p.clickButton(words.T("registration.submit"))
				p.waitText(words.T("registration.error.summary"))
				if got, want := p.fieldError(words.T("registration.email")), words.T("registration.error.email"); got != want {
					t.Errorf("the email field's error = %q, want %q", got, want)
				}
				check("form-errors")
				checkFocusRings(t, p, "form-errors")

				p.fillField(words.T("registration.email"), "ada@example.com")
				p.clickButton(words.T("registration.submit"))
				p.waitText(words.T("conversation.waiting", "name", visitor))
				chatID := widgetAttr(p, "data-chat-id")
				agent.accept(chatID)
				agent.send(chatID, "Hello "+visitor+", how can I help?")
				p.waitText("Hello " + visitor + ", how can I help?")
				p.fillField(words.T("conversation.message"), "Do the Scree boots come in size 46?")
				p.clickButton(words.T("conversation.send"))
				p.waitText("Do the Scree boots come in size 46?")
				check("conversation")
				checkFocusRings(t, p, "conversation")
				checkPageBehind(t, p, "conversation", s.width != 0)

				p.clickButton(minimize)
				p.waitFor("button", open)
				title := evalJS[string](p, "document.title")
				agent.send(chatID, "Size 46 is in stock.")
				waitUntil(t, p, "the title counts the unread message", `document.title.startsWith("(1) ")`)
				if got, want := evalJS[string](p, "document.title"), "(1) "+title; got != want {
					t.Errorf("title with an unread message = %q, want %q", got, want)
				}
				launcher := p.axNode("button", open)
				if got := axString(launcher.Name); got != open || (lang == "en" && got != "Open chat") {
					t.Errorf("the launcher's name = %q, want %q: the count goes in its description", got, open)
				}
				if got, want := axString(launcher.Description), words.T("widget.unread", "count", "1"); got != want {
					t.Errorf("the launcher's description = %q, want %q", got, want)
				}
				announced := evalJS[string](p, `document.querySelector('#parley-widget [role="status"].parley-announce').textContent`)
				if want := words.T("widget.new_message", "name", apiAgentName) + ": Size 46 is in stock."; announced != want {
					t.Errorf("the polite status line says %q, want %q", announced, want)
				}
				check("minimized-unread")
				checkPageBehind(t, p, "minimized-unread", false)

				p.clickButton(open)
				p.waitFor("button", minimize)
				if got := evalJS[string](p, "document.title"); got != title {
					t.Errorf("title after opening = %q, want %q without the count", got, title)
				}
				agent.end(chatID)
				p.waitText(words.T("conversation.ended.agent", "name", apiAgentName))
				p.waitFor("button", words.T("conversation.new_chat"))
				check("ended")
			})
		}
	}
}

// checkPageBehind checks whether the page behind the widget can be reached:
// on a phone the open widget covers it all, so the page must be inert (no
// Tab stop, nothing read out) and Tab must stay in the widget; elsewhere
// the page stays usable beside the widget.
func checkPageBehind(t *testing.T, p *page, what string, covered bool) {
	t.Helper()
	if got := evalJS[bool](p, `document.querySelector("main").inert`); got != covered {
		t.Errorf("%s: the page's main content is inert=%v, want %v", what, got, covered)
	}
	if !covered {
		return
	}
	focusDocumentStart(p)
	for stops := 0; stops < 12; stops++ {
		pressKey(p, "Tab", "", 9)
		// Past the last control focus leaves the page (to the body).
		where := evalJS[string](p, `(el => el === document.body ? "body" : el.closest("#parley-widget") ? "" : el.outerHTML.slice(0, 80))(document.activeElement)`)
		if where == "body" {
			if stops == 0 {
				t.Errorf("%s: Tab reaches nothing in the open widget", what)
			}
			return
		}
		if where != "" {
			t.Errorf("%s: Tab reaches %s, hidden behind the open widget", what, where)
			return
		}
	}
}

// TestWidgetFocus checks where keyboard focus goes as the widget opens and
// collapses: into the panel on opening, back to the launcher on
// minimizing or on Escape, shown as a focus ring when the keyboard moved
// it; and that the panel does not animate for a visitor who prefers
// reduced motion.
func TestWidgetFocus(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "")
	b := newBrowser(t)

	t.Run("mouse and keyboard", func(t *testing.T) {
		p := b.newPage(t)
		desktop(p)
		p.navigate(srv.URL + "/")

		p.clickButton("Open chat")
		p.waitFor("button", "Minimize chat")
		if f := focusNow(p); !f.InPanel {
			t.Errorf("after clicking Open chat, focus is on %s; want it inside the widget's panel", f.What)
		}
		settle(p)
		if got := evalJS[string](p, `getComputedStyle(document.getElementById("parley-panel")).animationName`); got != "parley-in" {
			t.Errorf("the opening panel animates with %q, want parley-in (so that the reduced-motion case below tests something)", got)
		}
		p.clickButton("Minimize chat")
		p.waitFor("button", "Open chat")
		if f := focusNow(p); !f.IsLauncher {
			t.Errorf("after Minimize chat, focus is on %s; want the launcher", f.What)
		}

		// By keyboard: Enter on the launcher, then Escape.
		pressKey(p, "Enter", "\r", 13)
		p.waitFor("button", "Minimize chat")
		f := focusNow(p)
		if !f.InPanel || !f.Visible {
			t.Errorf("after Enter on the launcher, focus is on %s (focus ring shown: %v); want it inside the panel, shown", f.What, f.Visible)
		}
		pressKey(p, "Escape", "", 27)
		p.waitFor("button", "Open chat")
		if f := focusNow(p); !f.IsLauncher || !f.Visible {
			t.Errorf("after Escape in the panel, focus is on %s (focus ring shown: %v); want the launcher, shown", f.What, f.Visible)
		}
		if got := widgetAttr(p, "data-open"); got != "false" {
			t.Errorf("after Escape the widget's data-open = %q, want false", got)
		}

		// In a conversation, focus goes to the message box.
		openWidget(p)
		p.clickButton("Start chat")
		p.waitFor("textbox", "First name")
		if f := focusNow(p); !f.InPanel {
			t.Errorf("after Start chat, focus is on %s; want it to stay inside the panel", f.What)
		}
		p.fillField("First name", "Ada")
		p.fillField("Email", "ada@example.com")
		p.clickButton("Start")
		p.waitText("Thanks, Ada!")
		p.clickButton("Minimize chat")
		p.clickButton("Open chat")
		if got := evalJS[string](p, "document.activeElement.id"); got != "parley-message" {
			t.Errorf("opening the widget on a conversation focuses #%s, want the message box", got)
		}
	})

	t.Run("reduced motion", func(t *testing.T) {
		p := b.newPage(t)
		reducedMotion(p)
		p.navigate(srv.URL + "/")
		openWidget(p)
		if got := evalJS[string](p, `getComputedStyle(document.getElementById("parley-panel")).animationName`); got != "none" {
			t.Errorf("with reduced motion the panel animates with %q, want none", got)
		}
	})
}

// focusDocumentStart moves the point Tab starts from to the top of the
// document, as a freshly loaded page has it.
func focusDocumentStart(p *page) {
	p.t.Helper()
	evalJS[bool](p, `(() => {
		const root = document.documentElement;
		root.tabIndex = -1;
		root.focus({preventScroll: true});
		root.removeAttribute("tabindex");
		return true;
	})()`)
}
