// Package parley adds live chat to a website built with Echo and templ: a
// widget that visitors can reload and navigate with and lose nothing, and
// the console where agents answer.
//
// A site builds one Parley from a Config, mounts its routes, and puts the
// widget in its own layout:
//
//	chat, err := parley.New(ctx, parley.Config{SQLitePath: "chat.db", SessionKeys: keys})
//	defer chat.Close() // once the server has shut down
//	chat.Mount(e) // /chat/… for visitors, /agent/… for agents
//	e.GET("/", func(c echo.Context) error {
//		// Widget restores the chat now, before the page is written.
//		return render(c, views.Home(chat.Assets(), chat.Widget(c)))
//	})
//
// where the site's own templ layout renders the two components it is given:
// @chatAssets in its <head> and @chatWidget in its <body>. Call Widget in the
// handler as above, not inside the template: restoring may set cookies,
// which must come before the page.
//
// Parley's routes carry their own middleware (CSRF, security headers,
// limits) and answer their own errors; the site's routes, middleware and
// error handler are left alone. docs/embedding.md lists what Parley needs of the
// site: cookie names, a CSRF skipper, Content-Security-Policy entries.
//
// Parley lives from New to Close, like a *sql.DB: the ctx given to New only
// bounds opening the store. To stop, call Shutdown before the server's own
// Shutdown (live connections are told to come back later, so they do not
// hold the server's shutdown up), then Close once the server has stopped.
package parley

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/parley/parley/agents"
	"github.com/parley/parley/chatstate"
	"github.com/parley/parley/chatstate/hours"
	"github.com/parley/parley/chatstate/postgres"
	"github.com/parley/parley/chatstate/sqlite"
	"github.com/parley/parley/handlers"
	"github.com/parley/parley/localization"
	"github.com/parley/parley/mail"
)

// Defaults of Config.
const (
	DefaultChatPath      = "/chat"
	DefaultConsolePath   = "/agent"
	DefaultMaxOffline    = 10 * time.Minute
	DefaultMaxOfflineCap = time.Hour
	// MinSessionKeyBytes is the shortest session key accepted: 32 bytes of
	// a random string carry well over 128 bits.
	MinSessionKeyBytes = 32
)

// expirySweep is how often chats of offline visitors are looked for; it
// bounds how late past its maxOfflineDuration a chat ends.
const expirySweep = time.Second

