package localization

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// errNotModified reports a 304 answer to If-None-Match.
var errNotModified = errors.New("not modified")

// Run fetches every configured source now, then again every RefreshEvery,
// until ctx is done. It blocks; failures are logged, never fatal.
func (c *Catalogs) Run(ctx context.Context) {
	c.Refresh(ctx)
	t := time.NewTicker(c.refreshEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.Refresh(ctx)
		}
	}
}

// Refresh does one fetch round: every configured source at once, returning
// when all are done. A source that fails keeps what it served before.
func (c *Catalogs) Refresh(ctx context.Context) {
	var wg sync.WaitGroup
	for _, s := range c.remote {
		wg.Go(func() { c.refresh(ctx, s) })
	}
	wg.Wait()
}

// refresh fetches one source and swaps in its new catalog if it has one.
func (c *Catalogs) refresh(ctx context.Context, s *source) {
	if ctx.Err() != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	log := c.log.With("source", s.name, "url", s.logURL)

	body, etag, err := c.fetch(ctx, s)
	if errors.Is(err, errNotModified) {
		log.Debug("localization source not modified")
		return
	}
	if err != nil {
		if ctx.Err() != nil {
			return // shutting down, not a failure of the source
		}
		log.Warn("localization source failed; serving "+s.serving(), "err", err)
		return
	}
	sum := sha256.Sum256(body)
	if s.fetched && sum == s.sum {
		s.etag = etag
		log.Debug("localization source unchanged")
		return
	}

	en := c.def
	cat, rep, err := parseCatalog(s.name, body, en)
	if err != nil {
		log.Warn("localization source invalid; serving "+s.serving(), "err", err)
		return
	}
	if len(rep.Missing) > 0 {
		log.Warn("localization source lacks keys; using English for them", "count", len(rep.Missing), "keys", rep.Missing)
	}
	for _, key := range rep.Mismatched {
		log.Warn("localization string dropped: its placeholders differ from English; using English",
			"key", key, "want", placeholders(en.messages[key]))
	}
	s.current.Store(cat)
	s.etag, s.sum, s.fetched = etag, sum, true
	log.Info("localization source loaded", "lang", cat.Lang(), "dir", cat.Dir(), "etag", etag)
}

// serving names what s serves while a fetch fails. The caller holds s.mu.
func (s *source) serving() string {
	if s.fetched {
		return "the last good catalog"
	}
	return "the embedded fallback"
}

// fetch GETs the source's URL within the fetch timeout and returns the body
// and ETag of a 200, or errNotModified for a 304 to the last good ETag.
// The caller holds s.mu.
func (c *Catalogs) fetch(ctx context.Context, s *source) ([]byte, string, error) {
	ctx, cancel := context.WithTimeout(ctx, c.fetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return nil, "", err
	}
	req.Header.Set("Accept", "application/json")
	if s.etag != "" {
		req.Header.Set("If-None-Match", s.etag)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()

	switch {
	case resp.StatusCode == http.StatusNotModified && s.etag != "":
		return nil, "", errNotModified
	case resp.StatusCode != http.StatusOK:
		return nil, "", fmt.Errorf("status %s", resp.Status)
	case resp.ContentLength > c.maxBytes:
		return nil, "", fmt.Errorf("body of %d bytes is over the limit of %d", resp.ContentLength, c.maxBytes)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBytes+1))
	if err != nil {
		return nil, "", fmt.Errorf("reading body: %w", err)
	}
	if int64(len(body)) > c.maxBytes {
		return nil, "", fmt.Errorf("body is over the limit of %d bytes", c.maxBytes)
	}
	return body, resp.Header.Get("ETag"), nil
}
