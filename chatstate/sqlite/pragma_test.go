package sqlite

import (
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
)

// TestPragmas checks the settings durability and concurrency rest on, on
// both pools, since a DSN typo would silently drop them.
func TestPragmas(t *testing.T) {
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "parley.db"))
	if err != nil {
		t.Fatalf("Open() = %v, want nil", err)
	}
	defer s.Close()
	tests := []struct {
		pool   string
		db     *sql.DB
		pragma string
		want   string
	}{
		{"write", s.write, "journal_mode", "wal"},
		{"write", s.write, "synchronous", "2"}, // FULL
		{"write", s.write, "foreign_keys", "1"},
		{"write", s.write, "busy_timeout", "10000"},
		{"write", s.write, "user_version", "3"},
		{"read", s.read, "journal_mode", "wal"},
		{"read", s.read, "foreign_keys", "1"},
		{"read", s.read, "busy_timeout", "10000"},
		{"read", s.read, "query_only", "1"},
	}
	for _, tt := range tests {
		t.Run(tt.pool+"/"+tt.pragma, func(t *testing.T) {
			var got string
			if err := tt.db.QueryRowContext(t.Context(), "PRAGMA "+tt.pragma).Scan(&got); err != nil {
				t.Fatalf("PRAGMA %s: %v", tt.pragma, err)
			}
			if got != tt.want {
				t.Errorf("PRAGMA %s = %q, want %q", tt.pragma, got, tt.want)
			}
		})
	}
}

// TestClientIDLookupUsesIndex guards the dedup lookup in appendEvents, which
// runs on every send, against a table scan.
func TestClientIDLookupUsesIndex(t *testing.T) {
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "parley.db"))
	if err != nil {
		t.Fatalf("Open() = %v, want nil", err)
	}
	defer s.Close()
	rows, err := s.read.QueryContext(t.Context(), `EXPLAIN QUERY PLAN SELECT `+eventColumns+` FROM events
		WHERE chat_id = ? AND client_id = ? AND client_id <> ''`, "c", "m")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan += detail + "\n"
	}
	if want := "USING INDEX events_client_id"; !strings.Contains(plan, want) {
		t.Errorf("query plan:\n%s\nwant it to contain %q", plan, want)
	}
}
