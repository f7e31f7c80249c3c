// Package console is the agent console: sign-in and the agents' sessions,
// the queue of waiting chats, the chats an agent holds (accept, reply,
// typing, end, release), the history of ended chats, and the console's live
// feed over the transports of handlers/live.
//
// It is part of Parley's internals, imported by handlers only: a host site
// imports github.com/parley/parley/parley.
package console

import (
	"time"

	"github.com/parley/parley/agents"
	"github.com/parley/parley/chatstate"
	"github.com/parley/parley/handlers/live"
	"github.com/parley/parley/handlers/web"
)

// Console is where agents sign in, take chats and answer them.
type Console struct {
	*web.Surface
	chats          *chatstate.Service
	transports     *live.Transports
	accounts       agentAccounts
	jar            *agentJar
	loginIPLimit   *web.RateLimiter
	loginNameLimit *web.RateLimiter
	// queue is the waiting chats as last read, shared by all consoles.
	queue        *queueSnapshot
	typingLimit  *web.RateLimiter
	messageLimit *web.RateLimiter
	now          func() time.Time
}

// Deps are what the console is built from.
type Deps struct {
	Surface    *web.Surface
	Chats      *chatstate.Service
	Transports *live.Transports
	// Agents may sign in; nil lets nobody in.
	Agents *agents.Accounts
	// SessionSecrets sign and encrypt the agent's cookie, newest first.
	SessionSecrets [][]byte
	// SharedLimits, when set, holds the sign-in limits' buckets, so that
	// they hold across instances.
	SharedLimits web.SharedLimits
	// TypingLimit and MessageLimit are the limits the visitor's side
	// spends from too.
	TypingLimit  *web.RateLimiter
	MessageLimit *web.RateLimiter
}

// New builds the console.
func New(d Deps) *Console {
	var accounts agentAccounts = noAgents{}
	if d.Agents != nil {
		accounts = d.Agents
	}
	return &Console{
		Surface:    d.Surface,
		chats:      d.Chats,
		transports: d.Transports,
		accounts:   accounts,
		jar:        newAgentJar(d.SessionSecrets, d.Surface.Cookies.Agent, d.Surface.ViaTLS, d.Chats),
		// Sign-in: a few tries, then one a minute per address; a name that
		// took five wrong guesses is under attack until it recovers (one
		// every five minutes), and only its known browsers may try it
		// meanwhile.
		loginIPLimit:   web.ShareLimit(web.NewRateLimiter(1.0/60, 10), d.SharedLimits, "login-address"),
		loginNameLimit: web.ShareLimit(web.NewRateLimiter(1.0/300, 5), d.SharedLimits, "login-name"),
		typingLimit:    d.TypingLimit,
		messageLimit:   d.MessageLimit,
		queue:          &queueSnapshot{},
		now:            time.Now,
	}
}

// SetPath keeps the agent's cookie on the console's own requests, under
// path; Mount calls it once it knows where the console is.
func (a *Console) SetPath(path string) { a.jar.setPath(path) }

// agentAccounts checks who may sign in to the agent console.
type agentAccounts interface {
	Authenticate(name, password string) bool
	Exists(name string) bool
	// DisplayName is what visitors see of the agent signed in as name.
	DisplayName(name string) string
	// Version changes when name's password does, ending its sessions.
	Version(name string) string
	// Names are every agent's, sorted.
	Names() []string
}

// noAgents is the console with no accounts: nobody signs in.
type noAgents struct{}

func (noAgents) Authenticate(string, string) bool { return false }
func (noAgents) Exists(string) bool               { return false }
func (noAgents) DisplayName(string) string        { return "" }
func (noAgents) Version(string) string            { return "" }
func (noAgents) Names() []string                  { return nil }
