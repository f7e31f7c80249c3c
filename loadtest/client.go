package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The frames of docs/PROTOCOL.md, as far as the load tool reads them.
type wireClientFrame struct {
	Type     string `json:"type"`
	LastSeq  int64  `json:"lastSeq,omitempty"`
	ClientID string `json:"clientId,omitempty"`
	Text     string `json:"text,omitempty"`
}

type wireEvent struct {
	Seq      int64  `json:"seq"`
	Kind     string `json:"kind"`
	Text     string `json:"text,omitempty"`
	ClientID string `json:"clientId,omitempty"`
}

type wireError struct {
	Code int    `json:"code"`
	Name string `json:"name"`
}

type wireServerFrame struct {
	Type      string     `json:"type"`
	Recovered *bool      `json:"recovered,omitempty"`
	LastSeq   int64      `json:"lastSeq,omitempty"`
	Event     *wireEvent `json:"event,omitempty"`
	HTML      string     `json:"html,omitempty"`
	Widget    string     `json:"widget,omitempty"`
	ClientID  string     `json:"clientId,omitempty"`
	Seq       int64      `json:"seq,omitempty"`
	Error     *wireError `json:"error,omitempty"`
}

const (
	requestTimeout = 30 * time.Second
	// pollTimeout bounds a long-poll, which the server holds up to 25 s.
	pollTimeout = 40 * time.Second
)

// sourceAddr is the loopback address of client number i: 127.a.b.c with c
// in 1..254, from 127.1.0.1 on, so that each visitor comes from an address
// of its own as on the Internet, and Parley's per-address limits and the
// kernel's ephemeral ports per address are not shared.
func sourceAddr(i int) netip.Addr {
	const perB = 254
	c := 1 + i%perB
	b := (i / perB) % 256
	a := 1 + i/(perB*256)
	if a > 254 {
		a = 1 + a%254
	}
	return netip.AddrFrom4([4]byte{127, byte(a), byte(b), byte(c)})
}

// dialerFrom dials from local, as one browser on one machine does.
func dialerFrom(local netip.Addr) *net.Dialer {
	return &net.Dialer{LocalAddr: &net.TCPAddr{IP: local.AsSlice()}, Timeout: 10 * time.Second}
}

// newBrowserClient is one browser's HTTP side: its own cookies and
// keep-alive connections, from its own address.
func newBrowserClient(local netip.Addr) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{
		Jar: jar,
		Transport: &http.Transport{
			DialContext:         dialerFrom(local).DialContext,
			MaxIdleConnsPerHost: 2,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
			// Browsers keep one connection per long-poll and one for the rest.
			MaxConnsPerHost: 4,
		},
	}
}

// statusError is a refused request.
type statusError struct {
	method, path string
	status       int
	body         string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("%s %s: %d %s", e.method, e.path, e.status, firstBytes(strings.TrimSpace(e.body), 160))
}

func firstBytes(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// errKind sorts an error for the report's error counts.
func errKind(err error) string {
	var se *statusError
	switch {
	case errors.As(err, &se):
		return strconv.Itoa(se.status)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "reset"
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		return "too-many-files"
	case errors.Is(err, syscall.EADDRNOTAVAIL), errors.Is(err, syscall.EADDRINUSE):
		return "no-port"
	case errors.Is(err, errAckTimeout):
		return "no-ack"
	case errors.Is(err, errRefusedFrame):
		return "error-frame"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	return "other"
}

var (
	errAckTimeout   = errors.New("no ack in time")
	errRefusedFrame = errors.New("the server refused the frame")
)

// do sends one request and reads its answer; a non-2xx answer is an error.
func do(ctx context.Context, client *http.Client, method, target string, body io.Reader, header http.Header) (string, error) {
	timeout := requestTimeout
	if strings.Contains(target, "/poll") {
		timeout = pollTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return "", err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode/100 != 2 {
		return string(data), &statusError{method: method, path: req.URL.Path, status: resp.StatusCode, body: string(data)}
	}
	return string(data), nil
}

// postForm posts a form as the widget's and the console's scripts do:
// HX-Request and the CSRF header beside the field.
func postForm(ctx context.Context, client *http.Client, target, csrf string, form url.Values) (string, error) {
	form.Set("parley_csrf", csrf)
	h := http.Header{}
	h.Set("Content-Type", "application/x-www-form-urlencoded")
	h.Set("HX-Request", "true")
	h.Set("X-Parley-CSRF", csrf)
	return do(ctx, client, http.MethodPost, target, strings.NewReader(form.Encode()), h)
}

// The few attributes the tool reads from Parley's HTML. A regular
// expression is enough: the markup is Parley's own, and a DOM parser per
// page would make the clients, not the server, the bottleneck.
var (
	widgetTag   = regexp.MustCompile(`<section id="parley-widget"[^>]*>`)
	csrfField   = regexp.MustCompile(`name="parley_csrf" value="([^"]*)"`)
	csrfMeta    = regexp.MustCompile(`<meta name="parley-csrf-token" content="([^"]*)"`)
	queueTag    = regexp.MustCompile(`id="agent-queue-list"[^>]*data-version="([^"]*)"`)
	chatIDAttr  = regexp.MustCompile(`data-chat-id="([^"]*)"`)
	phaseAttr   = regexp.MustCompile(`data-phase="([^"]*)"`)
	lastSeqAttr = regexp.MustCompile(`data-last-seq="([0-9]*)"`)
)

// widgetState is what the tool needs of a rendered widget.
type widgetState struct {
	chatID, phase, csrf string
	lastSeq             int64
}

func parseWidget(html string) (widgetState, error) {
	tag := widgetTag.FindString(html)
	if tag == "" {
		return widgetState{}, fmt.Errorf("no widget in %s", firstBytes(html, 200))
	}
	var w widgetState
	if m := chatIDAttr.FindStringSubmatch(tag); m != nil {
		w.chatID = m[1]
	}
	if m := phaseAttr.FindStringSubmatch(tag); m != nil {
		w.phase = m[1]
	}
	if m := lastSeqAttr.FindStringSubmatch(tag); m != nil {
		w.lastSeq, _ = strconv.ParseInt(m[1], 10, 64)
	}
	if m := csrfField.FindStringSubmatch(html); m != nil {
		w.csrf = m[1]
	}
	return w, nil
}

// sleepCtx sleeps d unless ctx ends first.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
