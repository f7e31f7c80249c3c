package postgres

import (
	"context"
	"fmt"
	"hash/fnv"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parley/parley/chatstate"
)

var _ chatstate.Cluster = (*Store)(nil)

// workLock is the advisory lock key of the work named name: a hash, so
// that names need no registry, in a space apart from migrationLock's.
func workLock(name string) int64 {
	h := fnv.New64a()
	h.Write([]byte("parley-work:" + name))
	return int64(h.Sum64())
}

// Exclusive runs fn while holding a transaction-level advisory lock named
// after the work, unless another session holds it, in this process or any
// other on the database; ran reports whether fn ran. The lock is the
// database's, so it goes with the session: an instance killed mid-work
// leaves no lock behind. fn runs its queries on other connections of the
// pool.
func (s *Store) Exclusive(ctx context.Context, name string, fn func(context.Context) error) (bool, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return false, fmt.Errorf("postgres: exclusive %s: %w", name, err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // releases the lock; a no-op after Commit
	var locked bool
	if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock($1)`, workLock(name)).Scan(&locked); err != nil {
		return false, fmt.Errorf("postgres: exclusive %s: %w", name, err)
	}
	if !locked {
		return false, nil
	}
	if err := fn(ctx); err != nil {
		return true, err
	}
	if err := tx.Commit(ctx); err != nil {
		return true, fmt.Errorf("postgres: exclusive %s: release: %w", name, err)
	}
	return true, nil
}

// RecordSeen moves the stored visitor_seen_at of each chat forward to the
// time given (never back), in one statement, for chats not ended. Rows are
// locked in id order, so that instances recording the same chats at once
// cannot deadlock.
func (s *Store) RecordSeen(ctx context.Context, seen map[string]time.Time) error {
	if len(seen) == 0 {
		return nil
	}
	ids := make([]string, 0, len(seen))
	for id := range seen {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	times := make([]time.Time, len(ids))
	for i, id := range ids {
		times[i] = micro(seen[id])
	}
	_, err := s.pool.Exec(ctx, `UPDATE chats c SET visitor_seen_at = v.at
		FROM unnest($1::text[], $2::timestamptz[]) AS v(id, at)
		WHERE c.id = v.id AND c.phase <> $3
		AND (c.visitor_seen_at IS NULL OR c.visitor_seen_at < v.at)`,
		ids, times, string(chatstate.PhaseEnded))
	if err != nil {
		return fmt.Errorf("postgres: record presence of %d chats: %w", len(ids), err)
	}
	return nil
}

// Heads returns the newest seq of each chat of ids and, when live is set,
// of every chat not ended; a chat of ids the store does not have comes
// back Gone.
func (s *Store) Heads(ctx context.Context, ids []string, live bool) ([]chatstate.Head, error) {
	query := `SELECT id, last_seq, phase = $2 FROM chats WHERE id = ANY($1)`
	if live {
		query += ` UNION SELECT id, last_seq, false FROM chats WHERE phase <> $2`
	}
	rows, err := s.pool.Query(ctx, query, ids, string(chatstate.PhaseEnded))
	if err != nil {
		return nil, fmt.Errorf("postgres: heads: %w", err)
	}
	heads, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (chatstate.Head, error) {
		var h chatstate.Head
		err := r.Scan(&h.ChatID, &h.LastSeq, &h.Ended)
		return h, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: heads: %w", err)
	}
	found := make(map[string]struct{}, len(heads))
	for _, h := range heads {
		found[h.ChatID] = struct{}{}
	}
	for _, id := range ids {
		if _, ok := found[id]; !ok {
			heads = append(heads, chatstate.Head{ChatID: id, Gone: true})
		}
	}
	return heads, nil
}
