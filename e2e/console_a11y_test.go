package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
)

// TestConsoleAccessibility audits every screen of the agent console with
// axe-core, on a desktop and on two phones: the sign-in page, the queue with
// a waiting chat, a chat on screen, and the history with a transcript. On
// phones the console must not scroll sideways; everywhere, keyboard focus
// must show.
func TestConsoleAccessibility(t *testing.T) {
	t.Parallel()
	srv := startConsoleServer(t)
	b := newBrowser(t)
	screens := []struct {
		name    string
		visitor string // a first name no other screen uses
		width   int64  // of a phone; 0 for the desktop
		height  int64
	}{
		{"desktop", "Ada", 0, 0},
		{"phone-390x844", "Grace", 390, 844},
		{"phone-360x640", "Hedy", 360, 640},
	}
	for _, s := range screens {
		t.Run(s.name, func(t *testing.T) {
			p := b.newPage(t)
			if s.width == 0 {
				desktop(p)
			} else {
				phone(p, s.width, s.height)
				// Phone users turn animations off more often than not;
				// the desktop keeps them, to see both.
				reducedMotion(p)
			}
			check := func(what string) {
				t.Helper()
				// The console is clean: it keeps clear of the minor and
				// moderate findings too (a page without a level-one
				// heading is one).
				if minor := auditPage(t, p, what); len(minor) > 0 {
					t.Errorf("%s: axe found %d minor or moderate violations (logged above); the console has none", what, len(minor))
				}
				shoot(t, p, what)
				if s.width != 0 {
					fitsPhone(t, p, what, s.width)
				}
			}

			p.navigate(srv.URL + "/agent")
			p.waitFor("button", "Sign in")
			checkHeadingOne(t, p, "sign-in", "Parley agent console")
			check("sign-in")
			checkFocusRings(t, p, "sign-in")
			signIn(t, p, srv, "alice", agentPasswords["alice"])
			checkHeadingOne(t, p, "console", "Parley agent console")
			check("console-empty")

			// A visitor arrives while the console is open.
			v := queueVisitor(t, srv, s.visitor)
			p.waitFor("heading", s.visitor)
			want := "agent-flash"
			if s.width != 0 {
				want = "none"
			}
			if got := evalJS[string](p, `getComputedStyle(document.querySelector(".agent-queue-row.agent-new")).animationName`); got != want {
				t.Errorf("the new chat's row animates with %q, want %q", got, want)
			}
			check("queue")
			checkFocusRings(t, p, "queue")

			p.clickButton("Accept")
			p.waitFor("region", chatRegion(s.visitor))
			p.fillField("Message", "Hello "+s.visitor+", how can I help?")
			p.clickButton("Send")
			waitLogLine(t, p, chatLog(s.visitor), "Hello "+s.visitor+", how can I help?")
			v.say("Do the Scree boots come in size 46?")
			waitLogLine(t, p, chatLog(s.visitor), "Do the Scree boots come in size 46?")
			check("chat")
			checkFocusRings(t, p, "chat")

			p.clickButton("End chat")
			waitLogLine(t, p, chatLog(s.visitor), "alice ended the chat.")
			check("chat-ended")

			p.clickLinkAndWaitLoad("History")
			checkHeadingOne(t, p, "history", "Chat history")
			check("history")
			p.clickLinkAndWaitLoad(s.visitor)
			waitLogLine(t, p, chatLog(s.visitor), "alice ended the chat.")
			check("transcript")
			checkFocusRings(t, p, "transcript")
		})
	}
}

// checkHeadingOne checks that the page has exactly one level-one heading,
// with the given text.
func checkHeadingOne(t *testing.T, p *page, what, want string) {
	t.Helper()
	got := evalJS[[]string](p, `Array.from(document.querySelectorAll("h1, [role=heading][aria-level='1']"), h => h.textContent.trim())`)
	if len(got) != 1 || got[0] != want {
		t.Errorf("%s: level-one headings %q, want just %q", what, got, want)
	}
}

