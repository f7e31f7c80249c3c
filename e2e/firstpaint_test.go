package e2e

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// BenchmarkFirstPaint measures DESIGN §8's browser targets in Chromium: the
// first contentful paint of a page that restores a chat of 60 messages (its
// latest 50 lines) beside the same page without a chat, loaded in turn by
// two visitors, and the requests each page makes before its load event.
//
//	go test -run='^$' -bench=FirstPaint -benchtime=40x ./e2e
func BenchmarkFirstPaint(b *testing.B) {
	srv := startServer(b, "")
	br := newBrowser(b)
	withChat, without := br.newPage(b), br.newPage(b)
	openChat(b, withChat, srv, "Ada", "ada@example.com")
	for i := range 60 {
		sendMessage(b, withChat, fmt.Sprintf("Question number %d", i+1))
		time.Sleep(350 * time.Millisecond) // within the visitor's 3 messages a second
	}
	const url = "/products"
	without.navigate(srv.URL + url)

	// What a page load costs the browser: when it first painted content,
	// and the requests it made, from performance entries.
	type load struct {
		FCP      float64  `json:"fcp"`
		Requests []string `json:"requests"`
	}
	measure := func(p *page) load {
		p.navigate(srv.URL + url)
		return evalJS[load](p, `new Promise(resolve => {
			new PerformanceObserver((list, observer) => {
				observer.disconnect();
				resolve({
					fcp: list.getEntries()[0].startTime,
					requests: performance.getEntriesByType("resource").map(r => new URL(r.name).pathname),
				});
			}).observe({type: "paint", buffered: true});
		}).then(l => (l.requests.sort(), l))`)
	}
	var chatFCP, plainFCP []float64
	var chatRequests, plainRequests []string
	for b.Loop() {
		c, p := measure(withChat), measure(without)
		if c.FCP == 0 || p.FCP == 0 {
			b.Fatalf("no first contentful paint: %+v, %+v", c, p)
		}
		chatFCP, plainFCP = append(chatFCP, c.FCP), append(plainFCP, p.FCP)
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
	b.ReportMetric(float64(len(chatRequests)-len(plainRequests)), "extra-requests")
}
