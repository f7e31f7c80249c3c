package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"

	"github.com/parley/parley/chatstate"
)

var _ chatstate.Outbox = (*Store)(nil)

// The outbox's times are this process's clock: a SQLite file has one
// writer process, so there is no other clock to agree with.

// enqueueIn writes items to the outbox inside tx; an item whose kind and
// key are stored already is left as it is.
func enqueueIn(ctx context.Context, tx *batchTx, items []chatstate.Outgoing) error {
	if len(items) == 0 {
		return nil
	}
	now := toMicros(time.Now())
	for _, o := range items {
		if err := o.Check(); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO outbox (kind, key, payload, created_at, next_attempt_at)
			VALUES (?, ?, ?, ?, ?) ON CONFLICT (kind, key) DO NOTHING`,
			o.Kind, o.Key, string(o.Payload), now, now)
		if err != nil {
			return fmt.Errorf("enqueue %s %q: %w", o.Kind, o.Key, err)
		}
	}
	return nil
}

// EnqueueOutbox stores items in one transaction; see chatstate.Outbox.
func (s *Store) EnqueueOutbox(ctx context.Context, items ...chatstate.Outgoing) error {
	err := s.commits.do(ctx, func(ctx context.Context, tx *batchTx) error {
		return enqueueIn(ctx, tx, items)
	})
	if err != nil {
		return fmt.Errorf("sqlite: outbox: %w", err)
	}
	return nil
}

// ClaimOutbox leases up to limit due items of kind to owner; see
// chatstate.Outbox. The store is one process's, whose writes run one at a
// time, so one UPDATE … RETURNING claims them.
func (s *Store) ClaimOutbox(ctx context.Context, kind, owner string, limit int, lease time.Duration) ([]chatstate.OutboxItem, error) {
	if limit <= 0 || owner == "" || lease <= 0 {
		return nil, fmt.Errorf("sqlite: claim outbox: want a limit, an owner and a lease")
	}
	var items []chatstate.OutboxItem
	err := s.commits.do(ctx, func(ctx context.Context, tx *batchTx) error {
		items = items[:0]
		now := time.Now()
		rows, err := tx.QueryContext(ctx, `UPDATE outbox SET attempts = attempts + 1,
			lease_owner = ?, next_attempt_at = ?
			WHERE id IN (SELECT id FROM outbox WHERE kind = ? AND sent_at IS NULL AND failed_at IS NULL
				AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?)
			RETURNING id, kind, key, payload, created_at, attempts, last_error`,
			owner, toMicros(now.Add(lease)), kind, toMicros(now), limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				it      chatstate.OutboxItem
				payload string
				created sql.NullInt64
			)
			if err := rows.Scan(&it.ID, &it.Kind, &it.Key, &payload, &created, &it.Attempts, &it.LastError); err != nil {
				return err
			}
			it.Payload = []byte(payload)
			it.CreatedAt = fromMicros(created)
			items = append(items, it)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: claim outbox: %w", err)
	}
	// RETURNING promises no order.
	slices.SortFunc(items, func(a, b chatstate.OutboxItem) int { return cmp.Compare(a.ID, b.ID) })
	return items, nil
}

// MarkOutboxSent records that item id was sent.
func (s *Store) MarkOutboxSent(ctx context.Context, id int64) error {
	err := s.commits.do(ctx, func(ctx context.Context, tx *batchTx) error {
		_, err := tx.ExecContext(ctx, `UPDATE outbox SET sent_at = ?, lease_owner = '', last_error = ''
			WHERE id = ? AND sent_at IS NULL`, toMicros(time.Now()), id)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: outbox item %d sent: %w", id, err)
	}
	return nil
}

// RetryOutbox makes item id due again after retryIn, if owner holds it.
func (s *Store) RetryOutbox(ctx context.Context, id int64, owner, reason string, retryIn time.Duration) error {
	return s.release(ctx, id, owner, `UPDATE outbox SET next_attempt_at = ?, lease_owner = '', last_error = ?
		WHERE id = ? AND lease_owner = ? AND sent_at IS NULL AND failed_at IS NULL`,
		toMicros(time.Now().Add(max(retryIn, 0))), chatstate.OutboxReason(reason), id, owner)
}

// FailOutbox gives item id up, if owner holds it.
func (s *Store) FailOutbox(ctx context.Context, id int64, owner, reason string) error {
	return s.release(ctx, id, owner, `UPDATE outbox SET failed_at = ?, lease_owner = '', last_error = ?
		WHERE id = ? AND lease_owner = ? AND sent_at IS NULL AND failed_at IS NULL`,
		toMicros(time.Now()), chatstate.OutboxReason(reason), id, owner)
}

// release runs query, which ends owner's lease on item id, and reports
// chatstate.ErrLeaseLost when it matched nothing.
func (s *Store) release(ctx context.Context, id int64, owner, query string, args ...any) error {
	err := s.commits.do(ctx, func(ctx context.Context, tx *batchTx) error {
		res, err := tx.ExecContext(ctx, query, args...)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n == 0 {
			return chatstate.ErrLeaseLost
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: outbox item %d of %s: %w", id, owner, err)
	}
	return nil
}

// OutboxStats counts the items of kind.
func (s *Store) OutboxStats(ctx context.Context, kind string) (chatstate.OutboxStats, error) {
	var (
		st     chatstate.OutboxStats
		oldest sql.NullInt64
	)
	err := s.reads.QueryRowContext(ctx, `SELECT
		count(*) FILTER (WHERE sent_at IS NULL AND failed_at IS NULL),
		count(sent_at), count(failed_at),
		min(created_at) FILTER (WHERE sent_at IS NULL AND failed_at IS NULL)
		FROM outbox WHERE kind = ?`, kind).Scan(&st.Queued, &st.Sent, &st.Failed, &oldest)
	if err != nil {
		return chatstate.OutboxStats{}, fmt.Errorf("sqlite: outbox stats: %w", err)
	}
	if oldest.Valid {
		st.OldestQueued = max(0, time.Since(fromMicros(oldest)))
	}
	return st, nil
}

// PruneOutbox deletes the items of kind sent longer than olderThan ago.
func (s *Store) PruneOutbox(ctx context.Context, kind string, olderThan time.Duration) (int64, error) {
	var n int64
	err := s.commits.do(ctx, func(ctx context.Context, tx *batchTx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM outbox WHERE kind = ? AND sent_at IS NOT NULL AND sent_at < ?`,
			kind, toMicros(time.Now().Add(-olderThan)))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("sqlite: prune outbox: %w", err)
	}
	return n, nil
}
