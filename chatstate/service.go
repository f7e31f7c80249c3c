package chatstate

import (
	"context"
	"fmt"
	"hash/fnv"
	"sync"
	"time"
)

// Limits the chat rules enforce.
const (
	MaxMessageRunes  = 2000
	maxClientIDBytes = 64
	transcriptPage   = 1000
)

// TypingShown is how long a typing event says that somebody is typing: the
// widget and the console show it as long (the server hands them this
// number), and a replay skips one that is older.
const TypingShown = 6 * time.Second

// Config builds a Service.
type Config struct {
	Store Store
	Hub   *Hub
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// DefaultMaxOffline is used when a chat asks for none; MaxOfflineCap
	// bounds what a chat may ask for.
	DefaultMaxOffline time.Duration
	MaxOfflineCap     time.Duration
	// Cluster, when set, says that other instances share the store
	// (DESIGN §7): the hub then also publishes their commits, as Notified
	// and Settle bring them; presence goes to the store; and the offline
	// sweep runs on one instance at a time.
	Cluster Cluster
	// AgentOfflineAfter is how long an agent's consoles may all be gone
	// before the agent is offline; 0 means DefaultOfflineAfter.
	AgentOfflineAfter time.Duration
	// Outboxed, when set, is called after a commit whose events carried
	// Outbox items, so that a sender wakes for them rather than at its
	// next poll. It must not block.
	Outboxed func()
}

// chatLocks is how many locks the chats share: enough that two busy chats
// rarely wait for each other.
const chatLocks = 256

// Service applies the rules of a chat's life and publishes what changed.
type Service struct {
	// locks order each chat's commits and publications alike: a chat's
	// events reach the hub in seq order, whoever wrote them.
	locks    [chatLocks]sync.Mutex
	presence presence
	// started is when the service started, for restartGrace.
	started time.Time
	store   Store
	hub     *Hub
	// cluster and relay are set when other instances share the store.
	cluster           Cluster
	relay             *relay
	outboxed          func()
	now               func() time.Time
	defaultMaxOffline time.Duration
	maxOfflineCap     time.Duration
	availability      *Availability
}

