package sqlite_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/parley/parley/chatstate"
	"github.com/parley/parley/chatstate/sqlite"
)

// TestGroupCommitKeepsUpdatesApart: Updates that share a commit stay each
// their own. While a first Update holds the writer, 60 more queue up and
// then commit together; the ones whose change fails, or whose caller gave
// up while queued, leave nothing, and every other one lands exactly once.
func TestGroupCommitKeepsUpdatesApart(t *testing.T) {
	ctx := t.Context()
	s := open(t).(*sqlite.Store)
	t.Cleanup(func() { s.Close() })
	const n = 60
	ids := make([]string, n+1)
	for i := range ids {
		ids[i] = fmt.Sprint("chat-", i)
		hash := sha256.Sum256([]byte(ids[i]))
		now := time.Now()
		if err := s.CreateChat(ctx, chatstate.Chat{ID: ids[i], Phase: chatstate.PhaseConnected, CreatedAt: now, UpdatedAt: now}, hash[:]); err != nil {
			t.Fatal(err)
		}
	}
	errRefused := errors.New("refused by change")
	message := func(text string) func(*chatstate.Chat) ([]chatstate.Event, error) {
		return func(c *chatstate.Chat) ([]chatstate.Event, error) {
			c.Page = "/" + text
			return []chatstate.Event{{Kind: chatstate.EventMessage, Time: time.Now(), Text: text, ClientID: text,
				From: chatstate.Party{Type: chatstate.PartyVisitor, Name: "Ada"}}}, nil
		}
	}

	holding, release := make(chan struct{}), make(chan struct{})
	first := make(chan error, 1)
	go func() {
		_, _, err := s.Update(ctx, ids[0], func(c *chatstate.Chat) ([]chatstate.Event, error) {
			close(holding)
			<-release
			return message("first")(c)
		})
		first <- err
	}()
	<-holding

	gaveUp, cancel := context.WithCancel(ctx)
	errs := make([]error, n+1)
	var wg sync.WaitGroup
	for i := 1; i <= n; i++ {
		wg.Go(func() {
			switch {
			case i%3 == 0:
				_, _, errs[i] = s.Update(ctx, ids[i], func(c *chatstate.Chat) ([]chatstate.Event, error) {
					c.Page = "/must-not-land"
					return nil, errRefused
				})
			case i%10 == 1:
				_, _, errs[i] = s.Update(gaveUp, ids[i], message(fmt.Sprint("gave-up-", i)))
			default:
				_, _, errs[i] = s.Update(ctx, ids[i], message(fmt.Sprint("m-", i)))
			}
		})
	}
	time.Sleep(200 * time.Millisecond) // all of them queued behind the first
	cancel()
	close(release)
	wg.Wait()
	if err := <-first; err != nil {
		t.Fatalf("first Update = %v", err)
	}

	for i := 1; i <= n; i++ {
		c, err := s.Chat(ctx, ids[i])
		if err != nil {
			t.Fatal(err)
		}
		evs, err := s.Events(ctx, ids[i], 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case i%3 == 0:
			if !errors.Is(errs[i], errRefused) || len(evs) != 0 || c.Page != "" {
				t.Errorf("chat %d, change failed: Update = %v, %d events, page %q; want the change's error and nothing written", i, errs[i], len(evs), c.Page)
			}
		case i%10 == 1:
			// Given up before its turn: refused, or (had it been taken
			// before the cancel) committed and reported so.
			if errors.Is(errs[i], context.Canceled) == (len(evs) == 1) {
				t.Errorf("chat %d, caller gave up: Update = %v with %d events; want canceled and none, or nil and one", i, errs[i], len(evs))
			}
		default:
			if errs[i] != nil || len(evs) != 1 || evs[0].Seq != 1 || c.LastSeq != 1 || c.Page != fmt.Sprint("/m-", i) {
				t.Errorf("chat %d: Update = %v, events %+v, chat LastSeq %d page %q; want one message at seq 1", i, errs[i], evs, c.LastSeq, c.Page)
			}
		}
	}
}

// TestGroupCommitSurvivesAPanic: a change that panics fails its own Update
// and nothing else: the committer goes on for everyone.
func TestGroupCommitSurvivesAPanic(t *testing.T) {
	ctx := t.Context()
	s := open(t).(*sqlite.Store)
	t.Cleanup(func() { s.Close() })
	hash := sha256.Sum256([]byte("panic"))
	now := time.Now()
	if err := s.CreateChat(ctx, chatstate.Chat{ID: "c", Phase: chatstate.PhaseConnected, CreatedAt: now, UpdatedAt: now}, hash[:]); err != nil {
		t.Fatal(err)
	}
	_, _, err := s.Update(ctx, "c", func(*chatstate.Chat) ([]chatstate.Event, error) { panic("a bug in a change") })
	if err == nil {
		t.Fatal("Update with a panicking change = nil error, want one")
	}
	_, evs, err := s.Update(ctx, "c", func(*chatstate.Chat) ([]chatstate.Event, error) {
		return []chatstate.Event{{Kind: chatstate.EventMessage, Time: time.Now(), Text: "after", From: chatstate.Party{Type: chatstate.PartyVisitor}}}, nil
	})
	if err != nil || len(evs) != 1 || evs[0].Seq != 1 {
		t.Fatalf("the next Update = %+v, %v; want its one event at seq 1", evs, err)
	}
}
