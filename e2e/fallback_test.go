package e2e

import (
	"testing"
	"time"
)

// flakyPolls makes every long-poll fail after a moment, as a network that
// keeps dropping requests does: the fallback fails again and again.
const flakyPolls = `
  const inner = window.fetch;
  window.fetch = function (input) {
    const url = String(input && input.url || input);
    if (/\/(chat|agent)\/poll/.test(url)) {
      return new Promise((_, reject) => setTimeout(() => reject(new TypeError("e2e: the network dropped the poll")), 1500));
    }
    return inner.apply(window, arguments);
  };`

// TestWebSocketComesBackWhilePollsFail: the widget fell back to
// long-polling, and its polls keep failing. Its WebSocket is still tried
// again on time: the fallback's own failures do not put that off.
func TestWebSocketComesBackWhilePollsFail(t *testing.T) {
	t.Parallel()
	srv := startAPIServer(t)
	p := newBrowser(t).newPage(t)
	installSite(p, siteSetup{webSocket: "first", prelude: flakyPolls})
	openChat(t, p, srv, "Ada", "ada@example.com")
	waitLonger(t, p, "the widget's WebSocket tried again while every poll failed",
		`e2e.live.length >= 2 && e2e.live[e2e.live.length - 1].readyState === 1`, 25*time.Second)
}

// TestConsoleWebSocketComesBack: the console's WebSocket failed twice, so
// its feed long-polls, and the polls keep failing; the console tries its
// WebSocket again, as the widget does, and is back on it.
func TestConsoleWebSocketComesBack(t *testing.T) {
	t.Parallel()
	srv := startAPIServer(t)
	p := newBrowser(t).newPage(t)
	installSite(p, siteSetup{webSocket: "twice", prelude: flakyPolls})
	signIn(t, p, srv, apiAgentName, apiAgentPassword)
	waitLonger(t, p, "the console's WebSocket tried again after it fell back to long-polling",
		`e2e.sockets.length >= 3 && e2e.live[e2e.live.length - 1].readyState === 1`, 30*time.Second)
}
