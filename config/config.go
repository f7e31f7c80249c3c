// Package config reads Parley's flags and PARLEY_* environment variables
// once, at start, into one Config.
package config

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/parley/parley/mail"
	"github.com/parley/parley/parley"
)

// Config is everything the parley command is started with: the library's
// own configuration, filled in from the flags that map onto it, and what
// the command itself needs to serve it.
type Config struct {
	// Chat is Parley's configuration. Its SessionKeys come from
	// SessionSecrets; its store is SQLite under DataDir unless a
	// DatabaseURL is given.
	Chat parley.Config

	Addr    string
	DataDir string
	// SessionKeys sign and encrypt cookies, newest first; without any,
	// SessionSecrets keeps one under DataDir.
	SessionKeys []string
	// TLSCert and TLSKey are PEM files: with both, Parley serves HTTPS
	// itself.
	TLSCert string
	TLSKey  string
	// PprofAddr, when set, serves Go's profiler there (a loopback address).
	PprofAddr string
	// MaxOpenPerAddress caps the TCP connections one client address may
	// hold open, idle keep-alives included; MaxOpen caps them all together
	// (0: below the process's open-file limit).
	MaxOpenPerAddress int
	MaxOpen           int
	// MaxRequestsPerAddress caps the requests one client address has in
	// flight, parked long-polls included.
	MaxRequestsPerAddress int
	// ReadTimeout bounds reading a request, headers and body; WriteTimeout
	// writing its answer (a long-poll's wait included); IdleTimeout closes a
	// keep-alive connection that sends nothing.
	ReadTimeout  time.Duration
	WriteTimeout time.Duration
	IdleTimeout  time.Duration
	// SecretFlags are the flags that carried secrets (session keys, agent
	// passwords), each with the variable that could carry it instead: any
	// user of the machine can read a process's flags, so the command warns
	// of them.
	SecretFlags map[string]string
	// HSTSMaxAge is what Strict-Transport-Security tells browsers when
	// Parley serves TLS itself; 0 sends no such header.
	HSTSMaxAge time.Duration
}

// minSessionKeyLen keeps guessable keys out: 32 characters of a random
// string carry well over 128 bits.
const minSessionKeyLen = 32

