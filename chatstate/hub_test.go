package chatstate_test

import (
	"fmt"
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
