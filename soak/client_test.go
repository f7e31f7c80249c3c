package soak

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/cookiejar"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/gorilla/websocket"

	"github.com/parley/parley/chatclient"
)

const (
	// requestTimeout bounds a page load or a form post; a black hole lasts
	// 2 s, so only a stuck server reaches it.
	requestTimeout = 10 * time.Second
	// pollTimeout bounds a long-poll, which the server holds up to 25 s.
	pollTimeout = 35 * time.Second
	// retryFor is how long an operation is retried through faults and
	// restarts before the client gives up and the test fails.
	retryFor = 60 * time.Second
)

// newClient is one browser's side of the site: its own cookies and
// connections, kept alive between requests as a browser does (so a fault
// may strike a connection some requests after it opened), following
// redirects as a browser does after a plain form post.
func newClient(base string) *chatclient.Client {
	jar, _ := cookiejar.New(nil)
	return &chatclient.Client{
		Base: base,
		HTTP: &http.Client{
			Jar: jar,
			Transport: &http.Transport{
				DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
				MaxIdleConnsPerHost: 4,
				IdleConnTimeout:     30 * time.Second,
				DisableCompression:  true,
			},
		},
		Dialer:      websocket.Dialer{HandshakeTimeout: 5 * time.Second},
		Timeout:     requestTimeout,
		PollTimeout: pollTimeout,
	}
}

