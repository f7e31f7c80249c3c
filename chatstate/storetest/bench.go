package storetest

import (
	"context"
	"crypto/sha256"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
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

// BenchmarkAppendMessage measures durable sends: each op is one committed
// Update appending one message. "serial" sends one after another to one
// chat; "parallel" from GOMAXPROCS goroutines to one chat, which the store
// serializes; "parallel-chats" from 64×GOMAXPROCS goroutines to 256 chats,
// as a busy server sends. open returns an empty store for each.
func BenchmarkAppendMessage(b *testing.B, open func(b *testing.B) chatstate.Store) {
	run := func(b *testing.B, chats, parallelism int) {
		s := open(b)
		ctx := context.Background()
		ids := make([]string, chats)
		for i := range ids {
			ids[i] = fmt.Sprint("chat-", i)
			CreateBenchChat(b, s, ids[i])
		}
		var (
			n   atomic.Int64
			mu  sync.Mutex
			lat = make([]time.Duration, 0, b.N)
		)
		// send sends one message and adds its latency to mine: each
		// goroutine keeps its own, so that timing does not contend.
		send := func(mine *[]time.Duration) error {
			i := n.Add(1)
			start := time.Now()
			err := AppendMessage(ctx, s, ids[int(i)%chats], fmt.Sprint("m", i))
			*mine = append(*mine, time.Since(start))
			return err
		}
		b.ReportAllocs()
		b.ResetTimer()
		if parallelism == 0 {
			for range b.N {
				if err := send(&lat); err != nil {
					b.Fatal(err)
				}
			}
		} else {
			b.SetParallelism(parallelism)
			b.RunParallel(func(pb *testing.PB) {
				var mine []time.Duration
				defer func() {
					mu.Lock()
					lat = append(lat, mine...)
					mu.Unlock()
				}()
				for pb.Next() {
					if err := send(&mine); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		b.StopTimer()
		reportSends(b, lat)
	}
	b.Run("serial", func(b *testing.B) { run(b, 1, 0) })
	b.Run("parallel", func(b *testing.B) { run(b, 1, 1) })
	b.Run("parallel-chats", func(b *testing.B) { run(b, 256, 64) })
}

// CreateBenchChat creates a connected chat whose token is "bench token "
// and its id.
func CreateBenchChat(b *testing.B, s chatstate.Store, id string) {
	b.Helper()
	now := time.Now()
	c := chatstate.Chat{ID: id, Phase: chatstate.PhaseConnected, CreatedAt: now, UpdatedAt: now,
		Visitor: chatstate.Registration{FirstName: "Ada", Email: "ada@example.com"}}
	if err := s.CreateChat(context.Background(), c, BenchTokenHash(id)); err != nil {
		b.Fatalf("CreateChat() = %v, want nil", err)
	}
}

// BenchTokenHash is the token hash CreateBenchChat gives chat id.
func BenchTokenHash(id string) []byte {
	hash := sha256.Sum256([]byte("bench token " + id))
	return hash[:]
}

// AppendMessage is the durable send: one message with a fresh ClientID.
func AppendMessage(ctx context.Context, s chatstate.Store, id, clientID string) error {
	_, _, err := s.Update(ctx, id, func(c *chatstate.Chat) ([]chatstate.Event, error) {
		now := time.Now()
		c.UpdatedAt = now
		return []chatstate.Event{{
			Kind:     chatstate.EventMessage,
			Time:     now,
			From:     chatstate.Party{Type: chatstate.PartyVisitor, Name: "Ada"},
			Text:     "Hello, I have a question about my invoice from last month.",
			ClientID: clientID,
		}}, nil
	})
	return err
}

// reportSends adds throughput and the p99 ack latency, the two figures of
// the durable-send target.
func reportSends(b *testing.B, lat []time.Duration) {
	b.Helper()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	p99 := lat[min(len(lat)-1, len(lat)*99/100)]
	b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
}
