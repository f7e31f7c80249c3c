package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// maxBatch bounds the writes that share one transaction, so that one
// commit's wait stays short under any load.
const maxBatch = 256

var errClosed = errors.New("sqlite: store closed")

// groupCommit runs every write of the store in batches: every write that
// is waiting when the previous batch commits joins the next one, which
// commits (and syncs to disk) once for all of them. Each still returns only
// after its own commit, so an acknowledged send is as durable as before,
// but a busy server pays one fsync per batch rather than per message. An
// idle one pays nothing: a lone write commits at once.
//
// The committer holds the store's one writer connection for its whole
// life, so its statements are prepared once, not once per batch: parsing
// them again for every small batch was a sixth of the writes' CPU.
type groupCommit struct {
	requests chan *writeRequest
	closing  chan struct{}
	done     chan struct{}
}

// write is one write of the store, run inside a batch's transaction. It
// must be quick and do no I/O of its own: the batch waits for it.
type write func(ctx context.Context, tx *batchTx) error

type writeRequest struct {
	ctx    context.Context
	write  write
	result chan error
}

// newGroupCommit takes conn, the writer connection, for the committer.
func newGroupCommit(conn *sql.Conn) *groupCommit {
	g := &groupCommit{requests: make(chan *writeRequest), closing: make(chan struct{}), done: make(chan struct{})}
	go g.run(&batchTx{conn: conn, stmts: map[string]*sql.Stmt{}})
	return g
}

// do hands w to the committer and waits for its commit. Once handed over
// it is waited for even if ctx ends, so that what was committed is
// reported as committed.
func (g *groupCommit) do(ctx context.Context, w write) error {
	r := &writeRequest{ctx: ctx, write: w, result: make(chan error, 1)}
	select {
	case g.requests <- r:
	case <-ctx.Done():
		return ctx.Err()
	case <-g.closing:
		return errClosed
	}
	return <-r.result
}

// close lets the batch in progress finish and refuses later writes.
func (g *groupCommit) close() {
	close(g.closing)
	<-g.done
}

func (g *groupCommit) run(tx *batchTx) {
	defer close(g.done)
	defer tx.close()
	batch := make([]*writeRequest, 0, maxBatch)
	for {
		select {
		case r := <-g.requests:
			batch = append(batch[:0], r)
		case <-g.closing:
			return
		}
		// Everyone already waiting joins: the requests channel is
		// unbuffered, so these are senders blocked in do.
	fill:
		for len(batch) < maxBatch {
			select {
			case r := <-g.requests:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		g.commit(tx, batch)
	}
}

// commit runs batch in one transaction. Each write sits in a savepoint of
// its own, so one that fails leaves the others' in place.
func (g *groupCommit) commit(tx *batchTx, batch []*writeRequest) {
	results := make([]error, len(batch))
	defer func() {
		for i, r := range batch {
			r.result <- results[i]
		}
	}()
	fail := func(err error) {
		for i := range results {
			if results[i] == nil {
				results[i] = err
			}
		}
	}
	// The transaction is the batch's, not one caller's: a caller that
	// gives up must not roll back the others.
	ctx := context.Background()
	// IMMEDIATE takes the write lock before the first read, so the
	// transaction never has to upgrade a read lock, which is what
	// deadlocks into SQLITE_BUSY with deferred transactions.
	if _, err := tx.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		fail(fmt.Errorf("sqlite: begin: %w", err))
		return
	}
	alone := len(batch) == 1
	written := 0
	for i, r := range batch {
		if err := r.ctx.Err(); err != nil {
			results[i] = err
			continue
		}
		if !alone {
			if _, err := tx.ExecContext(ctx, "SAVEPOINT one_write"); err != nil {
				fail(fmt.Errorf("sqlite: savepoint: %w", err))
				tx.rollback()
				return
			}
		}
		if err := writeGuarded(ctx, tx, r.write); err != nil {
			results[i] = err
			if !alone {
				_, rerr := tx.ExecContext(ctx, "ROLLBACK TO one_write")
				if rerr == nil {
					_, rerr = tx.ExecContext(ctx, "RELEASE one_write")
				}
				if rerr != nil {
					fail(fmt.Errorf("sqlite: roll back to savepoint: %w", rerr))
					tx.rollback()
					return
				}
			}
			continue
		}
		if !alone {
			if _, err := tx.ExecContext(ctx, "RELEASE one_write"); err != nil {
				fail(fmt.Errorf("sqlite: release savepoint: %w", err))
				tx.rollback()
				return
			}
		}
		written++
	}
	if written == 0 {
		tx.rollback()
		return
	}
	if _, err := tx.ExecContext(ctx, "COMMIT"); err != nil {
		fail(fmt.Errorf("sqlite: commit: %w", err))
		tx.rollback()
	}
}

// writeGuarded is w that turns a panic into w's error: writes run on the
// committer's goroutine, where a panic would take the whole server down
// rather than fail one request.
func writeGuarded(ctx context.Context, tx *batchTx, w write) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("sqlite: write: panic: %v", p)
		}
	}()
	return w(ctx, tx)
}

// batchTx runs a batch's statements on the writer connection, each
// prepared the first time it is used and kept for the next batches. Only
// the committer's goroutine uses it.
type batchTx struct {
	conn  *sql.Conn
	stmts map[string]*sql.Stmt
}

func (t *batchTx) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	st, ok := t.stmts[query]
	if !ok {
		var err error
		if st, err = t.conn.PrepareContext(ctx, query); err != nil {
			return nil, err
		}
		t.stmts[query] = st
	}
	return st, nil
}

func (t *batchTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := t.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

func (t *batchTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := t.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

func (t *batchTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := t.stmt(ctx, query)
	if err != nil {
		// The same query run directly fails alike, inside a Row.
		return t.conn.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

// rollback ends a transaction that will not commit. After a failed COMMIT
// SQLite may have rolled back already, so its error is of no interest.
func (t *batchTx) rollback() {
	_, _ = t.conn.ExecContext(context.Background(), "ROLLBACK")
}

func (t *batchTx) close() {
	for _, st := range t.stmts {
		st.Close()
	}
	t.conn.Close()
}
