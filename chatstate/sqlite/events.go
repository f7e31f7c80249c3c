package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/parley/parley/chatstate"
	"github.com/parley/parley/chatstate/chatrow"
)

// Events returns up to limit events of chat id with seq > after, in seq
// order; limit <= 0 means no cap. An unknown chat gives chatstate.ErrNotFound.
func (s *Store) Events(ctx context.Context, id string, after int64, limit int) ([]chatstate.Event, error) {
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	rows, err := s.reads.QueryContext(ctx, `SELECT `+chatrow.EventColumns+` FROM events
		WHERE chat_id = ? AND seq > ? ORDER BY seq LIMIT ?`, id, after, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: events of chat %s: %w", id, err)
	}
	defer rows.Close()
	var evs []chatstate.Event
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: events of chat %s: %w", id, err)
		}
		evs = append(evs, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: events of chat %s: %w", id, err)
	}
	if len(evs) == 0 {
		// Only an empty page needs telling "no such chat" from "no news".
		var one int
		err := s.reads.QueryRowContext(ctx, `SELECT 1 FROM chats WHERE id = ?`, id).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("sqlite: events of chat %s: %w", id, chatstate.ErrNotFound)
		}
		if err != nil {
			return nil, fmt.Errorf("sqlite: events of chat %s: %w", id, err)
		}
	}
	return evs, nil
}

// appendEvents stores evs in chat id's log after lastSeq, inside tx. An
// event whose ClientID is already in the log, or earlier in evs, is replaced
// by the stored one instead of being appended. It returns the events as
// stored and the new last seq, and writes the Outbox of the events
// appended, of those only.
func appendEvents(ctx context.Context, tx *batchTx, id string, lastSeq int64, evs []chatstate.Event) ([]chatstate.Event, int64, error) {
	if len(evs) == 0 {
		return nil, lastSeq, nil
	}
	var outbox []chatstate.Outgoing
	out := make([]chatstate.Event, 0, len(evs))
	byClientID := map[string]chatstate.Event{}
	for _, e := range evs {
		if e.ClientID != "" {
			if prev, ok := byClientID[e.ClientID]; ok {
				out = append(out, prev)
				continue
			}
			// "client_id <> ''" repeats the partial index's condition so
			// the planner may use that index.
			prev, err := scanEvent(tx.QueryRowContext(ctx, `SELECT `+chatrow.EventColumns+` FROM events
				WHERE chat_id = ? AND client_id = ? AND client_id <> ''`, id, e.ClientID))
			switch {
			case err == nil:
				byClientID[e.ClientID] = prev
				out = append(out, prev)
				continue
			case !errors.Is(err, sql.ErrNoRows):
				return nil, 0, fmt.Errorf("look up client id: %w", err)
			}
		}
		lastSeq++
		e.ChatID = id
		e.Seq = lastSeq
		outbox = append(outbox, e.Outbox...)
		e.Outbox = nil
		tm := toMicros(e.Time)
		e.Time = fromMicros(tm)
		_, err := tx.ExecContext(ctx, `INSERT INTO events (`+chatrow.EventColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			e.ChatID, e.Seq, string(e.Kind), tm, string(e.From.Type), e.From.Name, e.Text,
			e.ClientID, e.Page, e.Reason)
		if err != nil {
			return nil, 0, fmt.Errorf("append event: %w", err)
		}
		if e.ClientID != "" {
			byClientID[e.ClientID] = e
		}
		out = append(out, e)
	}
	if err := enqueueIn(ctx, tx, outbox); err != nil {
		return nil, 0, err
	}
	return out, lastSeq, nil
}

// scanEvent reads the columns of chatrow.EventColumns; no row is sql.ErrNoRows.
func scanEvent(r scanner) (chatstate.Event, error) {
	var (
		e              chatstate.Event
		kind, fromType string
		tm             sql.NullInt64
	)
	err := r.Scan(&e.ChatID, &e.Seq, &kind, &tm, &fromType, &e.From.Name, &e.Text,
		&e.ClientID, &e.Page, &e.Reason)
	if err != nil {
		return chatstate.Event{}, err
	}
	e.Kind = chatstate.EventKind(kind)
	e.From.Type = chatstate.PartyType(fromType)
	e.Time = fromMicros(tm)
	return e, nil
}

// LastEvents returns the last limit events of chat id of the given kinds
// with seq < before, oldest first. It walks the log backwards on its
// primary key, decoding only the rows it returns.
func (s *Store) LastEvents(ctx context.Context, id string, before int64, kinds []chatstate.EventKind, limit int) ([]chatstate.Event, error) {
	if len(kinds) == 0 || limit <= 0 {
		return nil, nil
	}
	args := []any{id, before}
	marks := make([]string, len(kinds))
	for i, k := range kinds {
		marks[i] = "?"
		args = append(args, string(k))
	}
	args = append(args, limit)
	rows, err := s.reads.QueryContext(ctx, `SELECT `+chatrow.EventColumns+` FROM events
		WHERE chat_id = ? AND seq < ? AND kind IN (`+strings.Join(marks, ", ")+`)
		ORDER BY seq DESC LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: last events of chat %s: %w", id, err)
	}
	defer rows.Close()
	var evs []chatstate.Event
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: last events of chat %s: %w", id, err)
		}
		evs = append(evs, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: last events of chat %s: %w", id, err)
	}
	slices.Reverse(evs)
	return evs, nil
}
