package web

import (
	"net/netip"

	"github.com/parley/parley/chatstate/hours"

	"github.com/labstack/echo/v4"
)

// Options are the host's choices that Parley's HTTP side reads, as
// parley.Config sets them: documented there, where a host reads them, and
// defined here once for every room, which reads them from its Surface. A new
// option is a field of parley.Config, its field here, and the code that
// reads it.
type Options struct {
	// AllowedOrigins may open the transports besides the site's own.
	AllowedOrigins []string
	// EmbedOrigins may put the widget on their pages with the script tag.
	EmbedOrigins []string
	// TrustedProxies may say, in X-Forwarded-Proto and X-Forwarded-For,
	// where a request came from.
	TrustedProxies []netip.Prefix
	// IPv6Prefix is how many leading bits of an IPv6 address name one
	// client for the per-address limits (ClientKey).
	IPv6Prefix int
	Cookies    CookieNames
	// Limits bound the live connections.
	Limits Limits
	// StartOpen shows the widget open to a visitor who has not chosen.
	StartOpen bool
	// MetricsToken, when set, lets a scraper read /metrics from anywhere.
	MetricsToken string
	// Visitor names the host site's signed-in user; nil knows nobody.
	Visitor IdentifyVisitor
	// Hours are when the team answers chats; nil is always.
	Hours *hours.Schedule
	// QueueWithoutAgents keeps chat open within the hours while no agent
	// is online: visitors wait in the queue instead of leaving a message.
	QueueWithoutAgents bool
	// Mail says that mail is sent (SMTP is configured): an answer to a
	// left message goes to the visitor by email.
	Mail bool
	// SiteURL is the site's public origin, like https://shop.example, for
	// the links in mails; empty leaves out the link to a page given by its
	// path alone.
	SiteURL string
}

// Visitor is a signed-in user of the host site, as the site tells Parley:
// the chat is tied to ID (so it restores wherever the user signs in), and
// the names and email fill in the registration.
type Visitor struct {
	ID        string
	FirstName string
	LastName  string
	Email     string
	// Data is passed to the agent with the chat, like the browser API's
	// userData.
	Data map[string]string
}

// IdentifyVisitor tells Parley who the request's visitor is, when the site
// knows; ok is false for an anonymous visitor.
type IdentifyVisitor func(c echo.Context) (v Visitor, ok bool)

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
