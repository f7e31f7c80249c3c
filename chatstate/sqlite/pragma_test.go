package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parley/parley/chatstate"
	"github.com/parley/parley/chatstate/chatrow"
)

// TestPragmas checks the settings durability and concurrency rest on, on
// both pools, since a DSN typo would silently drop them.
func TestPragmas(t *testing.T) {
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "parley.db"))
	if err != nil {
		t.Fatalf("Open() = %v, want nil", err)
	}
	defer s.Close()
	// The writer connection is the committer's: ask through it.
	onWriter := func(ctx context.Context, query string) (got string, err error) {
		err = s.commits.do(ctx, func(ctx context.Context, tx *batchTx) error {
			return tx.QueryRowContext(ctx, query).Scan(&got)
		})
		return got, err
	}
	onReader := func(ctx context.Context, query string) (got string, err error) {
		err = s.read.QueryRowContext(ctx, query).Scan(&got)
		return got, err
	}
	tests := []struct {
		pool   string
		query  func(context.Context, string) (string, error)
		pragma string
		want   string
	}{
		{"write", onWriter, "journal_mode", "wal"},
		{"write", onWriter, "synchronous", "2"}, // FULL
		{"write", onWriter, "foreign_keys", "1"},
		{"write", onWriter, "busy_timeout", "10000"},
		{"write", onWriter, "user_version", "7"},
		{"read", onReader, "journal_mode", "wal"},
		{"read", onReader, "foreign_keys", "1"},
		{"read", onReader, "busy_timeout", "10000"},
		{"read", onReader, "query_only", "1"},
	}
	for _, tt := range tests {
		t.Run(tt.pool+"/"+tt.pragma, func(t *testing.T) {
			got, err := tt.query(t.Context(), "PRAGMA "+tt.pragma)
			if err != nil {
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
	plan := queryPlan(t, s, `SELECT `+chatrow.EventColumns+` FROM events
		WHERE chat_id = ? AND client_id = ? AND client_id <> ''`, "c", "m")
	if want := "USING INDEX events_client_id"; !strings.Contains(plan, want) {
		t.Errorf("query plan:\n%s\nwant it to contain %q", plan, want)
	}
}

// TestOfflineSweepUsesIndex guards the offline sweep's query, which runs
// every few seconds over every live chat, against a table scan.
func TestOfflineSweepUsesIndex(t *testing.T) {
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "parley.db"))
	if err != nil {
		t.Fatalf("Open() = %v, want nil", err)
	}
	defer s.Close()
	// The sweep's own filter (chatstate.Service.ExpireOffline).
	query, args := listQuery(chatstate.ChatFilter{
		Phases:    []chatstate.Phase{chatstate.PhaseRegistration, chatstate.PhaseQueued, chatstate.PhaseConnected},
		OfflineAt: time.Now(),
		Limit:     500,
	})
	plan := queryPlan(t, s, query, args...)
	if want := "USING INDEX chats_offline_at"; !strings.Contains(plan, want) {
		t.Errorf("query plan:\n%s\nwant it to contain %q", plan, want)
	}
}

// TestOfflineSweepIndexHoldsLiveChatsOnly: the sweep runs every second, and
// chats end every day, so its index must not grow with them: it holds the
// chats not ended, whatever the number that ended.
func TestOfflineSweepIndexHoldsLiveChatsOnly(t *testing.T) {
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "parley.db"))
	if err != nil {
		t.Fatalf("Open() = %v, want nil", err)
	}
	defer s.Close()
	seen := time.Now().Add(-time.Hour)
	const ended, live = 40, 3
	for i := range ended + live {
		c := chatstate.Chat{ID: fmt.Sprint("c", i), Phase: chatstate.PhaseEnded, MaxOffline: time.Minute, VisitorSeenAt: seen}
		if i >= ended {
			c.Phase = chatstate.PhaseConnected
		}
		if err := s.CreateChat(t.Context(), c, []byte(c.ID)); err != nil {
			t.Fatalf("CreateChat() = %v, want nil", err)
		}
	}
	// ANALYZE counts each index's entries into sqlite_stat1.
	var stat string
	err = s.commits.do(t.Context(), func(ctx context.Context, tx *batchTx) error {
		if _, err := tx.ExecContext(ctx, `ANALYZE`); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT stat FROM sqlite_stat1 WHERE idx = 'chats_offline_at'`).Scan(&stat)
	})
	if err != nil {
		t.Fatalf("ANALYZE: %v", err)
	}
	if entries, _, _ := strings.Cut(stat, " "); entries != fmt.Sprint(live) {
		t.Errorf("chats_offline_at holds %s entries (sqlite_stat1 %q), want the %d live chats only", entries, stat, live)
	}
}

// queryPlan is SQLite's plan for query, a line a step.
func queryPlan(t *testing.T, s *Store, query string, args ...any) string {
	t.Helper()
	rows, err := s.read.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+query, args...)
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
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return plan
}
