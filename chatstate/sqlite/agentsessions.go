package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/parley/parley/chatstate"
)

// CreateAgentSession stores s and drops the sessions that have expired by
// s.CreatedAt, so the table holds only live sign-ins.
func (s *Store) CreateAgentSession(ctx context.Context, as chatstate.AgentSession) error {
	if len(as.IDHash) == 0 || as.Agent == "" {
		return errors.New("sqlite: create agent session: empty id hash or agent")
	}
	err := s.commits.do(ctx, func(ctx context.Context, tx *batchTx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM agent_sessions WHERE expires_at <= ?`, as.CreatedAt.UnixMicro()); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO agent_sessions (id_hash, agent, created_at, expires_at)
			VALUES (?, ?, ?, ?)`, as.IDHash, as.Agent, as.CreatedAt.UnixMicro(), as.ExpiresAt.UnixMicro())
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: create agent session: %w", err)
	}
	return nil
}

// AgentSession returns the session stored under idHash that has not
// expired at now, or chatstate.ErrNotFound.
func (s *Store) AgentSession(ctx context.Context, idHash []byte, now time.Time) (chatstate.AgentSession, error) {
	as := chatstate.AgentSession{IDHash: idHash}
	var created, expires int64
	err := s.reads.QueryRowContext(ctx, `SELECT agent, created_at, expires_at FROM agent_sessions
		WHERE id_hash = ? AND expires_at > ?`, idHash, now.UnixMicro()).Scan(&as.Agent, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return chatstate.AgentSession{}, chatstate.ErrNotFound
	}
	if err != nil {
		return chatstate.AgentSession{}, fmt.Errorf("sqlite: agent session: %w", err)
	}
	as.CreatedAt, as.ExpiresAt = time.UnixMicro(created).UTC(), time.UnixMicro(expires).UTC()
	return as, nil
}

// DeleteAgentSession removes the session stored under idHash, if any.
func (s *Store) DeleteAgentSession(ctx context.Context, idHash []byte) error {
	err := s.commits.do(ctx, func(ctx context.Context, tx *batchTx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM agent_sessions WHERE id_hash = ?`, idHash)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: delete agent session: %w", err)
	}
	return nil
}
