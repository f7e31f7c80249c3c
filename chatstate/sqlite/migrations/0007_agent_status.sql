-- An agent's availability: the status the agent chose (NULL: never chose,
-- which is online) and when a console of theirs was last open (unix
-- microseconds; NULL: never).
CREATE TABLE agent_status (
	agent           TEXT PRIMARY KEY,
	chosen          TEXT,
	console_seen_at INTEGER
) WITHOUT ROWID;
