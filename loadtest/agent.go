package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/parley/parley/chatclient"
	"github.com/parley/parley/handlers/live/wire"
)

// agent is one agent at the console, as agent.js drives it: signed in, the
// live feed open (which carries every chat's events), accepting chats and
// posting replies as forms with client ids.
type agent struct {
	w        *world
	idx      int
	name     string
	password string
	client   *chatclient.Client
	console  chatclient.Console
	nextID   int

	mu   sync.Mutex
	feed *chatclient.Live
	// seen holds the visitor messages on their way to the console, by
	// text, with when they were sent: their arrival in the feed is the
	// "feed" latency.
	seen map[string]time.Time
}

func newAgent(w *world, idx int, name, password string) *agent {
	client := newBrowserClient(w.base, sourceAddr(idx))
	client.Dialer.ReadBufferSize = 4096 // the feed's frames carry every chat's fragments
	return &agent{w: w, idx: idx, name: name, password: password, client: client, seen: map[string]time.Time{}}
}

// signIn signs in with the form and loads the console.
func (a *agent) signIn(ctx context.Context) error {
	if a.w.baseline {
		return nil
	}
	token, err := a.client.LoginToken(ctx)
	if err != nil {
		return fmt.Errorf("sign-in page: %w", err)
	}
	// A plain form post: the answer redirects to the console, which the
	// client follows as a browser does.
	if a.console, err = a.client.SignIn(ctx, token, a.name, a.password); err != nil {
		return fmt.Errorf("sign in as %s (is the agent configured? see docs/operations.md, Load tool): %w", a.name, err)
	}
	return nil
}

// openFeed opens the console's live feed and waits for its resume frame.
func (a *agent) openFeed(ctx context.Context) error {
	var size int
	live, err := a.client.Open(ctx, true, chatclient.Stream{
		Console: true,
		Query:   func() url.Values { return url.Values{"queue": {a.console.Queue}, "chats": {""}} },
		OnRead:  func(n int) { size = n },
		OnFrame: func(f wire.Server) bool {
			if f.HTML != "" {
				a.arrived(f.HTML)
			}
			a.w.st.ok("feed-frame", 0, size)
			return true
		},
		OnEnd: func(err error) {
			if errors.Is(err, chatclient.ErrBadFrame) {
				a.w.st.fail("feed", "undecodable", err)
			}
		},
	})
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.feed = live
	a.mu.Unlock()
	select {
	case <-live.Ready():
		return nil
	case <-live.Down():
		return errors.New("the console feed closed before its resume frame")
	case <-time.After(10 * time.Second):
		return fmt.Errorf("no resume frame on the console feed: %w", context.DeadlineExceeded)
	}
}

// arrived records the visitor messages that a feed frame shows.
func (a *agent) arrived(html string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for text, at := range a.seen {
		if strings.Contains(html, text) {
			delete(a.seen, text)
			a.w.st.ok("feed", time.Since(at), 0)
		}
	}
}

// expect notes a visitor message on its way to this agent's console.
func (a *agent) expect(text string, at time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.seen) > 1000 {
		// Messages the feed never showed (a dropped feed): counted once.
		for t, when := range a.seen {
			if time.Since(when) > time.Minute {
				delete(a.seen, t)
				a.w.st.fail("feed", "never-shown", fmt.Errorf("message %s never reached %s's console", t, a.name))
			}
		}
	}
	a.seen[text] = at
}

// accept takes a waiting chat, as the queue's Accept button does.
func (a *agent) accept(ctx context.Context, chatID string) error {
	if a.w.baseline {
		return nil
	}
	_, err := a.client.Accept(ctx, a.console.CSRF, chatID)
	return err
}

// reply posts a reply in v's chat; the visitor's transport should deliver
// it.
func (a *agent) reply(ctx context.Context, v *visitor) {
	a.mu.Lock()
	a.nextID++
	id := fmt.Sprintf("a%d-%d", a.idx, a.nextID)
	a.mu.Unlock()
	start := time.Now()
	v.expectReply(id, start)
	_, err := a.client.Reply(ctx, a.console.CSRF, v.chatID, id, "r-"+id)
	if err != nil {
		v.forgetReply(id)
		if ctx.Err() == nil {
			a.w.st.fail("reply", errKind(err), err)
		}
		return
	}
	a.w.st.ok("reply", time.Since(start), 0)
}

// close closes the feed.
func (a *agent) close() {
	a.mu.Lock()
	feed := a.feed
	a.feed = nil
	a.mu.Unlock()
	if feed != nil {
		feed.Abort()
	}
	a.client.HTTP.CloseIdleConnections()
}
