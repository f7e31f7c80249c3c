package e2e

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// TestWidgetOnPhones has a visitor on a touch phone chat from start to
// finish with taps: open the widget, start, register, send, reload,
// navigate by an htmx-boosted link and by a full page load. At each step
// the page must not scroll sideways, every control of the widget must lie
// on screen, be large enough for a finger and be what a tap at its centre
// reaches, and the open widget must fill the screen inside the safe area.
// With the on-screen keyboard up, the field being typed in and then the
// message box must stay above it.
func TestWidgetOnPhones(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "")
	b := newBrowser(t)
	for _, s := range []struct {
		width, height int64
		inset         int64 // safe-area inset at the top and bottom (a notch, a home bar)
	}{{360, 640, 0}, {390, 844, 34}} {
		t.Run(fmt.Sprintf("%dx%d", s.width, s.height), func(t *testing.T) {
			p := b.newPage(t)
			phone(p, s.width, s.height)
			if s.inset > 0 {
				safeArea(p, s.inset)
			}
			step := func(what string) {
				t.Helper()
				settle(p)
				fitsPhone(t, p, what, s.width)
				checkPressable(t, p, what)
				if widgetAttr(p, "data-open") == "true" {
					checkFillsScreen(t, p, what, s.inset)
				}
				shoot(t, p, what)
			}

			p.navigate(srv.URL + "/")
			step("collapsed")
			p.tap("button", "Open chat")
			p.waitFor("button", "Minimize chat")
			if f := focusNow(p); !f.InPanel {
				t.Errorf("after tapping Open chat, focus is on %s; want it inside the widget's panel", f.What)
			}
			step("start")
			p.tap("button", "Start chat")
			p.waitFor("textbox", "First name")
			step("form")

			// Typing in the form with the keyboard up, then sending it
			// from the keyboard: the field, and then the message box of the
			// conversation that replaces the form, stay above the keyboard.
			p.tap("textbox", "First name")
			showKeyboard(p)
			p.fillField("First name", "Ada")
			checkAboveKeyboard(t, p, "the form", "#parley-first_name")
			p.fillField("Email", "ada@example.com")
			p.fillField("Subject", "Tent poles")
			checkAboveKeyboard(t, p, "the form", "#parley-subject")
			checkNotClipped(t, p, "the form with the keyboard up")
			p.pressEnter("Subject")
			p.waitText("Thanks, Ada!")
			checkAboveKeyboard(t, p, "the conversation", "#parley-message")
			checkNotClipped(t, p, "the conversation with the keyboard up")
			p.fillField("Message", "Typed above the keyboard")
			p.pressEnter("Message")
			waitTranscriptLine(t, p, "Typed above the keyboard")
			checkAboveKeyboard(t, p, "the conversation after sending", "#parley-message")
			hideKeyboard(p)
			step("conversation")

			p.tap("textbox", "Message")
			p.fillField("Message", "Which tent for two?")
			p.tap("button", "Send")
			waitTranscriptLine(t, p, "Which tent for two?")
			step("conversation-sent")

			p.reload()
			waitTranscriptLine(t, p, "Which tent for two?")
			if got := widgetAttr(p, "data-open"); got != "true" {
				t.Errorf("after a reload the widget's data-open = %q, want it open as the visitor left it", got)
			}
			step("reloaded")

			// To browse on, the visitor minimizes the widget that covers the
			// page, and opens it again on the next page.
			p.tap("button", "Minimize chat")
			p.waitFor("button", "Open chat")
			step("minimized")
			markDocument(p)
			p.tap("link", "Products") // hx-boost
			p.waitFor("heading", "Products")
			if !documentMarked(p) {
				t.Error("the Products link loaded a new document; want an htmx swap")
			}
			step("boosted")
			p.tap("button", "Open chat")
			waitTranscriptLine(t, p, "Which tent for two?")
			step("boosted-open")
			p.tap("button", "Minimize chat")
			p.waitFor("button", "Open chat")
			p.tapAndWaitLoad("link", "Contact") // a full load
			p.waitFor("heading", "Contact")
			step("full-load")
			p.tap("button", "Open chat")
			waitTranscriptLine(t, p, "Which tent for two?")
			p.tap("textbox", "Message")
			p.fillField("Message", "Sent from the contact page")
			p.tap("button", "Send")
			waitTranscriptLine(t, p, "Sent from the contact page")
			step("full-load-open")
		})
	}
}

// safeArea emulates a phone whose screen has inset px at its top (a notch)
// and bottom (a home bar) that content should keep clear of.
func safeArea(p *page, inset int64) {
	p.t.Helper()
	p.do("emulate safe-area insets", chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		zero := int64(0)
		_, err := cdp.Call(ctx, t, emulation.SetSafeAreaInsetsOverride, emulation.SetSafeAreaInsetsOverrideParams{
			Insets: &emulation.SafeAreaInsets{Top: &inset, Bottom: &inset, Left: &zero, Right: &zero},
		})
		return err
	}))
}

