package postgres

import (
	"context"
	"embed"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parley/parley/chatstate/migration"
)

// migrations holds the schema, one numbered file per version (see package
// migration).
//
//go:embed migrations/*.sql
var migrations embed.FS

// migrationLock is the key of the transaction-level advisory lock that
// migrating processes take, so that instances starting at once apply each
// migration once. Advisory locks are per database, so one server may hold
// several Parley databases. The value is arbitrary: "parley" in ASCII.
const migrationLock int64 = 0x7061726c6579

// loadMigrations reads the embedded migrations in version order.
func loadMigrations() ([]migration.Step, error) {
	steps, err := migration.Load(migrations, "migrations/*.sql")
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return steps, nil
}

// migrate applies the migrations the database has not seen, all in one
// transaction that first takes migrationLock: a process that waited for
// the lock then finds them applied, and a failure leaves the schema as it
// was. schema_migrations records each version applied.
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	err = pgx.BeginTxFunc(ctx, pool, pgx.TxOptions{}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLock); err != nil {
			return fmt.Errorf("take the migration lock: %w", err)
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    integer PRIMARY KEY,
			name       text NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now()
		)`); err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
		var have int
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&have); err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		// A database written by a newer Parley may hold data this one
		// would misread or clobber.
		if have > len(ms) {
			return fmt.Errorf("database schema version %d is newer than this program's %d", have, len(ms))
		}
		for _, m := range ms[have:] {
			// Without arguments pgx uses the simple protocol, which runs a
			// file of several statements.
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return fmt.Errorf("migration %s: %w", m.Name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`,
				m.Version, m.Name); err != nil {
				return fmt.Errorf("migration %s: %w", m.Name, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	return nil
}
