package chatstate

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrNoAgentSession is what an unknown, expired or ended agent session
// token gets.
var ErrNoAgentSession = errors.New("no such agent session")

// StartAgentSession signs agent in for ttl and returns the token their
// cookie carries. Only the token's hash is stored, as with restore tokens.
func (s *Service) StartAgentSession(ctx context.Context, agent string, ttl time.Duration) (string, error) {
	token, now := NewToken(), s.now().UTC()
	err := s.store.CreateAgentSession(ctx, AgentSession{IDHash: HashToken(token), Agent: agent, CreatedAt: now, ExpiresAt: now.Add(ttl)})
	if err != nil {
		return "", fmt.Errorf("start agent session: %w", err)
	}
	return token, nil
}

// AgentOfSession returns who signed in with token, or ErrNoAgentSession
// once it has expired or been ended, on whichever instance that was.
func (s *Service) AgentOfSession(ctx context.Context, token string) (string, error) {
	if token == "" {
		return "", ErrNoAgentSession
	}
	as, err := s.store.AgentSession(ctx, HashToken(token), s.now())
	if errors.Is(err, ErrNotFound) {
		return "", ErrNoAgentSession
	}
	if err != nil {
		return "", err
	}
	return as.Agent, nil
}

// EndAgentSession signs out the session of token: its cookie, wherever it
// was copied, no longer signs anybody in.
func (s *Service) EndAgentSession(ctx context.Context, token string) error {
	if token == "" {
		return nil
	}
	return s.store.DeleteAgentSession(ctx, HashToken(token))
}
