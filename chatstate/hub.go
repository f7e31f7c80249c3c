package chatstate

import (
	"sync"
	"sync/atomic"
	"time"
)

// Hub fans committed events out to live subscribers in this process. A
// subscriber that falls behind is dropped rather than waited on: its channel
// closes with Lagged set, and it catches up from the store by seq.
type Hub struct {
	mu      sync.Mutex
	byChat  map[string]map[*Subscription]struct{}
	allChat map[*Subscription]struct{}
	subs    int
	// delivered and dropped count deliveries and lagging subscribers, for
	// /metrics.
	delivered atomic.Int64
	dropped   atomic.Int64
	// news counts what the hub has heard of commits: see News.
	news atomic.Uint64
}

// News counts the commits the hub has heard of: events published, and
// other instances' commits notified or caught up with, published or not
// (the relay drops those of chats nobody here follows). A reader that
// notes it, then reads a chat from the store, then subscribes, and finds
// it unchanged, knows the chat it read is current: a commit after the read
// is heard of only after it is made, before the subscription (moving the
// count) or after (through the subscription).
func (h *Hub) News() uint64 { return h.news.Load() }

// heard counts news that is not published: heard before the hub is asked
// who follows the chat, so that a subscription made after that question
// sees the count moved.
func (h *Hub) heard() { h.news.Add(1) }

// HubStats is a snapshot of the hub's load.
type HubStats struct {
	Subscriptions int
	Delivered     int64
	Dropped       int64
}

// Stats returns the hub's current load.
func (h *Hub) Stats() HubStats {
	h.mu.Lock()
	subs := h.subs
	h.mu.Unlock()
	return HubStats{Subscriptions: subs, Delivered: h.delivered.Load(), Dropped: h.dropped.Load()}
}

// NewHub returns an empty hub.
func NewHub() *Hub {
	return &Hub{byChat: map[string]map[*Subscription]struct{}{}, allChat: map[*Subscription]struct{}{}}
}

// Subscription receives the events of one chat, or of every chat.
type Subscription struct {
	hub    *Hub
	chatID string
	// ch carries pointers: a connection's buffer of 256 pending events then
	// costs 2 KB, not 50, and one published event is shared by all its
	// subscribers (who must not change it).
	ch     chan *Event
	lagged atomic.Bool
	once   sync.Once
	// wants, when set, picks which events of every chat this subscriber
	// takes; see SubscribeAll.
	wants func(*Event) bool
	// follows are the chats whose every event this watcher takes beside
	// what wants picks; see Follow. Guarded by the hub's lock.
	follows map[string]struct{}
	closed  bool
	// ready, when set, is called after each event is queued and once the
	// channel closes; see OnReady. Guarded by the hub's lock.
	ready func()
}

// Events delivers events in seq order per chat. It is closed by Close or when
// the subscriber lagged.
func (s *Subscription) Events() <-chan *Event { return s.ch }

// Lagged reports whether the hub dropped this subscriber for falling behind.
func (s *Subscription) Lagged() bool { return s.lagged.Load() }

// OnReady makes the hub call ready after it queues an event on Events and
// when it closes Events, so that a subscriber need not keep a goroutine
// waiting on the channel: an idle connection then costs no stack. ready
// runs under the hub's lock, so it must be quick and must not call the hub;
// events queued before OnReady do not call it.
func (s *Subscription) OnReady(ready func()) {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	s.ready = ready
}

// Close stops delivery and closes the channel. It is safe to call twice.
func (s *Subscription) Close() { s.hub.remove(s) }

// Subscribe returns a subscription to the events of chatID, or of every chat
// when chatID is empty, buffering up to buffer events.
func (h *Hub) Subscribe(chatID string, buffer int) *Subscription {
	return h.subscribe(chatID, buffer, nil)
}

// SubscribeAll returns a subscription to the events of every chat that
// wants accepts, and to every event of the chats it follows, buffering up
// to buffer events. An agent console watches every chat but shows few:
// woken for each event of each chat, hundreds of consoles cost more than
// the chats themselves. wants runs inside Publish, under the hub's lock,
// so it must be quick and must not call the hub.
func (h *Hub) SubscribeAll(buffer int, wants func(*Event) bool) *Subscription {
	return h.subscribe("", buffer, wants)
}

