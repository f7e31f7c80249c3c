-- The offline sweep asks every second for the chats not yet ended whose
-- visitor has been away past the chat's limit. Without this index it read
-- every live chat to find the few (5.0 ms a sweep with 2,000 live chats,
-- 0.14 ms with it; BenchmarkOfflineSweep). PostgreSQL indexes immutable
-- expressions only, and adding an interval to a timestamptz is not one in
-- general (a day is not always 24 hours in a time zone); adding
-- milliseconds is, hence this function.
CREATE FUNCTION chat_offline_at(seen timestamptz, max_offline_ms bigint) RETURNS timestamptz
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	AS $$ SELECT seen + max_offline_ms * interval '1 millisecond' $$;

CREATE INDEX chats_offline_at ON chats (chat_offline_at(visitor_seen_at, max_offline_ms))
	WHERE visitor_seen_at IS NOT NULL AND phase <> 'ended';
