-- Chats and their append-only event logs.
-- Times are timestamptz (microseconds); NULL stands for the zero time.
-- Ids compare bytewise (COLLATE "C"), as in the SQLite backend, whatever
-- the database's locale.

CREATE TABLE chats (
	id              text COLLATE "C" PRIMARY KEY,
	-- n counts chats in the order they were stored: ChatByUser's tie-break
	-- when two chats of a user share a CreatedAt.
	n               bigint GENERATED ALWAYS AS IDENTITY,
	token_hash      bytea NOT NULL UNIQUE,
	phase           text NOT NULL,
	draft           jsonb NOT NULL,    -- chatstate.Registration
	visitor         jsonb NOT NULL,    -- chatstate.Registration
	-- search holds the visitor's names, email and subject case-folded in Go,
	-- so that a query folds the same way on every server and locale.
	search          text NOT NULL,
	locale          text NOT NULL,
	agent_name      text NOT NULL,
	end_reason      text NOT NULL,
	end_seen        boolean NOT NULL,
	page            text NOT NULL,
	max_offline_ms  bigint NOT NULL,
	visitor_seen_at timestamptz,
	created_at      timestamptz,
	updated_at      timestamptz,
	-- last_seq is the seq of the newest event; Update locks the row
	-- (SELECT … FOR UPDATE) and numbers new events from it.
	last_seq        bigint NOT NULL,
	-- user_id ties a chat to a signed-in user of the host site; '' is an
	-- anonymous visitor's chat.
	user_id         text NOT NULL DEFAULT ''
);

-- ListChats: the agent queue filters by phase and shows the newest first.
CREATE INDEX chats_phase_updated ON chats (phase, updated_at DESC NULLS LAST);
CREATE INDEX chats_updated ON chats (updated_at DESC NULLS LAST, id DESC);
-- ChatByUser: the user's newest chat.
CREATE INDEX chats_user_created ON chats (user_id, created_at DESC NULLS LAST, n DESC) WHERE user_id <> '';

CREATE TABLE events (
	chat_id   text COLLATE "C" NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
	seq       bigint NOT NULL,
	kind      text NOT NULL,
	time      timestamptz,
	from_type text NOT NULL,
	from_name text NOT NULL,
	text      text NOT NULL,
	-- folded is a message's text case-folded in Go, for ListChats' query;
	-- NULL where folding leaves the text as it is (or for other kinds).
	folded    text,
	client_id text NOT NULL,
	page      text NOT NULL,
	reason    text NOT NULL,
	PRIMARY KEY (chat_id, seq)
);

-- A retried send carries the same client id and must be stored once.
CREATE UNIQUE INDEX events_client_id ON events (chat_id, client_id) WHERE client_id <> '';
