package chatclient

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
)

// csrfField is the name of the token field of Parley's forms.
const csrfField = "parley_csrf"

// The few attributes a client reads from Parley's HTML. A regular
// expression is enough: the markup is Parley's own, and a DOM parser per
// page would make the load tool's clients, not the server, the
// bottleneck.
var (
	widgetTag   = regexp.MustCompile(`<section id="parley-widget"[^>]*>`)
	csrfInput   = regexp.MustCompile(`name="parley_csrf" value="([^"]*)"`)
	csrfMeta    = regexp.MustCompile(`<meta name="parley-csrf-token" content="([^"]*)"`)
	queueTag    = regexp.MustCompile(`id="agent-queue-list"[^>]*data-version="([^"]*)"`)
	chatIDAttr  = regexp.MustCompile(`data-chat-id="([^"]*)"`)
	phaseAttr   = regexp.MustCompile(`data-phase="([^"]*)"`)
	lastSeqAttr = regexp.MustCompile(`data-last-seq="([0-9]*)"`)
)

// Widget is what a client needs of the widget a page or a form's answer
// renders.
type Widget struct {
	ChatID, Phase string
	// CSRF is the token of the widget's forms and of POST /chat/frames.
	CSRF string
	// LastSeq is the seq of the newest event the widget shows: where a
	// live transport resumes from.
	LastSeq int64
}

// ParseWidget finds the widget in a page or a fragment.
func ParseWidget(html string) (Widget, error) {
	tag := widgetTag.FindString(html)
	if tag == "" {
		return Widget{}, fmt.Errorf("no widget in %s", firstBytes(html, 300))
	}
	var w Widget
	if m := chatIDAttr.FindStringSubmatch(tag); m != nil {
		w.ChatID = m[1]
	}
	if m := phaseAttr.FindStringSubmatch(tag); m != nil {
		w.Phase = m[1]
	}
	if m := lastSeqAttr.FindStringSubmatch(tag); m != nil {
		w.LastSeq, _ = strconv.ParseInt(m[1], 10, 64)
	}
	if m := csrfInput.FindStringSubmatch(html); m != nil {
		w.CSRF = m[1]
	}
	if w.CSRF == "" {
		return Widget{}, fmt.Errorf("no %s field in the widget", csrfField)
	}
	return w, nil
}

// LoadWidget loads a page of the site and reads its widget.
func (c *Client) LoadWidget(ctx context.Context, page string) (Widget, error) {
	html, err := c.Get(ctx, page)
	if err != nil {
		return Widget{}, err
	}
	return ParseWidget(html)
}

// StartChat posts the widget's "Start chat" form from page returnTo.
func (c *Client) StartChat(ctx context.Context, csrf, returnTo string) (Widget, error) {
	return c.postWidget(ctx, "/chat/start", csrf, url.Values{"return_to": {returnTo}})
}

// Register posts the registration form (first_name, email, …) from page
// returnTo; the chat then waits in the queue.
func (c *Client) Register(ctx context.Context, csrf, returnTo string, fields url.Values) (Widget, error) {
	form := url.Values{"return_to": {returnTo}}
	for k, v := range fields {
		form[k] = v
	}
	return c.postWidget(ctx, "/chat/register", csrf, form)
}

func (c *Client) postWidget(ctx context.Context, path, csrf string, form url.Values) (Widget, error) {
	html, err := c.PostForm(ctx, path, csrf, form)
	if err != nil {
		return Widget{}, err
	}
	return ParseWidget(html)
}

// Console is what an agent's client needs of the console page.
type Console struct {
	// CSRF is the token of the console's forms.
	CSRF string
	// Queue is the queue list's data-version, where the feed resumes.
	Queue string
}

// ParseConsole reads the console page.
func ParseConsole(html string) (Console, error) {
	meta := csrfMeta.FindStringSubmatch(html)
	if meta == nil {
		return Console{}, fmt.Errorf("not the console: %s", firstBytes(html, 200))
	}
	con := Console{CSRF: meta[1]}
	if q := queueTag.FindStringSubmatch(html); q != nil {
		con.Queue = q[1]
	}
	return con, nil
}

// LoginToken loads the sign-in page, which sets the CSRF cookie, and
// returns its form's token.
func (c *Client) LoginToken(ctx context.Context) (string, error) {
	html, err := c.Get(ctx, "/agent/login")
	if err != nil {
		return "", err
	}
	m := csrfInput.FindStringSubmatch(html)
	if m == nil || m[1] == "" {
		return "", fmt.Errorf("no %s on the sign-in page: %w", csrfField, ErrPermanent)
	}
	return m[1], nil
}

// SignIn posts the sign-in form as a browser does (a plain post, whose
// answer redirects to the console) with the token of LoginToken, and reads
// the console it lands on.
func (c *Client) SignIn(ctx context.Context, token, name, password string) (Console, error) {
	html, err := c.postPlain(ctx, "/agent/login", url.Values{"name": {name}, "password": {password}, csrfField: {token}})
	if err != nil {
		return Console{}, err
	}
	con, err := ParseConsole(html)
	if err != nil {
		return Console{}, errors.Join(err, ErrPermanent)
	}
	return con, nil
}

// Accept takes a waiting chat, as the queue's Accept button does; the
// answer is the console's fragments.
func (c *Client) Accept(ctx context.Context, csrf, chatID string) (string, error) {
	return c.PostForm(ctx, "/agent/chats/"+chatID+"/accept", csrf, nil)
}

// Reply posts an agent's message in a chat; clientID makes a retried post
// stored once. The answer is the console's fragments, the message's line
// among them.
func (c *Client) Reply(ctx context.Context, csrf, chatID, clientID, text string) (string, error) {
	return c.PostForm(ctx, "/agent/chats/"+chatID+"/messages", csrf, url.Values{"client_id": {clientID}, "text": {text}})
}
