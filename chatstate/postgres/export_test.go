package postgres

import "context"

// Synced counts the checks of l that came back; Sessions the connections
// it made.
func (l *Listener) Synced() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.synced
}

func (l *Listener) Sessions() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sessions
}

// Deafen makes l listen, from its next connection, on a channel nobody
// notifies: its connection stays up but delivers nothing.
func (l *Listener) Deafen() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.channel = "parley_nobody"
}

// Analyze gathers the planner's statistics of the chats, as autovacuum
// would on a database in use.
func (s *Store) Analyze(ctx context.Context) error {
	_, err := s.pool.Exec(ctx, `ANALYZE chats`)
	return err
}
