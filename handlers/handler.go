// Package handlers is Parley's HTTP surface: it parses and authorizes
// requests, asks chatstate to decide, and renders views. One route table
// lives in routes.go; one error handler in errorhandler.go.
package handlers

import (
	"context"
	"log/slog"
	"time"

	"github.com/gorilla/websocket"

	"github.com/parley/parley/agents"
	"github.com/parley/parley/chatstate"
	"github.com/parley/parley/localization"
)

// chatService is what the visitor handlers ask of chatstate.
type chatService interface {
	Start(ctx context.Context, p chatstate.StartParams) (chatstate.Chat, string, error)
	Restore(ctx context.Context, token string) (chatstate.Chat, error)
	Chat(ctx context.Context, id string) (chatstate.Chat, error)
	Transcript(ctx context.Context, id string) ([]chatstate.Event, error)
	EventsAfter(ctx context.Context, id string, after int64, limit int) ([]chatstate.Event, error)
	Typing(ctx context.Context, id string, from chatstate.Party) error
	Seen(ctx context.Context, id string) error
	Hub() *chatstate.Hub
	SaveDraft(ctx context.Context, id string, draft chatstate.Registration) (chatstate.Chat, error)
	Register(ctx context.Context, id string, r chatstate.Registration) (chatstate.Chat, error)
	SendMessage(ctx context.Context, id string, from chatstate.Party, clientID, text string) (chatstate.Event, error)
	Visit(ctx context.Context, id, page string) error
	End(ctx context.Context, id string, by chatstate.Party, reason string) (chatstate.Chat, error)
	MarkEndSeen(ctx context.Context, id string) error
}

// catalogSource picks the strings a visitor sees.
type catalogSource interface {
	Negotiate(option, acceptLanguage string) (*localization.Catalog, error)
	Resolve(option string) (*localization.Catalog, error)
	Default() *localization.Catalog
}

// agentAccounts checks who may sign in to the agent console.
type agentAccounts interface {
	Authenticate(name, password string) bool
	Exists(name string) bool
}

// Deps are what the handlers are built from.
type Deps struct {
	Chats    *chatstate.Service
	Catalogs *localization.Catalogs
	// Agents may sign in to the console at /agent; nil lets nobody in.
	Agents *agents.Accounts
	// SessionSecrets sign and encrypt the restore cookie, newest first.
	SessionSecrets [][]byte
	// AllowedOrigins may open the transports besides the server's own.
	AllowedOrigins []string
	// Closing is closed when the server starts to shut down: live
	// transports end then, since http.Server.Shutdown does not close them.
	Closing <-chan struct{}
	// Ready reports whether the server can serve (the store answers).
	Ready  func(context.Context) error
	Logger *slog.Logger
}

// Handler holds the dependencies every route shares.
type Handler struct {
	chats          chatService
	catalogs       catalogSource
	jar            *tokenJar
	ready          func(context.Context) error
	log            *slog.Logger
	allowedOrigins map[string]struct{}
	closing        <-chan struct{}
	upgrader       *websocket.Upgrader
	typingLimit    *rateLimiter
	startLimit     *rateLimiter
	messageLimit   *rateLimiter
	draftLimit     *rateLimiter

	// The agent console's.
	agentChats     agentChats
	accounts       agentAccounts
	agentJar       *agentJar
	loginIPLimit   *rateLimiter
	loginNameLimit *rateLimiter
	now            func() time.Time
}

func newHandler(d Deps) *Handler {
	logger := d.Logger
	if logger == nil {
		logger = slog.Default()
	}
	ready := d.Ready
	if ready == nil {
		ready = func(context.Context) error { return nil }
	}
	allowed := map[string]struct{}{}
	for _, origin := range d.AllowedOrigins {
		allowed[origin] = struct{}{}
	}
	h := &Handler{
		allowedOrigins: allowed,
		closing:        d.Closing,
		// Typing is sent every couple of seconds while the person types.
		typingLimit: newRateLimiter(0.5, 1),
		chats:       d.Chats,
		catalogs:    d.Catalogs,
		jar:         newTokenJar(d.SessionSecrets),
		ready:       ready,
		log:         logger,
		// A person starts a chat now and then; a script starts hundreds.
		startLimit: newRateLimiter(0.2, 5),
		// Fast typists send a few lines a second at most.
		messageLimit: newRateLimiter(3, 10),
		draftLimit:   newRateLimiter(10, 20),
	}
	h.agentChats = d.Chats
	h.accounts = noAgents{}
	if d.Agents != nil {
		h.accounts = d.Agents
	}
	h.agentJar = newAgentJar(d.SessionSecrets)
	// Sign-in guesses: a few tries, then one a minute per address and one
	// every five minutes per name, whoever guesses it.
	h.loginIPLimit = newRateLimiter(1.0/60, 10)
	h.loginNameLimit = newRateLimiter(1.0/300, 5)
	h.now = time.Now
	h.upgrader = newUpgrader(h)
	return h
}

// noAgents is the console with no accounts: nobody signs in.
type noAgents struct{}

func (noAgents) Authenticate(string, string) bool { return false }
func (noAgents) Exists(string) bool               { return false }
