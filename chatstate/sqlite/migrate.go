package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"

	"github.com/parley/parley/chatstate/migration"
)

// migrations holds the schema, one numbered file per version (see package
// migration).
//
//go:embed migrations/*.sql
var migrations embed.FS

// loadMigrations reads the embedded migrations in version order.
func loadMigrations() ([]migration.Step, error) {
	steps, err := migration.Load(migrations, "migrations/*.sql")
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	return steps, nil
}

// migrate applies the migrations newer than the database's PRAGMA
// user_version, each in its own transaction together with the version bump,
// so a crash mid-way leaves the database at a whole version.
func migrate(ctx context.Context, db *sql.DB) error {
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	for _, m := range ms {
		if err := applyMigration(ctx, db, m); err != nil {
			return fmt.Errorf("sqlite: migration %s: %w", m.Name, err)
		}
	}
	// A database written by a newer Parley may hold data this one would
	// misread or clobber.
	var v int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return fmt.Errorf("sqlite: read schema version: %w", err)
	}
	if v > len(ms) {
		return fmt.Errorf("sqlite: database schema version %d is newer than this program's %d", v, len(ms))
	}
	return nil
}

func applyMigration(ctx context.Context, db *sql.DB, m migration.Step) error {
	// The transaction is immediate (see dsn), so reading the version and
	// applying the step cannot race another process opening the same file.
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var v int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return err
	}
	if v >= m.Version {
		return nil
	}
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return err
	}
	// PRAGMA takes no bound parameters; the version is an int we control.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", m.Version)); err != nil {
		return err
	}
	return tx.Commit()
}