func firstBytes(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// retry calls fn until it succeeds, a permanent error, ctx's end or
// retryFor: faults and restarts make any single request fail.
func retry(ctx context.Context, r *soakRun, fn func() error) error {
	deadline := time.Now().Add(retryFor)
	wait := 50 * time.Millisecond
	for {
		err := fn()
		if err == nil || errors.Is(err, chatclient.ErrPermanent) || ctx.Err() != nil {
			return err
		}
		if rateLimited(err) {
			r.stats.rateLimited.Add(1)
		} else {
			r.stats.transportErrors.Add(1)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("still failing after %v: %w", retryFor, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second)
	}
}

// openLive opens a live transport at the soak's pace (chat.js's retry
// pauses, a short write deadline) and counts it. name is the client's,
// what names the transport in violations and traces: a refused poll and an
// undecodable frame break the protocol's promises.
func (r *soakRun) openLive(ctx context.Context, client *chatclient.Client, ws bool, name, what string, s chatclient.Stream) (*chatclient.Live, error) {
	s.WriteWait, s.RetryMin, s.RetryMax = 5*time.Second, 50*time.Millisecond, time.Second
	s.OnEnd = func(err error) {
		if errors.Is(err, chatclient.ErrBadFrame) {
			r.violate("protocol", "%s: %s: %v", name, what, err)
			return
		}
		r.trace(name, "%s ends: %v", what, err)
	}
	s.OnPollError = func(err error) bool {
		if errors.Is(err, chatclient.ErrPermanent) {
			r.violate("refused", "%s: %s refused: %v", name, what, err)
			return true
		}
		r.trace(name, "%s fails: %v", what, err)
		r.stats.transportErrors.Add(1)
		return false
	}
	live, err := client.Open(ctx, ws, s)
	if err != nil {
		return nil, fmt.Errorf("%s: open %s: %w", name, what, err)
	}
	if ws {
		r.stats.wsOpens.Add(1)
	} else {
		r.stats.pollOpens.Add(1)
	}
	return live, nil
}

// rateLimited reports whether err is a 429 answer.
func rateLimited(err error) bool {
	var se *chatclient.StatusError
	return errors.As(err, &se) && se.Status == http.StatusTooManyRequests
}

// transportName names a live transport for traces.
func transportName(ws bool) string {
	if ws {
		return "WebSocket"
	}
	return "long-poll"
}

// parse reads HTML, a page or fragments.
func parse(html string) (*goquery.Document, error) {
	return goquery.NewDocumentFromReader(strings.NewReader(html))
}

func seqAttr(s *goquery.Selection, name string) (int64, bool) {
	v, ok := s.Attr(name)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 64)
	return n, err == nil
}

// widget is the visitor's widget as the server rendered it.
type widget struct {
	chatID, phase, csrf string
	lastSeq             int64
	lines               []line
	// earlier says the page shows the latest lines only: firstSeq is the
	// seq of its first line, before which older ones come on demand.
	earlier  bool
	firstSeq int64
}

// parseWidget finds the widget in a page or a fragment.
func parseWidget(html string) (widget, error) {
	doc, err := parse(html)
	if err != nil {
		return widget{}, err
	}
	sel := doc.Find("section#parley-widget")
	if sel.Length() != 1 {
		return widget{}, fmt.Errorf("%d widgets in %s", sel.Length(), firstBytes(html, 300))
	}
	var w widget
	w.chatID, _ = sel.Attr("data-chat-id")
	w.phase, _ = sel.Attr("data-phase")
	w.csrf, _ = sel.Find(`input[name="parley_csrf"]`).First().Attr("value")
	w.lastSeq, _ = seqAttr(sel, "data-last-seq")
	w.lines = messageLines(sel.Find("ol.parley-log"))
	w.earlier = sel.Find(".parley-earlier").Length() > 0
	w.firstSeq, _ = seqAttr(sel.Find("ol.parley-log > li").First(), "data-seq")
	if w.csrf == "" {
		return widget{}, fmt.Errorf("no parley_csrf field in the widget")
	}
	return w, nil
}

// messageLines are the message lines of a transcript list.
func messageLines(list *goquery.Selection) []line {
	var lines []line
	list.Find("li.parley-message").Each(func(_ int, li *goquery.Selection) {
		seq, _ := seqAttr(li, "data-seq")
		lines = append(lines, line{seq: seq, text: strings.TrimSpace(li.Find(".parley-text").Text())})
	})
	return lines
}

// withEarlier fetches the lines before the page's first, page by page, as
// chat.js does when the visitor scrolls up, so that w holds the whole
// transcript.
func withEarlier(ctx context.Context, client *chatclient.Client, w *widget) error {
	for w.earlier {
		html, err := client.Do(ctx, http.MethodGet, "/chat/transcript?before="+strconv.FormatInt(w.firstSeq, 10), nil, http.Header{"Hx-Request": {"true"}})
		if err != nil {
			return err
		}
		doc, err := parse(html)
		if err != nil {
			return err
		}
		page := doc.Find(".parley-earlier-page")
		first, ok := seqAttr(page.Find("ol > li").First(), "data-seq")
		if !ok || first >= w.firstSeq {
			return fmt.Errorf("the lines before seq %d came back without earlier ones: %s", w.firstSeq, firstBytes(html, 300))
		}
		w.lines = append(messageLines(page.Find("ol")), w.lines...)
		w.firstSeq, w.earlier = first, page.Find(".parley-earlier").Length() > 0
	}
	return nil
}

// pane is one chat in the agent console.
type pane struct {
	id      string
	lastSeq int64
	live    string
	lines   map[int64]string
}

func parsePane(s *goquery.Selection) *pane {
	p := &pane{lines: map[int64]string{}}
	p.id, _ = s.Attr("data-chat-id")
	p.lastSeq, _ = seqAttr(s, "data-last-seq")
	p.live, _ = s.Attr("data-live")
	s.Find("li.agent-line.agent-message").Each(func(_ int, li *goquery.Selection) {
		if seq, ok := seqAttr(li, "data-seq"); ok {
			p.lines[seq] = strings.TrimSpace(li.Find(".agent-text").Text())
		}
	})
	return p
}

// sorted is the pane's transcript in seq order, as the console shows it.
func (p *pane) sorted() []line {
	var out []line
	for seq, text := range p.lines {
		out = append(out, line{seq: seq, text: text})
	}
	sortLines(out)
	return out
}

func sortLines(ls []line) {
	slices.SortFunc(ls, func(a, b line) int { return cmp.Compare(a.seq, b.seq) })
}
