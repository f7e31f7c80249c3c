package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parley/parley/chatstate"
)

// SetAgentChoice records the status agent chose.
func (s *Store) SetAgentChoice(ctx context.Context, agent string, chosen chatstate.AgentStatus) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO agent_status (agent, chosen) VALUES ($1, $2)
		ON CONFLICT (agent) DO UPDATE SET chosen = excluded.chosen`, agent, string(chosen))
	if err != nil {
		return fmt.Errorf("postgres: set agent status: %w", err)
	}
	return nil
}

// MarkConsolesSeen records, in one statement, that the agents had a
// console open at at, keeping a later time another instance recorded.
func (s *Store) MarkConsolesSeen(ctx context.Context, agents []string, at time.Time) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO agent_status (agent, console_seen_at)
		SELECT unnest($1::text[]), $2
		ON CONFLICT (agent) DO UPDATE SET console_seen_at = GREATEST(agent_status.console_seen_at, excluded.console_seen_at)`,
		agents, micro(at))
	if err != nil {
		return fmt.Errorf("postgres: mark consoles seen: %w", err)
	}
	return nil
}

// AgentPresences returns every agent the store knows of.
func (s *Store) AgentPresences(ctx context.Context) ([]chatstate.AgentPresence, error) {
	rows, err := s.pool.Query(ctx, `SELECT agent, coalesce(chosen, ''), console_seen_at FROM agent_status`)
	if err != nil {
		return nil, fmt.Errorf("postgres: agent presences: %w", err)
	}
	presences, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (chatstate.AgentPresence, error) {
		var (
			p      chatstate.AgentPresence
			chosen string
			seen   *time.Time
		)
		err := r.Scan(&p.Agent, &chosen, &seen)
		p.Chosen, p.ConsoleSeenAt = chatstate.AgentStatus(chosen), fromNull(seen)
		return p, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: agent presences: %w", err)
	}
	return presences, nil
}
