package live

import (
	"net/http"
	"sync"

	"github.com/parley/parley/handlers/web"
)

// Limits bounds what one visitor, one address or all of them together may
// hold open: a live connection costs memory and a file, and one client
// must not take the server's.
type Limits struct {
	// PerChat caps a chat's open WebSockets and waiting long-polls: one a
	// tab, so the default (16) is more tabs than a person keeps.
	PerChat int
	// PerAddress caps one client address's (default 256: an office behind
	// one address holds many visitors).
	PerAddress int
	// ParkedPolls caps the long-polls waiting at once, all clients
	// together (default 10,000).
	ParkedPolls int
}

// DefaultLimits returns the limits Parley uses unless told otherwise.
func DefaultLimits() Limits {
	return Limits{PerChat: 16, PerAddress: 256, ParkedPolls: 10_000}
}

// connLimits counts the open live connections by chat and by address, and
// the waiting long-polls.
type connLimits struct {
	Limits
	mu     sync.Mutex
	chats  map[string]int
	addrs  map[string]int
	parked int
}

func newConnLimits(l Limits) *connLimits {
	d := DefaultLimits()
	if l.PerChat <= 0 {
		l.PerChat = d.PerChat
	}
	if l.PerAddress <= 0 {
		l.PerAddress = d.PerAddress
	}
	if l.ParkedPolls <= 0 {
		l.ParkedPolls = d.ParkedPolls
	}
	return &connLimits{Limits: l, chats: map[string]int{}, addrs: map[string]int{}}
}

// acquire takes a place for a connection of chat (none for the console's)
// from addr, parked when it is a long-poll; release gives it back. It
// refuses a chat with all its places taken with too_many_connections (a
// person with many tabs, who is told so), and an address or server with
// all theirs taken with rate_limited.
func (l *connLimits) acquire(chat, addr string, parked bool) (release func(), err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.addrs[addr] >= l.PerAddress || parked && l.parked >= l.ParkedPolls {
		return nil, errConnectionsExhausted()
	}
	if chat != "" && l.chats[chat] >= l.PerChat {
		return nil, web.APIErrorNamed("too_many_connections")
	}
	if chat != "" {
		l.chats[chat]++
	}
	l.addrs[addr]++
	if parked {
		l.parked++
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			if chat != "" {
				if l.chats[chat]--; l.chats[chat] <= 0 {
					delete(l.chats, chat)
				}
			}
			if l.addrs[addr]--; l.addrs[addr] <= 0 {
				delete(l.addrs, addr)
			}
			if parked {
				l.parked--
			}
		})
	}, nil
}

// errConnectionsExhausted refuses a connection past an address's or the
// server's limit.
func errConnectionsExhausted() *web.APIError {
	e := web.APIErrorAs("rate_limited", "Too many connections are open from this address; close a tab and try again.", http.StatusTooManyRequests)
	e.Key = "error.too_many_connections"
	return e
}
