// Package live is Parley's live transports: the WebSocket and the long-poll
// that carry a chat's events to its visitor and every chat's to the agent
// consoles, the frames of docs/PROTOCOL.md, the Feed each side runs over
// them, and the limits on open connections.
//
// It is part of Parley's internals, imported by handlers and the console
// only: a host site imports github.com/parley/parley/parley.
package live

import (
	"github.com/gorilla/websocket"
	"github.com/parley/parley/chatstate"
	"github.com/parley/parley/handlers/web"
	"github.com/parley/parley/handlers/widget"
)

// Transports carry a chat's events to its visitor, and the console's
// feed, over WebSockets and long-polls.
type Transports struct {
	*web.Surface
	chats          *chatstate.Service
	visitors       *widget.Widget
	allowedOrigins map[string]struct{}
	closing        <-chan struct{}
	upgrader       *websocket.Upgrader
	typingLimit    *web.RateLimiter
	messageLimit   *web.RateLimiter
	metrics        *web.Metrics
	limits         *connLimits
	// sockets are the open WebSockets, which shutdown closes and waits for.
	sockets *socketSet
}

// Deps are what the transports are built from.
type Deps struct {
	Surface *web.Surface
	Chats   *chatstate.Service
	// Widget renders what the visitor's transport pushes.
	Widget *widget.Widget
	// AllowedOrigins may open the transports besides the server's own.
	AllowedOrigins map[string]struct{}
	// Closing is closed when the server starts to shut down.
	Closing <-chan struct{}
	// TypingLimit and MessageLimit are the limits the widget's forms and
	// the console spend from too.
	TypingLimit  *web.RateLimiter
	MessageLimit *web.RateLimiter
	Metrics      *web.Metrics
}

// New builds the transports; once Closing is closed they take no new
// WebSocket and close the open ones.
func New(d Deps) *Transports {
	transports := &Transports{
		Surface:        d.Surface,
		chats:          d.Chats,
		visitors:       d.Widget,
		allowedOrigins: d.AllowedOrigins,
		closing:        d.Closing,
		typingLimit:    d.TypingLimit,
		messageLimit:   d.MessageLimit,
		metrics:        d.Metrics,
		limits:         newConnLimits(d.Surface.Limits),
		sockets:        newSocketSet(),
	}
	transports.upgrader = newUpgrader(transports)
	if d.Closing != nil {
		// An idle socket has no goroutine that could watch Closing.
		go func() {
			<-d.Closing
			transports.sockets.closeAll()
		}()
	}
	return transports
}

// Acquire takes a place for a live connection of chat (none for the
// console's) from addr; release gives it back (see connLimits.acquire).
func (t *Transports) Acquire(chat, addr string) (release func(), err error) {
	return t.limits.acquire(chat, addr)
}

// Wait waits until every live WebSocket has closed, which they do once
// Closing is closed: http.Server.Shutdown does not wait for them.
func (t *Transports) Wait() { t.sockets.wait() }
