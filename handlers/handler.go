// Package handlers is Parley's HTTP surface: it parses and authorizes
// requests, asks chatstate to decide, and renders views. A host site mounts
// it (routes.go, the one route table) and renders the widget in its own
// pages (widget.go); Parley's routes answer their errors themselves
// (errorhandler.go), so the host's error handler is left alone.
package handlers

import (
	"cmp"
	"context"
	"log/slog"
	"maps"
	"net/netip"
	"time"

	"github.com/parley/parley/agents"
	"github.com/parley/parley/chatstate"
	"github.com/parley/parley/handlers/live"
	"github.com/parley/parley/handlers/web"
	"github.com/parley/parley/handlers/widget"
	"github.com/parley/parley/localization"
	"github.com/parley/parley/views"
)

// agentAccounts checks who may sign in to the agent console.
type agentAccounts interface {
	Authenticate(name, password string) bool
	Exists(name string) bool
	// DisplayName is what visitors see of the agent signed in as name.
	DisplayName(name string) string
}

// Visitor is a signed-in user of the host site, as the site tells Parley:
// the chat is tied to ID (so it restores wherever the user signs in), and
// the names and email fill in the registration.
type Visitor = widget.Visitor

// IdentifyVisitor tells Parley who the request's visitor is, when the site
// knows; ok is false for an anonymous visitor.
type IdentifyVisitor = widget.IdentifyVisitor

// CookieNames are the names of Parley's cookies, which a host site may
// change where they would collide with its own.
type CookieNames = web.CookieNames

// DefaultCookieNames returns the cookie names Parley uses unless told
// otherwise.
func DefaultCookieNames() CookieNames { return web.DefaultCookieNames() }

// Limits bounds what one visitor, one address or all of them together may
// hold open.
type Limits = live.Limits

// DefaultLimits returns the limits Parley uses unless told otherwise.
func DefaultLimits() Limits { return live.DefaultLimits() }

// SharedLimits keeps token buckets that several instances spend from
// together, so that a limit holds across instances instead of per instance.
type SharedLimits = web.SharedLimits

// APIError is a coded error as the browser API reports it (DESIGN §4).
type APIError = web.APIError

// Deps are what the handlers are built from.
type Deps struct {
	Chats    *chatstate.Service
	Catalogs *localization.Catalogs
	// Agents may sign in to the console; nil lets nobody in.
	Agents *agents.Accounts
	// SessionSecrets sign and encrypt the cookies, newest first.
	SessionSecrets [][]byte
	// AllowedOrigins may open the transports besides the server's own.
	AllowedOrigins []string
	// EmbedOrigins may put the widget on their pages with the script tag
	// (embed.js): their pages get CORS, their visitors partitioned cookies,
	// and they may open the transports.
	EmbedOrigins []string
	// TrustedProxies are the addresses of reverse proxies in front that end
	// TLS: their X-Forwarded-Proto decides the site's own origin's scheme
	// and whether cookies are Secure. Nobody else's is believed.
	TrustedProxies []netip.Prefix
	// Limits bounds the live connections per chat and per address and the
	// waiting long-polls; zero fields take DefaultLimits.
	Limits Limits
	// MetricsToken, when set, is what a scraper of /metrics must send as
	// "Authorization: Bearer TOKEN", from anywhere; without it, /metrics
	// answers only clients on this machine.
	MetricsToken string
	// StartOpen shows the widget open to a visitor who has not opened or
	// minimized it yet; otherwise it starts as its launcher.
	StartOpen bool
	// Cookies names Parley's cookies; empty names take the defaults.
	Cookies CookieNames
	// Visitor, when set, names the host site's signed-in user.
	Visitor IdentifyVisitor
	// Closing is closed when the server starts to shut down: live
	// transports end then, since http.Server.Shutdown does not close them.
	Closing <-chan struct{}
	// SharedLimits, when set, holds the buckets of the limits that protect
	// what every instance shares (chat starts, agent sign-in), so that they
	// hold across instances; the others are per instance.
	SharedLimits SharedLimits
	// Checks say whether Parley can serve, part by part (the database; with
	// several instances, the listener too): /healthz lists each, and
	// answers 503 when one fails.
	Checks []HealthCheck
	Logger *slog.Logger
}

// HealthCheck is one part of /healthz: a name and how to check it.
type HealthCheck struct {
	Name  string
	Check func(context.Context) error
}

// Handler is Parley's HTTP surface, in three parts over chatstate's
// service: the visitor widget (its page component and forms), the live
// transports (WebSocket and long-poll), and the agent console.
type Handler struct {
	surface    *web.Surface
	visitors   *widget.Widget
	transports *live.Transports
	console    *agentConsole
	embed      *widget.Embedding
	metrics    *web.Metrics
	// metricsToken is what a scraper of /metrics sends, when set.
	metricsToken string
	checks       []HealthCheck
}

