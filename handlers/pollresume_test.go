package handlers_test

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"
)

// pollOnce is one long-poll from after, safe to run off the test's
// goroutine: the answer's frames, or why there are none.
func pollOnce(ls *liveServer, v *visitor, after int64) ([]frame, error) {
	status, frames, err := doPoll(ls, v, http.MethodGet, "/chat/poll?after="+strconv.FormatInt(after, 10), "")
	if err == nil && status != http.StatusOK {
		err = fmt.Errorf("status %d", status)
	}
	return frames, err
}

// TestIdleRepollReadsNothingMore: a poll whose client is up to date reads
// its chat once, by the cookie's token, and parks: nothing more is read
// while nothing is published. An event committed between that read and
// the poll's subscription is still answered at once, and polls racing a
// writer that never stops get every event once, in order.
func TestIdleRepollReadsNothingMore(t *testing.T) {
	en := newEnv(t)
	ls := newLiveServer(t, en)
	v, id := registeredVisitor(t, en, ls)
	ctx := context.Background()
	if _, err := en.chats.Accept(ctx, id, agentParty()); err != nil {
		t.Fatal(err)
	}
	send := func(text string) {
		if _, err := en.chats.SendMessage(ctx, id, agentParty(), "", text); err != nil {
			t.Error(err)
		}
	}

	// Idle: parked after the one read, woken by the agent.
	last := en.chat(id).LastSeq
	reads := en.store.chatReads.Load()
	answered := make(chan []frame, 1)
	go func() {
		frames, err := pollOnce(ls, v, last)
		if err != nil {
			t.Error(err)
		}
		answered <- frames
	}()
	if !en.subscriptionsReach(func(n int) bool { return n == 1 }) {
		t.Fatal("the poll did not park")
	}
	if n := en.store.chatReads.Load() - reads; n != 0 {
		t.Errorf("an up-to-date poll read its chat %d more times before parking, want none", n)
	}
	send("woken")
	if frames := <-answered; len(frames) != 2 || frames[1].Event == nil || frames[1].Event.Text != "woken" {
		t.Fatalf("the parked poll answered %+v, want resume and the agent's message", frames)
	}

	// A message committed and published after the poll read the chat and
	// before it subscribed: the poll must not park past it.
	last = en.chat(id).LastSeq
	var once sync.Once
	hook := func() { once.Do(func() { send("in the window") }) }
	en.store.afterTokenRead.Store(&hook)
	start := time.Now()
	frames, err := pollOnce(ls, v, last)
	en.store.afterTokenRead.Store(nil)
	if err != nil || len(frames) != 2 || frames[1].Event == nil || frames[1].Event.Text != "in the window" {
		t.Fatalf("poll with a message committed between its read and its subscription = %+v, %v; want resume and that message", frames, err)
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Errorf("the poll answered after %v, want at once", waited)
	}

	// A writer that never stops, some of its messages in that window: the
	// polls get every event once, in seq order.
	const messages = 300
	last = en.chat(id).LastSeq
	final := last + messages
	window := func() {
		if en.chat(id).LastSeq < final-messages/2 {
			send("window")
		}
	}
	en.store.afterTokenRead.Store(&window)
	defer en.store.afterTokenRead.Store(nil)
	writing, stop := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(writing)
		for en.chat(id).LastSeq < final {
			select {
			case <-stop:
				return
			default:
				send("writer")
			}
		}
	}()
	defer func() {
		close(stop)
		<-writing
	}()
	seen := last
	for done := false; !done; {
		select {
		case <-writing:
			// Written out: poll until the last message is in.
			done = seen == en.chat(id).LastSeq
			if done {
				continue
			}
		default:
		}
		frames, err := pollOnce(ls, v, seen)
		if err != nil {
			t.Fatal(err)
		}
		if len(frames) == 0 {
			// Woken by an event it had already read: nothing new.
			continue
		}
		if frames[0].Type != "resume" || frames[0].Recovered == nil || !*frames[0].Recovered {
			t.Fatalf("poll from seq %d = %+v, want a recovered resume first", seen, frames)
		}
		for _, f := range frames[1:] {
			if f.Event == nil {
				continue
			}
			if f.Event.Seq != seen+1 {
				t.Fatalf("after seq %d the poll gave seq %d, want %d", seen, f.Event.Seq, seen+1)
			}
			seen = f.Event.Seq
		}
	}
	if seen < final {
		t.Errorf("the polls saw up to seq %d, want at least %d", seen, final)
	}
}
