// Package postgres stores chats and their event logs in PostgreSQL, through
// pgx and a pgxpool.Pool. It is the backend for several Parley processes
// sharing one database (DESIGN §7).
//
// Every Update locks its chat's row (SELECT … FOR UPDATE), so writers of
// one chat are serialized across processes: seqs are contiguous and a
// retried send (same ClientID) is stored once, whichever instance it
// reaches. A commit that appends events also sends
// NOTIFY parley_events, 'CHATID:SEQ' (see Channel), so that other
// instances can LISTEN and then read the log by seq: a Listener does, for
// a chatstate.Service, whose hub then publishes every instance's commits.
// Store is also the chatstate.Cluster of the instances: work under an
// advisory lock, presence written for all, and rate buckets they share.
//
// The schema is migrated at Open, under an advisory lock, so several
// instances may start at once. PostgreSQL 13 or newer is expected.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parley/parley/chatstate"
)

var _ chatstate.Store = (*Store)(nil)

// Channel is the NOTIFY channel Update announces appended events on. The
// payload is the chat's id, a colon and the chat's new last seq
// ("chat-abc:42"); a listener reads the log after the seq it has.
// Notifications are only a wake-up: the log is the truth, and a listener
// that missed some reads everything after its last seq.
const Channel = "parley_events"

// Store is a chatstate.Store backed by a PostgreSQL database.
// It is safe for concurrent use, and several Stores, in one process or
// many, may share one database.
type Store struct {
	pool *pgxpool.Pool
	// sweepMu guards swept, when refilled rate buckets were last deleted.
	sweepMu sync.Mutex
	swept   time.Time
}

// Open connects to the database at url (postgres://user:pass@host/db?…,
// or any form pgx accepts) and brings its schema up to date.
//
// Unless url sets pool_max_conns, the pool holds up to
// max(16, 4×GOMAXPROCS) connections: an Update holds one until its commit
// is on disk, and concurrent commits share their WAL flushes.
func Open(ctx context.Context, url string) (*Store, error) {
	cfg, err := poolConfig(url)
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	return &Store{pool: pool}, nil
}

// poolConfig parses url and fills in Parley's defaults where it sets none.
func poolConfig(url string) (*pgxpool.Config, error) {
	if url == "" {
		return nil, errors.New("postgres: empty database URL")
	}
	// Errors of pgx's parser hide the password.
	conn, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if _, set := conn.RuntimeParams["pool_max_conns"]; !set {
		cfg.MaxConns = int32(max(16, 4*runtime.GOMAXPROCS(0)))
	}
	if _, set := conn.RuntimeParams["application_name"]; !set {
		// Names Parley's sessions in pg_stat_activity.
		cfg.ConnConfig.RuntimeParams["application_name"] = "parley"
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		// A black-holed server should fail Open, not hang it.
		cfg.ConnConfig.ConnectTimeout = 10 * time.Second
	}
	return cfg, nil
}

// Close closes the pool's connections; queries in flight finish first.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// Pool returns the store's connection pool, for what is not a store
// method, such as LISTEN on Channel. The pool belongs to the Store: Close
// closes it.
func (s *Store) Pool() *pgxpool.Pool {
	return s.pool
}