// tap touches the centre of the element with the given role and name, as a
// finger does (touch events, which the browser turns into a click). It does
// not scroll to the element or force the tap: the element must be on
// screen, and what lies at its centre must be the element itself.
func (p *page) tap(role, name string) {
	p.t.Helper()
	p.do("tap "+named(role, name), p.tapAction(role, name))
}

// tapAndWaitLoad taps a link or button that loads a new document and
// waits for the load.
func (p *page) tapAndWaitLoad(role, name string) {
	p.t.Helper()
	tap := p.tapAction(role, name)
	run(p, "tap "+named(role, name)+" and wait for the next page to load",
		chromedp.WaitEvent(cdppage.LoadEventFired, nil, tap))
}

func (p *page) tapAction(role, name string) chromedp.Action[chromedp.Void] {
	p.t.Helper()
	p.waitFor(role, name)
	type point struct {
		X, Y    float64
		Blocked string // what a tap at the centre would reach instead
	}
	at := evalOn[point](p, role, name, `function () {
		const r = this.getBoundingClientRect();
		const x = r.left + r.width / 2, y = r.top + r.height / 2;
		const hit = this.getRootNode().elementFromPoint(x, y);
		return {X: x, Y: y, Blocked: hit === this || this.contains(hit) ? "" : hit ? hit.outerHTML.slice(0, 120) : "nothing: it is off screen"};
	}`)
	if at.Blocked != "" {
		p.t.Fatalf("tap %s: its centre (%.0f, %.0f) reaches %s", named(role, name), at.X, at.Y, at.Blocked)
	}
	return chromedp.TapXY(at.X, at.Y)
}

// widgetRootJS finds the tree the widget is in: the embed's shadow root
// once exposeShadowRoot has let the test's scripts reach it, else the page.
const widgetRootJS = `const root = document.querySelector("parley-chat")?.shadowRoot ?? document;`

// checkPressable checks every control of the widget that shows: it lies
// inside the viewport, is at least 44 CSS pixels high and wide (a
// finger's width; a text field's width is its own), and a tap at its
// centre reaches it, not something drawn over it.
func checkPressable(t *testing.T, p *page, what string) {
	t.Helper()
	problems := evalJS[[]string](p, `(() => {
		`+widgetRootJS+`
		const out = [];
		const controls = root.querySelectorAll('#parley-widget :is(a[href], button, input:not([type=hidden]), select, textarea)');
		for (const el of controls) {
			if (el.getClientRects().length === 0 || getComputedStyle(el).visibility !== "visible") continue;
			const r = el.getBoundingClientRect();
			const name = el.outerHTML.slice(0, 100);
			if (r.left < -0.5 || r.top < -0.5 || r.right > innerWidth + 0.5 || r.bottom > innerHeight + 0.5) {
				out.push(name + " lies outside the " + innerWidth + "×" + innerHeight + " viewport, at " +
					[r.left, r.top, r.right, r.bottom].map(Math.round).join(","));
				continue;
			}
			if (r.height < 43.5 || (el.matches("button, a") && r.width < 43.5)) {
				out.push(name + " is " + Math.round(r.width) + "×" + Math.round(r.height) + ", smaller than a finger (44×44)");
			}
			const hit = root.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
			if (hit !== el && !el.contains(hit)) {
				out.push(name + " is covered at its centre by " + (hit ? hit.outerHTML.slice(0, 100) : "nothing"));
			}
		}
		if (controls.length === 0) out.push("the widget has no controls at all");
		return out;
	})()`)
	for _, problem := range problems {
		t.Errorf("%s: %s", what, problem)
	}
}

// checkFillsScreen checks that the open widget's panel covers the whole
// screen, and that its controls keep clear of the safe-area insets.
func checkFillsScreen(t *testing.T, p *page, what string, inset int64) {
	t.Helper()
	type layout struct {
		Panel               box
		Width, Height       float64
		ControlsTop, Bottom float64 // the highest top and lowest bottom of its controls
	}
	got := evalJS[layout](p, `(() => {
		`+widgetRootJS+`
		const panel = root.getElementById("parley-panel"), r = panel.getBoundingClientRect();
		let top = Infinity, bottom = 0;
		for (const el of panel.querySelectorAll('button, input:not([type=hidden]), textarea, h2')) {
			if (el.getClientRects().length === 0) continue;
			const c = el.getBoundingClientRect();
			top = Math.min(top, c.top);
			bottom = Math.max(bottom, c.bottom);
		}
		return {Panel: {x: r.x, y: r.y, width: r.width, height: r.height}, Width: innerWidth, Height: innerHeight, ControlsTop: top, Bottom: bottom};
	})()`)
	near := func(a, b float64) bool { return math.Abs(a-b) <= 1 }
	if !near(got.Panel.X, 0) || !near(got.Panel.Y, 0) || !near(got.Panel.Width, got.Width) || !near(got.Panel.Height, got.Height) {
		t.Errorf("%s: the open panel is at %+v, want it to fill the %v×%v screen", what, got.Panel, got.Width, got.Height)
	}
	if got.ControlsTop < float64(inset)-0.5 || got.Bottom > got.Height-float64(inset)+0.5 {
		t.Errorf("%s: the panel's content spans y %.0f…%.0f; want it inside the safe area, %d…%.0f", what, got.ControlsTop, got.Bottom, inset, got.Height-float64(inset))
	}
}

