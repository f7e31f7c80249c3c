// Package handlers is Parley's HTTP surface: it parses and authorizes
// requests, asks chatstate to decide, and renders views. It composes the
// rooms below it, and holds the one route table (routes.go) with the
// middleware order written once:
//
//   - console: the agent console (sign-in, agents' sessions, queue, chats,
//     history, the console's live feed);
//   - live: the WebSocket and long-poll transports, their frames and
//     connection limits;
//   - widget: the visitor's widget (the page component and restore, its
//     forms, the restore-token cookie, UI state, page trail, the
//     script-tag embed);
//   - web: what they all share (the surface, CSRF, error codes and the one
//     error handler, rendering, cookie stores, rate limiters, metrics).
//
// Each imports only those listed after it. Parley's routes answer their
// errors themselves, so the host's error handler is left alone.
//
// It is part of Parley's internals, imported by package parley only: a host
// site imports github.com/parley/parley/parley.
package handlers

import (
	"cmp"
	"context"
	"log/slog"
	"maps"
	"sync/atomic"

	"github.com/parley/parley/agents"
	"github.com/parley/parley/chatstate"
	"github.com/parley/parley/handlers/console"
	"github.com/parley/parley/handlers/live"
	"github.com/parley/parley/handlers/web"
	"github.com/parley/parley/handlers/widget"
	"github.com/parley/parley/listenlimit"
	"github.com/parley/parley/localization"
	"github.com/parley/parley/mail"
	"github.com/parley/parley/views"
)

// Visitor is a signed-in user of the host site, as the site tells Parley:
// the chat is tied to ID (so it restores wherever the user signs in), and
// the names and email fill in the registration.
type Visitor = web.Visitor

// IdentifyVisitor tells Parley who the request's visitor is, when the site
// knows; ok is false for an anonymous visitor.
type IdentifyVisitor = web.IdentifyVisitor

// CookieNames are the names of Parley's cookies, which a host site may
// change where they would collide with its own.
type CookieNames = web.CookieNames

// DefaultCookieNames returns the cookie names Parley uses unless told
// otherwise.
func DefaultCookieNames() CookieNames { return web.DefaultCookieNames() }

// Limits bounds what one visitor, one address or all of them together may
// hold open.
type Limits = web.Limits

// DefaultLimits returns the limits Parley uses unless told otherwise.
func DefaultLimits() Limits { return web.DefaultLimits() }

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
	// Options are the host's choices, as parley.Config sets them; zero
	// fields take the defaults.
	Options Options
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
	// MailStats, when mail is sent, reads the outbox and the sender's
	// counts for the metrics.
	MailStats func(context.Context) (mail.Stats, error)
	Logger    *slog.Logger
}

// Options are the host's choices that the handlers read (see
// parley.Config, where a host sets them).
type Options = web.Options

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
	console    *console.Console
	embed      *widget.Embedding
	metrics    *web.Metrics
	checks     []*healthCheck
}

// healthCheck is a HealthCheck and whether it has passed since start: a
// check failing before it ever passed is a server still starting.
type healthCheck struct {
	HealthCheck
	passed atomic.Bool
}

// New builds the handlers; Mount puts them on a site.
func New(d Deps) *Handler {
	logger := d.Logger
	if logger == nil {
		logger = slog.Default()
	}
	opts := d.Options
	allowed, embedders := map[string]struct{}{}, map[string]struct{}{}
	for _, origin := range opts.AllowedOrigins {
		allowed[origin] = struct{}{}
	}
	for _, origin := range opts.EmbedOrigins {
		embedders[origin] = struct{}{}
	}
	transportOrigins := maps.Clone(allowed)
	maps.Copy(transportOrigins, embedders)
	defaults := DefaultCookieNames()
	opts.Cookies.Chat = cmp.Or(opts.Cookies.Chat, defaults.Chat)
	opts.Cookies.Agent = cmp.Or(opts.Cookies.Agent, defaults.Agent)
	opts.Cookies.CSRF = cmp.Or(opts.Cookies.CSRF, defaults.CSRF)
	opts.Cookies.UI = cmp.Or(opts.Cookies.UI, defaults.UI)
	opts.IPv6Prefix = cmp.Or(opts.IPv6Prefix, listenlimit.DefaultIPv6Prefix)

	shared := &web.Surface{Options: opts, Log: logger, Catalogs: d.Catalogs, Paths: views.DefaultPaths()}
	// Fast typists send a few lines a second at most, whichever way.
	messageLimit := web.NewRateLimiter(3, 10)
	// Typing is sent every couple of seconds while the person types.
	typingLimit := web.NewRateLimiter(0.5, 1)
	// The hub's load is read at each scrape.
	metrics := web.NewMetrics(func() chatstate.HubStats { return d.Chats.Hub().Stats() }, d.MailStats, logger)
	visitors := widget.New(widget.Deps{
		Surface:        shared,
		Chats:          d.Chats,
		SessionSecrets: d.SessionSecrets,
		SharedLimits:   d.SharedLimits,
		MessageLimit:   messageLimit,
		Metrics:        metrics,
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
	})
	agentConsole := console.New(console.Deps{
		Surface:        shared,
		Chats:          d.Chats,
		Transports:     transports,
		Agents:         d.Agents,
		SessionSecrets: d.SessionSecrets,
		SharedLimits:   d.SharedLimits,
		TypingLimit:    typingLimit,
		MessageLimit:   messageLimit,
	})
	embed := widget.NewEmbedding(shared, embedders, allowed)
	checks := make([]*healthCheck, len(d.Checks))
	for i, c := range d.Checks {
		checks[i] = &healthCheck{HealthCheck: c}
	}
	return &Handler{surface: shared, visitors: visitors, transports: transports, console: agentConsole, embed: embed,
		metrics: metrics, checks: checks}
}

// WaitLive waits until every live WebSocket has closed, which they do once
// Closing is closed: http.Server.Shutdown does not wait for them.
func (h *Handler) WaitLive() { h.transports.Wait() }
