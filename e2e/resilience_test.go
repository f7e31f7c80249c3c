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
	p := openSite(t, newBrowser(t), srv, "/", siteSetup{})
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

// TestTabPastTheChatsLimit: with one live connection allowed per chat, a
// second tab of the visitor says why it is not live (not "connection
// lost") while the chat goes on in the first; once the first tab closes,
// the second takes over and gets the agent's messages.
func TestTabPastTheChatsLimit(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "", "-agent", apiAgentName+":"+apiAgentPassword, "-max-conns-per-chat", "1")
	first := newBrowser(t).newPage(t)
	installSite(first, siteSetup{})
	openChat(t, first, srv, "Ada", "ada@example.com")
	waitUntil(t, first, "the first tab's WebSocket open", `e2e.live.length === 1 && e2e.live[0].readyState === 1`)
	chatID := widgetAttr(first, "data-chat-id")

	second, closeSecond := siblingPage(t, first)
	defer closeSecond()
	second.navigate(srv.URL + "/")
	const tooMany = "Too many chat windows are open. Close one and try again."
	second.waitText(tooMany)
	if lost := evalJS[bool](second, `!document.querySelector("#parley-widget .parley-connection").hidden`); lost {
		t.Error(`the tab past the limit also says "connection lost"`)
	}

	agent := signInAgent(t, srv)
	agent.accept(chatID)
	waitTranscriptLine(t, first, apiAgentName+" joined the chat.")
	sendMessage(t, first, "From the first tab")
	agent.send(chatID, "Answer while two tabs are open")
	waitTranscriptLine(t, first, "Answer while two tabs are open")

	// The first tab goes: the second gets its place within a retry.
	first.do("leave the first tab's page", chromedp.Navigate("about:blank"))
	waitLonger(t, second, "the second tab live", `document.querySelector("#parley-widget .parley-too-many").hidden`, 15*time.Second)
	agent.send(chatID, "Now in the second tab")
	waitTranscriptLine(t, second, "Now in the second tab")
	waitTranscriptLine(t, second, "From the first tab")
}
