-- The offline sweep looks only at chats not yet ended, but chats_offline_at
-- also held every ended chat, each long past its deadline: the sweep read
-- them all every second, more each day (6.3 ms a sweep beside 20,000 ended
-- chats, 0.05 ms after; BenchmarkOfflineSweep). It now holds live chats.
DROP INDEX chats_offline_at;
CREATE INDEX chats_offline_at ON chats (visitor_seen_at + max_offline_ms * 1000)
	WHERE visitor_seen_at IS NOT NULL AND phase <> 'ended';
