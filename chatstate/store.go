package chatstate

import (
	"context"
	"strings"
	"time"
)

// Store persists chats and their event logs. Backends live in subpackages
// named after what they wrap (chatstate/sqlite, chatstate/postgres) and are
// all held to the same contract by chatstate/storetest.
type Store interface {
	// CreateChat stores a new chat, reachable later by the hash of its
	// restore token (the token itself is never stored).
	CreateChat(ctx context.Context, c Chat, tokenHash []byte) error
	// ChatByToken returns the chat whose restore token hashes to tokenHash,
	// or ErrNotFound.
	ChatByToken(ctx context.Context, tokenHash []byte) (Chat, error)
	// ChatByUser returns the newest chat tied to userID (by CreatedAt), or
	// ErrNotFound; an empty userID has none.
	ChatByUser(ctx context.Context, userID string) (Chat, error)
	// Chat returns the chat with the given id, or ErrNotFound.
	Chat(ctx context.Context, id string) (Chat, error)
	// Update runs change on the current chat inside one transaction, then
	// saves the chat and appends the events change returned, giving each the
	// next seq and the chat's id, and setting the chat's LastSeq. An event
	// whose ClientID is already in the chat's log is not appended again: the
	// stored one is returned in its place. If change returns an error nothing
	// is written and that error is returned. Each appended event's Outbox
	// goes into the store's outbox (see Outbox) in the same transaction,
	// and a failing Update writes none of it. Update returns the saved chat
	// and the events as stored (with no Outbox), in order.
	Update(ctx context.Context, id string, change func(*Chat) ([]Event, error)) (Chat, []Event, error)
	// Events returns up to limit events of chat id with seq > after, in seq
	// order.
	Events(ctx context.Context, id string, after int64, limit int) ([]Event, error)
	// LastEvents returns the last limit events of chat id whose kind is one
	// of kinds and whose seq is below before, in seq order: the latest page
	// of a long log, without reading what lies between.
	LastEvents(ctx context.Context, id string, before int64, kinds []EventKind, limit int) ([]Event, error)
	// ListChats returns the chats matching filter, most recently updated first.
	ListChats(ctx context.Context, filter ChatFilter) ([]Chat, error)
	// CreateAgentSession stores a signed-in agent's session under the hash
	// of its token (the token itself is never stored) and drops sessions
	// that have expired. Creating a session whose hash is taken fails.
	CreateAgentSession(ctx context.Context, s AgentSession) error
	// AgentSession returns the session whose token hashes to idHash, or
	// ErrNotFound (also once it has expired at now).
	AgentSession(ctx context.Context, idHash []byte, now time.Time) (AgentSession, error)
	// DeleteAgentSession removes the session, if there is one: its cookie,
	// wherever it was copied, signs in no more.
	DeleteAgentSession(ctx context.Context, idHash []byte) error
	// AgentPresences keeps what every instance must know of the agents'
	// availability.
	AgentPresences
	// Close releases the store's resources.
	Close() error
}

// AgentSession is one agent's sign-in on one browser. It lives in the store,
// not only in the cookie, so that a sign-out ends it for every instance and
// across restarts.
type AgentSession struct {
	IDHash    []byte
	Agent     string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// ChatFilter selects chats for ListChats.
type ChatFilter struct {
	// Phases keeps chats in any of these phases; empty keeps all.
	Phases []Phase
	// Agent, when set, keeps the chats held by the agent signed in as
	// Agent (Chat.AgentName).
	Agent string
	// Query, when set, keeps chats whose registration (names, email,
	// subject) or message texts contain it, case-insensitively.
	Query string
	// OfflineAt, when set, keeps chats not ended whose visitor has been
	// without a transport connection for longer than the chat's MaxOffline
	// at that time: VisitorSeenAt + MaxOffline < OfflineAt.
	OfflineAt time.Time
	// OldestFirst lists by creation, oldest first (id breaking ties), as
	// a queue is served; otherwise the most recently updated come first.
	OldestFirst bool
	// Limit caps the result; 0 means 100.
	Limit int
}

// SearchText is what a store matches ChatFilter.Query against in a chat's
// registration: its names, email and subject, lower-cased as the query
// is, one to a line so that a query cannot match across two of them.
func SearchText(r Registration) string {
	return strings.ToLower(strings.Join([]string{r.FirstName, r.LastName, r.Email, r.Subject}, "\n"))
}
