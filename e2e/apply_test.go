package e2e

import (
	"fmt"
	"strings"
	"testing"
)

// unusableLog is the site's prelude for TestAPIEventThatFailsIsReadAgain:
// a logger the chat reports to, and breakLog, which makes the transcript's
// list refuse the next line once, as a page's own script or an extension
// that had the DOM in an odd state for a moment would.
const unusableLog = `
  e2e.logged = [];
  e2e.logger = {debug() {}, info() {}, warn() {},
    error(...args) { e2e.logged.push(args.map(a => a && a.message || String(a)).join(" ")); }};
  e2e.broken = 0;
  e2e.breakLog = () => {
    const real = Element.prototype.insertAdjacentHTML;
    Element.prototype.insertAdjacentHTML = function (...args) {
      if (!this.classList.contains("parley-log")) return real.apply(this, args);
      Element.prototype.insertAdjacentHTML = real;
      e2e.broken++;
      throw new Error("e2e: the transcript cannot take a line now");
    };
  };`

// An event the page fails to apply is logged and read again after a
// reconnect: never skipped, never shown twice.
func TestAPIEventThatFailsIsReadAgain(t *testing.T) {
	t.Parallel()
	srv := startAPIServer(t)
	agent := signInAgent(t, srv)
	for _, tt := range []struct{ name, options string }{
		{"websocket", "{embedded: true, logger: e2e.logger}"},
		{"long-poll", "{embedded: true, logger: e2e.logger, disableWebSockets: true}"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := openSite(t, newBrowser(t), srv, "/", siteSetup{prelude: unusableLog})
			chatID := startEmbedded(t, p, tt.options, "Ada")
			agent.accept(chatID)
			p.waitText("alice joined the chat.")

			evalJS[bool](p, "(e2e.breakLog(), true)")
			text := "Sent while the page could not show it (" + tt.name + ")"
			agent.send(chatID, text)
			waitLines(t, p, text, 1)
			if n := evalJS[int](p, "e2e.broken"); n != 1 {
				t.Fatalf("the transcript refused %d lines, want 1: the test did not break what it meant to", n)
			}
			logged := evalJS[[]string](p, "e2e.logged")
			if !strings.Contains(strings.Join(logged, "\n"), "e2e: the transcript cannot take a line now") {
				t.Errorf("the logger's errors = %q, want the failure to apply the event", logged)
			}
			received := 0
			for _, ev := range siteState(p).Events {
				if ev.Callback == "onMessageReceived" && ev.Text == text {
					received++
				}
			}
			if received != 1 {
				t.Errorf("onMessageReceived got the message %d times, want once", received)
			}
			var inTranscript int
			for _, e := range evalJS[[]transcriptEntry](p, "e2e.session.getTranscript()") {
				if e.Text == text {
					inTranscript++
				}
			}
			if inTranscript != 1 {
				t.Errorf("getTranscript() has the message %d times, want once", inTranscript)
			}
			exchange(t, p, agent, chatID, "after the failed line ("+tt.name+")")
			checkSeqOrder(t, p)
		})
	}
}

// A page reaches the API, its promises and its session: none of them
// shows the library's own workings (underscore members).
func TestAPINoPrivateMembers(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "")
	p := openSite(t, newBrowser(t), srv, "/", siteSetup{})
	startEmbedded(t, p, "{embedded: true}", "Ada")
	for _, expr := range []string{"e2e.api", "e2e.session", "e2e.api.restoreChat({embedded: true})"} {
		got := evalJS[[]string](p, fmt.Sprintf(`(o => { const names = []; for (const k in o) names.push(k);
			return [...new Set(names.concat(Object.getOwnPropertyNames(o)))].filter(k => k.startsWith("_")); })(%s)`, expr))
		if len(got) > 0 {
			t.Errorf("%s has members %q, which a page should not see", expr, got)
		}
	}
}
