-- The outbox: what Parley sends out (mails; later webhook calls), written
-- in the same transaction as the chat event that causes it and drained by
-- the senders of every instance (chatstate.Outbox). Times are the
-- database's, so that instances' clocks need not agree on leases.
CREATE TABLE outbox (
	id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	kind            text COLLATE "C" NOT NULL,
	key             text COLLATE "C" NOT NULL,
	-- json, not jsonb: the sender reads back the bytes it was given.
	payload         json NOT NULL,
	created_at      timestamptz NOT NULL DEFAULT now(),
	-- attempts counts claims: a sender that died mid-send used one.
	attempts        integer NOT NULL DEFAULT 0,
	-- next_attempt_at is when the item is due; a claim pushes it forward
	-- by its lease, so it is also when a claim held by lease_owner lapses.
	next_attempt_at timestamptz NOT NULL DEFAULT now(),
	lease_owner     text NOT NULL DEFAULT '',
	sent_at         timestamptz,
	-- failed_at is when the item was given up on; it stays, to be seen.
	failed_at       timestamptz,
	last_error      text NOT NULL DEFAULT '',
	-- The same decision taken twice, on any instance, stores one item.
	UNIQUE (kind, key)
);

-- ClaimOutbox: the due items of a kind, oldest due first, among the few
-- still queued.
CREATE INDEX outbox_due ON outbox (kind, next_attempt_at, id)
	WHERE sent_at IS NULL AND failed_at IS NULL;
-- PruneOutbox: the items sent long ago.
CREATE INDEX outbox_sent ON outbox (kind, sent_at) WHERE sent_at IS NOT NULL;
