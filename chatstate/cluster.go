package chatstate

import (
	"context"
	"time"
)

// Cluster is what a Service needs, besides the Store, when several
// instances share one store (DESIGN §7): work that must run on one
// instance at a time, and presence that any instance can record for all.
// chatstate/postgres implements it.
type Cluster interface {
	// Exclusive runs fn unless another instance is running work under the
	// same name, and reports whether fn ran.
	Exclusive(ctx context.Context, name string, fn func(context.Context) error) (ran bool, err error)
	// RecordSeen stores that the visitors of the chats had a live
	// connection at the given times, in one write; a chat's stored time
	// never goes back.
	RecordSeen(ctx context.Context, seen map[string]time.Time) error
}

// Relay is what keeps a Service in step with commits made by other
// instances: a store's follower tells it of each, and has it compare what
// it follows with the store's heads. *Service is one.
type Relay interface {
	// Notified is told of each commit to a chat, in commit order.
	Notified(ctx context.Context, chatID string, seq int64) error
	// Watched names the chats whose heads Settle needs, and whether every
	// chat not ended is needed too.
	Watched() (chats []string, all bool)
	// Settle compares the relay with heads read from the store: after a
	// barrier (gap false) or after notices of commits may have been lost
	// (gap true).
	Settle(ctx context.Context, heads []Head, gap bool) error
}

// Follower hears of every instance's commits to a shared store and passes
// them to its Relay while Run runs; Check says whether it is hearing them
// now, for a health check.
type Follower interface {
	Run(ctx context.Context)
	Check(ctx context.Context) error
}

// expireWork names the offline sweep for Cluster.Exclusive.
const expireWork = "expire-offline"

// flushPresence writes the visitors seen here since the last flush to the
// store, so that whichever instance sweeps believes them present. On a
// failed write they are kept for the next flush.
func (s *Service) flushPresence(ctx context.Context) error {
	seen := s.presence.takeDirty(s.now().UTC())
	if len(seen) == 0 {
		return nil
	}
	if err := s.cluster.RecordSeen(ctx, seen); err != nil {
		for id, at := range seen {
			s.presence.markDirty(id, at)
		}
		return err
	}
	return nil
}
