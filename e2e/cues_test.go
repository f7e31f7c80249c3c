package e2e

import (
	"context"
	"testing"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"
)

// notesAndHidden records the system notifications a page shows, and lets
// the test say whether the page is hidden (headless tabs never are).
const notesAndHidden = `(() => {
  window.__notes = [];
  window.__hidden = false;
  Object.defineProperty(document, "hidden", {get: () => window.__hidden});
  const Real = window.Notification;
  if (Real) window.Notification = class extends Real {
    constructor(title, options) { super(title, options); window.__notes.push(title); }
  };
})();`

// allowNotifications grants p's origin the notifications permission, as
// the agent's "Allow" in the browser's prompt does, and installs
// notesAndHidden.
func allowNotifications(p *page, origin string) {
	p.t.Helper()
	p.do("allow notifications", chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		info, err := cdp.Call(ctx, t, target.GetTargetInfo, target.GetTargetInfoParams{})
		if err != nil {
			return err
		}
		if _, err := cdp.Call(ctx, t, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
			Permission: &cdpbrowser.PermissionDescriptor{Name: "notifications"}, Setting: cdpbrowser.PermissionSettingGranted,
			Origin: origin, BrowserContextID: info.TargetInfo.BrowserContextID,
		}); err != nil {
			return err
		}
		_, err = cdp.Call(ctx, t, cdppage.AddScriptToEvaluateOnNewDocument, cdppage.AddScriptToEvaluateOnNewDocumentParams{Source: notesAndHidden})
		return err
	}))
}

// TestConsoleCuesOnceAcrossTabs: an agent with two consoles open in one
// browser, both hidden, hears one sound for a new chat and gets one
// notification, not one a tab; the button that asks for notifications
// hides once the browser allows them.
func TestConsoleCuesOnceAcrossTabs(t *testing.T) {
	t.Parallel()
	srv := startConsoleServer(t)
	b := newBrowser(t)
	first := b.newPage(t)
	allowNotifications(first, srv.URL)
	signIn(t, first, srv, "alice", agentPasswords["alice"])
	second, _ := siblingPage(t, first)
	allowNotifications(second, srv.URL)
	second.navigate(srv.URL + "/agent")
	second.waitFor(queueRole, queueName)
	for _, p := range []*page{first, second} {
		if hidden := evalJS[bool](p, `document.getElementById("agent-notify").hidden`); !hidden {
			t.Error("notifications allowed: the button that asks for them still shows")
		}
		evalJS[bool](p, "(window.__hidden = true)")
	}

	visitor := b.newPage(t)
	openChat(t, visitor, srv, "Ada", "ada@example.com")
	type cues struct {
		Sounds string
		Notes  []string
	}
	var total int
	var notes []string
	for _, p := range []*page{first, second} {
		p.waitText("New chat: Ada")
		// A lock asked for after the tab's cue is granted after it.
		got := evalJS[cues](p, `navigator.locks.request("parley-agent-cue", () => null).then(() => ({
			Sounds: document.body.getAttribute("data-cues") || "0", Notes: window.__notes}))`)
		if got.Sounds == "1" {
			total++
		}
		notes = append(notes, got.Notes...)
	}
	if total != 1 {
		t.Errorf("%d tabs played the sound for one new chat, want 1", total)
	}
	if len(notes) != 1 || notes[0] != "New chat: Ada" {
		t.Errorf("the tabs showed the notifications %q, want one \"New chat: Ada\"", notes)
	}
}
