package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// Accessibility audits with axe-core, run in the page under test, and the
// viewports and screenshots that go with them.

// The vendored axe-core (testdata/axe-core/README.md says where it came
// from). Update these with the files when re-vendoring.
const (
	axeDir     = "testdata/axe-core"
	axeVersion = "4.14.1"
	axeSHA256  = "29348999450cdf2849a8e70b7912fc2da85a849da39c0d0d5394f51d4a9ed95c"
)

// auditTimeout bounds one axe run: a whole page is slower than a click.
const auditTimeout = 30 * time.Second

// screenshotDir is where shoot writes; empty (the default) takes none.
// Usage: go test ./e2e -run TestConsoleAccessibility -args -screenshots /tmp/shots
var screenshotDir = flag.String("screenshots", "", "write full-page PNG screenshots of the audited pages under `dir`")

// TestVendoredAxe checks that the axe-core the audits run is the release
// docs/operations.md names, with its license.
func TestVendoredAxe(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(filepath.Join(axeDir, "axe.min.js"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); got != axeSHA256 {
		t.Errorf("%s/axe.min.js: sha256 %s, want %s (axe-core@%s); re-vendor it or update axeSHA256 and docs/operations.md",
			axeDir, got, axeSHA256, axeVersion)
	}
	for _, marker := range []string{"/*! axe v" + axeVersion + "\n", `axe.version="` + axeVersion + `"`} {
		if !bytes.Contains(data, []byte(marker)) {
			t.Errorf("%s/axe.min.js does not contain %q; is it really axe-core@%s?", axeDir, marker, axeVersion)
		}
	}
	license, err := os.ReadFile(filepath.Join(axeDir, "LICENSE"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := firstLine(license), "Mozilla Public License, version 2.0"; got != want {
		t.Errorf("%s/LICENSE starts with %q, want %q", axeDir, got, want)
	}
}

func firstLine(b []byte) string {
	line, _, _ := bytes.Cut(bytes.TrimSpace(b), []byte("\n"))
	return string(bytes.TrimSpace(line))
}

// axeReport is the part of axe.run's result the audit reads.
type axeReport struct {
	Engine     string         `json:"engine"` // testEngine.version
	Passes     int            `json:"passes"` // rules that passed
	Violations []axeViolation `json:"violations"`
}

// axeViolation is one rule that failed, with the elements that fail it.
type axeViolation struct {
	ID     string    `json:"id"`
	Impact string    `json:"impact"` // minor, moderate, serious or critical
	Help   string    `json:"help"`
	URL    string    `json:"helpUrl"`
	Nodes  []axeNode `json:"nodes"`
}

// axeNode is one failing element.
type axeNode struct {
	// Target is the element's CSS selector, as a list: one entry per
	// frame or shadow root on the way to it.
	Target  json.RawMessage `json:"target"`
	Summary string          `json:"failureSummary"`
	HTML    string          `json:"html"`
}

func (v axeViolation) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s): %s <%s>", v.ID, v.Impact, v.Help, v.URL)
	for _, n := range v.Nodes {
		fmt.Fprintf(&b, "\n    %s %s\n      %s", n.Target, n.HTML, strings.ReplaceAll(n.Summary, "\n", "\n      "))
	}
	return b.String()
}

// axeRun runs axe over the document and keeps what the audit reads; the
// rest of the result (the passing nodes, every check's data) stays in the
// page.
const axeRun = `axe.run(document, {resultTypes: ["violations"]}).then(r => ({
  engine: r.testEngine.version,
  passes: r.passes.length,
  violations: r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
    nodes: v.nodes.map(n => ({target: n.target, failureSummary: n.failureSummary, html: n.html}))}))
}))`

// auditPage runs axe-core over the page as it is now. It fails the test with
// every serious or critical violation, logs the minor and moderate ones, and
// returns those, for a test that wants none at all. what names the page in
// messages ("console, queue").
//
// axe is evaluated through Runtime.evaluate, which the page's Content
// Security Policy does not govern (checked in Chromium: under Parley's
// script-src 'self' an inline <script> is blocked, axe evaluated this way
// runs), so the page is audited under its real policy, without
// Page.setBypassCSP.
func auditPage(t *testing.T, p *page, what string) []axeViolation {
	t.Helper()
	source, err := os.ReadFile(filepath.Join(axeDir, "axe.min.js"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(p.ctx, auditTimeout)
	defer cancel()
	// A second audit of one document reuses the axe already there.
	loaded, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`typeof axe === "object" && axe.version === `+jsString(axeVersion)))
	if err == nil && !loaded {
		_, err = chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](string(source)))
	}
	if err != nil {
		t.Fatalf("%s: load axe-core into the page: %v", what, err)
	}
	report, err := chromedp.Run(ctx, chromedp.Evaluate[axeReport](axeRun, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("%s: axe.run: %v", what, err)
	}
	// An audit that ran no rule would pass anything.
	if report.Engine != axeVersion || report.Passes == 0 {
		t.Fatalf("%s: axe %q ran with %d passing rules, want axe %s and some passes", what, report.Engine, report.Passes, axeVersion)
	}
	var failed, minor []axeViolation
	for _, v := range report.Violations {
		switch v.Impact {
		case "serious", "critical":
			failed = append(failed, v)
		default:
			minor = append(minor, v)
		}
	}
	for _, v := range minor {
		t.Logf("%s: axe: %s", what, v)
	}
	if len(failed) > 0 {
		var b strings.Builder
		for _, v := range failed {
			b.WriteString("\n  " + v.String())
		}
		t.Errorf("%s: axe found %d serious or critical violations:%s", what, len(failed), b.String())
	}
	return minor
}

