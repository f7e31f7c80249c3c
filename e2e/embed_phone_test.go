package e2e

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/dom"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// TestEmbedOnPhones has a visitor of another site chat through the
// script-tag widget on touch phones (390×844 and 360×640), in English and
// in Arabic, with taps: open, start, register, send. At each step the page
// does not scroll sideways, every control of the widget lies on screen, is
// large enough for a finger and is what a tap at its centre reaches, the
// open panel fills the screen, and axe-core, let into the widget's closed
// shadow root, finds nothing serious there.
func TestEmbedOnPhones(t *testing.T) {
	t.Parallel()
	sites, _, b := startShopAndChat(t)
	shop := sites.origin("shop.test")
	for _, lang := range []string{"en", "ar"} {
		words := loadCatalog(t, lang)
		for _, s := range []struct{ width, height int64 }{{390, 844}, {360, 640}} {
			t.Run(fmt.Sprintf("%s/%dx%d", lang, s.width, s.height), func(t *testing.T) {
				t.Parallel()
				p := b.newPage(t)
				acceptLanguage(p, lang)
				phone(p, s.width, s.height)
				step := func(what string, open bool) {
					t.Helper()
					settle(p)
					fitsPhone(t, p, what, s.width)
					checkPressable(t, p, what)
					if open {
						checkFillsScreen(t, p, what, 0)
						checkNotClipped(t, p, what)
					}
					auditEmbed(t, p, what)
					shoot(t, p, what)
				}

				p.navigate(shop + "/")
				p.waitFor("button", words.T("widget.open"))
				exposeShadowRoot(p)
				if got := evalJS[string](p, widgetInShadowJS+`.dir`); got != words.dir {
					t.Errorf("the widget's dir = %q, want %q", got, words.dir)
				}
				step("collapsed", false)
				p.tap("button", words.T("widget.open"))
				p.waitFor("button", words.T("widget.minimize"))
				step("start", true)
				p.tap("button", words.T("widget.start"))
				p.waitFor("textbox", words.T("registration.first_name"))
				step("form", true)

				p.tap("textbox", words.T("registration.first_name"))
				p.fillField(words.T("registration.first_name"), "Ada")
				p.fillField(words.T("registration.email"), "ada@example")
				p.tap("button", words.T("registration.submit"))
				waitShadowText(t, p, words.T("registration.error.summary"))
				step("form-errors", true)

				p.fillField(words.T("registration.email"), "ada@example.com")
				p.tap("button", words.T("registration.submit"))
				waitShadowText(t, p, words.T("conversation.waiting", "name", "Ada"))
				p.tap("textbox", words.T("conversation.message"))
				p.fillField(words.T("conversation.message"), "Which tent for two?")
				p.tap("button", words.T("conversation.send"))
				waitShadowText(t, p, "Which tent for two?")
				step("conversation", true)

				p.reload()
				p.waitFor("button", words.T("widget.minimize"))
				exposeShadowRoot(p)
				waitShadowText(t, p, "Which tent for two?")
				step("reloaded", true)
				p.tap("button", words.T("widget.minimize"))
				p.waitFor("button", words.T("widget.open"))
				step("minimized", false)
			})
		}
	}
}

// exposeShadowRoot lets the test's scripts (the layout checks, axe-core)
// into the embed's closed shadow root, which a page's scripts cannot reach:
// the DevTools protocol can, and gives the root's host a shadowRoot that
// returns it, as an open root's host has. The widget itself is unchanged.
func exposeShadowRoot(p *page) {
	p.t.Helper()
	p.do("expose the widget's closed shadow root", chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		host, err := cdp.Call(ctx, t, runtime.Evaluate, runtime.EvaluateParams{Expression: `document.querySelector("parley-chat")`})
		if err != nil {
			return err
		}
		if host.Result.ObjectID == "" {
			return errors.New("the page has no parley-chat element")
		}
		defer cdp.Call(ctx, t, runtime.ReleaseObject, runtime.ReleaseObjectParams{ObjectID: host.Result.ObjectID})
		described, err := cdp.Call(ctx, t, dom.DescribeNode, dom.DescribeNodeParams{ObjectID: host.Result.ObjectID, Depth: new(int64(1)), Pierce: new(true)})
		if err != nil {
			return err
		}
		roots := described.Node.ShadowRoots
		if len(roots) != 1 || roots[0].ShadowRootType != cdp.ShadowRootTypeClosed {
			return fmt.Errorf("parley-chat has %d shadow roots (%+v), want one closed", len(roots), roots)
		}
		root, err := cdp.Call(ctx, t, dom.ResolveNode, dom.ResolveNodeParams{BackendNodeID: roots[0].BackendNodeID})
		if err != nil {
			return err
		}
		defer cdp.Call(ctx, t, runtime.ReleaseObject, runtime.ReleaseObjectParams{ObjectID: root.Object.ObjectID})
		_, err = chromedp.CallFunctionOn[chromedp.Void](`function () {
			const root = this;
			Object.defineProperty(root.host, "shadowRoot", {configurable: true, get: () => root});
		}`, func(c *runtime.CallFunctionOnParams) { c.ObjectID = root.Object.ObjectID })(ctx, t)
		return err
	}))
}

// auditEmbed runs axe-core over the page with the widget's shadow root
// exposed, and makes sure that the audit reached inside the widget: an
// audit that saw none of it would pass anything.
func auditEmbed(t *testing.T, p *page, what string) {
	t.Helper()
	auditPage(t, p, what)
	inside := evalJS[int](p, `axe.run({include: [{fromShadowDom: ["parley-chat", "#parley-widget"]}]}, {resultTypes: ["violations"]})
		.then(r => r.passes.length + r.violations.length)`)
	if inside == 0 {
		t.Fatalf("%s: axe-core audited nothing inside the widget's shadow root", what)
	}
}

// widgetInShadowJS is the widget's element in its shadow root, once
// exposeShadowRoot has let the test's scripts reach it.
const widgetInShadowJS = `document.querySelector("parley-chat").shadowRoot.getElementById("parley-widget")`

// waitShadowText waits until the widget, in its exposed shadow root, shows
// text.
func waitShadowText(t *testing.T, p *page, text string) {
	t.Helper()
	waitUntil(t, p, fmt.Sprintf("the widget shows %q", text), widgetInShadowJS+fmt.Sprintf(`.innerText.includes(%q)`, text))
}
