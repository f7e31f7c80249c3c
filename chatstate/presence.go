package chatstate

import (
	"context"
	"errors"
	"time"
)

// expireBatch bounds one sweep's work; the next sweep takes the rest.
const expireBatch = 500

// Seen records that the visitor has a transport connection now. Transports
// call it on connect, on disconnect and periodically in between, so that
// VisitorSeenAt is never older than that period while the visitor is there.
func (s *Service) Seen(ctx context.Context, id string) error {
	now := s.now().UTC()
	_, _, err := s.store.Update(ctx, id, func(c *Chat) ([]Event, error) {
		if c.Phase == PhaseEnded {
			return nil, ErrChatEnded
		}
		c.VisitorSeenAt = now
		return nil, nil
	})
	return err
}

// HeartbeatEvery is how often a transport must call Seen for a chat, so
// that a connected visitor never looks offline.
func HeartbeatEvery(c Chat) time.Duration {
	return min(30*time.Second, max(c.MaxOffline/3, 200*time.Millisecond))
}

// ExpireOffline ends, with ReasonOffline, every chat whose visitor has had
// no transport connection for longer than the chat's MaxOffline, and
// reports how many it ended. The agent is told by the ended event.
func (s *Service) ExpireOffline(ctx context.Context) (int, error) {
	now := s.now().UTC()
	chats, err := s.store.ListChats(ctx, ChatFilter{
		Phases:    []Phase{PhaseRegistration, PhaseQueued, PhaseConnected},
		OfflineAt: now,
		Limit:     expireBatch,
	})
	if err != nil {
		return 0, err
	}
	ended := 0
	for _, c := range chats {
		_, _, err := s.update(ctx, c.ID, func(c *Chat) ([]Event, error) {
			// The visitor may have come back since the chat was listed.
			if c.Phase == PhaseEnded || !c.VisitorSeenAt.Add(c.MaxOffline).Before(now) {
				return nil, errStillOnline
			}
			c.Phase = PhaseEnded
			c.EndReason = ReasonOffline
			return []Event{{Kind: EventEnded, From: Party{Type: PartySystem}, Reason: ReasonOffline}}, nil
		})
		switch {
		case errors.Is(err, errStillOnline):
		case err != nil:
			return ended, err
		default:
			ended++
		}
	}
	return ended, nil
}

var errStillOnline = errors.New("visitor is back online")

// RunExpiry sweeps for offline visitors every interval until ctx is done.
// Sweep errors are passed to report and the sweeping goes on.
func (s *Service) RunExpiry(ctx context.Context, interval time.Duration, report func(error)) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			if _, err := s.ExpireOffline(ctx); err != nil && ctx.Err() == nil {
				report(err)
			}
		}
	}
}
