package storetest

import (
	"testing"
	"time"

	"github.com/parley/parley/chatstate"
)

// Follow reads sub until it has had seq want of chat id, failing on a seq
// published twice or out of order, or on a gap after resumed (what the
// follower read from the log when it subscribed: like the feeds, it drops
// events up to there, so those may come again); got is what it has had so
// far, per chat. It is how the relay's tests, on one store or across
// instances on PostgreSQL, hold a hub to its order.
func Follow(t *testing.T, what string, sub *chatstate.Subscription, resumed, got map[string]int64, id string, want int64) {
	t.Helper()
	for got[id] < want {
		select {
		case ev, ok := <-sub.Events():
			if !ok {
				t.Fatalf("%s: subscription closed (lagged %v) at seq %d of %d", what, sub.Lagged(), got[id], want)
			}
			prev, seen := got[ev.ChatID]
			if seen && ev.Seq <= prev {
				t.Fatalf("%s: chat %s published seq %d after %d: want each once, in order", what, ev.ChatID, ev.Seq, prev)
			}
			if from := max(prev, resumed[ev.ChatID]); ev.Seq > from+1 {
				t.Fatalf("%s: chat %s published seq %d after %d: a gap", what, ev.ChatID, ev.Seq, from)
			}
			got[ev.ChatID] = ev.Seq
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: published up to seq %d, want %d", what, got[id], want)
		}
	}
}
