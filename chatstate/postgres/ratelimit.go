package postgres

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// rateSweepEvery is how often TakeToken also deletes refilled buckets.
const rateSweepEvery = time.Minute

// TakeToken spends a token of the bucket named key, which refills at
// perSecond up to burst, and reports whether there was one. Every
// instance on the database spends from the same bucket, by the database's
// clock, in one statement.
func (s *Store) TakeToken(ctx context.Context, key string, perSecond float64, burst int) (bool, error) {
	if perSecond <= 0 || burst < 1 {
		return false, errors.New("postgres: take token: want a positive rate and burst")
	}
	var ok bool
	err := s.pool.QueryRow(ctx, `INSERT INTO rate_buckets AS b (key, tokens, at, full_at)
		VALUES ($1, $3::float8 - 1, now(), now() + make_interval(secs => 1 / $2::float8))
		ON CONFLICT (key) DO UPDATE SET
			tokens = least($3, b.tokens + date_part('epoch', now() - b.at) * $2) - 1,
			at = now(),
			full_at = now() + make_interval(secs =>
				($3 - least($3, b.tokens + date_part('epoch', now() - b.at) * $2) + 1) / $2)
		WHERE least($3, b.tokens + date_part('epoch', now() - b.at) * $2) >= 1
		RETURNING true`, bucketKey(key), perSecond, float64(burst)).Scan(&ok)
	if errors.Is(err, pgx.ErrNoRows) {
		ok, err = false, nil
	}
	if err != nil {
		return false, fmt.Errorf("postgres: take token: %w", err)
	}
	s.sweepBuckets(ctx)
	return ok, nil
}

// HasToken reports whether the bucket named key has a token, without
// spending it.
func (s *Store) HasToken(ctx context.Context, key string, perSecond float64, burst int) (bool, error) {
	var ok bool
	err := s.pool.QueryRow(ctx, `SELECT least($3, tokens + date_part('epoch', now() - at) * $2) >= 1
		FROM rate_buckets WHERE key = $1`, bucketKey(key), perSecond, float64(burst)).Scan(&ok)
	if errors.Is(err, pgx.ErrNoRows) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("postgres: has token: %w", err)
	}
	return ok, nil
}

// sweepBuckets deletes buckets that have refilled, now and then: the table
// holds only the keys active within one refill time. Any instance may do
// it; doing it twice does no harm.
func (s *Store) sweepBuckets(ctx context.Context) {
	s.sweepMu.Lock()
	due := time.Since(s.swept) >= rateSweepEvery
	if due {
		s.swept = time.Now()
	}
	s.sweepMu.Unlock()
	if due {
		// A failure leaves the rows for the next sweep.
		_, _ = s.pool.Exec(ctx, `DELETE FROM rate_buckets WHERE full_at < now()`)
	}
}

func bucketKey(key string) []byte {
	sum := sha256.Sum256([]byte(key))
	return sum[:]
}
