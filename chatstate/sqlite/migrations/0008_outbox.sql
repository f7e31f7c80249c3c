-- The outbox: what Parley sends out (mails; later webhook calls), written
-- in the same transaction as the chat event that causes it and drained by
-- a sender (chatstate.Outbox). Times are UTC unix microseconds.
CREATE TABLE outbox (
	id              INTEGER PRIMARY KEY,
	kind            TEXT NOT NULL,
	key             TEXT NOT NULL,
	payload         TEXT NOT NULL,     -- JSON, the sender's to read
	created_at      INTEGER NOT NULL,
	-- attempts counts claims: a sender that died mid-send used one.
	attempts        INTEGER NOT NULL DEFAULT 0,
	-- next_attempt_at is when the item is due; a claim pushes it forward
	-- by its lease, so it is also when a claim held by lease_owner lapses.
	next_attempt_at INTEGER NOT NULL,
	lease_owner     TEXT NOT NULL DEFAULT '',
	sent_at         INTEGER,
	-- failed_at is when the item was given up on; it stays, to be seen.
	failed_at       INTEGER,
	last_error      TEXT NOT NULL DEFAULT '',
	-- The same decision taken twice stores one item.
	UNIQUE (kind, key)
);

-- ClaimOutbox: the due items of a kind, oldest due first, among the few
-- still queued.
CREATE INDEX outbox_due ON outbox (kind, next_attempt_at, id)
	WHERE sent_at IS NULL AND failed_at IS NULL;
-- PruneOutbox: the items sent long ago.
CREATE INDEX outbox_sent ON outbox (kind, sent_at) WHERE sent_at IS NOT NULL;
