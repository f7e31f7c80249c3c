package postgres

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parley/parley/chatstate"
)

var _ chatstate.Outbox = (*Store)(nil)

// The outbox's times are the database's (now()), so that a lease taken by
// one instance lapses at the same moment for all, whatever their clocks.

// queueEnqueue adds the inserts of items to b; an item whose kind and key
// are stored already is left as it is.
func queueEnqueue(b *pgx.Batch, items []chatstate.Outgoing) error {
	for _, o := range items {
		if err := o.Check(); err != nil {
			return err
		}
		b.Queue(`INSERT INTO outbox (kind, key, payload) VALUES ($1, $2, $3)
			ON CONFLICT (kind, key) DO NOTHING`, o.Kind, o.Key, []byte(o.Payload))
	}
	return nil
}

// EnqueueOutbox stores items in one transaction; see chatstate.Outbox.
func (s *Store) EnqueueOutbox(ctx context.Context, items ...chatstate.Outgoing) error {
	var b pgx.Batch
	if err := queueEnqueue(&b, items); err != nil {
		return fmt.Errorf("postgres: outbox: %w", err)
	}
	if b.Len() == 0 {
		return nil
	}
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{}, func(tx pgx.Tx) error {
		return tx.SendBatch(ctx, &b).Close()
	})
	if err != nil {
		return fmt.Errorf("postgres: outbox: %w", err)
	}
	return nil
}

// ClaimOutbox leases up to limit due items of kind to owner; see
// chatstate.Outbox. FOR UPDATE SKIP LOCKED lets instances claiming at the
// same moment each take other items, without waiting for each other; the
// lease, written in the same statement, keeps the items from the claims
// that follow.
func (s *Store) ClaimOutbox(ctx context.Context, kind, owner string, limit int, lease time.Duration) ([]chatstate.OutboxItem, error) {
	if limit <= 0 || owner == "" || lease <= 0 {
		return nil, fmt.Errorf("postgres: claim outbox: want a limit, an owner and a lease")
	}
	rows, err := s.pool.Query(ctx, `UPDATE outbox SET attempts = attempts + 1, lease_owner = $1,
		next_attempt_at = now() + $2 * interval '1 microsecond'
		WHERE id IN (SELECT id FROM outbox WHERE kind = $3 AND sent_at IS NULL AND failed_at IS NULL
			AND next_attempt_at <= now() ORDER BY next_attempt_at, id LIMIT $4 FOR UPDATE SKIP LOCKED)
		RETURNING id, kind, key, payload, created_at, attempts, last_error`,
		owner, lease.Microseconds(), kind, limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: claim outbox: %w", err)
	}
	items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (chatstate.OutboxItem, error) {
		var (
			it      chatstate.OutboxItem
			payload []byte
		)
		err := r.Scan(&it.ID, &it.Kind, &it.Key, &payload, &it.CreatedAt, &it.Attempts, &it.LastError)
		it.Payload = payload
		it.CreatedAt = it.CreatedAt.UTC()
		return it, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: claim outbox: %w", err)
	}
	// RETURNING promises no order.
	slices.SortFunc(items, func(a, b chatstate.OutboxItem) int { return cmp.Compare(a.ID, b.ID) })
	return items, nil
}

// MarkOutboxSent records that item id was sent.
func (s *Store) MarkOutboxSent(ctx context.Context, id int64) error {
	_, err := s.pool.Exec(ctx, `UPDATE outbox SET sent_at = now(), lease_owner = '', last_error = ''
		WHERE id = $1 AND sent_at IS NULL`, id)
	if err != nil {
		return fmt.Errorf("postgres: outbox item %d sent: %w", id, err)
	}
	return nil
}

// RetryOutbox makes item id due again after retryIn, if owner holds it.
func (s *Store) RetryOutbox(ctx context.Context, id int64, owner, reason string, retryIn time.Duration) error {
	return s.release(ctx, id, owner, `UPDATE outbox SET next_attempt_at = now() + $4 * interval '1 microsecond',
		lease_owner = '', last_error = $3
		WHERE id = $1 AND lease_owner = $2 AND sent_at IS NULL AND failed_at IS NULL`,
		id, owner, chatstate.OutboxReason(reason), max(retryIn, 0).Microseconds())
}

// FailOutbox gives item id up, if owner holds it.
func (s *Store) FailOutbox(ctx context.Context, id int64, owner, reason string) error {
	return s.release(ctx, id, owner, `UPDATE outbox SET failed_at = now(), lease_owner = '', last_error = $3
		WHERE id = $1 AND lease_owner = $2 AND sent_at IS NULL AND failed_at IS NULL`,
		id, owner, chatstate.OutboxReason(reason))
}

// release runs query, which ends owner's lease on item id, and reports
// chatstate.ErrLeaseLost when it matched nothing.
func (s *Store) release(ctx context.Context, id int64, owner, query string, args ...any) error {
	tag, err := s.pool.Exec(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("postgres: outbox item %d of %s: %w", id, owner, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: outbox item %d of %s: %w", id, owner, chatstate.ErrLeaseLost)
	}
	return nil
}

// OutboxStats counts the items of kind.
func (s *Store) OutboxStats(ctx context.Context, kind string) (chatstate.OutboxStats, error) {
	var (
		st        chatstate.OutboxStats
		oldestAge *float64
	)
	err := s.pool.QueryRow(ctx, `SELECT
		count(*) FILTER (WHERE sent_at IS NULL AND failed_at IS NULL),
		count(sent_at), count(failed_at),
		extract(epoch FROM now() - min(created_at) FILTER (WHERE sent_at IS NULL AND failed_at IS NULL))::float8
		FROM outbox WHERE kind = $1`, kind).Scan(&st.Queued, &st.Sent, &st.Failed, &oldestAge)
	if err != nil {
		return chatstate.OutboxStats{}, fmt.Errorf("postgres: outbox stats: %w", err)
	}
	if oldestAge != nil {
		st.OldestQueued = max(0, time.Duration(*oldestAge*float64(time.Second)))
	}
	return st, nil
}

// PruneOutbox deletes the items of kind sent longer than olderThan ago.
func (s *Store) PruneOutbox(ctx context.Context, kind string, olderThan time.Duration) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM outbox WHERE kind = $1 AND sent_at IS NOT NULL
		AND sent_at < now() - $2 * interval '1 microsecond'`, kind, olderThan.Microseconds())
	if err != nil {
		return 0, fmt.Errorf("postgres: prune outbox: %w", err)
	}
	return tag.RowsAffected(), nil
}
