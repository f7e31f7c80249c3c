-- A chat may be tied to a signed-in user of the host site, so that it
-- restores wherever that user signs in. '' is an anonymous visitor's chat.
ALTER TABLE chats ADD COLUMN user_id TEXT NOT NULL DEFAULT '';

-- ChatByUser: the user's newest chat.
CREATE INDEX chats_user_created ON chats (user_id, created_at DESC) WHERE user_id <> '';
