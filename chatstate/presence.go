package chatstate

import (
	"context"
	"errors"
	"sync"
	"time"
)

// expireBatch bounds one sweep's work; the next sweep takes the rest.
const expireBatch = 500

// restartGrace is how long after a start the sweep waits before it ends a
// chat on the store's word alone: visitors who were connected to the
// process before it (restarted, or killed) need that long to reconnect and
// say they are here. It covers the longest heartbeat and the clients'
// longest reconnect backoff.
const restartGrace = 45 * time.Second

// forgetSeenAfter drops a visitor's presence from memory once it is older
// than any chat's offline limit could reach.
const forgetSeenAfter = 2 * time.Hour

// presence keeps when each visitor was last connected, in memory: a
// heartbeat is a map write, not a synced store write. The store learns of
// it only when it matters: when the sweep finds the store's VisitorSeenAt
// too old for a visitor who is in fact here.
type presence struct {
	mu   sync.Mutex
	seen map[string]time.Time
	// held are the chats whose visitors hold a connection open here: they
	// are present now, with no heartbeat.
	held map[string]*holding
	// dirty holds what the store has not been told yet, when other
	// instances share it (Config.Cluster); nil otherwise.
	dirty map[string]time.Time
	// swept is when entries too old to matter were last dropped.
	swept time.Time
}

func (p *presence) mark(id string, at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.seen == nil {
		p.seen = map[string]time.Time{}
	}
	if at.After(p.seen[id]) {
		p.seen[id] = at
	}
	if p.dirty != nil && at.After(p.dirty[id]) {
		p.dirty[id] = at
	}
}

// markDirty puts back a time the store was not told.
func (p *presence) markDirty(id string, at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if at.After(p.dirty[id]) {
		p.dirty[id] = at
	}
}

// holding is one held chat: how many connections hold it, and when other
// instances were last told its visitor is here.
type holding struct {
	conns int
	// every is how often other instances must hear of it.
	every time.Duration
	told  time.Time
}

func (p *presence) hold(id string, every time.Duration, at time.Time) {
	p.mark(id, at)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.held == nil {
		p.held = map[string]*holding{}
	}
	h := p.held[id]
	if h == nil {
		h = &holding{every: every, told: at}
		p.held[id] = h
	}
	h.conns++
	h.every = min(h.every, every)
}

func (p *presence) release(id string, at time.Time) {
	p.mark(id, at)
	p.mu.Lock()
	defer p.mu.Unlock()
	if h := p.held[id]; h != nil {
		if h.conns--; h.conns <= 0 {
			delete(p.held, id)
		}
	}
}

// takeDirty returns what the store has not been told, and forgets it; a
// held chat is in it once each of its heartbeats, at now.
func (p *presence) takeDirty(now time.Time) map[string]time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	for id, h := range p.held {
		if now.Sub(h.told) >= h.every {
			p.dirty[id] = now
			h.told = now
		}
	}
	if len(p.dirty) == 0 {
		return nil
	}
	taken := p.dirty
	p.dirty = map[string]time.Time{}
	return taken
}

// last is when the visitor was last connected: now, while it is.
func (p *presence) last(id string, now time.Time) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.held[id] != nil {
		return now
	}
	return p.seen[id]
}

func (p *presence) forget(now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if now.Sub(p.swept) < time.Minute {
		return
	}
	for id, at := range p.seen {
		if now.Sub(at) > forgetSeenAfter {
			delete(p.seen, id)
		}
	}
	p.swept = now
}

// Seen records that the visitor has a transport connection now. A
// transport that does not hold one connection open (long-poll) calls it on
// each request and periodically in between. It writes
// nothing to the store: ExpireOffline consults it before ending a chat.
// When other instances share the store, RunExpiry writes what was seen to
// it once a sweep interval, in one statement, for whichever instance
// sweeps.
func (s *Service) Seen(_ context.Context, id string) error {
	s.presence.mark(id, s.now().UTC())
	return nil
}

// Connected records that the visitor of chat c holds a transport
// connection to this process from now until the returned function is
// called, once, when it closes. The visitor is present all that time with
// no heartbeat: thousands of idle connections cost nothing until one ends.
// Other instances (Config.Cluster) are told once each HeartbeatEvery(c).
func (s *Service) Connected(c Chat) (disconnected func()) {
	s.presence.hold(c.ID, HeartbeatEvery(c), s.now().UTC())
	return sync.OnceFunc(func() { s.presence.release(c.ID, s.now().UTC()) })
}

// HeartbeatEvery is how often a transport must call Seen for a chat, so
// that a connected visitor never looks offline.
func HeartbeatEvery(c Chat) time.Duration {
	return min(30*time.Second, max(c.MaxOffline/3, 200*time.Millisecond))
}

// ExpireOffline ends, with ReasonOffline, every chat whose visitor has had
// no transport connection for longer than the chat's MaxOffline, and
// reports how many it ended. The agent is told by the ended event. A chat
// the store thinks offline whose visitor this process has seen since gets
// that time written instead, so that the store stops listing it.
func (s *Service) ExpireOffline(ctx context.Context) (int, error) {
	now := s.now().UTC()
	s.presence.forget(now)
	chats, err := s.store.ListChats(ctx, ChatFilter{
		Phases:    attendedPhases(),
		OfflineAt: now,
		Limit:     expireBatch,
	})
	if err != nil {
		return 0, err
	}
	justStarted := now.Sub(s.started) < restartGrace
	ended := 0
	for _, listed := range chats {
		seen := s.presence.last(listed.ID, now)
		c, _, err := s.update(ctx, listed.ID, func(c *Chat) ([]Event, error) {
			if c.Phase == PhaseEnded {
				return nil, errStillOnline
			}
			if seen.After(c.VisitorSeenAt) {
				c.VisitorSeenAt = seen
			}
			if !c.VisitorSeenAt.Add(c.MaxOffline).Before(now) {
				// Back online: the write keeps the store's view current.
				return nil, nil
			}
			if justStarted && c.VisitorSeenAt.Before(s.started) {
				// Last seen by the process before this one: its visitor may
				// not have reconnected yet.
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
		case c.Phase == PhaseEnded:
			ended++
		}
	}
	return ended, nil
}

var errStillOnline = errors.New("visitor is back online")

// attendedPhases are the phases whose chats end when their visitor is away
// too long (Phase.Attended).
func attendedPhases() []Phase {
	return []Phase{PhaseRegistration, PhaseLeaveMessage, PhaseQueued, PhaseConnected}
}

// RunExpiry sweeps for offline visitors every interval until ctx is done.
// Sweep errors are passed to report and the sweeping goes on. When other
// instances share the store, each interval first records in the store the
// visitors connected here, and the sweep runs on one instance at a time.
func (s *Service) RunExpiry(ctx context.Context, interval time.Duration, report func(error)) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	sweep := func(ctx context.Context) error {
		_, err := s.ExpireOffline(ctx)
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			var err error
			if s.cluster == nil {
				err = sweep(ctx)
			} else {
				// The sweep forgets old presence where it runs; here it
				// may not.
				s.presence.forget(s.now().UTC())
				err = s.flushPresence(ctx)
				if err == nil {
					_, err = s.cluster.Exclusive(ctx, expireWork, sweep)
				}
			}
			if err != nil && ctx.Err() == nil {
				report(err)
			}
		}
	}
}
