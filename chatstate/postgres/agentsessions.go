package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parley/parley/chatstate"
)

// CreateAgentSession stores s and drops the sessions that have expired by
// s.CreatedAt, so the table holds only live sign-ins. Both happen in one
// statement, so in one transaction.
func (s *Store) CreateAgentSession(ctx context.Context, as chatstate.AgentSession) error {
	if len(as.IDHash) == 0 || as.Agent == "" {
		return errors.New("postgres: create agent session: empty id hash or agent")
	}
	_, err := s.pool.Exec(ctx, `WITH swept AS (DELETE FROM agent_sessions WHERE expires_at <= $3)
		INSERT INTO agent_sessions (id_hash, agent, created_at, expires_at) VALUES ($1, $2, $3, $4)`,
		as.IDHash, as.Agent, micro(as.CreatedAt), micro(as.ExpiresAt))
	if err != nil {
		return fmt.Errorf("postgres: create agent session: %w", err)
	}
	return nil
}

// AgentSession returns the session stored under idHash that has not
// expired at now, or chatstate.ErrNotFound.
func (s *Store) AgentSession(ctx context.Context, idHash []byte, now time.Time) (chatstate.AgentSession, error) {
	as := chatstate.AgentSession{IDHash: idHash}
	err := s.pool.QueryRow(ctx, `SELECT agent, created_at, expires_at FROM agent_sessions
		WHERE id_hash = $1 AND expires_at > $2`, idHash, micro(now)).Scan(&as.Agent, &as.CreatedAt, &as.ExpiresAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return chatstate.AgentSession{}, chatstate.ErrNotFound
	}
	if err != nil {
		return chatstate.AgentSession{}, fmt.Errorf("postgres: agent session: %w", err)
	}
	as.CreatedAt, as.ExpiresAt = as.CreatedAt.UTC(), as.ExpiresAt.UTC()
	return as, nil
}

// DeleteAgentSession removes the session stored under idHash, if any.
func (s *Store) DeleteAgentSession(ctx context.Context, idHash []byte) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM agent_sessions WHERE id_hash = $1`, idHash); err != nil {
		return fmt.Errorf("postgres: delete agent session: %w", err)
	}
	return nil
}
