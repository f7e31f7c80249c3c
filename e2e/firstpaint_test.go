package e2e

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// BenchmarkFirstPaint measures DESIGN §8's browser targets in Chromium: the
// first contentful paint of a page that restores a chat of 60 messages (its
// latest 50 lines), with the widget open and then minimized, beside the
// same page without a chat, loaded in turn by two visitors, and the
// requests each page makes before its load event.
//
//	go test -run='^$' -bench=FirstPaint -benchtime=40x ./e2e
func BenchmarkFirstPaint(b *testing.B) {
	srv := startServer(b, "")
	br := ownBrowser(b)
	withChat, without := br.newPage(b), br.newPage(b)
	openChat(b, withChat, srv, "Ada", "ada@example.com")
	for i := range 60 {
		sendMessage(b, withChat, fmt.Sprintf("Question number %d", i+1))
		time.Sleep(350 * time.Millisecond) // within the visitor's 3 messages a second
	}
	const url = "/products"
	without.navigate(srv.URL + url)

	measure := func(p *page) pageLoad {
		p.navigate(srv.URL + url)
		return evalJS[pageLoad](p, `new Promise(resolve => {
			new PerformanceObserver((list, observer) => {
				const fcp = list.getEntriesByName("first-contentful-paint")[0];
				if (!fcp) return;
				observer.disconnect();
				const nav = performance.getEntriesByType("navigation")[0];
				resolve({
					fcp: fcp.startTime,
					parsed: nav.domInteractive,
					ready: nav.domContentLoadedEventEnd,
					requests: performance.getEntriesByType("resource").map(r => new URL(r.name).pathname),
				});
			}).observe({type: "paint", buffered: true});
		}).then(l => (l.requests.sort(), l))`)
	}
	// The widget as the visitor left it: open on the conversation, then
	// minimized to its launcher.
	b.Run("open", func(b *testing.B) {
		compareFirstPaint(b, func() (pageLoad, pageLoad) { return measure(withChat), measure(without) })
	})
	withChat.clickButton("Minimize chat")
	withChat.waitFor("button", "Open chat")
	b.Run("minimized", func(b *testing.B) {
		compareFirstPaint(b, func() (pageLoad, pageLoad) { return measure(withChat), measure(without) })
	})
}

// pageLoad is what a page load costs the browser: when it first painted
// content, and the requests it made, from performance entries.
type pageLoad struct {
	FCP float64 `json:"fcp"`
	// Parsed is when the document was parsed, and Ready when its
	// DOMContentLoaded handlers (chat.js's start among them) had run.
	Parsed   float64  `json:"parsed"`
	Ready    float64  `json:"ready"`
	Requests []string `json:"requests"`
}

// compareFirstPaint loads the two pages in turn, b.N times, and reports
// their median first paints, the ratio and the requests the first adds.
func compareFirstPaint(b *testing.B, loadBoth func() (pageLoad, pageLoad)) {
	var chatFCP, plainFCP, chatParsed, plainParsed, chatReady, plainReady []float64
	var chatRequests, plainRequests []string
	for b.Loop() {
		c, p := loadBoth()
		if c.FCP == 0 || p.FCP == 0 {
			b.Fatalf("no first contentful paint: %+v, %+v", c, p)
		}
		chatFCP, plainFCP = append(chatFCP, c.FCP), append(plainFCP, p.FCP)
		chatParsed, plainParsed = append(chatParsed, c.Parsed), append(plainParsed, p.Parsed)
		chatReady, plainReady = append(chatReady, c.Ready), append(plainReady, p.Ready)
		chatRequests, plainRequests = c.Requests, p.Requests
	}
	if !slices.Equal(chatRequests, plainRequests) {
		b.Errorf("the page restoring a chat made requests %q, the page without one %q: want the same", chatRequests, plainRequests)
	}
	median := func(xs []float64) float64 {
		slices.Sort(xs)
		return xs[len(xs)/2]
	}
	b.ReportMetric(median(chatFCP), "fcp-chat-ms")
	b.ReportMetric(median(plainFCP), "fcp-nochat-ms")
	b.ReportMetric(median(chatFCP)/median(plainFCP), "fcp-ratio")
	b.ReportMetric(median(chatParsed), "parsed-chat-ms")
	b.ReportMetric(median(plainParsed), "parsed-nochat-ms")
	b.ReportMetric(median(chatReady), "ready-chat-ms")
	b.ReportMetric(median(plainReady), "ready-nochat-ms")
	b.ReportMetric(float64(len(chatRequests)-len(plainRequests)), "extra-requests")
}