// Parse reads args (without the program name) over the environment; a flag
// wins over its variable.
func Parse(args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	cfg := Config{
		Chat: parley.Config{
			DatabaseURL:   getenv("PARLEY_DATABASE_URL"),
			MetricsToken:  getenv("PARLEY_METRICS_TOKEN"),
			SMTPURL:       getenv("PARLEY_SMTP_URL"),
			MailFrom:      getenv("PARLEY_MAIL_FROM"),
			MaxOffline:    parley.DefaultMaxOffline,
			MaxOfflineCap: parley.DefaultMaxOfflineCap,
		},
		Addr:         envOr(getenv, "PARLEY_ADDR", "127.0.0.1:8080"),
		DataDir:      envOr(getenv, "PARLEY_DATA", "data"),
		TLSCert:      getenv("PARLEY_TLS_CERT"),
		TLSKey:       getenv("PARLEY_TLS_KEY"),
		ReadTimeout:  30 * time.Second,
		WriteTimeout: time.Minute,
		IdleTimeout:  2 * time.Minute,
		HSTSMaxAge:   365 * 24 * time.Hour,
	}
	chat := &cfg.Chat
	var (
		sessionKeys    = newListFlag(getenv, "PARLEY_SESSION_KEYS")
		allowedOrigins = newListFlag(getenv, "PARLEY_ALLOWED_ORIGINS")
		embedOrigins   = newListFlag(getenv, "PARLEY_EMBED_ORIGINS")
		localization   = newListFlag(getenv, "PARLEY_LOCALIZATION_URLS")
		agents         = newListFlag(getenv, "PARLEY_AGENTS")
		trustedProxies = newListFlag(getenv, "PARLEY_TRUSTED_PROXIES")
	)
	for name, d := range map[string]*time.Duration{"PARLEY_MAX_OFFLINE": &chat.MaxOffline, "PARLEY_AGENT_OFFLINE_AFTER": &chat.AgentOfflineAfter} {
		if v := getenv(name); v != "" {
			parsed, err := time.ParseDuration(v)
			if err != nil {
				return Config{}, fmt.Errorf("%s: %w", name, err)
			}
			*d = parsed
		}
	}

	fs := flag.NewFlagSet("parley", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.Addr, "addr", cfg.Addr, "address to listen on (PARLEY_ADDR)")
	fs.StringVar(&cfg.DataDir, "data", cfg.DataDir, "directory for the SQLite database and generated keys (PARLEY_DATA)")
	fs.StringVar(&chat.DatabaseURL, "database-url", chat.DatabaseURL, "postgres:// URL to use PostgreSQL instead of SQLite (PARLEY_DATABASE_URL)")
	fs.Var(sessionKeys, "session-key", "cookie key, newest first; repeatable (PARLEY_SESSION_KEYS, comma-separated)")
	fs.Var(allowedOrigins, "allowed-origin", "extra origin allowed to open the chat transports; repeatable (PARLEY_ALLOWED_ORIGINS)")
	fs.Var(embedOrigins, "embed-origin", "origin of a site that may add the widget with <script src=\".../chat/embed.js\">, like https://shop.example; repeatable (PARLEY_EMBED_ORIGINS)")
	fs.StringVar(&cfg.TLSCert, "tls-cert", cfg.TLSCert, "PEM certificate (chain) file: serve HTTPS, with -tls-key (PARLEY_TLS_CERT)")
	fs.StringVar(&cfg.TLSKey, "tls-key", cfg.TLSKey, "PEM private key file of -tls-cert (PARLEY_TLS_KEY)")
	fs.StringVar(&cfg.PprofAddr, "pprof-addr", getenv("PARLEY_PPROF_ADDR"), "serve Go's profiler (net/http/pprof) on this loopback address, such as 127.0.0.1:6060; off when empty (PARLEY_PPROF_ADDR)")
	fs.StringVar(&chat.MetricsToken, "metrics-token", chat.MetricsToken, "bearer token a scraper of /metrics sends; without it, /metrics answers this machine only (PARLEY_METRICS_TOKEN)")
	fs.DurationVar(&cfg.ReadTimeout, "read-timeout", cfg.ReadTimeout, "time to read a request, headers and body (live WebSockets set their own)")
	fs.DurationVar(&cfg.WriteTimeout, "write-timeout", cfg.WriteTimeout, "time to write an answer, a long-poll's wait included (live WebSockets set their own)")
	fs.DurationVar(&cfg.IdleTimeout, "idle-timeout", cfg.IdleTimeout, "time an idle keep-alive connection is kept")
	fs.DurationVar(&cfg.HSTSMaxAge, "hsts-max-age", cfg.HSTSMaxAge, "max-age of Strict-Transport-Security when serving TLS with -tls-cert; 0 sends none")
	fs.IntVar(&chat.Limits.PerChat, "max-conns-per-chat", 0, "live connections (tabs) one chat may hold open; 0: 16")
	fs.IntVar(&chat.Limits.PerAddress, "max-conns-per-address", 0, "live connections one client address may hold open; 0: 256")
	fs.IntVar(&chat.Limits.ParkedPolls, "max-parked-polls", 0, "long-polls waiting at once, all clients together; 0: 10000")
	fs.IntVar(&cfg.MaxOpenPerAddress, "max-open-per-address", 1024, "TCP connections one client address may hold open, idle ones included (trusted proxies are not capped)")
	fs.IntVar(&cfg.MaxOpen, "max-open", 0, "TCP connections open at once, all clients together; 0: the open-file limit less a tenth")
	fs.IntVar(&cfg.MaxRequestsPerAddress, "max-requests-per-address", 320, "requests one client address may have in flight, waiting long-polls included")
	fs.IntVar(&chat.IPv6Prefix, "ipv6-prefix", 64, "leading bits of an IPv6 address that name one client, for the per-address limits")
	fs.Var(trustedProxies, "trusted-proxy", "address or CIDR of a reverse proxy in front, whose X-Forwarded-Proto and X-Forwarded-For are believed; repeatable (PARLEY_TRUSTED_PROXIES)")
	fs.Var(localization, "localization-url", "NAME=URL of an extra localization catalog; repeatable (PARLEY_LOCALIZATION_URLS)")
	fs.Var(agents, "agent", "NAME[=DISPLAY NAME]:PASSWORD of an agent, who signs in as NAME and is shown to visitors as DISPLAY NAME; repeatable (PARLEY_AGENTS=\"alice=Alice:pw,bob:pw\")")
	fs.DurationVar(&chat.MaxOffline, "max-offline", chat.MaxOffline, "default time a visitor may be offline before the chat ends (PARLEY_MAX_OFFLINE)")
	fs.BoolVar(&chat.QueueWithoutAgents, "queue-without-agents", getenv("PARLEY_QUEUE_WITHOUT_AGENTS") == "true", "while no agent is online, visitors still start chats and wait in the queue, instead of leaving a message (PARLEY_QUEUE_WITHOUT_AGENTS=true)")
	fs.DurationVar(&chat.AgentOfflineAfter, "agent-offline-after", chat.AgentOfflineAfter, "time an agent's consoles may all be gone before the agent is offline; 0: 2m (PARLEY_AGENT_OFFLINE_AFTER)")
	var hoursText, hoursFile string
	fs.StringVar(&hoursText, "hours", "", "opening hours, like \"Europe/Berlin; Mon-Fri 09:00-17:00; closed 2026-12-24\"; always open when empty (PARLEY_HOURS)")
	fs.StringVar(&hoursFile, "hours-file", "", "file of opening hours, one rule a line, instead of -hours (PARLEY_HOURS_FILE)")
	fs.StringVar(&chat.SMTPURL, "smtp-url", chat.SMTPURL, "SMTP server to send mail through: smtp://user:password@host:587 (STARTTLS, required unless on this machine) or smtps://… (TLS); no mail when empty (PARLEY_SMTP_URL)")
	fs.StringVar(&chat.SiteURL, "site-url", getenv("PARLEY_SITE_URL"), "the site's public origin, like https://shop.example, for the links in mails (PARLEY_SITE_URL)")
	fs.StringVar(&chat.MailFrom, "mail-from", chat.MailFrom, "sender of Parley's mails, like \"Parley <chat@shop.example>\"; required with -smtp-url (PARLEY_MAIL_FROM)")
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	var err error
	if chat.Hours, err = parseHours(fs, getenv, hoursText, hoursFile); err != nil {
		return Config{}, err
	}

	for name, list := range map[string]*listFlag{"-session-key": sessionKeys, "-agent": agents} {
		if list.fromFlags {
			if cfg.SecretFlags == nil {
				cfg.SecretFlags = map[string]string{}
			}
			cfg.SecretFlags[name] = list.variable
		}
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "smtp-url" && hasPassword(chat.SMTPURL) {
			if cfg.SecretFlags == nil {
				cfg.SecretFlags = map[string]string{}
			}
			cfg.SecretFlags["-smtp-url"] = "PARLEY_SMTP_URL"
		}
	})
	cfg.SessionKeys = sessionKeys.values()
	for _, key := range cfg.SessionKeys {
		if len(key) < minSessionKeyLen {
			return Config{}, fmt.Errorf("session key too short: at least %d characters", minSessionKeyLen)
		}
	}
	chat.AllowedOrigins = allowedOrigins.values()
	chat.EmbedOrigins = embedOrigins.values()
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return Config{}, errors.New("tls-cert and tls-key go together: give both to serve HTTPS, or neither")
	}
	chat.TrustedProxies = trustedProxies.values()
	chat.Localization = map[string]string{}
	for _, pair := range localization.values() {
		name, url, ok := strings.Cut(pair, "=")
		if !ok || name == "" || url == "" {
			return Config{}, fmt.Errorf("localization url %q: want NAME=URL", pair)
		}
		chat.Localization[name] = url
	}
	for _, pair := range agents.values() {
		who, password, ok := strings.Cut(pair, ":")
		name, display, _ := strings.Cut(who, "=")
		if !ok || name == "" || password == "" {
			return Config{}, errors.New("agent: want NAME[=DISPLAY NAME]:PASSWORD")
		}
		chat.Agents = append(chat.Agents, parley.Agent{Name: name, Password: password, DisplayName: display})
	}
	if chat.AgentOfflineAfter < 0 {
		return Config{}, errors.New("agent-offline-after must not be negative")
	}
	if chat.MaxOffline <= 0 {
		return Config{}, errors.New("max-offline must be positive")
	}
	// Past the read timeout Go cancels a request's context, and a long-poll
	// waits up to 25 s for news.
	if cfg.ReadTimeout < 30*time.Second || cfg.WriteTimeout < 35*time.Second || cfg.IdleTimeout <= 0 || cfg.HSTSMaxAge < 0 {
		return Config{}, errors.New("read-timeout must be at least 30s and write-timeout 35s (a long-poll waits 25 s), idle-timeout positive, hsts-max-age not negative")
	}
	if chat.Limits.PerChat < 0 || chat.Limits.PerAddress < 0 || chat.Limits.ParkedPolls < 0 || cfg.MaxOpenPerAddress <= 0 || cfg.MaxOpen < 0 || cfg.MaxRequestsPerAddress <= 0 {
		return Config{}, errors.New("connection limits must not be negative")
	}
	if chat.IPv6Prefix < 1 || chat.IPv6Prefix > 128 {
		return Config{}, errors.New("ipv6-prefix must be from 1 to 128")
	}
	if (chat.SMTPURL == "") != (chat.MailFrom == "") {
		return Config{}, errors.New("smtp-url and mail-from go together: give both to send mail, or neither")
	}
	if chat.SMTPURL != "" {
		if _, err := mail.ParseURL(chat.SMTPURL); err != nil {
			return Config{}, fmt.Errorf("smtp-url: %w", err)
		}
		if _, err := mail.ParseAddress(chat.MailFrom); err != nil {
			return Config{}, fmt.Errorf("mail-from: %w", err)
		}
	}
	chat.MaxOfflineCap = max(chat.MaxOfflineCap, chat.MaxOffline)
	if chat.DatabaseURL == "" {
		chat.SQLitePath = filepath.Join(cfg.DataDir, "parley.db")
	}
	return cfg, nil
}

