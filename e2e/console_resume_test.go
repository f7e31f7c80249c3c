package e2e

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// frameDropper lets a test lose the console's live frames on the way in,
// as a dying connection does, and then cut the connection.
const frameDropper = `(() => {
  window.__sockets = [];
  window.__dropped = "";
  window.WebSocket = class extends window.WebSocket {
    constructor(...args) { super(...args); window.__sockets.push(this); }
    set onmessage(fn) { super.onmessage = e => { if (!window.__dropFrames) fn(e); else window.__dropped += e.data; }; }
    get onmessage() { return super.onmessage; }
  };
})();`

// TestConsoleResumesPastItsOwnReply: a visitor's message is lost on a
// failing connection, the agent replies (the reply's answer carries a later
// seq), and the connection is cut. The console reconnects from the last seq
// it had without a gap, so the visitor's message still arrives.
func TestConsoleResumesPastItsOwnReply(t *testing.T) {
	t.Parallel()
	srv := startConsoleServer(t)
	agent := newBrowser(t).newPage(t)
	agent.do("install the frame dropper", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, cdppage.AddScriptToEvaluateOnNewDocument, cdppage.AddScriptToEvaluateOnNewDocumentParams{Source: frameDropper})
		return err
	}))
	signIn(t, agent, srv, "alice", agentPasswords["alice"])
	visitor := queueVisitor(t, srv, "Ada")
	agent.waitFor("heading", "Ada")
	agent.clickButton("Accept")
	agent.waitFor("region", chatRegion("Ada"))

	evalJS[bool](agent, "(window.__dropFrames = true)")
	visitor.say("Are you still there?")
	waitUntil(t, agent, "the visitor's message arrives, and is lost", `window.__dropped.includes("Are you still there?")`)
	agent.fillField("Message", "Yes, one moment")
	agent.clickButton("Send")
	waitLogLine(t, agent, chatLog("Ada"), "Yes, one moment")

	evalJS[bool](agent, "(window.__dropFrames = false, window.__sockets.forEach(s => s.close()), true)")
	waitLogLine(t, agent, chatLog("Ada"), "Are you still there?")
	lines := agent.itemsOf("log", chatLog("Ada"))
	if n := len(lines); n < 2 || !strings.Contains(lines[n-2], "Are you still there?") || !strings.Contains(lines[n-1], "Yes, one moment") {
		t.Errorf("transcript ends %q, want the visitor's message, then the reply", lines)
	}
}
