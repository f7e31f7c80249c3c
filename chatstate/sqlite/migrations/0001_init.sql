-- Chats and their append-only event logs.
-- Times are UTC unix microseconds; NULL stands for the zero time.

CREATE TABLE chats (
	id              TEXT PRIMARY KEY,
	token_hash      BLOB NOT NULL UNIQUE,
	phase           TEXT NOT NULL,
	draft           TEXT NOT NULL,     -- JSON of chatstate.Registration
	visitor         TEXT NOT NULL,     -- JSON of chatstate.Registration
	-- search holds the visitor's names, email and subject case-folded in Go,
	-- because SQLite's lower() and LIKE fold ASCII only.
	search          TEXT NOT NULL,
	locale          TEXT NOT NULL,
	agent_name      TEXT NOT NULL,
	end_reason      TEXT NOT NULL,
	end_seen        INTEGER NOT NULL,
	page            TEXT NOT NULL,
	max_offline_ms  INTEGER NOT NULL,
	visitor_seen_at INTEGER,
	created_at      INTEGER,
	updated_at      INTEGER,
	last_seq        INTEGER NOT NULL
);

-- ListChats: the agent queue filters by phase and shows the newest first.
CREATE INDEX chats_phase_updated ON chats (phase, updated_at DESC);
CREATE INDEX chats_updated ON chats (updated_at DESC);

-- WITHOUT ROWID clusters a chat's events by seq, so a restore reads them
-- from a few adjacent pages.
CREATE TABLE events (
	chat_id   TEXT NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
	seq       INTEGER NOT NULL,
	kind      TEXT NOT NULL,
	time      INTEGER,
	from_type TEXT NOT NULL,
	from_name TEXT NOT NULL,
	text      TEXT NOT NULL,
	client_id TEXT NOT NULL,
	page      TEXT NOT NULL,
	reason    TEXT NOT NULL,
	PRIMARY KEY (chat_id, seq)
) WITHOUT ROWID;

-- A retried send carries the same client id and must be stored once.
CREATE UNIQUE INDEX events_client_id ON events (chat_id, client_id) WHERE client_id <> '';
