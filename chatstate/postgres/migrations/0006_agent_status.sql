-- An agent's availability, shared by the instances: the status the agent
-- chose (NULL: never chose, which is online) and when a console of theirs
-- was last open on any instance (NULL: never).
CREATE TABLE agent_status (
	agent           text PRIMARY KEY,
	chosen          text,
	console_seen_at timestamptz
);
