package postgres

import (
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/parley/parley/chatstate"
	"github.com/parley/parley/chatstate/chatrow"
)

// LastEvents returns the last limit events of chat id of the given kinds
// with seq < before, oldest first, walking the log backwards on its
// primary key.
func (s *Store) LastEvents(ctx context.Context, id string, before int64, kinds []chatstate.EventKind, limit int) ([]chatstate.Event, error) {
	if len(kinds) == 0 || limit <= 0 {
		return nil, nil
	}
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = string(k)
	}
	rows, err := s.pool.Query(ctx, `SELECT `+chatrow.EventColumns+` FROM events
		WHERE chat_id = $1 AND seq < $2 AND kind = ANY($3) ORDER BY seq DESC LIMIT $4`, id, before, names, limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: last events of chat %s: %w", id, err)
	}
	evs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (chatstate.Event, error) { return scanEvent(r) })
	if err != nil {
		return nil, fmt.Errorf("postgres: last events of chat %s: %w", id, err)
	}
	slices.Reverse(evs)
	return evs, nil
}
