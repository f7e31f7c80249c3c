package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/parley/parley/chatstate"
)

// maxBatch bounds the Updates that share one transaction, so that one
// commit's wait stays short under any load.
const maxBatch = 256

var errClosed = errors.New("sqlite: store closed")

// groupCommit runs Updates in batches: every Update that is waiting when
// the previous batch commits joins the next one, which commits (and syncs
// to disk) once for all of them. Each still returns only after its own
// commit, so an acknowledged send is as durable as before, but a busy
// server pays one fsync per batch rather than per message. An idle one
// pays nothing: a lone Update commits at once.
type groupCommit struct {
	db       *sql.DB
	requests chan *updateRequest
	closing  chan struct{}
	done     chan struct{}
}

type updateRequest struct {
	ctx    context.Context
	id     string
	change func(*chatstate.Chat) ([]chatstate.Event, error)
	result chan updateResult
}

type updateResult struct {
	chat   chatstate.Chat
	events []chatstate.Event
	err    error
}

func newGroupCommit(db *sql.DB) *groupCommit {
	g := &groupCommit{db: db, requests: make(chan *updateRequest), closing: make(chan struct{}), done: make(chan struct{})}
	go g.run()
	return g
}

// update hands one Update to the committer and waits for its commit. Once
// handed over it is waited for even if ctx ends, so that what was
// committed is reported as committed.
func (g *groupCommit) update(ctx context.Context, id string, change func(*chatstate.Chat) ([]chatstate.Event, error)) (chatstate.Chat, []chatstate.Event, error) {
	r := &updateRequest{ctx: ctx, id: id, change: change, result: make(chan updateResult, 1)}
	select {
	case g.requests <- r:
	case <-ctx.Done():
		return chatstate.Chat{}, nil, ctx.Err()
	case <-g.closing:
		return chatstate.Chat{}, nil, errClosed
	}
	res := <-r.result
	return res.chat, res.events, res.err
}

// close lets the batch in progress finish and refuses later Updates.
func (g *groupCommit) close() {
	close(g.closing)
	<-g.done
}

func (g *groupCommit) run() {
	defer close(g.done)
	batch := make([]*updateRequest, 0, maxBatch)
	for {
		select {
		case r := <-g.requests:
			batch = append(batch[:0], r)
		case <-g.closing:
			return
		}
		// Everyone already waiting joins: the requests channel is
		// unbuffered, so these are senders blocked in update.
	fill:
		for len(batch) < maxBatch {
			select {
			case r := <-g.requests:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		g.commit(batch)
	}
}

// commit runs batch in one transaction. Each Update sits in a savepoint of
// its own, so one that fails leaves the others' writes in place.
func (g *groupCommit) commit(batch []*updateRequest) {
	results := make([]updateResult, len(batch))
	reply := func() {
		for i, r := range batch {
			r.result <- results[i]
		}
	}
	defer reply()
	fail := func(err error) {
		for i := range results {
			if results[i].err == nil {
				results[i] = updateResult{err: err}
			}
		}
	}
	// The transaction is the batch's, not one caller's: a caller that
	// gives up must not roll back the others.
	ctx := context.Background()
	tx, err := g.db.BeginTx(ctx, nil)
	if err != nil {
		fail(fmt.Errorf("sqlite: update: begin: %w", err))
		return
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	ptx := &preparedTx{tx: tx, stmts: map[string]*sql.Stmt{}}
	alone := len(batch) == 1
	written := 0
	for i, r := range batch {
		if err := r.ctx.Err(); err != nil {
			results[i].err = err
			continue
		}
		if !alone {
			if _, err := ptx.ExecContext(ctx, "SAVEPOINT one_update"); err != nil {
				fail(fmt.Errorf("sqlite: update: savepoint: %w", err))
				return
			}
		}
		c, evs, err := updateGuarded(ctx, ptx, r.id, r.change)
		if err != nil {
			results[i].err = err
			if !alone {
				_, rerr := ptx.ExecContext(ctx, "ROLLBACK TO one_update")
				if rerr == nil {
					_, rerr = ptx.ExecContext(ctx, "RELEASE one_update")
				}
				if rerr != nil {
					fail(fmt.Errorf("sqlite: update: roll back to savepoint: %w", rerr))
					return
				}
			}
			continue
		}
		if !alone {
			if _, err := ptx.ExecContext(ctx, "RELEASE one_update"); err != nil {
				fail(fmt.Errorf("sqlite: update: release savepoint: %w", err))
				return
			}
		}
		results[i] = updateResult{chat: c, events: evs}
		written++
	}
	if written == 0 {
		return
	}
	if err := tx.Commit(); err != nil {
		err = fmt.Errorf("sqlite: update: commit: %w", err)
		for i := range results {
			if results[i].err == nil {
				results[i] = updateResult{err: err}
			}
		}
	}
}

// updateGuarded is updateIn that turns a panic in change into that
// Update's error: change runs on the committer's goroutine, where a panic
// would take the whole server down rather than one request.
func updateGuarded(ctx context.Context, tx *preparedTx, id string, change func(*chatstate.Chat) ([]chatstate.Event, error)) (c chatstate.Chat, evs []chatstate.Event, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("sqlite: update chat %s: panic: %v", id, p)
		}
	}()
	return updateIn(ctx, tx, id, change)
}

// preparedTx prepares each statement once per batch: under load a batch
// holds many Updates, and parsing the same SQL for each of them cost more
// than running it. (The writer pool's one connection is the batch's, so
// statements are prepared on the transaction itself.)
type preparedTx struct {
	tx    *sql.Tx
	stmts map[string]*sql.Stmt
}

func (p *preparedTx) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	st, ok := p.stmts[query]
	if !ok {
		var err error
		if st, err = p.tx.PrepareContext(ctx, query); err != nil {
			return nil, err
		}
		p.stmts[query] = st
	}
	return st, nil
}

func (p *preparedTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := p.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

func (p *preparedTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := p.stmt(ctx, query)
	if err != nil {
		// The same query on the transaction fails alike, inside a Row.
		return p.tx.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}
