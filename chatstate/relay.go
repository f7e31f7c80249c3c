package chatstate

import (
	"context"
	"errors"
	"sync"
)

// catchUpPage is how many events one read of a catch-up takes.
const catchUpPage = 256

// recentEvents is how far back a local commit publishes from when the hub
// has no record of its chat: well beyond the commits of other instances
// that can be on their way (a notification takes a millisecond or two, and
// a chat's writers are rate-limited).
const recentEvents = 32

// relay is what a Service sharing its store with other instances knows of
// its own hub: per chat, the seq up to which the hub has published the
// chat's log (published[id] = v: every event up to v went out, in order,
// and nothing after it). Events committed by other instances are published
// after it, read from the log, so the hub publishes each seq of a chat at
// most once and in order, whoever committed it. A chat without an entry is
// one no commit has been seen of since it last mattered here: its
// followers subscribed and then read its log, so what they need starts
// with the next commit (see Notified and publishShared). As ever, a new
// follower may get from the hub events its own read of the log had
// already given it, and drops them by seq.
//
// Entries are read and written under the chat's lock in Service.locks, so
// that a chat's local commits, notifications and catch-ups are ordered;
// mu only guards the map itself.
type relay struct {
	mu        sync.Mutex
	published map[string]int64
}

func (r *relay) get(id string) (int64, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v, ok := r.published[id]
	return v, ok
}

func (r *relay) set(id string, seq int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.published[id] = seq
}

func (r *relay) forget(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.published, id)
}

func (r *relay) chats() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	ids := make([]string, 0, len(r.published))
	for id := range r.published {
		ids = append(ids, id)
	}
	return ids
}

// Head is a chat's newest seq in the store, read for Settle.
type Head struct {
	ChatID  string
	LastSeq int64
	// Ended chats get no more events.
	Ended bool
	// Gone is set for a chat the store no longer has.
	Gone bool
}

// Notified tells the service that a commit, here or on another instance
// sharing the store, appended events to chat id up to seq (PostgreSQL's
// NOTIFY). Events this instance's hub has not published go out now, read
// from the log after the last seq it published, in order and once; a
// notification of what was already published, or of a chat nobody here
// follows, costs no read.
//
// Notifications must come in commit order (as PostgreSQL delivers them to
// one listening session) and without gaps; after a gap (the listener
// reconnected) call Settle with gap set.
//
// A chat with no entry has had no commit seen here since this instance
// last followed it: whoever follows it now read its log after subscribing,
// so only the notified commit is news. Service appends one event per
// commit, so that is the event seq; the feeds would fill any further gap
// from the log themselves.
func (s *Service) Notified(ctx context.Context, id string, seq int64) error {
	if s.relay == nil {
		return nil
	}
	s.hub.heard()
	lock := &s.locks[lockIndex(id)]
	lock.Lock()
	defer lock.Unlock()
	v, known := s.relay.get(id)
	if known && seq <= v {
		return nil
	}
	if !s.hub.interested(id) {
		if known {
			s.relay.set(id, seq)
		}
		return nil
	}
	after := seq - 1
	if known {
		after = v
	}
	return s.catchUpLocked(ctx, id, after)
}

// catchUpLocked publishes the events of chat id after seq after, read from
// the log, and records the newest as published. The chat's lock is held.
func (s *Service) catchUpLocked(ctx context.Context, id string, after int64) error {
	for {
		evs, err := s.store.Events(ctx, id, after, catchUpPage)
		if errors.Is(err, ErrNotFound) {
			// No such chat here (a notification of another site's
			// database schema, say): nothing to publish.
			s.relay.forget(id)
			return nil
		}
		if err != nil {
			return err
		}
		if len(evs) == 0 {
			return nil
		}
		s.markAccept(ctx, id, evs)
		s.hub.Publish(evs)
		after = evs[len(evs)-1].Seq
		s.relay.set(id, after)
		if len(evs) < catchUpPage {
			return nil
		}
	}
}