// Follow adds chat id to what a subscription of SubscribeAll takes: every
// event of that chat from the next one published, whatever wants says.
func (s *Subscription) Follow(id string) {
	h := s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if s.closed || s.chatID != "" {
		return
	}
	if _, ok := s.follows[id]; ok {
		return
	}
	if s.follows == nil {
		s.follows = map[string]struct{}{}
	}
	s.follows[id] = struct{}{}
	h.addLocked(id, s)
}

// Unfollow undoes Follow.
func (s *Subscription) Unfollow(id string) {
	h := s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := s.follows[id]; !ok {
		return
	}
	delete(s.follows, id)
	h.deleteLocked(id, s)
}

func (h *Hub) subscribe(chatID string, buffer int, wants func(*Event) bool) *Subscription {
	s := &Subscription{hub: h, chatID: chatID, ch: make(chan *Event, buffer), wants: wants}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.subs++
	if chatID == "" {
		h.allChat[s] = struct{}{}
		return s
	}
	h.addLocked(chatID, s)
	return s
}

// addLocked makes s a subscriber of chat id.
func (h *Hub) addLocked(id string, s *Subscription) {
	subs := h.byChat[id]
	if subs == nil {
		subs = map[*Subscription]struct{}{}
		h.byChat[id] = subs
	}
	subs[s] = struct{}{}
}

// deleteLocked undoes addLocked.
func (h *Hub) deleteLocked(id string, s *Subscription) {
	if subs := h.byChat[id]; subs != nil {
		delete(subs, s)
		if len(subs) == 0 {
			delete(h.byChat, id)
		}
	}
}

// Publish delivers events to their chat's subscribers and to the watchers of
// every chat, never blocking. Each event goes out with its Published time.
func (h *Hub) Publish(events []Event) {
	now := time.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.news.Add(uint64(len(events)))
	for i := range events {
		ev := events[i] // a copy of its own, shared by the subscribers
		ev.Published = now
		for s := range h.byChat[ev.ChatID] {
			h.deliverLocked(s, &ev)
		}
		for s := range h.allChat {
			if _, followed := s.follows[ev.ChatID]; followed {
				continue // delivered as the chat's subscriber
			}
			if s.wants == nil || s.wants(&ev) {
				h.deliverLocked(s, &ev)
			}
		}
	}
}

func (h *Hub) deliverLocked(s *Subscription, ev *Event) {
	select {
	case s.ch <- ev:
		h.delivered.Add(1)
		if s.ready != nil {
			s.ready()
		}
	default:
		h.lagLocked(s)
	}
}

func (h *Hub) remove(s *Subscription) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.removeLocked(s)
}

func (h *Hub) removeLocked(s *Subscription) {
	s.once.Do(func() {
		if s.chatID == "" {
			delete(h.allChat, s)
		} else {
			h.deleteLocked(s.chatID, s)
		}
		for id := range s.follows {
			h.deleteLocked(id, s)
		}
		s.follows, s.closed = nil, true
		h.subs--
		close(s.ch)
		if s.ready != nil {
			s.ready()
		}
	})
}

// interested reports whether anyone here would receive an event of chat
// id: a subscriber of the chat or a watcher of every chat.
func (h *Hub) interested(id string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.byChat[id]) > 0 || len(h.allChat) > 0
}

// watched returns the chats that have subscribers of their own, and
// whether anyone watches every chat.
func (h *Hub) watched() (chats []string, all bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	chats = make([]string, 0, len(h.byChat))
	for id := range h.byChat {
		chats = append(chats, id)
	}
	return chats, len(h.allChat) > 0
}

// dropWatchers ends every all-chat subscription as if it had lagged: its
// clients resume from the log by seq, which is exact where the hub cannot
// be.
func (h *Hub) dropWatchers() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.allChat {
		h.lagLocked(s)
	}
}

func (h *Hub) lagLocked(s *Subscription) {
	s.lagged.Store(true)
	h.dropped.Add(1)
	h.removeLocked(s)
}
