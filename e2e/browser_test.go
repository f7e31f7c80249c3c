package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/accessibility"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/dom"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// actionTimeout bounds every browser step, waits included, so a missing
// button fails its test in seconds rather than at the go test timeout.
const actionTimeout = 10 * time.Second

// browser is one headless Chromium process with a fresh profile.
type browser struct {
	ctx context.Context
}

// sharedBrowser is the one Chromium that tests without options of their
// own share: each of their pages is a tab in a browser context of its own
// (its own cookies, storage and cache), so they share only the process,
// and the suite does not start a browser per test.
var sharedBrowser struct {
	once sync.Once
	b    *browser
	err  error
	stop func()
}

// closeSharedBrowser ends the shared Chromium, if one was started.
func closeSharedBrowser() {
	if sharedBrowser.stop != nil {
		sharedBrowser.stop()
	}
}

// newBrowser gives the test the shared Chromium or, with extra options
// (which add to or override the suite's), one of its own, closed at the
// test's end.
func newBrowser(t testing.TB, extra ...chromedp.ExecAllocatorOption) *browser {
	t.Helper()
	if len(extra) > 0 {
		return ownBrowser(t, extra...)
	}
	sharedBrowser.once.Do(func() {
		dir, err := os.MkdirTemp("", "parley-e2e-chromium-")
		if err != nil {
			sharedBrowser.err = err
			return
		}
		var stops []func()
		keep := func(f func()) { stops = append(stops, f) }
		sharedBrowser.b, sharedBrowser.err = startBrowser(dir, keep)
		if sharedBrowser.err != nil {
			// As in ownBrowser: a start that fails once is tried once more.
			sharedBrowser.b, sharedBrowser.err = startBrowser(dir, keep)
		}
		sharedBrowser.stop = func() {
			for _, stop := range stops {
				stop()
			}
			os.RemoveAll(dir)
		}
	})
	if sharedBrowser.err != nil {
		t.Fatalf("start Chromium (%s): %v", chromiumPath, sharedBrowser.err)
	}
	return sharedBrowser.b
}

// ownBrowser starts a Chromium for t alone, with extra options, closed at
// t's end. A test that times rendering (layout shifts, first paint) takes
// one of its own: other tests' tabs in the shared browser would disturb it.
func ownBrowser(t testing.TB, extra ...chromedp.ExecAllocatorOption) *browser {
	t.Helper()
	// On a loaded machine Chromium now and then exits before it listens
	// (seen once in a few hundred starts): a second start tells that from
	// a browser that cannot run at all.
	b, err := startBrowser(t.TempDir(), t.Cleanup, extra...)
	if err != nil {
		t.Logf("start Chromium (%s), once more after: %v", chromiumPath, err)
		b, err = startBrowser(t.TempDir(), t.Cleanup, extra...)
	}
	if err != nil {
		t.Fatalf("start Chromium (%s): %v", chromiumPath, err)
	}
	return b
}

// startBrowser starts Chromium with its profile in dir, and hands cleanup
// what ends it.
func startBrowser(dir string, cleanup func(func()), extra ...chromedp.ExecAllocatorOption) (*browser, error) {
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append([]chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.NoSandbox,
		chromedp.Headless,
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.NoFirstRun,
		chromedp.UserDataDir(dir),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		// A fixed window, so that layouts compare across pages and runs.
		chromedp.WindowSize(1280, 800),
	}, extra...)...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// The first action starts the process; its life is bound to ctx, which
	// has no deadline.
	if err := chromedp.Do(ctx); err != nil {
		return nil, err
	}
	return &browser{ctx: ctx}, nil
}

// page is one tab, driven like a user would.
type page struct {
	t   testing.TB
	ctx context.Context

	mu      sync.Mutex
	console []chromedp.ConsoleMessage // what the page wrote to its console
}

// newPage opens a tab in a new browser context: its own cookies and
// storage, as a separate person (a visitor, an agent) would have.
func (b *browser) newPage(t testing.TB) *page {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	// As for the browser, the first action binds the tab's life to its
	// context: give it one with no deadline.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	p := &page{t: t, ctx: ctx}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return // the tab closed
			}
			p.mu.Lock()
			p.console = append(p.console, m)
			p.mu.Unlock()
		}
	}()
	t.Cleanup(p.checkConsole)
	return p
}