// markAccept gives an accept read from the log, when it is the chat's last
// commit, the chat's phase and holder, as a local commit's events have
// them: every console here needs to know whether its own agent took the
// chat, and one read here spares one read in each of them. Other events,
// and an accept with commits after it, go without (consoles then read the
// chat themselves).
func (s *Service) markAccept(ctx context.Context, id string, evs []Event) {
	last := &evs[len(evs)-1]
	if last.Kind != EventAgentJoined {
		return
	}
	c, err := s.store.Chat(ctx, id)
	if err != nil || c.LastSeq != last.Seq {
		return
	}
	last.setChat(c)
}

// Watched returns the chats whose heads Settle needs: those with
// subscribers here and those the relay keeps an entry for; all says that
// someone here watches every chat, so every chat not ended is needed too.
func (s *Service) Watched() (chats []string, all bool) {
	if s.relay == nil {
		return nil, false
	}
	subscribed, all := s.hub.watched()
	seen := make(map[string]struct{}, len(subscribed))
	for _, id := range subscribed {
		seen[id] = struct{}{}
	}
	chats = subscribed
	for _, id := range s.relay.chats() {
		if _, ok := seen[id]; !ok {
			chats = append(chats, id)
		}
	}
	return chats, all
}

// Settle brings the hub up to the heads read from the store (for the
// chats Watched returned) and keeps the relay's entries truthful and few.
//
// Without gap, every notification of a commit that the heads include has
// been passed to Notified before Settle is called (a listener reads the
// heads, then sends itself a notification and waits for it: a barrier). A
// followed chat with no entry then had no commit since its followers read
// its log, so its head becomes the entry; a chat with an entry behind its
// head lost a notification, and catches up from the log.
//
// With gap, notifications may have been lost (the listener reconnected):
// chats with entries catch up from them; the followers of a chat with no
// entry get its newest event, and read what they lack before it from the
// log themselves (followers fill gaps by seq); watchers of every chat are
// dropped, as lagging subscribers are, and resume from the log.
func (s *Service) Settle(ctx context.Context, heads []Head, gap bool) error {
	if s.relay == nil {
		return nil
	}
	if gap {
		// Commits may have gone unheard.
		s.hub.heard()
	}
	dropWatchers := false
	for _, h := range heads {
		drop, err := s.settle(ctx, h, gap)
		if err != nil {
			return err
		}
		dropWatchers = dropWatchers || drop
	}
	if dropWatchers {
		s.hub.dropWatchers()
	}
	return nil
}

// settle settles one chat; drop reports that the watchers of every chat
// must resume from the store.
func (s *Service) settle(ctx context.Context, h Head, gap bool) (drop bool, err error) {
	lock := &s.locks[lockIndex(h.ChatID)]
	lock.Lock()
	defer lock.Unlock()
	v, known := s.relay.get(h.ChatID)
	interested := s.hub.interested(h.ChatID)
	switch {
	case h.Gone:
		s.relay.forget(h.ChatID)
	case known && v >= h.LastSeq:
		// Up to date. Every notification of what the head holds has been
		// seen, so an entry nobody needs, or of a chat that will have no
		// more events, can go: a later commit would find no entry, which
		// is right (see Notified).
		if v == h.LastSeq && (h.Ended || !interested) {
			s.relay.forget(h.ChatID)
		}
	case known && interested:
		return false, s.catchUpLocked(ctx, h.ChatID, v)
	case known:
		s.relay.forget(h.ChatID)
	case !interested:
	case !gap || h.LastSeq == 0:
		s.relay.set(h.ChatID, h.LastSeq)
	default:
		// A chat followed here with no entry, across a gap: its followers
		// may have missed commits, and the hub cannot tell which. Its
		// newest event goes out: a follower that lacks events before it
		// reads them from the log by seq, as the feeds do for any gap, so
		// it is not dropped for it. Watchers of every chat may have missed
		// other chats' news that no event here would tell them of (a chat
		// that joined the queue and moved on), so they resume.
		if err := s.catchUpLocked(ctx, h.ChatID, h.LastSeq-1); err != nil {
			return false, err
		}
		return true, nil
	}
	return false, nil
}
