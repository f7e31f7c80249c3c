package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/parley/parley/chatstate"
)

// BenchmarkOfflineSweep measures the query the offline sweep runs every
// second (chatstate.Service.ExpireOffline) on a store that has served for a
// while: ended chats, long past their visitors' limits, and live chats
// whose visitors are connected, so that the sweep finds nothing. settle,
// when set, runs between filling the store and the timing: a backend's
// statistics, as its own maintenance would gather them.
func BenchmarkOfflineSweep(b *testing.B, s chatstate.Store, ended, live int, settle func(context.Context) error) {
	ctx := context.Background()
	now := time.Now().UTC()
	fill := func(n int, prefix string, phase chatstate.Phase, seen time.Time) {
		var (
			wg       sync.WaitGroup
			mu       sync.Mutex
			firstErr error
		)
		const writers = 16
		for w := range writers {
			wg.Go(func() {
				for i := w; i < n; i += writers {
					id := fmt.Sprintf("%s-%d", prefix, i)
					c := chatstate.Chat{ID: id, Phase: phase, MaxOffline: time.Minute,
						VisitorSeenAt: seen, CreatedAt: seen, UpdatedAt: seen}
					if err := s.CreateChat(ctx, c, tokenHash(id)); err != nil {
						mu.Lock()
						firstErr = err
						mu.Unlock()
						return
					}
				}
			})
		}
		wg.Wait()
		if firstErr != nil {
			b.Fatalf("CreateChat() = %v, want nil", firstErr)
		}
	}
	fill(ended, "ended", chatstate.PhaseEnded, now.Add(-24*time.Hour))
	fill(live, "live", chatstate.PhaseConnected, now)
	if settle != nil {
		if err := settle(ctx); err != nil {
			b.Fatal(err)
		}
	}
	filter := chatstate.ChatFilter{
		Phases:    []chatstate.Phase{chatstate.PhaseRegistration, chatstate.PhaseQueued, chatstate.PhaseConnected},
		OfflineAt: now,
		Limit:     500,
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		chats, err := s.ListChats(ctx, filter)
		if err != nil {
			b.Fatal(err)
		}
		if len(chats) != 0 {
			b.Fatalf("ListChats(sweep) = %d chats, want none offline", len(chats))
		}
	}
}
