-- The agents' queue lists the waiting chats longest waiting first
-- (ChatFilter.OldestFirst).
CREATE INDEX chats_phase_created ON chats (phase, created_at, id);
