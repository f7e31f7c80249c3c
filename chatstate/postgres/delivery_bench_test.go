package postgres_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley/parley/chatstate"
	"github.com/parley/parley/chatstate/postgres/pgtest"
)

// BenchmarkCrossInstanceDelivery measures what several instances add to a
// message's delivery (DESIGN §7): two instances on one database, each with
// its listener; a message sent through one instance's Service reaches a
// watcher of every chat on the same instance (published at commit: the
// baseline) and one on the other instance (woken by NOTIFY, read from the
// log). Both are timed from the send's start; "added" is the other
// instance's delivery minus the same instance's, message by message.
//
// "serial" sends one message at a time to one chat. "parallel-chats" sends
// from 16 goroutines to 64 chats, as a busy site does; its msgs/s are
// durable sends through the Service with the relay on (each commit with its
// NOTIFY, fsynced when the server runs with fsync=on).
func BenchmarkCrossInstanceDelivery(b *testing.B) {
	b.Run("serial", func(b *testing.B) { benchDelivery(b, 1, 1) })
	b.Run("parallel-chats", func(b *testing.B) { benchDelivery(b, 64, 16) })
}

// key names one message.
type key struct {
	chat string
	seq  int64
}

func benchDelivery(b *testing.B, chats, senders int) {
	url := pgtest.URL(b)
	a, other := startNode(b, url, "bench-a"), startNode(b, url, "bench-b")
	var ids []string
	for range chats {
		ids = append(ids, connectedChat(b, a.svc).ID)
	}
	same, remote := a.svc.Hub().Subscribe("", 1<<20), other.svc.Hub().Subscribe("", 1<<20)
	defer same.Close()
	defer remote.Close()

	var (
		mu               sync.Mutex
		sent             = map[key]time.Time{}
		atSame, atRemote = map[key]time.Time{}, map[key]time.Time{}
		remoteCount      atomic.Int64
		allRemote        = make(chan struct{})
		watchers         sync.WaitGroup
		closeOnce        sync.Once
		total            = int64(b.N)
		visitor          = chatstate.Party{Type: chatstate.PartyVisitor}
		next             atomic.Int64
		sendersDone      sync.WaitGroup
		ctx              = context.Background()
		watch            = func(sub *chatstate.Subscription, at map[key]time.Time, count bool) {
			defer watchers.Done()
			for ev := range sub.Events() {
				now := time.Now()
				if ev.Kind != chatstate.EventMessage {
					continue
				}
				mu.Lock()
				at[key{ev.ChatID, ev.Seq}] = now
				mu.Unlock()
				if count && remoteCount.Add(1) == total {
					closeOnce.Do(func() { close(allRemote) })
				}
			}
		}
	)
	watchers.Add(2)
	go watch(same, atSame, false)
	go watch(remote, atRemote, true)

	b.ResetTimer()
	for range senders {
		sendersDone.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= total {
					return
				}
				id := ids[int(i)%len(ids)]
				start := time.Now()
				ev, err := a.svc.SendMessage(ctx, id, visitor, fmt.Sprint("m", i), "hello")
				if err != nil {
					b.Error(err)
					return
				}
				mu.Lock()
				sent[key{id, ev.Seq}] = start
				mu.Unlock()
			}
		})
	}
	sendersDone.Wait()
	elapsed := b.Elapsed()
	select {
	case <-allRemote:
	case <-time.After(30 * time.Second):
		b.Fatalf("the other instance delivered %d of %d messages", remoteCount.Load(), total)
	}
	b.StopTimer()
	same.Close()
	remote.Close()
	watchers.Wait()

	var sames, remotes, added []time.Duration
	for k, start := range sent {
		s, r := atSame[k], atRemote[k]
		if s.IsZero() || r.IsZero() {
			b.Fatalf("message %v not delivered on both instances", k)
		}
		sames = append(sames, s.Sub(start))
		remotes = append(remotes, r.Sub(start))
		added = append(added, r.Sub(s))
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
	for _, m := range []struct {
		name string
		d    []time.Duration
	}{{"same", sames}, {"other", remotes}, {"added", added}} {
		slices.Sort(m.d)
		b.ReportMetric(ms(m.d[len(m.d)/2]), m.name+"-p50-ms")
		b.ReportMetric(ms(m.d[min(len(m.d)-1, len(m.d)*99/100)]), m.name+"-p99-ms")
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