// checkConsole fails the test when a script threw and nothing caught it
// (an uncaught exception or an unhandled promise rejection), and shows the
// console of a failed test.
func (p *page) checkConsole() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, m := range p.console {
		if m.IsException() {
			p.t.Errorf("uncaught in the page (%s:%d): %s", m.URL, m.Line+1, m.Text)
		}
	}
	if p.t.Failed() && len(p.console) > 0 {
		var b strings.Builder
		for _, m := range p.console {
			fmt.Fprintf(&b, "\n  %s %s %s:%d: %s", m.Time.Format("15:04:05.000"), m.Type, m.URL, m.Line+1, m.Text)
		}
		p.t.Logf("browser console:%s", b.String())
	}
}

// do runs browser actions with the step timeout, failing the test on error.
func (p *page) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, actionTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.t.Fatalf("%s: %v", what, err)
	}
}

// run runs one browser action that returns a value.
func run[T any](p *page, what string, action chromedp.Action[T]) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, actionTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, action)
	if err != nil {
		p.t.Fatalf("%s: %v", what, err)
	}
	return v
}

// evalJS evaluates a JavaScript expression in the page, awaits it when it
// is a promise, and decodes the result into T.
func evalJS[T any](p *page, expr string) T {
	p.t.Helper()
	return run(p, "evaluate "+expr, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
}

// evalOn calls the JavaScript function fn with `this` set to the element of
// the given role and accessible name, awaits it, and decodes the result.
func evalOn[T any](p *page, role, name, fn string) T {
	p.t.Helper()
	return run(p, fmt.Sprintf("call %s on %s %q", fn, role, name), chromedp.QueryAfter(named(role, name),
		func(ctx context.Context, t *chromedp.Target, nodes []*chromedp.Node) (T, error) {
			var zero T
			obj, err := cdp.Call(ctx, t, dom.ResolveNode, dom.ResolveNodeParams{NodeID: nodes[0].NodeID})
			if err != nil {
				return zero, err
			}
			defer cdp.Call(ctx, t, runtime.ReleaseObject, runtime.ReleaseObjectParams{ObjectID: obj.Object.ObjectID})
			return chromedp.CallFunctionOn[T](fn, func(c *runtime.CallFunctionOnParams) {
				c.ObjectID = obj.Object.ObjectID
				c.AwaitPromise = new(true)
			})(ctx, t)
		}, byRole(role, name)...))
}

// navigate loads url and waits for the load event.
func (p *page) navigate(url string) {
	p.t.Helper()
	p.do("navigate to "+url, chromedp.Navigate(url))
}

// reload reloads the page, as the browser's reload button does.
func (p *page) reload() {
	p.t.Helper()
	p.do("reload", chromedp.Reload())
}

// path is the path of the page's current URL.
func (p *page) path() string {
	p.t.Helper()
	return evalJS[string](p, "location.pathname")
}

// disableScripts turns JavaScript off for the tab, as a visitor with
// JavaScript disabled browses; it applies from the next page load.
func (p *page) disableScripts() {
	p.t.Helper()
	p.do("disable JavaScript", chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
		return err
	}))
}

// clickButton clicks the button with the given accessible name with the
// mouse, once it is visible.
func (p *page) clickButton(name string) {
	p.t.Helper()
	p.do("click button "+name, chromedp.Click(named("button", name), byRole("button", name)...))
}

// clickButtonAndWaitLoad clicks a button that loads a new document (a plain
// form post, a full navigation) and waits for that load; it fails if the
// click loads nothing.
func (p *page) clickButtonAndWaitLoad(name string) {
	p.t.Helper()
	p.clickAndWaitLoad("button", name)
}

// clickLink clicks the link with the given accessible name.
func (p *page) clickLink(name string) {
	p.t.Helper()
	p.do("click link "+name, chromedp.Click(named("link", name), byRole("link", name)...))
}

// clickLinkAndWaitLoad clicks a link that loads a new document and waits
// for the load.
func (p *page) clickLinkAndWaitLoad(name string) {
	p.t.Helper()
	p.clickAndWaitLoad("link", name)
}

