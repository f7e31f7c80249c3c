package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/parley/parley/chatstate"
)

// SetAgentChoice records the status agent chose.
func (s *Store) SetAgentChoice(ctx context.Context, agent string, chosen chatstate.AgentStatus) error {
	err := s.commits.do(ctx, func(ctx context.Context, tx *batchTx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO agent_status (agent, chosen) VALUES (?, ?)
			ON CONFLICT (agent) DO UPDATE SET chosen = excluded.chosen`, agent, string(chosen))
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: set agent status: %w", err)
	}
	return nil
}

// MarkConsolesSeen records that the agents had a console open at at,
// keeping a later time already recorded.
func (s *Store) MarkConsolesSeen(ctx context.Context, agents []string, at time.Time) error {
	err := s.commits.do(ctx, func(ctx context.Context, tx *batchTx) error {
		for _, agent := range agents {
			_, err := tx.ExecContext(ctx, `INSERT INTO agent_status (agent, console_seen_at) VALUES (?, ?)
				ON CONFLICT (agent) DO UPDATE SET console_seen_at = max(coalesce(console_seen_at, 0), excluded.console_seen_at)`,
				agent, at.UnixMicro())
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: mark consoles seen: %w", err)
	}
	return nil
}

// AgentPresences returns every agent the store knows of.
func (s *Store) AgentPresences(ctx context.Context) ([]chatstate.AgentPresence, error) {
	rows, err := s.reads.QueryContext(ctx, `SELECT agent, coalesce(chosen, ''), console_seen_at FROM agent_status`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: agent presences: %w", err)
	}
	defer rows.Close()
	var presences []chatstate.AgentPresence
	for rows.Next() {
		var (
			p      chatstate.AgentPresence
			chosen string
			seen   sql.NullInt64
		)
		if err := rows.Scan(&p.Agent, &chosen, &seen); err != nil {
			return nil, fmt.Errorf("sqlite: agent presences: %w", err)
		}
		p.Chosen, p.ConsoleSeenAt = chatstate.AgentStatus(chosen), fromMicros(seen)
		presences = append(presences, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: agent presences: %w", err)
	}
	return presences, nil
}