// desktop makes the page a 1280×800 desktop window.
func desktop(p *page) {
	p.t.Helper()
	setViewport(p, "desktop 1280×800", emulation.SetDeviceMetricsOverrideParams{Width: 1280, Height: 800, DeviceScaleFactor: 1}, false)
}

// phone makes the page a touch phone of width×height CSS pixels (at three
// device pixels each), with the viewport meta tag honoured as a mobile
// browser does. Set it before navigating.
func phone(p *page, width, height int64) {
	p.t.Helper()
	setViewport(p, fmt.Sprintf("phone %d×%d", width, height),
		emulation.SetDeviceMetricsOverrideParams{Width: width, Height: height, DeviceScaleFactor: 3, Mobile: true,
			ScreenOrientation: &emulation.ScreenOrientation{Type: emulation.ScreenOrientationTypePortraitPrimary}}, true)
}

func setViewport(p *page, what string, metrics emulation.SetDeviceMetricsOverrideParams, touch bool) {
	p.t.Helper()
	p.do("emulate a "+what, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		if _, err := cdp.Call(ctx, t, emulation.SetDeviceMetricsOverride, metrics); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, t, emulation.SetTouchEmulationEnabled, emulation.SetTouchEmulationEnabledParams{Enabled: touch})
		return err
	}))
}

// reducedMotion makes the page's prefers-reduced-motion media feature
// "reduce", as the operating system setting does.
func reducedMotion(p *page) {
	p.t.Helper()
	p.do("prefer reduced motion", chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-reduced-motion", Value: "reduce"}},
		})
		return err
	}))
}

// fitsPhone checks that the page does not scroll sideways on a phone width
// CSS pixels wide, and that every control a person can reach is within the
// width of the screen.
func fitsPhone(t *testing.T, p *page, what string, width int64) {
	t.Helper()
	type layout struct {
		Inner, Scroll int64
		Outside       []string
	}
	got := evalJS[layout](p, `(() => {
		const outside = [];
		const controls = document.querySelectorAll('a[href], button, input:not([type=hidden]), select, textarea, [tabindex]:not([tabindex="-1"])');
		for (const el of controls) {
			const style = getComputedStyle(el);
			if (el.getClientRects().length === 0 || style.visibility !== "visible") continue; // not shown
			const r = el.getBoundingClientRect();
			if (r.left < -0.5 || r.right > window.innerWidth + 0.5) {
				outside.push(el.outerHTML.slice(0, 120) + " at x " + Math.round(r.left) + "…" + Math.round(r.right));
			}
		}
		return {Inner: window.innerWidth, Scroll: document.documentElement.scrollWidth, Outside: outside};
	})()`)
	// A mobile browser zooms out to fit a page that is too wide, which
	// widens innerWidth: hold it to the phone's width as well.
	if got.Inner != width || got.Scroll > got.Inner {
		t.Errorf("%s: scrollWidth %d, innerWidth %d on a phone %d wide: the page scrolls sideways", what, got.Scroll, got.Inner, width)
	}
	for _, o := range got.Outside {
		t.Errorf("%s: a control lies outside the %d px screen: %s", what, width, o)
	}
}

// shoot writes a full-page PNG of p to DIR/<test name>/<name>.png when the
// test runs with -screenshots DIR, and does nothing otherwise.
func shoot(t *testing.T, p *page, name string) {
	t.Helper()
	if !flag.Parsed() || *screenshotDir == "" {
		return
	}
	dir := *screenshotDir
	for _, part := range strings.Split(t.Name(), "/") {
		dir = filepath.Join(dir, fileName(part))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	png := run(p, "screenshot "+name, chromedp.FullScreenshot(100))
	file := filepath.Join(dir, fileName(name)+".png")
	if err := os.WriteFile(file, png, 0o644); err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	t.Logf("screenshot: %s", file)
}

// fileName makes s safe as one file name: letters, digits, '-', '_' and
// '.' stay, anything else becomes '_', and it never starts with a dot.
func fileName(s string) string {
	b := []byte(s)
	for i, c := range b {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_', c == '.':
		default:
			b[i] = '_'
		}
	}
	name := strings.TrimLeft(string(b), ".")
	if name == "" {
		name = "_"
	}
	return name
}