// parseHours reads the opening hours from -hours or -hours-file, or else
// from their variables: the two forms are one setting, so a flag of
// either kind wins over both variables, and giving both forms at one level
// is an error rather than a guess.
func parseHours(fs *flag.FlagSet, getenv func(string) string, text, file string) (*parley.Schedule, error) {
	textName, fileName := "-hours", "-hours-file"
	var textSet, fileSet bool
	fs.Visit(func(f *flag.Flag) {
		textSet = textSet || f.Name == "hours"
		fileSet = fileSet || f.Name == "hours-file"
	})
	if !textSet && !fileSet {
		textName, fileName = "PARLEY_HOURS", "PARLEY_HOURS_FILE"
		text, file = getenv(textName), getenv(fileName)
	}
	switch {
	case text != "" && file != "":
		return nil, fmt.Errorf("%s and %s are one setting: give one of them", textName, fileName)
	case file != "":
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", fileName, err)
		}
		schedule, err := parley.ParseHours(string(data))
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", fileName, file, err)
		}
		return schedule, nil
	case strings.TrimSpace(text) != "":
		schedule, err := parley.ParseHours(text)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", textName, err)
		}
		return schedule, nil
	}
	return nil, nil
}

// SessionSecrets returns the configured cookie keys, or the one kept under
// the data directory, generating it on first start so restarts keep every
// visitor's chat.
func (c Config) SessionSecrets() ([][]byte, error) {
	keys := c.SessionKeys
	if len(keys) == 0 {
		key, err := loadOrCreateKey(filepath.Join(c.DataDir, "session.key"))
		if err != nil {
			return nil, err
		}
		keys = []string{key}
	}
	secrets := make([][]byte, len(keys))
	for i, k := range keys {
		secrets[i] = []byte(k)
	}
	return secrets, nil
}