// agentConsole is where agents sign in, take chats and answer them.
type agentConsole struct {
	*web.Surface
	chats          *chatstate.Service
	transports     *live.Transports
	accounts       agentAccounts
	jar            *agentJar
	loginIPLimit   *web.RateLimiter
	loginNameLimit *web.RateLimiter
	loginPairLimit *web.RateLimiter
	// queue is the waiting chats as last read, shared by all consoles.
	queue        *queueSnapshot
	typingLimit  *web.RateLimiter
	messageLimit *web.RateLimiter
	now          func() time.Time
}

// New builds the handlers; Mount puts them on a site.
func New(d Deps) *Handler {
	logger := d.Logger
	if logger == nil {
		logger = slog.Default()
	}
	allowed, embedders := map[string]struct{}{}, map[string]struct{}{}
	for _, origin := range d.AllowedOrigins {
		allowed[origin] = struct{}{}
	}
	for _, origin := range d.EmbedOrigins {
		embedders[origin] = struct{}{}
	}
	transportOrigins := maps.Clone(allowed)
	maps.Copy(transportOrigins, embedders)
	cookies := d.Cookies
	defaults := DefaultCookieNames()
	cookies.Chat = cmp.Or(cookies.Chat, defaults.Chat)
	cookies.Agent = cmp.Or(cookies.Agent, defaults.Agent)
	cookies.CSRF = cmp.Or(cookies.CSRF, defaults.CSRF)
	cookies.UI = cmp.Or(cookies.UI, defaults.UI)
	var accounts agentAccounts = noAgents{}
	if d.Agents != nil {
		accounts = d.Agents
	}

	shared := &web.Surface{Log: logger, Catalogs: d.Catalogs, Cookies: cookies, Paths: views.DefaultPaths(), TrustedProxies: d.TrustedProxies}
	// Fast typists send a few lines a second at most, whichever way.
	messageLimit := web.NewRateLimiter(3, 10)
	// Typing is sent every couple of seconds while the person types.
	typingLimit := web.NewRateLimiter(0.5, 1)
	// The hub's load is read at each scrape.
	metrics := web.NewMetrics(func() chatstate.HubStats { return d.Chats.Hub().Stats() }, logger)
	visitors := widget.New(widget.Deps{
		Surface:        shared,
		Chats:          d.Chats,
		SessionSecrets: d.SessionSecrets,
		Identify:       d.Visitor,
		SharedLimits:   d.SharedLimits,
		MessageLimit:   messageLimit,
		Metrics:        metrics,
		StartOpen:      d.StartOpen,
	})
	transports := live.New(live.Deps{
		Surface:        shared,
		Chats:          d.Chats,
		Widget:         visitors,
		AllowedOrigins: transportOrigins,
		Closing:        d.Closing,
		TypingLimit:    typingLimit,
		MessageLimit:   messageLimit,
		Metrics:        metrics,
		Limits:         d.Limits,
	})
	console := &agentConsole{
		Surface:    shared,
		chats:      d.Chats,
		transports: transports,
		accounts:   accounts,
		jar:        newAgentJar(d.SessionSecrets, cookies.Agent, shared.ViaTLS, d.Chats),
		// Sign-in: a few tries, then one a minute per address; a name that
		// took five wrong guesses is under attack until it recovers (one
		// every five minutes), and then an address may fail three times for
		// it per quarter hour.
		loginIPLimit:   web.ShareLimit(web.NewRateLimiter(1.0/60, 10), d.SharedLimits, "login-address"),
		loginNameLimit: web.ShareLimit(web.NewRateLimiter(1.0/300, 5), d.SharedLimits, "login-name"),
		loginPairLimit: web.ShareLimit(web.NewRateLimiter(1.0/900, 3), d.SharedLimits, "login-name-address"),
		typingLimit:    typingLimit,
		messageLimit:   messageLimit,
		queue:          &queueSnapshot{},
		now:            time.Now,
	}
	embed := widget.NewEmbedding(shared, embedders, allowed)
	return &Handler{surface: shared, visitors: visitors, transports: transports, console: console, embed: embed,
		metrics: metrics, metricsToken: d.MetricsToken, checks: d.Checks}
}

// WaitLive waits until every live WebSocket has closed, which they do once
// Closing is closed: http.Server.Shutdown does not wait for them.
func (h *Handler) WaitLive() { h.transports.Wait() }

// noAgents is the console with no accounts: nobody signs in.
type noAgents struct{}

func (noAgents) Authenticate(string, string) bool { return false }
func (noAgents) Exists(string) bool               { return false }
func (noAgents) DisplayName(string) string        { return "" }
