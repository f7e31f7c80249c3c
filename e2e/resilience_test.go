package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// waitLonger polls a JavaScript condition for up to limit, for what takes
// longer than one step (a transport coming back).
func waitLonger(t *testing.T, p *page, what, check string, limit time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, limit)
	defer cancel()
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](check))
		if err == nil && ok {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: %s stayed false for %v", what, check, limit)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// TestWebSocketComesBack: the page's first WebSocket fails (a server
// restarting, a proxy hiccup), so the chat goes on over long-polling; a
// while later the WebSocket is tried again and the chat moves back to it,
// with every message delivered once.
func TestWebSocketComesBack(t *testing.T) {
	t.Parallel()
	srv := startAPIServer(t)
	p := newBrowser(t).newPage(t)
	installSite(p, siteSetup{webSocket: "first"})
	openChat(t, p, srv, "Ada", "ada@example.com")
	agent := signInAgent(t, srv)
	agent.accept(widgetAttr(p, "data-chat-id"))
	waitTranscriptLine(t, p, "alice joined the chat.")
	sendMessage(t, p, "Sent over long-polling")

	waitLonger(t, p, "the WebSocket tried again", `e2e.live.length >= 2 && e2e.live[e2e.live.length - 1].readyState === 1`, 25*time.Second)
	chatID := widgetAttr(p, "data-chat-id")
	agent.send(chatID, "Back on the WebSocket")
	waitTranscriptLine(t, p, "Back on the WebSocket")
	sendMessage(t, p, "Sent over the WebSocket")
	agent.waitPane(chatID, "both visitor messages once", func(c chatPane) bool {
		n := 0
		for _, line := range c.Lines {
			if strings.Contains(line, "Sent over long-polling") || strings.Contains(line, "Sent over the WebSocket") {
				n++
			}
		}
		return n == 2
	})
}

// TestPromisesAreTheLibrarys: the promises the API returns keep done and
// fail through then and catch, and a page script cannot settle them.
func TestPromisesAreTheLibrarys(t *testing.T) {
	t.Parallel()
	srv := startAPIServer(t)
	p := newBrowser(t).newPage(t)
	installSite(p, siteSetup{})
	p.navigate(srv.URL + "/")
	siteRestore(t, p)
	got := evalJS[[]string](p, `(() => {
		const p = e2e.api.restoreChat({embedded: true});
		// restoreChat fails here (no chat): the derived promises are handled.
		const then = p.then(x => x);
		then.catch(() => {});
		return [typeof p.resolve, typeof p.reject, typeof then.done, typeof then.fail,
			typeof p.catch(() => {}).done, typeof p.done(() => {}).fail];
	})()`)
	want := []string{"undefined", "undefined", "function", "function", "function", "function"}
	for i := range want {
		if i >= len(got) || got[i] != want[i] {
			t.Fatalf("typeof resolve, reject, then().done, then().fail, catch().done, done().fail = %q, want %q", got, want)
		}
	}
}

// TestBadFrameClosesItsSocket: a frame the page cannot handle ends the
// socket it came on, and the reconnect leaves no second socket open.
func TestBadFrameClosesItsSocket(t *testing.T) {
	t.Parallel()
	srv := startAPIServer(t)
	p := newBrowser(t).newPage(t)
	installSite(p, siteSetup{})
	openChat(t, p, srv, "Ada", "ada@example.com")
	waitUntil(t, p, "the WebSocket open", `e2e.live.length === 1 && e2e.live[0].readyState === 1`)
	evalJS[bool](p, `(e2e.live[0].onmessage({data: "{not a frame"}), true)`)
	waitUntil(t, p, "a new WebSocket, and the old one closed",
		`e2e.live.length === 2 && e2e.live[1].readyState === 1 && e2e.live[0].readyState >= 2`)
	sendMessage(t, p, "Still here")
}