// NewService returns a Service over cfg.Store.
func NewService(cfg Config) *Service {
	s := &Service{
		store:             cfg.Store,
		hub:               cfg.Hub,
		now:               cfg.Now,
		defaultMaxOffline: cfg.DefaultMaxOffline,
		maxOfflineCap:     cfg.MaxOfflineCap,
		cluster:           cfg.Cluster,
		outboxed:          cfg.Outboxed,
	}
	if s.cluster != nil {
		s.relay = &relay{published: map[string]int64{}}
		s.presence.dirty = map[string]time.Time{}
	}
	if s.hub == nil {
		s.hub = NewHub()
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.availability = NewAvailability(AvailabilityConfig{Store: cfg.Store, OfflineAfter: cfg.AgentOfflineAfter, Now: s.now})
	s.started = s.now().UTC()
	if s.defaultMaxOffline <= 0 {
		s.defaultMaxOffline = 10 * time.Minute
	}
	if s.maxOfflineCap < s.defaultMaxOffline {
		s.maxOfflineCap = s.defaultMaxOffline
	}
	return s
}

// Availability is the agents' availability, over the service's store.
func (s *Service) Availability() *Availability { return s.availability }

// Hub returns the hub the service publishes to.
func (s *Service) Hub() *Hub { return s.hub }

// StartParams are the visitor's choices when a chat starts.
type StartParams struct {
	Locale string
	Page   string
	// MaxOffline is the visitor's maxOfflineDuration; 0 means the default.
	MaxOffline time.Duration
	// UserID ties the chat to a signed-in user of the host site.
	UserID string
	// Draft fills in the registration form, with what the site knows of
	// its signed-in user.
	Draft Registration
	// LeaveMessage starts the chat as a message to leave, for when chat
	// is closed (leave_message instead of registration).
	LeaveMessage bool
}

// Start creates a chat in the registration phase and returns it with its
// restore token, which only the visitor's cookie will hold.
func (s *Service) Start(ctx context.Context, p StartParams) (Chat, string, error) {
	now := s.now().UTC()
	maxOffline := p.MaxOffline
	if maxOffline <= 0 {
		maxOffline = s.defaultMaxOffline
	}
	maxOffline = min(maxOffline, s.maxOfflineCap)
	phase := PhaseRegistration
	if p.LeaveMessage {
		phase = PhaseLeaveMessage
	}
	c := Chat{
		ID:            newID(),
		Phase:         phase,
		Locale:        p.Locale,
		Page:          p.Page,
		MaxOffline:    maxOffline,
		UserID:        p.UserID,
		Draft:         clampDraft(p.Draft),
		VisitorSeenAt: now,
		CreatedAt:     now,
		UpdatedAt:     now,
	}
	token := NewToken()
	if err := s.store.CreateChat(ctx, c, HashToken(token)); err != nil {
		return Chat{}, "", fmt.Errorf("create chat: %w", err)
	}
	return c, token, nil
}

// Restore returns the chat a restore token belongs to, or ErrNotFound.
func (s *Service) Restore(ctx context.Context, token string) (Chat, error) {
	if token == "" {
		return Chat{}, ErrNotFound
	}
	return s.store.ChatByToken(ctx, HashToken(token))
}

// RestoreUser returns the newest chat of a signed-in user, or ErrNotFound.
func (s *Service) RestoreUser(ctx context.Context, userID string) (Chat, error) {
	return s.store.ChatByUser(ctx, userID)
}

// Claim ties an anonymous visitor's chat to the user the visitor has since
// signed in as. A chat already tied to another user is not taken over.
func (s *Service) Claim(ctx context.Context, id, userID string) (Chat, error) {
	c, _, err := s.update(ctx, id, func(c *Chat) ([]Event, error) {
		if c.UserID != "" && c.UserID != userID {
			return nil, ErrNotFound
		}
		c.UserID = userID
		return nil, nil
	})
	return c, err
}

// Chat returns a chat by id.
func (s *Service) Chat(ctx context.Context, id string) (Chat, error) {
	return s.store.Chat(ctx, id)
}

// RecentLines returns the last events of chat id up to seq upTo (inclusive)
// that people read as lines of the transcript (see readableKinds), at most
// lines of them, oldest first, and whether earlier ones exist. The store
// reads only those rows, so a long chat's latest page costs what a short
// chat's does.
func (s *Service) RecentLines(ctx context.Context, id string, upTo int64, lines int) ([]Event, bool, error) {
	return s.RecentEvents(ctx, id, upTo, readableKinds(), lines)
}

// RecentEvents is RecentLines for the events of the given kinds: the last
// n of them up to seq upTo, oldest first, and whether earlier ones exist.
func (s *Service) RecentEvents(ctx context.Context, id string, upTo int64, kinds []EventKind, n int) ([]Event, bool, error) {
	// One event past the page says whether there are earlier ones.
	evs, err := s.store.LastEvents(ctx, id, upTo+1, kinds, n+1)
	if err != nil {
		return nil, false, err
	}
	if len(evs) > n {
		return evs[1:], true, nil
	}
	return evs, false, nil
}

// Transcript returns every event of a chat, oldest first.
func (s *Service) Transcript(ctx context.Context, id string) ([]Event, error) {
	var all []Event
	var after int64
	for {
		page, err := s.store.Events(ctx, id, after, transcriptPage)
		if err != nil {
			return nil, err
		}
		all = append(all, page...)
		if len(page) < transcriptPage {
			return all, nil
		}
		after = page[len(page)-1].Seq
	}
}

// EventsAfter returns up to limit events with seq > after, for a client
// catching up after a reconnect.
func (s *Service) EventsAfter(ctx context.Context, id string, after int64, limit int) ([]Event, error) {
	return s.store.Events(ctx, id, after, limit)
}

// SaveDraft keeps what the visitor has typed into the registration form (or
// a message to leave) so far, so a reload brings it back. A visitor typing is present: the form
// has no live connection to say so.
func (s *Service) SaveDraft(ctx context.Context, id string, draft Registration) (Chat, error) {
	draft = clampDraft(draft)
	now := s.now().UTC()
	c, _, err := s.update(ctx, id, func(c *Chat) ([]Event, error) {
		if c.Phase != PhaseRegistration && c.Phase != PhaseLeaveMessage && c.Phase != PhaseReplied {
			return nil, ErrWrongPhase
		}
		c.Draft = draft
		if c.Phase.Attended() {
			c.VisitorSeenAt = now
		}
		return nil, nil
	})
	return c, err
}

// Register validates the visitor's registration and queues the chat for an
// agent. An invalid registration is kept as the draft, so nothing typed is
// lost, and a *ValidationError says what to correct.
func (s *Service) Register(ctx context.Context, id string, r Registration) (Chat, error) {
	r = normalizeRegistration(r)
	if verr := validateRegistration(r); verr != nil {
		if _, err := s.SaveDraft(ctx, id, r); err != nil {
			return Chat{}, err
		}
		return Chat{}, verr
	}
	c, _, err := s.update(ctx, id, func(c *Chat) ([]Event, error) {
		if c.Phase != PhaseRegistration {
			return nil, ErrWrongPhase
		}
		c.Draft = r
		c.Visitor = r
		c.Phase = PhaseQueued
		c.VisitorSeenAt = s.now().UTC()
		return []Event{{Kind: EventRegistered, From: visitorParty(r)}}, nil
	})
	return c, err
}

// SendMessage appends a message from a visitor or agent. A send retried with
// the same clientID returns the stored message and appends nothing.
func (s *Service) SendMessage(ctx context.Context, id string, from Party, clientID, text string) (Event, error) {
	text, err := cleanMessage(text)
	if err != nil {
		return Event{}, err
	}
	if clientID == "" {
		clientID = newID()
	} else if !validClientID(clientID) {
		return Event{}, ErrMessageInvalid
	}
	_, events, err := s.update(ctx, id, func(c *Chat) ([]Event, error) {
		if err := s.mayTalk(c, from); err != nil {
			return nil, err
		}
		if from.Type == PartyVisitor {
			from.Name = c.Visitor.FirstName
		}
		return []Event{{Kind: EventMessage, From: from, Text: text, ClientID: clientID}}, nil
	})
	if err != nil {
		return Event{}, err
	}
	return events[0], nil
}

// Typing records that a party is typing.
func (s *Service) Typing(ctx context.Context, id string, from Party) error {
	_, _, err := s.update(ctx, id, func(c *Chat) ([]Event, error) {
		if err := s.mayTalk(c, from); err != nil {
			return nil, err
		}
		return []Event{{Kind: EventTyping, From: from}}, nil
	})
	return err
}

// Visit records that the visitor is on page now. A visitor looking at the
// site is present, whatever the phase; a live chat whose page changed also
// logs it, so the agent sees where the visitor is.
func (s *Service) Visit(ctx context.Context, id, page string) (Chat, error) {
	now := s.now().UTC()
	c, _, err := s.update(ctx, id, func(c *Chat) ([]Event, error) {
		if !c.Phase.Attended() {
			return nil, nil
		}
		c.VisitorSeenAt = now
		if c.Page == page {
			return nil, nil
		}
		c.Page = page
		if !c.Phase.Live() {
			return nil, nil
		}
		return []Event{{Kind: EventPage, From: Party{Type: PartyVisitor, Name: c.Visitor.FirstName}, Page: page}}, nil
	})
	return c, err
}

// Accept hands a queued chat to an agent. When two agents race, exactly one
// wins; the other gets ErrAlreadyAccepted.
func (s *Service) Accept(ctx context.Context, id string, agent Party) (Chat, error) {
	c, _, err := s.update(ctx, id, func(c *Chat) ([]Event, error) {
		switch c.Phase {
		case PhaseQueued:
		case PhaseConnected:
			return nil, ErrAlreadyAccepted
		case PhaseEnded:
			return nil, ErrChatEnded
		default:
			return nil, ErrWrongPhase
		}
		c.Phase = PhaseConnected
		c.AgentName = agent.ID
		return []Event{{Kind: EventAgentJoined, From: Party{Type: PartyAgent, Name: agent.Name}}}, nil
	})
	return c, err
}

// Release puts a connected chat back in the queue when its agent leaves.
func (s *Service) Release(ctx context.Context, id string, agent Party) error {
	_, _, err := s.update(ctx, id, func(c *Chat) ([]Event, error) {
		if c.Phase != PhaseConnected {
			return nil, ErrWrongPhase
		}
		if c.AgentName != agent.ID {
			return nil, ErrNotYourChat
		}
		c.Phase = PhaseQueued
		c.AgentName = ""
		return []Event{{Kind: EventAgentLeft, From: Party{Type: PartyAgent, Name: agent.Name}}}, nil
	})
	return err
}

// End ends a chat for the given reason. Ending an ended chat is a no-op, so
// a double click or a retried request does no harm.
func (s *Service) End(ctx context.Context, id string, by Party, reason string) (Chat, error) {
	c, _, err := s.update(ctx, id, func(c *Chat) ([]Event, error) {
		if c.Phase == PhaseEnded {
			return nil, nil
		}
		if by.Type == PartyVisitor {
			by.Name = c.Visitor.FirstName
		}
		c.Phase = PhaseEnded
		c.EndReason = reason
		// The visitor who ends the chat sees it end; one who was away is
		// shown the ending once before a new chat is offered.
		c.EndSeen = reason == ReasonVisitor
		return []Event{{Kind: EventEnded, From: by, Reason: reason}}, nil
	})
	return c, err
}

// MarkEndSeen records that the visitor has been shown that the chat ended.
func (s *Service) MarkEndSeen(ctx context.Context, id string) error {
	_, _, err := s.update(ctx, id, func(c *Chat) ([]Event, error) {
		if c.Phase != PhaseEnded {
			return nil, ErrWrongPhase
		}
		c.EndSeen = true
		return nil, nil
	})
	return err
}

// mayTalk says whether from may send messages or typing into c.
func (s *Service) mayTalk(c *Chat, from Party) error {
	switch {
	case c.Phase == PhaseEnded:
		return ErrChatEnded
	case !c.Phase.Live():
		// The form, or a message left for later: nobody is there to talk
		// to (an agent answers a left message with Reply).
		return ErrWrongPhase
	case from.Type == PartyAgent && c.AgentName != from.ID:
		return ErrNotYourChat
	}
	return nil
}

// commitTimeout bounds a change once begun, now that the request that
// asked for it no longer can.
const commitTimeout = 10 * time.Second

// update stamps the time on the chat and its new events, commits them and
// publishes what was appended.
func (s *Service) update(ctx context.Context, id string, change func(*Chat) ([]Event, error)) (Chat, []Event, error) {
	// Commit and publish under the chat's lock: published after it, two
	// writers' events could reach subscribers out of seq order.
	lock := &s.locks[lockIndex(id)]
	lock.Lock()
	defer lock.Unlock()
	// A request already gone changes nothing; one that goes while its
	// change is committed does not stop it. Cancelled halfway, a commit
	// leaves its sender not knowing whether the line was kept; finished,
	// the line is there for the client's retry (same client id) to find.
	if err := ctx.Err(); err != nil {
		return Chat{}, nil, err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
	defer cancel()
	now := s.now().UTC()
	var (
		lastSeq  int64
		outgoing bool
	)
	c, events, err := s.store.Update(ctx, id, func(c *Chat) ([]Event, error) {
		lastSeq = c.LastSeq
		evs, err := change(c)
		if err != nil {
			return nil, err
		}
		c.UpdatedAt = now
		for i := range evs {
			evs[i].Time = now
			// Only the log's own fields go in: an agent's sign-in name
			// decided whose chat it is, and stops here.
			evs[i].From.ID = ""
			outgoing = outgoing || len(evs[i].Outbox) > 0
		}
		return evs, nil
	})
	if err != nil {
		return Chat{}, nil, err
	}
	if outgoing && s.outboxed != nil {
		s.outboxed()
	}
	// A retried send comes back as the event stored the first time, which
	// was published then; publishing it again would break seq order.
	var fresh []Event
	for _, ev := range events {
		if ev.Seq > lastSeq {
			ev.setChat(c)
			fresh = append(fresh, ev)
		}
	}
	if s.relay != nil {
		s.publishShared(ctx, id, lastSeq, fresh)
	} else {
		s.hub.Publish(fresh)
	}
	return c, events, nil
}

// publishShared publishes a commit's fresh events when other instances
// share the store: commits of theirs that this hub has not published yet
// (their notifications are on the way) go out first, read from the log, so
// the hub still publishes each seq once and in order. The chat's lock is
// held.
func (s *Service) publishShared(ctx context.Context, id string, lastSeq int64, fresh []Event) {
	if len(fresh) == 0 {
		return
	}
	v, known := s.relay.get(id)
	interested := s.hub.interested(id)
	if !known && lastSeq > 0 && interested {
		// Nothing says what this hub published of the chat, and commits of
		// other instances may be on their way here. The latest few go out
		// again: a follower drops what it read in its resume, by seq, as it
		// drops what came in between subscribing and resuming; a follower
		// missing one would have a gap.
		v, known = max(0, lastSeq-recentEvents), true
		s.relay.set(id, v)
	}
	if known && v < lastSeq && interested {
		// On a failed read the entry stays at what went out, and this
		// commit's own notification catches up from there.
		_ = s.catchUpLocked(ctx, id, v)
		return
	}
	s.hub.Publish(fresh)
	s.relay.set(id, fresh[len(fresh)-1].Seq)
}

// lockIndex picks a chat's lock.
func lockIndex(id string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(id))
	return h.Sum32() % chatLocks
}

func visitorParty(r Registration) Party {
	return Party{Type: PartyVisitor, Name: r.FirstName}
}

// ListChats returns the chats matching filter, most recently updated first:
// the agents' queue, their own chats and the searchable history.
func (s *Service) ListChats(ctx context.Context, filter ChatFilter) ([]Chat, error) {
	return s.store.ListChats(ctx, filter)
}