// Config is what a Parley is built from. SessionKeys and one store
// (SQLitePath, DatabaseURL or Store) are required; everything else has a
// default.
type Config struct {
	// SQLitePath is the SQLite database file, created when missing.
	SQLitePath string
	// DatabaseURL, a postgres:// or postgresql:// URL, selects PostgreSQL
	// instead: New connects and brings the database's schema up to date.
	// Any number of instances may share it (give them the same
	// SessionKeys): each hears the others' commits, and their limits on
	// chat starts and sign-in hold across them.
	DatabaseURL string
	// Store, instead of a database to open, is a store the caller owns:
	// Close leaves it open. Parley asks it whether other instances share
	// it, by the methods it offers (those of chatstate/postgres's Store:
	// Exclusive, RecordSeen, TakeToken, HasToken, Follow), or by its
	// Unwrap() chatstate.Store when it wraps another store.
	Store chatstate.Store

	// SessionKeys sign and encrypt Parley's cookies, newest first, each at
	// least MinSessionKeyBytes long. Cookies are written with the first and
	// read with any, so a key is rotated by adding a new one in front.
	SessionKeys [][]byte
	// Cookies renames Parley's cookies where they would collide with the
	// site's; empty names keep the defaults.
	Cookies CookieNames

	// Localization adds catalogs fetched from URLs, by name ("fr" →
	// "https://…/fr.json"); a visitor's `localization` option may name one.
	// English, German and Arabic are built in.
	Localization map[string]string
	// Agents may sign in to the console; with none, nobody can.
	Agents []Agent
	// Hours are the support team's opening hours: a weekly schedule in a
	// named time zone, with closed dates, as ParseHours reads it:
	//
	//	hours, err := parley.ParseHours("Europe/Berlin; Mon-Fri 09:00-17:00; closed 2026-12-24")
	//
	// Nil, the default, is always open. Chat is open inside the hours with
	// at least one agent online; otherwise the widget offers to leave a
	// message, which an agent answers later by email.
	Hours *Schedule
	// QueueWithoutAgents keeps chat open within the hours while no agent
	// is online (none has a console open, or all chose away or offline):
	// visitors start chats and wait in the queue, as a team that watches
	// for new chats in other ways may want, instead of leaving a message.
	QueueWithoutAgents bool
	// AgentPasswordCost is the bcrypt cost of the agents' password hashes;
	// 0 is bcrypt's default.
	AgentPasswordCost int
	// AllowedOrigins may open the chat transports besides the site's own
	// origin, like "https://shop.example". The site's own origin is the
	// request's Host with the scheme it was reached by (see TrustedProxies).
	AllowedOrigins []string
	// EmbedOrigins are the other sites that may put the widget on their
	// pages with one script tag, <script src="https://CHAT-HOST/chat/embed.js"
	// async></script>, as exact origins like "https://shop.example". Their
	// pages' requests get CORS and open the transports, and their visitors'
	// cookies are partitioned by site (CHIPS), so they keep working while
	// browsers block third-party cookies. Parley must be served over HTTPS
	// for them (TLS here, or a proxy listed in TrustedProxies). Any other
	// site's page gets no widget and nothing of any chat.
	EmbedOrigins []string
	// TrustedProxies are the reverse proxies in front of the site that end
	// TLS (nginx, Caddy, a load balancer), as addresses or CIDR prefixes
	// ("127.0.0.1", "10.0.0.0/8"). From them alone Parley believes
	// X-Forwarded-Proto, for the scheme of the site's own origin (so its
	// transports accept the site's https pages) and for Secure cookies; and
	// IPExtractor believes their X-Forwarded-For. Leave it empty when
	// browsers reach the server directly.
	TrustedProxies []string

	// IPv6Prefix is how many leading bits of an IPv6 address name one
	// client for the per-address limits (chat starts, sign-in tries, live
	// connections): a host picks any address of the /64 it is given, so by
	// default a client is its /64. 128 counts each address alone.
	IPv6Prefix int

	// MaxOffline is how long a visitor may be away before the chat ends,
	// unless the chat asks for another time (maxOfflineDuration); a chat may
	// ask for at most MaxOfflineCap.
	MaxOffline    time.Duration
	MaxOfflineCap time.Duration

	// AgentOfflineAfter is how long an agent's consoles may all be gone
	// (closed, or cut off) before the agent counts as offline, for the
	// team and for whether chat is open; a console coming back brings back
	// the status the agent chose. Default 2 minutes.
	AgentOfflineAfter time.Duration

	// Limits bounds the live connections (WebSockets and waiting
	// long-polls) per chat and per client address, and the long-polls
	// waiting at once; the one over a limit is refused with a clear error
	// while the others go on. Zero fields take the defaults: 16 per chat,
	// 256 per address, 10,000 waiting polls.
	Limits Limits

	// SMTPURL, when set, sends Parley's mails through that SMTP server:
	// smtp://user:password@host:587 upgrades with STARTTLS, required
	// unless the host is this machine; smtps://… speaks TLS from the
	// start. Mails go through an outbox in the store, sent once each
	// across restarts and instances (docs/mail.md). MailFrom is then
	// required: the mails' sender, like "Parley <chat@shop.example>".
	SMTPURL  string
	MailFrom string
	// SiteURL is the site's public origin, like https://shop.example: the
	// link in a mail that brings the visitor back to their chat points to
	// the page they left it from, on this origin. Without it, a mail
	// links back only to pages of a script-tag site (they come with their
	// origin).
	SiteURL string

	// MetricsToken, when set, lets a scraper read Metrics from anywhere
	// with "Authorization: Bearer TOKEN"; without it, Metrics answers only
	// clients on the server's own machine that did not come through a proxy.
	MetricsToken string

	// StartOpen shows the widget open to a visitor who has not opened or
	// minimized it yet; by default it starts collapsed, as its launcher
	// button. Either way the server renders the state the visitor left it
	// in on every later page. (The browser API's ui.open does the same from
	// the page's script, after the first paint.)
	StartOpen bool

	// ChatPath is where the visitor routes go, under the router given to
	// Mount (default "/chat"); ConsolePath is the agent console's (default
	// "/agent").
	ChatPath    string
	ConsolePath string

	// Visitor, when set, tells Parley who the request's visitor is when the
	// site knows (a signed-in user): see Visitor.
	Visitor func(c echo.Context) (v Visitor, ok bool)
	// Logger receives Parley's errors; nil is slog.Default().
	Logger *slog.Logger
}