// keyboardShare is how much of the screen's height the on-screen keyboard
// leaves to the page.
const keyboardShare = 0.6

// showKeyboard emulates the on-screen keyboard coming up as a phone's
// browser does it: the visual viewport (what the visitor sees) shrinks to
// the part of the screen above the keyboard and pans down over the page,
// while the layout viewport stays the size of the screen. Headless
// Chromium has no on-screen keyboard and keeps the visual viewport the
// size of the layout one; zooming in by 1/keyboardShare shrinks it to
// keyboardShare of the height, and a scroll gesture pans it, as the
// browser does to bring the focused field into view.
func showKeyboard(p *page) {
	p.t.Helper()
	p.do("bring up the on-screen keyboard", chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		if _, err := cdp.Call(ctx, t, emulation.SetPageScaleFactor, emulation.SetPageScaleFactorParams{PageScaleFactor: 1 / keyboardShare}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, t, input.SynthesizeScrollGesture, input.SynthesizeScrollGestureParams{
			X: 20, Y: 20, YDistance: -100, GestureSourceType: input.GestureSourceTypeMouse,
		})
		return err
	}))
	waitUntil(p.t, p, "the visual viewport shrinks and pans",
		fmt.Sprintf("Math.abs(visualViewport.height - innerHeight * %g) < 1 && visualViewport.offsetTop > 0", keyboardShare))
	settle(p)
}

// hideKeyboard puts the keyboard away again.
func hideKeyboard(p *page) {
	p.t.Helper()
	p.do("put the keyboard away", chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetPageScaleFactor, emulation.SetPageScaleFactorParams{PageScaleFactor: 1})
		return err
	}))
	waitUntil(p.t, p, "the visual viewport fills the screen again", "visualViewport.height === innerHeight && visualViewport.offsetTop === 0")
	settle(p)
}

// checkAboveKeyboard checks that the element matching selector lies within
// the visual viewport's height: above the keyboard, below its top edge.
func checkAboveKeyboard(t *testing.T, p *page, what, selector string) {
	t.Helper()
	settle(p)
	type span struct{ Top, Bottom, ViewTop, ViewBottom float64 }
	got := evalJS[span](p, fmt.Sprintf(`(() => {
		`+widgetRootJS+`
		const r = root.querySelector(%q).getBoundingClientRect(), vv = window.visualViewport;
		return {Top: r.top, Bottom: r.bottom, ViewTop: vv.offsetTop, ViewBottom: vv.offsetTop + vv.height};
	})()`, selector))
	if got.Top < got.ViewTop-0.5 || got.Bottom > got.ViewBottom+0.5 {
		t.Errorf("%s: %s spans y %.0f…%.0f, outside what the keyboard leaves visible (%.0f…%.0f)", what, strings.TrimPrefix(selector, "#"), got.Top, got.Bottom, got.ViewTop, got.ViewBottom)
	}
}

// checkNotClipped checks that every control of the open panel can be
// reached: it lies within the panel, or within a part of it that scrolls.
func checkNotClipped(t *testing.T, p *page, what string) {
	t.Helper()
	clipped := evalJS[[]string](p, `(() => {
		`+widgetRootJS+`
		const panel = root.getElementById("parley-panel"), box = panel.getBoundingClientRect(), out = [];
		for (const el of panel.querySelectorAll('button, input:not([type=hidden]), textarea')) {
			if (el.getClientRects().length === 0) continue;
			const r = el.getBoundingClientRect();
			if (r.top >= box.top - 0.5 && r.bottom <= box.bottom + 0.5) continue;
			let scrolls = false;
			for (let a = el.parentElement; a && a !== panel; a = a.parentElement) {
				const y = getComputedStyle(a).overflowY;
				if ((y === "auto" || y === "scroll") && a.scrollHeight > a.clientHeight) scrolls = true;
			}
			if (!scrolls) out.push(el.outerHTML.slice(0, 100) + " at y " + Math.round(r.top) + "…" + Math.round(r.bottom) +
				" is cut off by the panel (y " + Math.round(box.top) + "…" + Math.round(box.bottom) + ") with no way to scroll to it");
		}
		return out;
	})()`)
	for _, c := range clipped {
		t.Errorf("%s: %s", what, c)
	}
}
