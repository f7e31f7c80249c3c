package chatstate_test

import (
	"testing"
	"time"

	"github.com/parley/parley/chatstate"
)

// BenchmarkFanOut measures the hub handing one chat's events to its
// subscribers (a visitor's tabs) and to every agent console watching all
// chats, and the subscribers taking them: deliveries per second of one
// core, the figure DESIGN §8's fan-out target is about. Each op publishes
// one event to 4 tabs and 50 consoles.
func BenchmarkFanOut(b *testing.B) {
	const tabs, consoles = 4, 50
	hub := chatstate.NewHub()
	var subs []*chatstate.Subscription
	for range tabs {
		subs = append(subs, hub.Subscribe("chat-1", 256))
	}
	for range consoles {
		subs = append(subs, hub.Subscribe("", 256))
	}
	ev := []chatstate.Event{{ChatID: "chat-1", Kind: chatstate.EventMessage, Time: time.Now(), Text: "hello"}}
	b.ReportAllocs()
	start := time.Now()
	for i := 0; b.Loop(); i++ {
		ev[0].Seq = int64(i + 1)
		hub.Publish(ev)
		for _, s := range subs {
			if got := <-s.Events(); got.Seq != int64(i+1) {
				b.Fatalf("a subscriber got seq %d, want %d", got.Seq, i+1)
			}
		}
	}
	elapsed := time.Since(start)
	b.ReportMetric(float64(hub.Stats().Delivered)/elapsed.Seconds(), "deliveries/s")
}