// checkFocusRings tabs through the page as a keyboard user does and checks
// that every control shows a clear focus outline when it has focus: at
// least 2px wide and of 3:1 contrast or more against what lies behind it
// (WCAG 2.2, 2.4.13 and 1.4.11).
func checkFocusRings(t *testing.T, p *page, what string) {
	t.Helper()
	type focused struct {
		Key     string // tag, id and text, to tell the stops apart
		Visible bool   // :focus-visible, with a clear outline
		Style   string
	}
	focusDocumentStart(p)
	var stops []focused
	seen := map[string]bool{}
	for range 60 {
		p.do("press Tab", chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			for _, ev := range []input.DispatchKeyEventParams{
				{Type: input.DispatchKeyEventTypeKeyDown, Key: "Tab", Code: "Tab", WindowsVirtualKeyCode: 9, NativeVirtualKeyCode: 9},
				{Type: input.DispatchKeyEventTypeKeyUp, Key: "Tab", Code: "Tab", WindowsVirtualKeyCode: 9, NativeVirtualKeyCode: 9},
			} {
				if _, err := cdp.Call(ctx, t, input.DispatchKeyEvent, ev); err != nil {
					return err
				}
			}
			return nil
		}))
		f := evalJS[focused](p, focusRingScript)
		if f.Key == "" || seen[f.Key] {
			break // back at the start
		}
		seen[f.Key] = true
		stops = append(stops, f)
	}
	keys := make([]string, len(stops))
	for i, f := range stops {
		keys[i] = f.Key
	}
	t.Logf("%s: Tab goes to %s", what, strings.Join(keys, ", "))
	if len(stops) < 2 {
		t.Errorf("%s: Tab reached %d controls, want the page's controls", what, len(stops))
	}
	for _, f := range stops {
		if !f.Visible {
			t.Errorf("%s: %s shows no clear focus outline when tabbed to (%s)", what, f.Key, f.Style)
		}
	}
}

// focusRingScript describes the focused element and whether its focus
// ring is clear. The outline is drawn outside the element (outline-offset),
// so it is measured against the nearest ancestor's background.
const focusRingScript = `(() => {
	const el = document.activeElement;
	if (!el || el === document.body) return {Key: "", Visible: true, Style: ""};
	const rgba = c => { const n = (c.match(/[\d.]+/g) || []).map(Number); return n.length === 3 ? n.concat(1) : n; };
	const channel = v => (v /= 255) <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
	const luminance = c => 0.2126 * channel(c[0]) + 0.7152 * channel(c[1]) + 0.0722 * channel(c[2]);
	let behind = [255, 255, 255, 1];
	for (let e = el.parentElement; e; e = e.parentElement) {
		const c = rgba(getComputedStyle(e).backgroundColor);
		if (c.length === 4 && c[3] > 0) { behind = c; break; }
	}
	const s = getComputedStyle(el);
	const ring = rgba(s.outlineColor);
	const [hi, lo] = [luminance(ring), luminance(behind)].sort((a, b) => b - a);
	const contrast = (hi + 0.05) / (lo + 0.05);
	const key = el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + " " +
		JSON.stringify((el.getAttribute("aria-label") || el.innerText || el.value || "").trim().slice(0, 40));
	return {
		Key: key,
		Visible: el.matches(":focus-visible") && s.outlineStyle !== "none" && parseFloat(s.outlineWidth) >= 2 && contrast >= 3,
		Style: "outline " + s.outlineStyle + " " + s.outlineWidth + " " + s.outlineColor + ", " + contrast.toFixed(2) + ":1 against rgba(" + behind + ")"
	};
})()`

// httpVisitor is a visitor who chats by posting the widget's forms without
// a browser, as a visitor with JavaScript off does.
type httpVisitor struct {
	t      *testing.T
	base   string
	client *http.Client
}

// queueVisitor has a visitor start a chat and register as firstName, so
// that it waits in the console's queue.
func queueVisitor(t *testing.T, srv *server, firstName string) *httpVisitor {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	v := &httpVisitor{t: t, base: srv.URL, client: &http.Client{Jar: jar, Timeout: actionTimeout}}
	v.do(http.MethodGet, "/", nil) // sets the CSRF cookie
	v.do(http.MethodPost, "/chat/start", url.Values{"return_to": {"/products"}})
	v.do(http.MethodPost, "/chat/register", url.Values{
		"return_to":  {"/products"},
		"first_name": {firstName},
		"email":      {strings.ToLower(firstName) + "@example.com"},
		"subject":    {"Sizing"},
	})
	return v
}

// say sends a message in the visitor's chat.
func (v *httpVisitor) say(text string) {
	v.t.Helper()
	id := make([]byte, 12)
	_, _ = rand.Read(id)
	v.do(http.MethodPost, "/chat/messages", url.Values{"return_to": {"/products"}, "client_id": {hex.EncodeToString(id)}, "text": {text}})
}

func (v *httpVisitor) do(method, path string, form url.Values) {
	v.t.Helper()
	var body io.Reader
	if form != nil {
		u, _ := url.Parse(v.base)
		for _, c := range v.client.Jar.Cookies(u) {
			if c.Name == "parley_csrf" {
				form.Set("parley_csrf", c.Value)
			}
		}
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, v.base+path, body)
	if err != nil {
		v.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := v.client.Do(req)
	if err != nil {
		v.t.Fatalf("visitor %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		v.t.Fatalf("visitor %s %s: %s\n%s", method, path, resp.Status, got)
	}
	if method == http.MethodPost && resp.Request.URL.Path != "/products" {
		v.t.Fatalf("visitor %s %s ended on %s, want the page it came from", method, path, resp.Request.URL)
	}
}
