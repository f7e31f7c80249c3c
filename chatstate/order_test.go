package chatstate_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/parley/parley/chatstate"
	"github.com/parley/parley/chatstate/sqlite"
)

// slowReturnStore returns from some commits late, as a busy disk or a
// descheduled goroutine does: a writer that committed first may come back
// after one that committed later.
type slowReturnStore struct {
	chatstate.Store
}

func (s slowReturnStore) Update(ctx context.Context, id string, change func(*chatstate.Chat) ([]chatstate.Event, error)) (chatstate.Chat, []chatstate.Event, error) {
	c, evs, err := s.Store.Update(ctx, id, change)
	if rand.IntN(4) == 0 {
		time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
	}
	return c, evs, err
}

// TestPublishInSeqOrder has visitors and the agent write to one chat at
// once and checks that a subscriber gets every event exactly once, in seq
// order: the feeds drop anything at or below what they last sent.
func TestPublishInSeqOrder(t *testing.T) {
	t.Parallel()
	store, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "parley.db"))
	if err != nil {
		t.Fatalf("sqlite.Open() = %v", err)
	}
	t.Cleanup(func() { store.Close() })
	s := chatstate.NewService(chatstate.Config{Store: slowReturnStore{store}})
	c := connected(t, s)

	const writers, each = 8, 40
	sub := s.Hub().Subscribe(c.ID, writers*each*2+10)
	defer sub.Close()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			from := visitor
			if w%2 == 1 {
				from = alice
			}
			for i := range each {
				var err error
				if i%5 == 4 {
					err = s.Typing(context.Background(), c.ID, from)
				} else {
					_, err = s.SendMessage(context.Background(), c.ID, from, fmt.Sprintf("w%d-%d", w, i), "hello")
				}
				if err != nil {
					t.Errorf("writer %d: %v", w, err)
					return
				}
			}
		})
	}
	wg.Wait()

	last := c.LastSeq
	want := last + writers*each
	for last < want {
		select {
		case ev, ok := <-sub.Events():
			if !ok {
				t.Fatalf("subscription closed (lagged %v) at seq %d", sub.Lagged(), last)
			}
			if ev.Seq != last+1 {
				t.Fatalf("published seq %d after %d: want every event once, in seq order", ev.Seq, last)
			}
			last = ev.Seq
		case <-time.After(5 * time.Second):
			t.Fatalf("published up to seq %d, want %d", last, want)
		}
	}
}
