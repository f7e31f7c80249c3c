package postgres

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parley/parley/chatstate"
	"github.com/parley/parley/chatstate/chatrow"
	"github.com/parley/parley/chatstate/postgres/pgtest"
)

func TestPoolConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		url      string
		wantMax  int32
		wantName string
	}{
		{"defaults", "postgres://parley@db/parley", int32(max(16, 4*runtime.GOMAXPROCS(0))), "parley"},
		{"the URL's pool size", "postgres://parley@db/parley?pool_max_conns=3", 3, "parley"},
		{"the URL's application name", "postgres://parley@db/parley?application_name=shop", int32(max(16, 4*runtime.GOMAXPROCS(0))), "shop"},
		{"keyword form", "host=db user=parley dbname=parley pool_max_conns=5", 5, "parley"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := poolConfig(tt.url)
			if err != nil {
				t.Fatalf("poolConfig(%q) = %v, want nil", tt.url, err)
			}
			if cfg.MaxConns != tt.wantMax {
				t.Errorf("MaxConns = %d, want %d", cfg.MaxConns, tt.wantMax)
			}
			if got := cfg.ConnConfig.RuntimeParams["application_name"]; got != tt.wantName {
				t.Errorf("application_name = %q, want %q", got, tt.wantName)
			}
			if cfg.ConnConfig.ConnectTimeout <= 0 {
				t.Errorf("ConnectTimeout = %v, want a bound", cfg.ConnConfig.ConnectTimeout)
			}
		})
	}
}

// TestQueriesUseIndexes guards the lookups that run on every send and
// restore against a scan of the whole table: each query must be able to
// use its index (the planner is told to avoid scans, since on a near-empty
// table it would rightly prefer one).
func TestQueriesUseIndexes(t *testing.T) {
	s, err := Open(t.Context(), pgtest.URL(t))
	if err != nil {
		t.Fatalf("Open() = %v, want nil", err)
	}
	defer s.Close()
	tests := []struct {
		name  string
		query string
		args  []any
		index string
	}{
		{"client id dedup", `SELECT ` + chatrow.EventColumns + ` FROM events
			WHERE chat_id = $1 AND client_id = ANY($2) AND client_id <> ''`, []any{"c", []string{"m"}}, "events_client_id"},
		{"events after a seq", `SELECT ` + chatrow.EventColumns + ` FROM events
			WHERE chat_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`, []any{"c", 0, 10}, "events_pkey"},
		{"last events of some kinds", `SELECT ` + chatrow.EventColumns + ` FROM events
			WHERE chat_id = $1 AND seq < $2 AND kind = ANY($3) ORDER BY seq DESC LIMIT $4`, []any{"c", 100, []string{"message"}, 10}, "events_pkey"},
		{"chat by token", `SELECT ` + chatrow.ChatColumns + ` FROM chats WHERE token_hash = $1`, []any{[]byte("h")}, "chats_token_hash_key"},
		{"chat by user", `SELECT ` + chatrow.ChatColumns + ` FROM chats
			WHERE user_id = $1 AND user_id <> '' ORDER BY created_at DESC NULLS LAST, n DESC LIMIT 1`, []any{"u"}, "chats_user_created"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := s.pool.Acquire(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Release()
			tx, err := conn.Begin(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(t.Context())
			if _, err := tx.Exec(t.Context(), `SET LOCAL enable_seqscan = off`); err != nil {
				t.Fatal(err)
			}
			var plan []string
			rows, err := tx.Query(t.Context(), `EXPLAIN `+tt.query, tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var line string
				if err := rows.Scan(&line); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, line)
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(plan, "\n"); !strings.Contains(got, tt.index) {
				t.Errorf("query plan:\n%s\nwant it to use %s", got, tt.index)
			}
		})
	}
}

// TestOfflineSweepUsesIndex: the sweep asks every second for the offline
// visitors' chats; beside thousands of ended chats and hundreds of live
// ones, as a server that has run for a while holds, the planner must take
// the index of live chats' deadlines rather than read the table.
func TestOfflineSweepUsesIndex(t *testing.T) {
	s, err := Open(t.Context(), pgtest.URL(t))
	if err != nil {
		t.Fatalf("Open() = %v, want nil", err)
	}
	defer s.Close()
	for _, fill := range []string{
		`INSERT INTO chats (id, token_hash, phase, draft, visitor, search, locale, agent_name, end_reason,
			end_seen, page, max_offline_ms, visitor_seen_at, created_at, updated_at, last_seq)
		SELECT 'ended-' || i, decode(md5('ended-' || i), 'hex'), 'ended', '{}', '{}', '', '', '', 'agent',
			true, '/', 60000, now() - interval '1 day', now() - interval '1 day', now() - interval '1 day', 0
		FROM generate_series(1, 5000) i`,
		`INSERT INTO chats (id, token_hash, phase, draft, visitor, search, locale, agent_name, end_reason,
			end_seen, page, max_offline_ms, visitor_seen_at, created_at, updated_at, last_seq)
		SELECT 'live-' || i, decode(md5('live-' || i), 'hex'), 'connected', '{}', '{}', '', '', 'alice', '',
			false, '/', 60000, now(), now(), now(), 0
		FROM generate_series(1, 500) i`,
		`ANALYZE chats`,
	} {
		if _, err := s.pool.Exec(t.Context(), fill); err != nil {
			t.Fatalf("%s: %v", fill, err)
		}
	}
	// The sweep's own filter (chatstate.Service.ExpireOffline).
	query, args, _ := listQuery(chatstate.ChatFilter{
		Phases:    []chatstate.Phase{chatstate.PhaseRegistration, chatstate.PhaseQueued, chatstate.PhaseConnected},
		OfflineAt: time.Now(),
		Limit:     500,
	})
	rows, err := s.pool.Query(t.Context(), `EXPLAIN `+query, args...)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(plan, "\n"); !strings.Contains(got, "chats_offline_at") {
		t.Errorf("query plan:\n%s\nwant it to use chats_offline_at", got)
	}
}
