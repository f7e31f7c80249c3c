package chatstate_test

import (
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/parley/parley/chatstate"
)

// TestSubscribeAllTakesWhatItWants: a watcher of every chat is handed the
// events its filter accepts and every event of the chats it follows, once
// each and in order, and none of the others; a plain watcher beside it
// still takes them all.
func TestSubscribeAllTakesWhatItWants(t *testing.T) {
	hub := chatstate.NewHub()
	picky := hub.SubscribeAll(16, func(ev *chatstate.Event) bool { return ev.Kind == chatstate.EventRegistered })
	all := hub.Subscribe("", 16)
	picky.Follow("a")
	picky.Follow("a") // twice is once
	hub.Publish([]chatstate.Event{{ChatID: "a", Seq: 1, Kind: chatstate.EventMessage}, {ChatID: "b", Seq: 1, Kind: chatstate.EventMessage}})
	hub.Publish([]chatstate.Event{{ChatID: "b", Seq: 2, Kind: chatstate.EventRegistered}, {ChatID: "a", Seq: 2, Kind: chatstate.EventRegistered}})
	picky.Unfollow("a")
	hub.Publish([]chatstate.Event{{ChatID: "a", Seq: 3, Kind: chatstate.EventMessage}, {ChatID: "a", Seq: 4, Kind: chatstate.EventRegistered}})
	picky.Close()
	all.Close()
	picky.Follow("c") // after Close: nothing

	var got []string
	for ev := range picky.Events() {
		got = append(got, fmt.Sprint(ev.ChatID, ev.Seq))
	}
	if want := []string{"a1", "b2", "a2", "a4"}; !slices.Equal(got, want) {
		t.Errorf("filtered watcher took %v, want %v", got, want)
	}
	n := 0
	for range all.Events() {
		n++
	}
	if n != 6 {
		t.Errorf("plain watcher took %d events, want 6", n)
	}
	if subs := hub.Stats().Subscriptions; subs != 0 {
		t.Errorf("after Close the hub counts %d subscriptions, want 0", subs)
	}
}

// TestOnReadyCallsForEachEventAndTheClose: a subscriber without a
// goroutine of its own hears of each queued event and of the end of its
// channel, whether it closed it or lagged, and of nothing else.
func TestOnReadyCallsForEachEventAndTheClose(t *testing.T) {
	hub := chatstate.NewHub()
	calls := map[string]int{}
	mine := hub.Subscribe("a", 2)
	mine.OnReady(func() { calls["mine"]++ })
	lagging := hub.Subscribe("a", 2)
	lagging.OnReady(func() { calls["lagging"]++ })
	hub.Publish([]chatstate.Event{{ChatID: "b", Seq: 1}}) // another chat's
	hub.Publish([]chatstate.Event{{ChatID: "a", Seq: 1}, {ChatID: "a", Seq: 2}})
	<-mine.Events()
	<-mine.Events()
	hub.Publish([]chatstate.Event{{ChatID: "a", Seq: 3}}) // lagging is full
	mine.Close()
	mine.Close()
	if want := map[string]int{"mine": 4, "lagging": 3}; !maps.Equal(calls, want) {
		t.Errorf("ready called %v, want %v (mine: 3 events and its close; lagging: 2 events and its drop)", calls, want)
	}
	if !lagging.Lagged() {
		t.Error("the full subscriber was not dropped")
	}
}
