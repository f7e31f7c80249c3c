-- Token buckets of the rate limits that hold across every instance (chat
-- starts, agent sign-in), keyed by a hash of the limit's name and its key
-- (an address, a sign-in name): no address or name is kept in clear. Times
-- are the database's, so instances' clocks need not agree.
CREATE TABLE rate_buckets (
	key     bytea PRIMARY KEY,
	tokens  double precision NOT NULL,
	at      timestamptz NOT NULL,
	-- full_at is when the bucket will have refilled: from then on the row
	-- is as good as none, and is deleted.
	full_at timestamptz NOT NULL
);

CREATE INDEX rate_buckets_full ON rate_buckets (full_at);
