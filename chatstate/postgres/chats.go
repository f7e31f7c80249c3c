package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/parley/parley/chatstate"
	"github.com/parley/parley/chatstate/chatrow"
)

// CreateChat stores a new chat under tokenHash. A new chat's log is empty, so
// c.LastSeq is ignored and stored as 0. Creating a chat whose ID or token
// hash is already taken fails.
func (s *Store) CreateChat(ctx context.Context, c chatstate.Chat, tokenHash []byte) error {
	if err := chatrow.CheckNew(c, tokenHash); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	c.LastSeq = 0
	row, err := chatrow.Encode(c)
	if err != nil {
		return fmt.Errorf("postgres: create chat %s: %w", c.ID, err)
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO chats (id, token_hash, phase, draft, visitor, search,
		locale, agent_name, end_reason, end_seen, page, max_offline_ms, visitor_seen_at, created_at,
		updated_at, last_seq, user_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)`,
		c.ID, tokenHash, string(c.Phase), row.Draft, row.Visitor, row.Search, c.Locale, c.AgentName,
		c.EndReason, c.EndSeen, c.Page, row.MaxOfflineMS, nullTime(c.VisitorSeenAt),
		nullTime(c.CreatedAt), nullTime(c.UpdatedAt), c.LastSeq, c.UserID)
	if err != nil {
		return fmt.Errorf("postgres: create chat %s: %w", c.ID, err)
	}
	return nil
}

// ChatByToken returns the chat whose restore token hashes to tokenHash, or
// chatstate.ErrNotFound.
func (s *Store) ChatByToken(ctx context.Context, tokenHash []byte) (chatstate.Chat, error) {
	c, err := scanChat(s.pool.QueryRow(ctx,
		`SELECT `+chatrow.ChatColumns+` FROM chats WHERE token_hash = $1`, tokenHash))
	if err != nil {
		return chatstate.Chat{}, fmt.Errorf("postgres: chat by token: %w", err)
	}
	return c, nil
}

// ChatByUser returns the newest chat tied to userID, or
// chatstate.ErrNotFound. Of two chats created at the same time, the one
// stored last is the newer.
func (s *Store) ChatByUser(ctx context.Context, userID string) (chatstate.Chat, error) {
	if userID == "" {
		return chatstate.Chat{}, chatstate.ErrNotFound
	}
	// "user_id <> ''" repeats the partial index's condition so that the
	// planner may use that index.
	c, err := scanChat(s.pool.QueryRow(ctx, `SELECT `+chatrow.ChatColumns+` FROM chats
		WHERE user_id = $1 AND user_id <> '' ORDER BY created_at DESC NULLS LAST, n DESC LIMIT 1`, userID))
	if err != nil {
		return chatstate.Chat{}, fmt.Errorf("postgres: chat by user: %w", err)
	}
	return c, nil
}

// Chat returns the chat with the given id, or chatstate.ErrNotFound.
func (s *Store) Chat(ctx context.Context, id string) (chatstate.Chat, error) {
	c, err := scanChat(s.pool.QueryRow(ctx,
		`SELECT `+chatrow.ChatColumns+` FROM chats WHERE id = $1`, id))
	if err != nil {
		return chatstate.Chat{}, fmt.Errorf("postgres: chat %s: %w", id, err)
	}
	return c, nil
}

// Update runs change on chat id inside one transaction, then saves the chat
// and appends the events change returned; see chatstate.Store.
//
// The transaction locks the chat's row first (SELECT … FOR UPDATE), so
// Updates of one chat run one after another, in this process and in any
// other sharing the database, and change always sees the latest chat.
// change runs while the lock is held: it must be quick, do no I/O of its
// own, and never call Update. A change that sets c.ID or c.LastSeq has that
// undone. Times are stored to the microsecond, and what Update returns is
// already cut to that, so it equals what a later read returns.
//
// When events were appended, the commit also notifies Channel with the
// chat's id and new last seq; PostgreSQL delivers it only if the commit
// succeeds.
func (s *Store) Update(ctx context.Context, id string, change func(*chatstate.Chat) ([]chatstate.Event, error)) (chatstate.Chat, []chatstate.Event, error) {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		return chatstate.Chat{}, nil, fmt.Errorf("postgres: update chat %s: %w", id, err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit

	c, err := scanChat(tx.QueryRow(ctx, `SELECT `+chatrow.ChatColumns+` FROM chats WHERE id = $1 FOR UPDATE`, id))
	if err != nil {
		return chatstate.Chat{}, nil, fmt.Errorf("postgres: update chat %s: %w", id, err)
	}
	lastSeq := c.LastSeq
	evs, err := change(&c)
	if err != nil {
		// Returned as is: the caller's error, nothing written.
		return chatstate.Chat{}, nil, err
	}
	c.ID = id

	stored, fresh, err := numberEvents(ctx, tx, id, lastSeq, evs)
	if err != nil {
		return chatstate.Chat{}, nil, fmt.Errorf("postgres: update chat %s: %w", id, err)
	}
	c.LastSeq = lastSeq + int64(len(fresh))
	c.VisitorSeenAt, c.CreatedAt, c.UpdatedAt = micro(c.VisitorSeenAt), micro(c.CreatedAt), micro(c.UpdatedAt)
	row, err := chatrow.Encode(c)
	if err != nil {
		return chatstate.Chat{}, nil, fmt.Errorf("postgres: update chat %s: %w", id, err)
	}
	c.MaxOffline = time.Duration(row.MaxOfflineMS) * time.Millisecond

	// The writes go in one round trip.
	var b pgx.Batch
	for _, e := range fresh {
		queueInsertEvent(&b, e)
		if err := queueEnqueue(&b, e.Outbox); err != nil {
			return chatstate.Chat{}, nil, fmt.Errorf("postgres: update chat %s: %w", id, err)
		}
	}
	b.Queue(`UPDATE chats SET phase = $1, draft = $2, visitor = $3, search = $4, locale = $5,
		agent_name = $6, end_reason = $7, end_seen = $8, page = $9, max_offline_ms = $10,
		visitor_seen_at = $11, created_at = $12, updated_at = $13, last_seq = $14, user_id = $15
		WHERE id = $16`,
		string(c.Phase), row.Draft, row.Visitor, row.Search, c.Locale, c.AgentName, c.EndReason,
		c.EndSeen, c.Page, row.MaxOfflineMS, nullTime(c.VisitorSeenAt), nullTime(c.CreatedAt),
		nullTime(c.UpdatedAt), c.LastSeq, c.UserID, id)
	if len(fresh) > 0 {
		b.Queue(`SELECT pg_notify($1, $2)`, Channel, id+":"+strconv.FormatInt(c.LastSeq, 10))
	}
	if err := tx.SendBatch(ctx, &b).Close(); err != nil {
		return chatstate.Chat{}, nil, fmt.Errorf("postgres: update chat %s: %w", id, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return chatstate.Chat{}, nil, fmt.Errorf("postgres: update chat %s: commit: %w", id, err)
	}
	return c, stored, nil
}

// ListChats returns the chats matching filter, most recently updated first
// (chats without an UpdatedAt last) or, with OldestFirst, oldest first.
// Query matches the visitor's submitted registration (not the draft) and
// the text of message events, case-insensitively by Go's Unicode folding,
// the same on every server and locale.
func (s *Store) ListChats(ctx context.Context, filter chatstate.ChatFilter) ([]chatstate.Chat, error) {
	query, args, ok := listQuery(filter)
	if !ok {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: list chats: %w", err)
	}
	chats, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (chatstate.Chat, error) { return scanChat(r) })
	if err != nil {
		return nil, fmt.Errorf("postgres: list chats: %w", err)
	}
	return chats, nil
}

// listQuery is ListChats' query for filter and its arguments; ok is false
// when filter can match no chat.
func listQuery(filter chatstate.ChatFilter) (query string, args []any, ok bool) {
	var where []string
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if len(filter.Phases) > 0 {
		phases := make([]string, len(filter.Phases))
		for i, p := range filter.Phases {
			phases[i] = string(p)
		}
		where = append(where, "phase = ANY("+arg(phases)+")")
	}
	if filter.Agent != "" {
		where = append(where, "agent_name = "+arg(filter.Agent))
	}
	if !filter.OfflineAt.IsZero() {
		// A NULL visitor_seen_at makes the comparison NULL: never seen is
		// never offline, and neither is an ended chat. The terms are
		// chats_offline_at's own, so that the planner can take it.
		where = append(where, "chat_offline_at(visitor_seen_at, max_offline_ms) < "+arg(filter.OfflineAt)+
			" AND visitor_seen_at IS NOT NULL AND phase <> 'ended'")
	}
	if filter.Query != "" {
		// Stored text is valid UTF-8 without NUL (PostgreSQL holds no
		// other), so such a query matches nothing, and the server would
		// refuse it as an argument.
		if !utf8.ValidString(filter.Query) || strings.ContainsRune(filter.Query, 0) {
			return "", nil, false
		}
		// strpos, not LIKE: the query's own % and _ need no escaping.
		q := arg(strings.ToLower(filter.Query))
		where = append(where, `(strpos(c.search, `+q+`) > 0 OR EXISTS (
			SELECT 1 FROM events e WHERE e.chat_id = c.id AND e.kind = `+arg(string(chatstate.EventMessage))+`
			AND strpos(coalesce(e.folded, e.text), `+q+`) > 0))`)
	}
	limit := filter.Limit
	if limit <= 0 {
		limit = chatrow.DefaultListLimit
	}
	query = `SELECT ` + chatrow.ChatColumns + ` FROM chats c`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	// id breaks ties so that equal times still list in a stable order.
	if filter.OldestFirst {
		query += ` ORDER BY created_at NULLS LAST, id LIMIT ` + arg(limit)
	} else {
		query += ` ORDER BY updated_at DESC NULLS LAST, id DESC LIMIT ` + arg(limit)
	}
	return query, args, true
}

// scanner is a pgx.Row or pgx.Rows.
type scanner interface {
	Scan(dest ...any) error
}

// scanChat reads the columns of chatrow.ChatColumns, mapping no row to
// chatstate.ErrNotFound.
func scanChat(r scanner) (chatstate.Chat, error) {
	var (
		c                                   chatstate.Chat
		phase                               string
		draft, visitor                      []byte
		maxOfflineMS                        int64
		visitorSeenAt, createdAt, updatedAt *time.Time
	)
	err := r.Scan(&c.ID, &phase, &draft, &visitor, &c.Locale, &c.AgentName, &c.EndReason,
		&c.EndSeen, &c.Page, &maxOfflineMS, &visitorSeenAt, &createdAt, &updatedAt, &c.LastSeq, &c.UserID)
	if errors.Is(err, pgx.ErrNoRows) {
		return chatstate.Chat{}, chatstate.ErrNotFound
	}
	if err != nil {
		return chatstate.Chat{}, err
	}
	if err := chatrow.Decode(&c, phase, draft, visitor, maxOfflineMS); err != nil {
		return chatstate.Chat{}, err
	}
	c.VisitorSeenAt = fromNull(visitorSeenAt)
	c.CreatedAt = fromNull(createdAt)
	c.UpdatedAt = fromNull(updatedAt)
	return c, nil
}

// micro cuts t to the microsecond, as PostgreSQL keeps it (pgx truncates
// when it sends a time), in UTC; the zero time stays zero.
func micro(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return time.UnixMicro(t.UnixMicro()).UTC()
}

// nullTime is t as a query argument, cut as micro cuts it: the zero time
// becomes NULL, so that "never" does not read as a date in year 1.
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = micro(t)
	return &t
}

// fromNull is the inverse of nullTime; times come back in UTC.
func fromNull(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}
