// Package sqlite stores chats and their event logs in one SQLite file, through
// the pure-Go modernc.org/sqlite driver. It is Parley's default, embedded
// backend for a single instance.
package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	sqlitedrv "modernc.org/sqlite"

	"github.com/parley/parley/chatstate"
)

var _ chatstate.Store = (*Store)(nil)

// busyTimeoutMS bounds how long a connection waits for a lock held by another
// connection (a checkpoint, or another process on the same file) before
// failing with SQLITE_BUSY.
const busyTimeoutMS = 10000

// foldFunc is the SQL name of the Go case-folding function registered on
// every connection; see fold.
const foldFunc = "parley_fold"

// Store is a chatstate.Store backed by a SQLite database file.
// It is safe for concurrent use.
type Store struct {
	// write has a single connection: SQLite allows one writer at a time, and
	// queueing writers in database/sql is fairer and faster than letting
	// them spin in SQLite's busy handler.
	write *sql.DB
	// read serves queries; in WAL mode readers never wait for the writer.
	read *sql.DB
	// commits runs every write, many to a transaction under load, on
	// write's one connection, which it holds.
	commits *groupCommit
	// reads runs the hot queries on read.
	reads *preparedReads
}

// Open opens (creating if needed) the SQLite database at path, creating its
// parent directory too, and brings its schema up to date.
//
// The database runs in WAL mode with synchronous=FULL, so a commit, and so
// every Update that returned, survives a crash or kill -9 of the process.
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" {
		return nil, errors.New("sqlite: empty database path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o750); err != nil {
		return nil, fmt.Errorf("sqlite: create directory: %w", err)
	}

	// A Driver of our own keeps the fold function off the process-wide
	// "sqlite" driver: no package-level registration, no global state.
	drv := &sqlitedrv.Driver{}
	if err := drv.RegisterDeterministicScalarFunction(foldFunc, 1, fold); err != nil {
		return nil, fmt.Errorf("sqlite: register %s: %w", foldFunc, err)
	}

	write := sql.OpenDB(connector{drv: drv, dsn: dsn(abs, true)})
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxIdleTime(0)
	write.SetConnMaxLifetime(0)
	// The writer connection opens first: it switches the file to WAL and
	// migrates the schema before any reader looks at it.
	if err := migrate(ctx, write); err != nil {
		write.Close()
		return nil, err
	}

	read := sql.OpenDB(connector{drv: drv, dsn: dsn(abs, false)})
	// Readers never wait for each other in WAL mode, but a request waits
	// for a free connection: with thousands of live visitors re-polling and
	// restoring, four kept restores queued behind slower queries at a few
	// percent of CPU (loadtest capacity: restore p99 29 ms with 4, 5.3 ms
	// with 16).
	n := max(16, 4*runtime.GOMAXPROCS(0))
	read.SetMaxOpenConns(n)
	read.SetMaxIdleConns(n)
	if err := read.PingContext(ctx); err != nil {
		read.Close()
		write.Close()
		return nil, fmt.Errorf("sqlite: open reader: %w", err)
	}
	conn, err := write.Conn(ctx)
	if err != nil {
		read.Close()
		write.Close()
		return nil, fmt.Errorf("sqlite: open writer: %w", err)
	}
	reads := &preparedReads{db: read, stmts: map[string]*sql.Stmt{}}
	return &Store{write: write, read: read, commits: newGroupCommit(conn), reads: reads}, nil
}

// Close closes the database. Updates in flight finish first.
func (s *Store) Close() error {
	s.commits.close()
	s.reads.close()
	return errors.Join(s.read.Close(), s.write.Close())
}

// dsn builds the driver's connection string for the file at abs.
func dsn(abs string, writer bool) string {
	q := url.Values{}
	q.Set("_busy_timeout", fmt.Sprint(busyTimeoutMS))
	q.Set("_foreign_keys", "1")
	q.Set("_synchronous", "FULL")
	if writer {
		q.Set("_journal_mode", "WAL")
		// For the migrations' transactions; see groupCommit.commit.
		q.Set("_txlock", "immediate")
	} else {
		q.Set("_query_only", "1")
	}
	// The file: URI form lets a path hold '?' or '#' safely escaped.
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs), RawQuery: q.Encode()}
	if !strings.HasPrefix(u.Path, "/") {
		u.Path = "/" + u.Path // a Windows drive letter
	}
	return u.String()
}

// connector opens connections through a private Driver; sql.Open would
// need a process-wide sql.Register under a name of our own.
type connector struct {
	drv *sqlitedrv.Driver
	dsn string
}

// Connect implements driver.Connector.
func (c connector) Connect(ctx context.Context) (driver.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return c.drv.Open(c.dsn)
}

// Driver implements driver.Connector.
func (c connector) Driver() driver.Driver { return c.drv }

// fold lowers its text argument with Go's Unicode tables, so searches are
// case-insensitive beyond ASCII. NULL stays NULL.
func fold(_ *sqlitedrv.FunctionContext, args []driver.Value) (driver.Value, error) {
	switch v := args[0].(type) {
	case string:
		return strings.ToLower(v), nil
	case []byte:
		return strings.ToLower(string(v)), nil
	case nil:
		return nil, nil
	default:
		return strings.ToLower(fmt.Sprint(v)), nil
	}
}

// preparedReads runs the hot queries (a restore's, a replay's) through
// statements prepared once: database/sql keeps each prepared on every
// reader connection that ran it, and parsing the SQL cost more than
// running it.
type preparedReads struct {
	db    *sql.DB
	mu    sync.Mutex
	stmts map[string]*sql.Stmt
}

func (p *preparedReads) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if st, ok := p.stmts[query]; ok {
		return st, nil
	}
	st, err := p.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	p.stmts[query] = st
	return st, nil
}

func (p *preparedReads) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := p.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

func (p *preparedReads) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := p.stmt(ctx, query)
	if err != nil {
		// The same query run directly fails alike, inside a Row.
		return p.db.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

func (p *preparedReads) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, st := range p.stmts {
		st.Close()
	}
}
