package chatclient

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/websocket"
)

// ErrPermanent marks an answer that retrying will not change: a refusal
// other than a rate limit or an unavailable server.
var ErrPermanent = errors.New("permanent")

// StatusError is a request the server answered with a status other than
// 2xx, or a refused WebSocket handshake.
type StatusError struct {
	Method, Path string
	Status       int
	Body         string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s %s: %d %s", e.Method, e.Path, e.Status, firstBytes(strings.TrimSpace(e.Body), 200))
}

// Is makes a refusal other than 429 or 5xx match ErrPermanent.
func (e *StatusError) Is(target error) bool {
	return target == ErrPermanent && e.Status != http.StatusTooManyRequests && e.Status < 500
}

// Client is one browser's side of a Parley site: its HTTP client (with its
// cookie jar) and its WebSocket dialer, for one origin.
type Client struct {
	// Base is the site's origin, like http://127.0.0.1:40123; requests
	// name paths under it.
	Base string
	// HTTP sends the requests; its Jar holds the browser's cookies and is
	// the dialer's too. It should follow redirects, as a browser does
	// after a plain form post (http.Client does).
	HTTP *http.Client
	// Dialer opens WebSockets; its Jar is set to HTTP's.
	Dialer websocket.Dialer
	// Timeout bounds a request (0: 30 s), PollTimeout a long-poll, which
	// the server holds up to 25 s (0: 40 s).
	Timeout, PollTimeout time.Duration
}

// Do sends one request to path (under Base) and reads the answer; an
// answer other than 2xx is a *StatusError.
func (c *Client) Do(ctx context.Context, method, path string, body io.Reader, header http.Header) (string, error) {
	timeout := cmp.Or(c.Timeout, 30*time.Second)
	if strings.Contains(path, "/poll") {
		timeout = cmp.Or(c.PollTimeout, 40*time.Second)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, body)
	if err != nil {
		return "", err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode/100 != 2 {
		return string(data), &StatusError{Method: method, Path: req.URL.Path, Status: resp.StatusCode, Body: string(data)}
	}
	return string(data), nil
}

// Get loads a page.
func (c *Client) Get(ctx context.Context, path string) (string, error) {
	return c.Do(ctx, http.MethodGet, path, nil, nil)
}

// PostForm posts a form as the widget's and the console's scripts do:
// HX-Request, and the CSRF token both as the field and as the header.
func (c *Client) PostForm(ctx context.Context, path, csrf string, form url.Values) (string, error) {
	if form == nil {
		form = url.Values{}
	}
	form.Set(csrfField, csrf)
	h := http.Header{}
	h.Set("Content-Type", "application/x-www-form-urlencoded")
	h.Set("HX-Request", "true")
	h.Set("X-Parley-CSRF", csrf)
	return c.Do(ctx, http.MethodPost, path, strings.NewReader(form.Encode()), h)
}

// postPlain posts a form as a browser without the scripts does.
func (c *Client) postPlain(ctx context.Context, path string, form url.Values) (string, error) {
	return c.Do(ctx, http.MethodPost, path, strings.NewReader(form.Encode()), http.Header{"Content-Type": {"application/x-www-form-urlencoded"}})
}

func firstBytes(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
