// Package chatrow is what the SQL stores (sqlite, postgres) share of how a
// chat and its events are laid out in rows: the columns both schemas name
// alike, and the fields of a chat that they keep encoded (the registration
// and the visitor as JSON, the search text, the offline limit in
// milliseconds). Each store keeps its own SQL and its own time encoding.
package chatrow

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/parley/parley/chatstate"
)

// ChatColumns are the columns of a chat a store reads, in the order Decode
// and the stores' scans take them.
const ChatColumns = `id, phase, draft, visitor, locale, agent_name, end_reason, end_seen,
	page, max_offline_ms, visitor_seen_at, created_at, updated_at, last_seq, user_id`

// EventColumns are the columns of an event, in the order the stores scan
// and insert them.
const EventColumns = `chat_id, seq, kind, time, from_type, from_name, text, client_id, page, reason`

// DefaultListLimit is ListChats' cap when the filter sets none.
const DefaultListLimit = 100

// CheckNew refuses what no store may create: a chat without an id, or
// without the hash of its token.
func CheckNew(c chatstate.Chat, tokenHash []byte) error {
	if c.ID == "" {
		return errors.New("create chat: empty id")
	}
	if len(tokenHash) == 0 {
		return errors.New("create chat: empty token hash")
	}
	return nil
}

// Encoded are the fields of a chat that a row keeps encoded.
type Encoded struct {
	Draft, Visitor []byte // JSON
	Search         string
	MaxOfflineMS   int64
}

// Encode encodes the fields of c that a row keeps encoded.
func Encode(c chatstate.Chat) (Encoded, error) {
	draft, err := json.Marshal(c.Draft)
	if err != nil {
		return Encoded{}, fmt.Errorf("encode draft: %w", err)
	}
	visitor, err := json.Marshal(c.Visitor)
	if err != nil {
		return Encoded{}, fmt.Errorf("encode visitor: %w", err)
	}
	return Encoded{Draft: draft, Visitor: visitor, Search: chatstate.SearchText(c.Visitor), MaxOfflineMS: c.MaxOffline.Milliseconds()}, nil
}

// Decode fills c's encoded fields, and its phase, from a row's; c.ID names
// the chat in errors.
func Decode(c *chatstate.Chat, phase string, draft, visitor []byte, maxOfflineMS int64) error {
	if err := json.Unmarshal(draft, &c.Draft); err != nil {
		return fmt.Errorf("decode draft of chat %s: %w", c.ID, err)
	}
	if err := json.Unmarshal(visitor, &c.Visitor); err != nil {
		return fmt.Errorf("decode visitor of chat %s: %w", c.ID, err)
	}
	c.Phase = chatstate.Phase(phase)
	c.MaxOffline = time.Duration(maxOfflineMS) * time.Millisecond
	return nil
}
