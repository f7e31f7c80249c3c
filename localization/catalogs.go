package localization

import (
	"cmp"
	"crypto/sha256"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/text/language"
)

// The embedded catalogs, one file per language; en.json is the reference.
//
//go:embed locales/*.json
var embedded embed.FS

const (
	defaultName         = "en"
	defaultFetchTimeout = 5 * time.Second
	defaultMaxBytes     = 256 << 10
	defaultRefreshEvery = 5 * time.Minute
)

// Config configures the catalogs fetched from URLs. The zero value serves
// the embedded catalogs only.
type Config struct {
	Sources      map[string]string // name → URL, from the repeatable -localization-url NAME=URL flag
	Client       *http.Client      // nil: a client with FetchTimeout
	FetchTimeout time.Duration     // 0: 5s
	MaxBytes     int64             // 0: 256 KiB; a larger body is rejected
	RefreshEvery time.Duration     // 0: 5m
	Logger       *slog.Logger      // nil: slog.Default()
}

// Catalogs is the set of embedded and configured catalogs. Safe for
// concurrent use; Run keeps the configured ones fresh.
type Catalogs struct {
	def        *Catalog
	byName     map[string]*source // embedded and configured; a configured name hides an embedded one
	byURL      map[string]*source // configured, by the URL exactly as configured
	remote     []*source          // configured, sorted by name
	matcher    language.Matcher   // over the tags of negotiable
	negotiable []*source

	client       *http.Client
	fetchTimeout time.Duration
	maxBytes     int64
	refreshEvery time.Duration
	log          *slog.Logger
}

// source is one named catalog. Readers load current; only a fetch stores it.
type source struct {
	name    string
	url     string // "" for an embedded catalog
	logURL  string // url without a password, for logs
	current atomic.Pointer[Catalog]

	mu      sync.Mutex        // held for a whole fetch; guards the fields below
	etag    string            // of the last good response
	sum     [sha256.Size]byte // of the last good body, to skip re-parsing an unchanged one
	fetched bool              // a fetch has succeeded once
}

func (s *source) catalog() *Catalog { return s.current.Load() }

// New validates cfg (names non-empty, URLs absolute http or https) and
// builds the catalogs. It does no network I/O: until Run or Refresh fetches
// a source, the source serves the embedded catalog of its language if there
// is one, else English, under the source's name. A configured name hides the
// embedded catalog of the same name (Default stays the embedded English).
func New(cfg Config) (*Catalogs, error) {
	c := &Catalogs{
		byName:       make(map[string]*source),
		byURL:        make(map[string]*source),
		client:       cfg.Client,
		fetchTimeout: cmp.Or(cfg.FetchTimeout, defaultFetchTimeout),
		maxBytes:     cmp.Or(cfg.MaxBytes, defaultMaxBytes),
		refreshEvery: cmp.Or(cfg.RefreshEvery, defaultRefreshEvery),
		log:          cfg.Logger,
	}
	var errs []error
	if cfg.FetchTimeout < 0 {
		errs = append(errs, fmt.Errorf("localization: negative FetchTimeout %v", cfg.FetchTimeout))
	}
	if cfg.MaxBytes < 0 {
		errs = append(errs, fmt.Errorf("localization: negative MaxBytes %d", cfg.MaxBytes))
	}
	if cfg.RefreshEvery < 0 {
		errs = append(errs, fmt.Errorf("localization: negative RefreshEvery %v", cfg.RefreshEvery))
	}
	if c.client == nil {
		c.client = &http.Client{Timeout: c.fetchTimeout}
	}
	if c.log == nil {
		c.log = slog.Default()
	}

	builtin, err := loadEmbedded()
	if err != nil {
		return nil, err
	}
	c.def = builtin[0]
	for _, cat := range builtin {
		s := &source{name: cat.name}
		s.current.Store(cat)
		c.byName[cat.name] = s
	}

	names := make([]string, 0, len(cfg.Sources))
	for name := range cfg.Sources {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		raw := cfg.Sources[name]
		if name == "" {
			errs = append(errs, fmt.Errorf("localization: source for %q has an empty name", raw))
			continue
		}
		u, err := checkURL(raw)
		if err != nil {
			errs = append(errs, fmt.Errorf("localization: source %q: %w", name, err))
			continue
		}
		if other, ok := c.byURL[raw]; ok {
			errs = append(errs, fmt.Errorf("localization: sources %q and %q have the same URL", other.name, name))
			continue
		}
		s := &source{name: name, url: raw, logURL: u.Redacted()}
		s.current.Store(fallback(builtin, name))
		c.byName[name] = s
		c.byURL[raw] = s
		c.remote = append(c.remote, s)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	// Negotiation considers every name that is a language tag, English first
	// because a matcher's first tag is its fallback.
	others := make([]string, 0, len(c.byName))
	for name := range c.byName {
		if name != defaultName {
			others = append(others, name)
		}
	}
	slices.Sort(others)
	var tags []language.Tag
	for _, name := range append([]string{defaultName}, others...) {
		if tag, err := language.Parse(name); err == nil {
			tags = append(tags, tag)
			c.negotiable = append(c.negotiable, c.byName[name])
		}
	}
	c.matcher = language.NewMatcher(tags)
	return c, nil
}

// Default returns the embedded English catalog.
func (c *Catalogs) Default() *Catalog { return c.def }

// loadEmbedded parses the embedded catalogs, English first. Each must have
// exactly English's keys and placeholders; the tests hold them to that.
func loadEmbedded() ([]*Catalog, error) {
	en, err := readEmbedded(defaultName, nil)
	if err != nil {
		return nil, err
	}
	files, err := fs.Glob(embedded, "locales/*.json")
	if err != nil {
		return nil, fmt.Errorf("localization: embedded catalogs: %w", err)
	}
	cats := []*Catalog{en}
	for _, file := range files {
		name := strings.TrimSuffix(path.Base(file), ".json")
		if name == defaultName {
			continue
		}
		cat, err := readEmbedded(name, en)
		if err != nil {
			return nil, err
		}
		cats = append(cats, cat)
	}
	return cats, nil
}

// readEmbedded parses locales/name.json against en (nil for English itself).
func readEmbedded(name string, en *Catalog) (*Catalog, error) {
	data, err := embedded.ReadFile("locales/" + name + ".json")
	if err != nil {
		return nil, fmt.Errorf("localization: embedded %s: %w", name, err)
	}
	cat, rep, err := parseCatalog(name, data, en)
	if err == nil && (len(rep.Missing) > 0 || len(rep.Mismatched) > 0) {
		err = fmt.Errorf("missing keys %v, placeholders differ for %v", rep.Missing, rep.Mismatched)
	}
	if err != nil {
		return nil, fmt.Errorf("localization: embedded %s: %w", name, err)
	}
	return cat, nil
}

// fallback is what source name serves before its first good fetch: the
// embedded catalog of its language if there is one, else English, under name.
func fallback(builtin []*Catalog, name string) *Catalog {
	tag, err := language.Parse(name)
	if err != nil {
		return builtin[0].withName(name)
	}
	tags := make([]language.Tag, len(builtin))
	for i, cat := range builtin {
		tags[i] = cat.tag
	}
	_, i, conf := language.NewMatcher(tags).Match(tag)
	if conf < language.High {
		return builtin[0].withName(name)
	}
	return builtin[i].withName(name)
}

// checkURL accepts an absolute http or https URL with a host.
func checkURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("URL %q is not http or https", u.Redacted())
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("URL %q has no host", u.Redacted())
	}
	return u, nil
}