func (p *page) clickAndWaitLoad(role, name string) {
	p.t.Helper()
	run(p, fmt.Sprintf("click %s %q and wait for the next page to load", role, name),
		chromedp.WaitEvent(cdppage.LoadEventFired, nil, chromedp.Click(named(role, name), byRole(role, name)...)))
}

// fillField replaces the value of the text field labelled label by typing
// value, key by key, as a person does (so the page sees input events).
func (p *page) fillField(label, value string) {
	p.t.Helper()
	sel, opts := named("textbox", label), byRole("textbox", label)
	// Select what is there so the first key typed replaces it; Backspace
	// empties it when value is empty.
	evalOn[bool](p, "textbox", label, "function () { this.focus(); this.select(); return true; }")
	steps := []chromedp.Action[chromedp.Void]{chromedp.SendKeys(sel, kb.Backspace, opts...)}
	if value != "" {
		steps = append(steps, chromedp.SendKeys(sel, value, opts...))
	}
	p.do(fmt.Sprintf("type %q into %q", value, label), steps...)
}

// pressEnter presses Enter in the field labelled label. It sends the key
// as a keyboard does (one keydown carrying the text), so a page that cancels
// the keydown gets no newline; chromedp's SendKeys sends the text as a
// separate event that no keydown handler can cancel.
func (p *page) pressEnter(label string) {
	p.t.Helper()
	p.do("press Enter in "+label, chromedp.Focus(named("textbox", label), byRole("textbox", label)...),
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			for _, ev := range []input.DispatchKeyEventParams{
				{Type: input.DispatchKeyEventTypeKeyDown, Key: "Enter", Code: "Enter", Text: "\r", WindowsVirtualKeyCode: 13, NativeVirtualKeyCode: 13},
				{Type: input.DispatchKeyEventTypeKeyUp, Key: "Enter", Code: "Enter", WindowsVirtualKeyCode: 13, NativeVirtualKeyCode: 13},
			} {
				if _, err := cdp.Call(ctx, t, input.DispatchKeyEvent, ev); err != nil {
					return err
				}
			}
			return nil
		}))
}

// fieldValue is the current value of the text field labelled label.
func (p *page) fieldValue(label string) string {
	p.t.Helper()
	return run(p, "read field "+label, chromedp.Value(named("textbox", label), byRole("textbox", label)...))
}

// fieldError is the error a screen reader announces with the text field
// labelled label: its accessible description when the field is marked
// invalid, or "" when it is not.
func (p *page) fieldError(label string) string {
	p.t.Helper()
	node := p.axNode("textbox", label)
	invalid := false
	for _, prop := range node.Properties {
		if prop.Name == accessibility.PropertyNameInvalid && prop.Value != nil && axString(prop.Value) != "false" {
			invalid = true
		}
	}
	if !invalid {
		return ""
	}
	return axString(node.Description)
}

// textOf is the visible text of the element with the given role and name.
// An empty name matches any name, for roles named by their content only
// (status, alert).
func (p *page) textOf(role, name string) string {
	p.t.Helper()
	return strings.TrimSpace(run(p, "read "+named(role, name), chromedp.Text(named(role, name), byRole(role, name)...)))
}

// itemsOf is the visible text of each item of the list-like element with
// the given role and name (a list, a log), whitespace collapsed.
func (p *page) itemsOf(role, name string) []string {
	p.t.Helper()
	// A log or region that holds a list (the transcript's <ol>) lists its
	// items.
	return evalOn[[]string](p, role, name, `function () {
		const list = this.matches("ol, ul") ? this : (this.querySelector(":scope > ol, :scope > ul") || this);
		return Array.from(list.children, el => el.innerText.replace(/\s+/g, " ").trim());
	}`)
}

// count is how many elements with the given role and name the page has
// now, without waiting.
func (p *page) count(role, name string) int {
	p.t.Helper()
	return run(p, "count "+named(role, name), chromedp.QueryAfter(named(role, name),
		func(_ context.Context, _ *chromedp.Target, nodes []*chromedp.Node) (int, error) {
			return len(nodes), nil
		},
		axLookup(role, name), chromedp.AtLeast(0)))
}