func loadOrCreateKey(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err == nil {
		key := strings.TrimSpace(string(data))
		if len(key) < minSessionKeyLen {
			return "", fmt.Errorf("%s: key too short", path)
		}
		return key, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read session key: %w", err)
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	key := hex.EncodeToString(b)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("create data directory: %w", err)
	}
	// Written aside (0600) and linked into place, which fails if the key
	// exists: two processes starting at once must not each write a key, and
	// neither may read the other's half-written file.
	f, err := os.CreateTemp(filepath.Dir(path), ".session.key-*")
	if err != nil {
		return "", fmt.Errorf("create session key: %w", err)
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString(key + "\n"); err != nil {
		f.Close()
		return "", fmt.Errorf("write session key: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("write session key: %w", err)
	}
	err = os.Link(f.Name(), path)
	if errors.Is(err, os.ErrExist) {
		return loadOrCreateKey(path)
	}
	if err != nil {
		return "", fmt.Errorf("create session key: %w", err)
	}
	return key, nil
}

// hasPassword reports whether a URL carries a password, which the command
// warns of when it is given as a flag.
func hasPassword(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		// Unreadable: it may hold one all the same.
		return true
	}
	_, set := u.User.Password()
	return set
}

func envOr(getenv func(string) string, name, fallback string) string {
	if v := getenv(name); v != "" {
		return v
	}
	return fallback
}

func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// listFlag is a repeatable flag whose first use replaces the values taken
// from its environment variable.
type listFlag struct {
	variable  string
	vals      []string
	fromFlags bool
}

func newListFlag(getenv func(string) string, variable string) *listFlag {
	return &listFlag{variable: variable, vals: splitList(getenv(variable))}
}

func (l *listFlag) String() string {
	if l == nil {
		return ""
	}
	return strings.Join(l.vals, ",")
}

func (l *listFlag) Set(v string) error {
	if !l.fromFlags {
		l.vals, l.fromFlags = nil, true
	}
	l.vals = append(l.vals, v)
	return nil
}

func (l *listFlag) values() []string { return l.vals }
