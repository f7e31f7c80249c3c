package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parley/parley/chatstate"
	"github.com/parley/parley/chatstate/chatrow"
)

// Events returns up to limit events of chat id with seq > after, in seq
// order; limit <= 0 means no cap. An unknown chat gives chatstate.ErrNotFound.
func (s *Store) Events(ctx context.Context, id string, after int64, limit int) ([]chatstate.Event, error) {
	var lim *int64 // NULL: no limit
	if limit > 0 {
		n := int64(limit)
		lim = &n
	}
	rows, err := s.pool.Query(ctx, `SELECT `+chatrow.EventColumns+` FROM events
		WHERE chat_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`, id, after, lim)
	if err != nil {
		return nil, fmt.Errorf("postgres: events of chat %s: %w", id, err)
	}
	evs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (chatstate.Event, error) { return scanEvent(r) })
	if err != nil {
		return nil, fmt.Errorf("postgres: events of chat %s: %w", id, err)
	}
	if len(evs) == 0 {
		// Only an empty page needs telling "no such chat" from "no news".
		var found bool
		if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM chats WHERE id = $1)`, id).Scan(&found); err != nil {
			return nil, fmt.Errorf("postgres: events of chat %s: %w", id, err)
		}
		if !found {
			return nil, fmt.Errorf("postgres: events of chat %s: %w", id, chatstate.ErrNotFound)
		}
	}
	return evs, nil
}

// numberEvents gives evs the seqs after lastSeq in chat id's log, inside tx,
// which holds the chat's row lock. An event whose ClientID is already in
// the log, or earlier in evs, is replaced by the stored one instead of
// being numbered. It returns the events as Update returns them and, of
// those, the ones to insert, which alone keep their Outbox.
func numberEvents(ctx context.Context, tx pgx.Tx, id string, lastSeq int64, evs []chatstate.Event) (stored, fresh []chatstate.Event, err error) {
	if len(evs) == 0 {
		return nil, nil, nil
	}
	byClientID, err := eventsByClientID(ctx, tx, id, evs)
	if err != nil {
		return nil, nil, err
	}
	stored = make([]chatstate.Event, 0, len(evs))
	for _, e := range evs {
		if prev, ok := byClientID[e.ClientID]; ok && e.ClientID != "" {
			stored = append(stored, prev)
			continue
		}
		lastSeq++
		e.ChatID = id
		e.Seq = lastSeq
		e.Time = micro(e.Time)
		// Only a fresh event carries its Outbox on, to be written.
		withOutbox := e
		e.Outbox = nil
		if e.ClientID != "" {
			byClientID[e.ClientID] = e
		}
		stored = append(stored, e)
		fresh = append(fresh, withOutbox)
	}
	return stored, fresh, nil
}

// eventsByClientID returns the events of chat id already stored under the
// ClientIDs of evs, in one query.
func eventsByClientID(ctx context.Context, tx pgx.Tx, id string, evs []chatstate.Event) (map[string]chatstate.Event, error) {
	var ids []string
	for _, e := range evs {
		if e.ClientID != "" {
			ids = append(ids, e.ClientID)
		}
	}
	found := map[string]chatstate.Event{}
	if len(ids) == 0 {
		return found, nil
	}
	// "client_id <> ''" repeats the partial index's condition so that the
	// planner may use that index.
	rows, err := tx.Query(ctx, `SELECT `+chatrow.EventColumns+` FROM events
		WHERE chat_id = $1 AND client_id = ANY($2) AND client_id <> ''`, id, ids)
	if err != nil {
		return nil, fmt.Errorf("look up client ids: %w", err)
	}
	prev, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (chatstate.Event, error) { return scanEvent(r) })
	if err != nil {
		return nil, fmt.Errorf("look up client ids: %w", err)
	}
	for _, e := range prev {
		found[e.ClientID] = e
	}
	return found, nil
}

// queueInsertEvent adds the insert of e, numbered already, to b.
func queueInsertEvent(b *pgx.Batch, e chatstate.Event) {
	// folded serves ListChats' query; NULL where it would repeat text.
	var folded *string
	if e.Kind == chatstate.EventMessage {
		if f := strings.ToLower(e.Text); f != e.Text {
			folded = &f
		}
	}
	b.Queue(`INSERT INTO events (`+chatrow.EventColumns+`, folded)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		e.ChatID, e.Seq, string(e.Kind), nullTime(e.Time), string(e.From.Type), e.From.Name, e.Text,
		e.ClientID, e.Page, e.Reason, folded)
}

// scanEvent reads the columns of chatrow.EventColumns.
func scanEvent(r scanner) (chatstate.Event, error) {
	var (
		e              chatstate.Event
		kind, fromType string
		tm             *time.Time
	)
	err := r.Scan(&e.ChatID, &e.Seq, &kind, &tm, &fromType, &e.From.Name, &e.Text,
		&e.ClientID, &e.Page, &e.Reason)
	if err != nil {
		return chatstate.Event{}, err
	}
	e.Kind = chatstate.EventKind(kind)
	e.From.Type = chatstate.PartyType(fromType)
	e.Time = fromNull(tm)
	return e, nil
}