// waitFor waits until an element with the given role and name is visible.
func (p *page) waitFor(role, name string) {
	p.t.Helper()
	p.do("wait for "+named(role, name), chromedp.WaitVisible(named(role, name), byRole(role, name)...))
}

// waitText waits until the page's visible text contains text.
func (p *page) waitText(text string) {
	p.t.Helper()
	var last string
	ok := p.poll(func(ctx context.Context) bool {
		body, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
		if err != nil {
			return false // between documents
		}
		last = body
		return strings.Contains(body, text)
	})
	if !ok {
		p.t.Fatalf("the page never showed %q within %v; it shows:\n%s", text, actionTimeout, last)
	}
}

// poll calls check until it returns true, for up to actionTimeout.
func (p *page) poll(check func(ctx context.Context) bool) bool {
	ctx, cancel := context.WithTimeout(p.ctx, actionTimeout)
	defer cancel()
	for {
		if check(ctx) {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// axNode is the accessibility node of the one element with role and name.
func (p *page) axNode(role, name string) *accessibility.Node {
	p.t.Helper()
	return run(p, "inspect "+named(role, name), chromedp.QueryAfter(named(role, name),
		func(ctx context.Context, t *chromedp.Target, nodes []*chromedp.Node) (*accessibility.Node, error) {
			res, err := cdp.Call(ctx, t, accessibility.GetPartialAXTree, accessibility.GetPartialAXTreeParams{
				NodeID: nodes[0].NodeID, FetchRelatives: new(false),
			})
			if err != nil {
				return nil, err
			}
			for _, n := range res.Nodes {
				if n.BackendDOMNodeID == nodes[0].BackendNodeID {
					return n, nil
				}
			}
			return nil, fmt.Errorf("no accessibility node for %s", named(role, name))
		}, byRole(role, name)...))
}

// byRole finds elements by accessible role and name, as assistive
// technology sees them (Chromium computes both), and fails the action when
// more than one matches: a user could not tell them apart either. Actions
// using it wait until one exists (and, for clicks and typing, is visible).
func byRole(role, name string) []chromedp.QueryOption {
	return []chromedp.QueryOption{
		axLookup(role, name),
		chromedp.After(func(_ context.Context, _ *chromedp.Target, nodes []*chromedp.Node) error {
			if len(nodes) > 1 {
				return fmt.Errorf("%d elements are %s, want 1", len(nodes), named(role, name))
			}
			return nil
		}),
	}
}

// axLookup makes a query select by accessible role and name. It starts from
// the root node chromedp tracks: calling DOM.getDocument here would renumber
// every node behind chromedp's back.
func axLookup(role, name string) chromedp.QueryOption {
	return chromedp.ByFunc(func(ctx context.Context, t *chromedp.Target, root *chromedp.Node) ([]cdp.NodeID, error) {
		res, err := cdp.Call(ctx, t, accessibility.QueryAXTree, accessibility.QueryAXTreeParams{
			NodeID: root.NodeID, Role: role, AccessibleName: name,
		})
		if err != nil {
			return nil, err
		}
		var backend []cdp.BackendNodeID
		for _, n := range res.Nodes {
			// Ignored nodes are hidden from users (display: none, aria-hidden).
			if !n.Ignored && n.BackendDOMNodeID != 0 {
				backend = append(backend, n.BackendDOMNodeID)
			}
		}
		if len(backend) == 0 {
			return []cdp.NodeID{}, nil
		}
		pushed, err := cdp.Call(ctx, t, dom.PushNodesByBackendIDsToFrontend, dom.PushNodesByBackendIDsToFrontendParams{BackendNodeIDs: backend})
		if err != nil {
			return nil, err
		}
		return pushed.NodeIDs, nil
	})
}

// named names an element in messages: `button "Send"`.
func named(role, name string) string { return fmt.Sprintf("%s %q", role, name) }

// axString decodes an accessibility value that holds a string.
func axString(v *accessibility.Value) string {
	if v == nil || len(v.Value) == 0 {
		return ""
	}
	var s string
	if err := json.Unmarshal(v.Value, &s); err != nil {
		return string(v.Value)
	}
	return s
}