// Limits bounds what live connections one visitor, one address and all
// of them together may hold open (see Config.Limits): PerChat, PerAddress
// and ParkedPolls; zero fields take the defaults.
type Limits = handlers.Limits

// Agent is an agent account of the console: the Name the agent signs in
// with (it stays on the console side), a Password, and the DisplayName
// visitors see ("Sam from Support"; Name when empty).
type Agent = agents.Credential

// Visitor is a signed-in user of the site, passed by Config.Visitor: the
// site's stable ID of the user, FirstName, LastName, Email, and Data that
// goes to the agent with the chat (as the browser API's userData). A chat
// started by a visitor with an ID is tied to that ID, and restores wherever
// the user signs in, on any device; a chat started before signing in
// becomes the user's. An empty ID keeps the chat anonymous (the names only
// fill in the form). With a first name and an email the registration form
// is skipped; with less, the form comes filled in with what is known.
type Visitor = handlers.Visitor

// CookieNames are the names of Parley's cookies; empty names keep the
// defaults. Chat holds the visitor's restore token ("parley_chat"), Agent
// an agent's console session ("parley_agent"), CSRF the token of Parley's
// forms ("parley_csrf"), and UI whether the visitor left the widget open
// or collapsed ("parley_ui"; chat.js writes it, so it is not HttpOnly, and
// it holds no secret).
type CookieNames = handlers.CookieNames

// Router is where Mount puts Parley's routes: the site's *echo.Echo, or an
// *echo.Group under a prefix of the site's choosing.
type Router = handlers.Router

// Schedule is a weekly schedule in one time zone, plus closed dates, for
// Config.Hours: Open(t) reports whether t is within it, NextOpen and
// NextClose when that changes next. A nil Schedule is always open.
type Schedule = hours.Schedule

// ParseHours reads a Schedule: rules separated by semicolons or new lines,
// the time zone first (an IANA name), then days with spans of the zone's
// wall clock and closed dates of its calendar:
//
//	Europe/Berlin; Mon-Fri 09:00-17:00; Sat 10:00-14:00, 15:00-18:00; closed 2026-12-24..2026-12-26
//
// Overnight hours are two spans, "Fri 22:00-24:00; Sat 00:00-02:00". A #
// starts a comment to the end of its line. docs/configuration.md, "Business
// hours", has the whole grammar and what daylight saving time does to a
// span.
func ParseHours(text string) (*Schedule, error) { return hours.Parse(text) }

// Parley is the chat of one site. Its methods are safe for concurrent use
// once Mount has returned.
type Parley struct {
	handler     *handlers.Handler
	store       chatstate.Store
	ownsStore   bool
	chatPath    string
	consolePath string
	mounted     bool

	// closing is closed by Shutdown: live transports end, and new ones are
	// refused with a "come back later".
	closing      chan struct{}
	shutdownOnce sync.Once
	// stopBackground ends the work started by New.
	stopBackground context.CancelFunc
	background     sync.WaitGroup
	closeOnce      sync.Once
	closeErr       error
}

