package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/parley/parley/chatstate"
	"github.com/parley/parley/chatstate/chatrow"
)

// CreateChat stores a new chat under tokenHash. A new chat's log is empty, so
// c.LastSeq is ignored and stored as 0. Creating a chat whose ID or token
// hash is already taken fails.
func (s *Store) CreateChat(ctx context.Context, c chatstate.Chat, tokenHash []byte) error {
	if err := chatrow.CheckNew(c, tokenHash); err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	c.LastSeq = 0
	row, err := chatRow(c)
	if err != nil {
		return fmt.Errorf("sqlite: create chat %s: %w", c.ID, err)
	}
	err = s.commits.do(ctx, func(ctx context.Context, tx *batchTx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO chats (id, token_hash, phase, draft, visitor, search,
		locale, agent_name, end_reason, end_seen, page, max_offline_ms, visitor_seen_at, created_at,
		updated_at, last_seq, user_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			c.ID, tokenHash, string(c.Phase), string(row.Draft), string(row.Visitor), row.Search, c.Locale, c.AgentName,
			c.EndReason, c.EndSeen, c.Page, row.MaxOfflineMS, row.visitorSeenAt, row.createdAt,
			row.updatedAt, c.LastSeq, c.UserID)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: create chat %s: %w", c.ID, err)
	}
	return nil
}

// ChatByToken returns the chat whose restore token hashes to tokenHash, or
// chatstate.ErrNotFound.
func (s *Store) ChatByToken(ctx context.Context, tokenHash []byte) (chatstate.Chat, error) {
	c, err := scanChat(s.reads.QueryRowContext(ctx,
		`SELECT `+chatrow.ChatColumns+` FROM chats WHERE token_hash = ?`, tokenHash))
	if err != nil {
		return chatstate.Chat{}, fmt.Errorf("sqlite: chat by token: %w", err)
	}
	return c, nil
}

// ChatByUser returns the newest chat tied to userID, or
// chatstate.ErrNotFound.
func (s *Store) ChatByUser(ctx context.Context, userID string) (chatstate.Chat, error) {
	if userID == "" {
		return chatstate.Chat{}, chatstate.ErrNotFound
	}
	c, err := scanChat(s.reads.QueryRowContext(ctx, `SELECT `+chatrow.ChatColumns+` FROM chats
		WHERE user_id = ? ORDER BY created_at DESC, rowid DESC LIMIT 1`, userID))
	if err != nil {
		return chatstate.Chat{}, fmt.Errorf("sqlite: chat by user: %w", err)
	}
	return c, nil
}

// Chat returns the chat with the given id, or chatstate.ErrNotFound.
func (s *Store) Chat(ctx context.Context, id string) (chatstate.Chat, error) {
	c, err := scanChat(s.reads.QueryRowContext(ctx,
		`SELECT `+chatrow.ChatColumns+` FROM chats WHERE id = ?`, id))
	if err != nil {
		return chatstate.Chat{}, fmt.Errorf("sqlite: chat %s: %w", id, err)
	}
	return c, nil
}

// Update runs change on chat id inside a write transaction, then saves the
// chat and appends the events change returned; see chatstate.Store. It
// returns once the transaction has committed (synchronous=FULL: on disk),
// which it may share with other Updates waiting at the same time; see
// groupcommit.go.
//
// Writers are serialized: change runs while holding the database's write
// lock, so it must be quick, do no I/O of its own, and never call Update.
// A change that sets c.ID or c.LastSeq has that undone. Times are stored to
// the microsecond, and what Update returns is already cut to that, so it
// equals what a later read returns.
func (s *Store) Update(ctx context.Context, id string, change func(*chatstate.Chat) ([]chatstate.Event, error)) (chatstate.Chat, []chatstate.Event, error) {
	var (
		c   chatstate.Chat
		evs []chatstate.Event
	)
	err := s.commits.do(ctx, func(ctx context.Context, tx *batchTx) error {
		var err error
		c, evs, err = updateIn(ctx, tx, id, change)
		return err
	})
	if err != nil {
		return chatstate.Chat{}, nil, err
	}
	return c, evs, nil
}

// updateIn is one Update inside tx. A change error is returned as is, with
// nothing written.
func updateIn(ctx context.Context, tx *batchTx, id string, change func(*chatstate.Chat) ([]chatstate.Event, error)) (chatstate.Chat, []chatstate.Event, error) {
	c, err := scanChat(tx.QueryRowContext(ctx, `SELECT `+chatrow.ChatColumns+` FROM chats WHERE id = ?`, id))
	if err != nil {
		return chatstate.Chat{}, nil, fmt.Errorf("sqlite: update chat %s: %w", id, err)
	}
	lastSeq := c.LastSeq
	evs, err := change(&c)
	if err != nil {
		// Returned as is: the caller's error, nothing written.
		return chatstate.Chat{}, nil, err
	}
	c.ID = id

	stored, lastSeq, err := appendEvents(ctx, tx, id, lastSeq, evs)
	if err != nil {
		return chatstate.Chat{}, nil, fmt.Errorf("sqlite: update chat %s: %w", id, err)
	}
	c.LastSeq = lastSeq

	row, err := chatRow(c)
	if err != nil {
		return chatstate.Chat{}, nil, fmt.Errorf("sqlite: update chat %s: %w", id, err)
	}
	_, err = tx.ExecContext(ctx, `UPDATE chats SET phase = ?, draft = ?, visitor = ?, search = ?,
		locale = ?, agent_name = ?, end_reason = ?, end_seen = ?, page = ?, max_offline_ms = ?,
		visitor_seen_at = ?, created_at = ?, updated_at = ?, last_seq = ?, user_id = ? WHERE id = ?`,
		string(c.Phase), string(row.Draft), string(row.Visitor), row.Search, c.Locale, c.AgentName, c.EndReason,
		c.EndSeen, c.Page, row.MaxOfflineMS, row.visitorSeenAt, row.createdAt, row.updatedAt,
		c.LastSeq, c.UserID, id)
	if err != nil {
		return chatstate.Chat{}, nil, fmt.Errorf("sqlite: update chat %s: %w", id, err)
	}
	c.MaxOffline = time.Duration(row.MaxOfflineMS) * time.Millisecond
	c.VisitorSeenAt = fromMicros(row.visitorSeenAt)
	c.CreatedAt = fromMicros(row.createdAt)
	c.UpdatedAt = fromMicros(row.updatedAt)
	return c, stored, nil
}

// ListChats returns the chats matching filter, most recently updated first
// or, with OldestFirst, oldest first.
// Query matches the visitor's submitted registration (not the draft) and the
// text of message events, case-insensitively by Unicode simple folding.
func (s *Store) ListChats(ctx context.Context, filter chatstate.ChatFilter) ([]chatstate.Chat, error) {
	// Filters come in a handful of shapes, each its own text: prepared once,
	// the offline sweep's query, run every second, is not parsed each time.
	query, args := listQuery(filter)
	rows, err := s.reads.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list chats: %w", err)
	}
	defer rows.Close()
	var chats []chatstate.Chat
	for rows.Next() {
		c, err := scanChat(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list chats: %w", err)
		}
		chats = append(chats, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list chats: %w", err)
	}
	return chats, nil
}

// listQuery is ListChats' query and its arguments.
func listQuery(filter chatstate.ChatFilter) (string, []any) {
	var (
		where []string
		args  []any
	)
	if len(filter.Phases) > 0 {
		marks := make([]string, len(filter.Phases))
		for i, p := range filter.Phases {
			marks[i] = "?"
			args = append(args, string(p))
		}
		column := "phase"
		if !filter.OfflineAt.IsZero() {
			// Unary + keeps the planner off the phase index, so that it
			// takes chats_offline_at, which finds the few offline chats
			// among thousands of live ones.
			column = "+phase"
		}
		where = append(where, column+" IN ("+strings.Join(marks, ", ")+")")
	}
	if filter.Agent != "" {
		where = append(where, "agent_name = ?")
		args = append(args, filter.Agent)
	}
	if !filter.OfflineAt.IsZero() {
		// chats_offline_at's own terms, so that the planner can take it:
		// never seen is never offline, and neither is an ended chat.
		where = append(where, "visitor_seen_at IS NOT NULL AND phase <> 'ended' AND visitor_seen_at + max_offline_ms * 1000 < ?")
		args = append(args, toMicros(filter.OfflineAt))
	}
	if filter.Query != "" {
		// instr, not LIKE: the query's own % and _ need no escaping.
		q := strings.ToLower(filter.Query)
		where = append(where, `(instr(c.search, ?) > 0 OR EXISTS (
			SELECT 1 FROM events e WHERE e.chat_id = c.id AND e.kind = ?
			AND instr(`+foldFunc+`(e.text), ?) > 0))`)
		args = append(args, q, string(chatstate.EventMessage), q)
	}
	limit := filter.Limit
	if limit <= 0 {
		limit = chatrow.DefaultListLimit
	}
	query := `SELECT ` + chatrow.ChatColumns + ` FROM chats c`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	// id breaks ties so that equal times still list in a stable order.
	if filter.OldestFirst {
		query += ` ORDER BY created_at, id LIMIT ?`
	} else {
		query += ` ORDER BY updated_at DESC, id DESC LIMIT ?`
	}
	args = append(args, limit)
	return query, args
}

// chatFields are a chat's fields as its row keeps them.
type chatFields struct {
	chatrow.Encoded
	visitorSeenAt, createdAt, updatedAt sql.NullInt64
}

func chatRow(c chatstate.Chat) (chatFields, error) {
	encoded, err := chatrow.Encode(c)
	if err != nil {
		return chatFields{}, err
	}
	return chatFields{Encoded: encoded, visitorSeenAt: toMicros(c.VisitorSeenAt), createdAt: toMicros(c.CreatedAt), updatedAt: toMicros(c.UpdatedAt)}, nil
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface {
	Scan(dest ...any) error
}

// scanChat reads the columns of chatrow.ChatColumns, mapping no row to
// chatstate.ErrNotFound.
func scanChat(r scanner) (chatstate.Chat, error) {
	var (
		c                                   chatstate.Chat
		phase, draft, visitor               string
		maxOfflineMS                        int64
		visitorSeenAt, createdAt, updatedAt sql.NullInt64
	)
	err := r.Scan(&c.ID, &phase, &draft, &visitor, &c.Locale, &c.AgentName, &c.EndReason,
		&c.EndSeen, &c.Page, &maxOfflineMS, &visitorSeenAt, &createdAt, &updatedAt, &c.LastSeq, &c.UserID)
	if errors.Is(err, sql.ErrNoRows) {
		return chatstate.Chat{}, chatstate.ErrNotFound
	}
	if err != nil {
		return chatstate.Chat{}, err
	}
	if err := chatrow.Decode(&c, phase, []byte(draft), []byte(visitor), maxOfflineMS); err != nil {
		return chatstate.Chat{}, err
	}
	c.VisitorSeenAt = fromMicros(visitorSeenAt)
	c.CreatedAt = fromMicros(createdAt)
	c.UpdatedAt = fromMicros(updatedAt)
	return c, nil
}

// toMicros encodes t as UTC unix microseconds; the zero time becomes NULL so
// that "never" does not read as a date in year 1.
func toMicros(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMicro(), Valid: true}
}

// fromMicros is the inverse of toMicros; times come back in UTC.
func fromMicros(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.UnixMicro(n.Int64).UTC()
}
