-- An agent's sign-in, one row per browser, keyed by the hash of the token
-- its cookie carries: a sign-out deletes the row, so a copied cookie dies
-- with it on every instance and across restarts.
CREATE TABLE agent_sessions (
	id_hash    bytea PRIMARY KEY,
	agent      text NOT NULL,
	created_at timestamptz NOT NULL,
	expires_at timestamptz NOT NULL
);

CREATE INDEX agent_sessions_expires ON agent_sessions (expires_at);