// New builds Parley from cfg, opening its store, and starts its background
// work (ending the chats of visitors who left, refreshing catalogs). ctx
// bounds the opening only: a setup timeout that ends later ends nothing.
// Parley runs until Shutdown and Close.
func New(ctx context.Context, cfg Config) (*Parley, error) {
	cfg, err := withDefaults(cfg)
	if err != nil {
		return nil, err
	}
	logger := cfg.Logger
	catalogs, err := localization.New(localization.Config{Sources: cfg.Localization, Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("parley: localization: %w", err)
	}
	accounts, err := agents.New(cfg.Agents, cfg.AgentPasswordCost)
	if err != nil {
		return nil, fmt.Errorf("parley: agents: %w", err)
	}
	trusted, err := parsePrefixes(cfg.TrustedProxies)
	if err != nil {
		return nil, err
	}
	store, owns := cfg.Store, false
	// closeOwned closes the store New opened, when New fails after it.
	closeOwned := func() {
		if owns {
			store.Close()
		}
	}
	if store == nil {
		if cfg.DatabaseURL != "" {
			store, err = postgres.Open(ctx, cfg.DatabaseURL)
		} else {
			store, err = sqlite.Open(ctx, cfg.SQLitePath)
		}
		if err != nil {
			return nil, fmt.Errorf("parley: open store: %w", err)
		}
		owns = true
	}

	p := &Parley{store: store, ownsStore: owns, chatPath: cfg.ChatPath, consolePath: cfg.ConsolePath, closing: make(chan struct{})}
	serviceCfg := chatstate.Config{
		Store:             store,
		DefaultMaxOffline: cfg.MaxOffline,
		MaxOfflineCap:     cfg.MaxOfflineCap,
		AgentOfflineAfter: cfg.AgentOfflineAfter,
	}
	checks := []handlers.HealthCheck{{Name: "database", Check: func(ctx context.Context) error {
		_, err := store.ListChats(ctx, chatstate.ChatFilter{Limit: 1})
		return err
	}}}
	// A store that other instances share (DESIGN §7) says so by what it
	// offers: the hub then also publishes what the others commit, as its
	// follower hears of it, work that must run once runs under the store's
	// lock, and the limits on what every instance shares hold across them.
	shared, err := sharedOf(store)
	if err != nil {
		return nil, err
	}
	if shared != nil {
		serviceCfg.Cluster = shared
	}
	var sender *mail.Sender
	if cfg.SMTPURL != "" {
		outbox, ok := outboxOf(store)
		if !ok {
			closeOwned()
			return nil, fmt.Errorf("parley: Store %T keeps no outbox (chatstate.Outbox), which SMTPURL needs", store)
		}
		sender, err = mail.NewSender(mail.Config{Outbox: outbox, SMTPURL: cfg.SMTPURL, From: cfg.MailFrom, Logger: logger})
		if err != nil {
			closeOwned()
			return nil, fmt.Errorf("parley: %w", err)
		}
		// A commit that enqueued mail wakes the sender at once.
		serviceCfg.Outboxed = sender.Wake
	}
	chats := chatstate.NewService(serviceCfg)
	var follower chatstate.Follower
	var sharedLimits handlers.SharedLimits
	if shared != nil {
		sharedLimits = shared
		follower = shared.Follow(chats, logger)
		checks = append(checks, handlers.HealthCheck{Name: "listener", Check: follower.Check})
	}
	var mailStats func(context.Context) (mail.Stats, error)
	if sender != nil {
		mailStats = sender.Stats
	}
	p.handler = handlers.New(handlers.Deps{
		Chats:          chats,
		Catalogs:       catalogs,
		Agents:         accounts,
		SessionSecrets: cfg.SessionKeys,
		Options: handlers.Options{
			AllowedOrigins:     cfg.AllowedOrigins,
			EmbedOrigins:       cfg.EmbedOrigins,
			TrustedProxies:     trusted,
			IPv6Prefix:         cfg.IPv6Prefix,
			Cookies:            cfg.Cookies,
			Limits:             cfg.Limits,
			StartOpen:          cfg.StartOpen,
			MetricsToken:       cfg.MetricsToken,
			Visitor:            cfg.Visitor,
			Hours:              cfg.Hours,
			QueueWithoutAgents: cfg.QueueWithoutAgents,
			Mail:               cfg.SMTPURL != "",
			SiteURL:            strings.TrimSuffix(cfg.SiteURL, "/"),
		},
		Closing:      p.closing,
		SharedLimits: sharedLimits,
		Checks:       checks,
		MailStats:    mailStats,
		Logger:       logger,
	})

	// The background's context is Parley's own: ctx may end with the
	// host's setup.
	bgCtx, cancel := context.WithCancel(context.Background())
	p.stopBackground = cancel
	p.background.Go(func() { catalogs.Run(bgCtx) })
	if follower != nil {
		p.background.Go(func() { follower.Run(bgCtx) })
	}
	p.background.Go(func() {
		chats.RunExpiry(bgCtx, expirySweep, func(err error) { logger.Error("expire offline chats", "err", err) })
	})
	p.background.Go(func() {
		chats.Availability().Run(bgCtx, func(err error) { logger.Error("agents' availability", "err", err) })
	})
	if sender != nil {
		p.background.Go(func() { sender.Run(bgCtx) })
	}
	return p, nil
}

// outboxOf is the outbox of store, or of the store it wraps.
func outboxOf(store chatstate.Store) (chatstate.Outbox, bool) {
	if o, ok := store.(chatstate.Outbox); ok {
		return o, true
	}
	if wrapper, ok := store.(interface{ Unwrap() chatstate.Store }); ok {
		return outboxOf(wrapper.Unwrap())
	}
	return nil, false
}

// sharedStore is what a store that several instances share offers besides
// chatstate.Store; chatstate/postgres's Store is one.
type sharedStore interface {
	chatstate.Cluster
	handlers.SharedLimits
	Follow(relay chatstate.Relay, logger *slog.Logger) chatstate.Follower
}

// sharedOf asks store whether other instances share it: nil when it is
// this instance's alone. A store that offers only part of sharing (a
// wrapper that passes on some of the methods of the one it wraps) is
// refused, rather than run with instances silently out of step.
func sharedOf(store chatstate.Store) (sharedStore, error) {
	if shared, ok := store.(sharedStore); ok {
		return shared, nil
	}
	if wrapper, ok := store.(interface{ Unwrap() chatstate.Store }); ok {
		// A wrapper (tracing, metrics) that says what it wraps shares what
		// the wrapped store shares: sharing is not on its chats' path.
		return sharedOf(wrapper.Unwrap())
	}
	_, cluster := store.(chatstate.Cluster)
	_, limits := store.(handlers.SharedLimits)
	_, follows := store.(interface {
		Follow(chatstate.Relay, *slog.Logger) chatstate.Follower
	})
	if cluster || limits || follows {
		return nil, fmt.Errorf("parley: Store %T is shared only in part: a store shared by several instances must offer Exclusive and RecordSeen, TakeToken and HasToken, and Follow (pass them on from the store it wraps)", store)
	}
	return nil, nil
}

// withDefaults checks cfg and fills in what it leaves out.
func withDefaults(cfg Config) (Config, error) {
	switch {
	case cfg.DatabaseURL != "" && !strings.HasPrefix(cfg.DatabaseURL, "postgres://") && !strings.HasPrefix(cfg.DatabaseURL, "postgresql://"):
		// Not %q: the URL may hold a password.
		return cfg, errors.New("parley: DatabaseURL: want a postgres:// or postgresql:// URL")
	case cfg.Store != nil && cfg.SQLitePath != "", cfg.Store != nil && cfg.DatabaseURL != "", cfg.SQLitePath != "" && cfg.DatabaseURL != "":
		return cfg, errors.New("parley: set one of SQLitePath, DatabaseURL or Store, not several")
	case cfg.Store == nil && cfg.SQLitePath == "" && cfg.DatabaseURL == "":
		return cfg, errors.New("parley: no store: set SQLitePath, DatabaseURL or Store")
	case len(cfg.SessionKeys) == 0:
		return cfg, errors.New("parley: no SessionKeys: at least one key signs the cookies")
	case cfg.MaxOffline < 0 || cfg.MaxOfflineCap < 0:
		return cfg, errors.New("parley: MaxOffline and MaxOfflineCap must not be negative")
	case cfg.IPv6Prefix < 0 || cfg.IPv6Prefix > 128:
		return cfg, errors.New("parley: IPv6Prefix: want 0 (the default, 64) to 128 bits")
	case cfg.SMTPURL != "" && cfg.MailFrom == "":
		return cfg, errors.New("parley: SMTPURL is set but MailFrom is not: mails need a sender address, like \"Parley <chat@shop.example>\"")
	case cfg.SMTPURL == "" && cfg.MailFrom != "":
		return cfg, errors.New("parley: MailFrom is set but SMTPURL is not: with no SMTP server no mail is sent")
	}
	if cfg.SMTPURL != "" {
		if _, err := mail.ParseURL(cfg.SMTPURL); err != nil {
			return cfg, fmt.Errorf("parley: SMTPURL: %w", err)
		}
		if _, err := mail.ParseAddress(cfg.MailFrom); err != nil {
			return cfg, fmt.Errorf("parley: MailFrom: %w", err)
		}
	}
	if cfg.SiteURL != "" {
		u, err := url.Parse(cfg.SiteURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.User != nil {
			return cfg, fmt.Errorf("parley: SiteURL %q: want the site's origin, like https://shop.example", cfg.SiteURL)
		}
	}
	for i, key := range cfg.SessionKeys {
		if len(key) < MinSessionKeyBytes {
			return cfg, fmt.Errorf("parley: SessionKeys[%d] is %d bytes, want at least %d", i, len(key), MinSessionKeyBytes)
		}
	}
	if cfg.ChatPath == "" {
		cfg.ChatPath = DefaultChatPath
	}
	if cfg.ConsolePath == "" {
		cfg.ConsolePath = DefaultConsolePath
	}
	for _, path := range []string{cfg.ChatPath, cfg.ConsolePath} {
		if !strings.HasPrefix(path, "/") || strings.HasSuffix(path, "/") || strings.ContainsAny(path, ":*?#") {
			return cfg, fmt.Errorf("parley: path %q: want an absolute path without a trailing slash, like \"/chat\"", path)
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	for field, origins := range map[string][]string{"AllowedOrigins": cfg.AllowedOrigins, "EmbedOrigins": cfg.EmbedOrigins} {
		for _, origin := range origins {
			// "null" is what sandboxed frames and file: pages send: any
			// page can be one, so it names nobody.
			if !isOrigin(origin) {
				return cfg, fmt.Errorf("parley: %s: %q is not an origin: want a scheme and host as browsers send them, like \"https://shop.example\" (no path, no trailing slash, lower case, no default port)", field, origin)
			}
			if u, _ := url.Parse(origin); u.Scheme == "http" && !isLoopback(u.Hostname()) {
				cfg.Logger.Warn("an http:// origin's pages can be changed by anyone on the network path between it and its visitors: use https", "field", field, "origin", origin)
			}
		}
	}
	if cfg.ChatPath == cfg.ConsolePath {
		return cfg, fmt.Errorf("parley: ChatPath and ConsolePath are both %q", cfg.ChatPath)
	}
	if cfg.MaxOffline == 0 {
		cfg.MaxOffline = DefaultMaxOffline
	}
	if cfg.MaxOfflineCap == 0 {
		cfg.MaxOfflineCap = DefaultMaxOfflineCap
	}
	cfg.MaxOfflineCap = max(cfg.MaxOfflineCap, cfg.MaxOffline)
	return cfg, nil
}

// isOrigin reports whether s is an http or https origin exactly as a
// browser's Origin header gives it, which is how it is compared.
func isOrigin(s string) bool {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Hostname() == "" {
		return false
	}
	if port := u.Port(); (u.Scheme == "https" && port == "443") || (u.Scheme == "http" && port == "80") || strings.HasSuffix(u.Host, ":") {
		return false
	}
	return s == u.Scheme+"://"+strings.ToLower(u.Host)
}

// isLoopback reports whether host names this machine, where plain HTTP is
// for trying Parley out.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	addr, err := netip.ParseAddr(host)
	return err == nil && addr.IsLoopback()
}

// parsePrefixes reads addresses and CIDR prefixes.
func parsePrefixes(values []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, v := range values {
		if addr, err := netip.ParseAddr(v); err == nil {
			out = append(out, netip.PrefixFrom(addr.Unmap(), addr.Unmap().BitLen()))
			continue
		}
		prefix, err := netip.ParsePrefix(v)
		if err != nil {
			return nil, fmt.Errorf("parley: TrustedProxies: %q is neither an address nor a CIDR prefix", v)
		}
		out = append(out, prefix.Masked())
	}
	return out, nil
}

// Mount puts Parley's routes on r: the visitor routes (the widget's forms
// and live transports, and Parley's scripts and styles under
// ChatPath/static/) and the agent console. Mounted on a group, the routes
// go under the group's prefix. Mount once, before the server starts.
func (p *Parley) Mount(r Router) {
	if p.mounted {
		panic("parley: Mount called twice")
	}
	p.mounted = true
	p.handler.Mount(r, p.chatPath, p.consolePath)
}

// Widget is the chat widget for the page c is rendering, restored on the
// server from the visitor's cookie (or the signed-in user's chat): the
// start button, the registration form with what was typed, or the
// conversation with every message. Call it while handling the request,
// before the page is written, since restoring may renew the cookie; it also
// records the page in the agent's page trail. Failures are shown in the
// widget, in the visitor's language, and logged.
func (p *Parley) Widget(c echo.Context) templ.Component { return p.handler.Widget(c) }

// Assets links the widget's stylesheet and chat.js, for the page's <head>;
// chat.js then restores the chat by itself (chat.restoreChat({embedded:
// true})) once the page has loaded.
func (p *Parley) Assets() templ.Component { return p.handler.Assets(true) }

// AssetsNoRestore links the stylesheet and chat.js like Assets, for a site
// that calls chat.restoreChat itself (to pass options or bind callbacks).
func (p *Parley) AssetsNoRestore() templ.Component { return p.handler.Assets(false) }

// TrackPages is a middleware for the site's page routes: it records each
// page a visitor with a live chat loads in the agent's page trail, also for
// responses that do not render the widget (a partial swap of the main
// content). Widget records its own page; using both records it once.
func (p *Parley) TrackPages(next echo.HandlerFunc) echo.HandlerFunc {
	return p.handler.TrackPages(next)
}

// Skipper reports whether a request is for one of Parley's routes, which
// check their own CSRF token: give it to the site's CSRF middleware as its
// Skipper (middleware.CSRFConfig{Skipper: chat.Skipper}).
func (p *Parley) Skipper(c echo.Context) bool { return p.handler.Owns(c) }

// IsTrustedProxy reports whether addr is one of Config.TrustedProxies, for
// a site's own use (a listener that caps connections per address must not
// cap the proxy that carries every client).
func (p *Parley) IsTrustedProxy(addr netip.Addr) bool { return p.handler.IsTrustedProxy(addr) }

// IPExtractor gives the site's Echo (e.IPExtractor = chat.IPExtractor())
// the client address Parley's own limits key on: the peer's, or behind a
// trusted proxy the nearest address it forwarded in X-Forwarded-For that
// is not a trusted proxy itself.
func (p *Parley) IPExtractor() echo.IPExtractor { return p.handler.ClientIP }

// Health answers a health check, fit for a load balancer's readiness
// probe: 200 "ok" when the store answers and, on PostgreSQL, the listener
// that hears the other instances' commits is listening; 503 "unavailable"
// otherwise. A line per part follows ("database: ok", "listener: ok").
// With a DatabaseURL (or a Store that is, or wraps, a chatstate/postgres
// Store), any number of Parleys may share the database: see
// docs/postgresql.md, "Several instances".
func (p *Parley) Health(c echo.Context) error { return p.handler.Health(c) }

// Metrics answers in Prometheus's text format to the bearer of
// Config.MetricsToken, or without one to clients on the server's own
// machine only, and 404 to anyone else.
func (p *Parley) Metrics(c echo.Context) error { return p.handler.Metrics(c) }

// Shutdown tells every live connection (WebSockets, waiting long-polls)
// that the server is closing, so that its client comes back after a pause
// (to this server restarted, or another instance), and refuses new ones the
// same way; then it waits until the WebSockets have closed, or ctx is done.
// Other requests are served as usual. Call it before http.Server.Shutdown,
// which would otherwise wait for the long-polls and not close the
// WebSockets at all; then Close once the server has stopped.
func (p *Parley) Shutdown(ctx context.Context) error {
	p.shutdownOnce.Do(func() { close(p.closing) })
	ended := make(chan struct{})
	go func() {
		p.handler.WaitLive()
		close(ended)
	}()
	select {
	case <-ended:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close ends live connections (as Shutdown does, if it has not been called)
// and background work, waits for them, and closes the store Parley opened.
// Call it once the server has shut down.
func (p *Parley) Close() error {
	p.closeOnce.Do(func() {
		p.shutdownOnce.Do(func() { close(p.closing) })
		p.stopBackground()
		p.background.Wait()
		p.handler.WaitLive()
		if p.ownsStore {
			p.closeErr = p.store.Close()
		}
	})
	return p.closeErr
}
