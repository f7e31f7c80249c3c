package chatstate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// OutboxMail is the Kind of an outbox item that is a mail (package mail
// makes and sends them).
const OutboxMail = "mail"

// Outgoing is something to send out of Parley (a mail; later a webhook
// call), written to the store's outbox in the same transaction as the event
// that causes it (Event.Outbox), so that it is neither lost when the
// process dies after the commit nor sent for a change that was not
// committed. A sender drains the outbox (ClaimOutbox …).
type Outgoing struct {
	// Kind names the sender that handles the item, such as OutboxMail.
	Kind string
	// Key names the item within its kind: an item whose kind and key are
	// already in the outbox is not stored again, so that the same decision
	// taken twice (a retried request, two instances) sends once. A mail's
	// Message-ID is derived from it, so that a resend carries the same one.
	Key string
	// Payload is the item's JSON, the sender's to read.
	Payload json.RawMessage
}

// MaxOutboxKey bounds an Outgoing's Key, in bytes.
const MaxOutboxKey = 200

// Check reports whether o may be stored: a kind, a key of at most
// MaxOutboxKey bytes, and a payload that is JSON.
func (o Outgoing) Check() error {
	switch {
	case o.Kind == "":
		return errors.New("outbox item without a kind")
	case o.Key == "" || len(o.Key) > MaxOutboxKey:
		return fmt.Errorf("outbox item %s: want a key of 1 to %d bytes", o.Kind, MaxOutboxKey)
	case !json.Valid(o.Payload):
		return fmt.Errorf("outbox item %s %q: payload is not JSON", o.Kind, o.Key)
	}
	return nil
}

// OutboxItem is an Outgoing as the outbox holds it, claimed for sending.
type OutboxItem struct {
	ID      int64
	Kind    string
	Key     string
	Payload json.RawMessage
	// CreatedAt is when the item was stored, by the store's clock.
	CreatedAt time.Time
	// Attempts counts the claims of the item, this one included: a sender
	// that died mid-send has used an attempt too.
	Attempts int
	// LastError is why the previous attempt failed; empty on the first.
	LastError string
}

// OutboxStats counts the outbox's items of one kind, for metrics.
type OutboxStats struct {
	// Queued are waiting to be sent, or being sent, retries included.
	Queued int64
	// Sent have been sent and are kept until pruned.
	Sent int64
	// Failed were given up on; they stay, for an operator to see.
	Failed int64
	// OldestQueued is the age of the oldest queued item, 0 with none.
	OldestQueued time.Duration
}

// ErrLeaseLost is returned when an outbox item is no longer held by the
// one that claimed it: its lease ran out and another sender claimed it, or
// it was sent.
var ErrLeaseLost = errors.New("outbox item no longer held by this sender")

// Outbox is the sending side of a store's outbox. Store.Update writes
// items into it (Event.Outbox); a sender claims the due ones, sends them
// and marks each sent, to be retried, or failed. chatstate/sqlite and
// chatstate/postgres implement it; chatstate/storetest holds them to it.
//
// An item is due once its next attempt time has come. A claim leases the
// item to the claiming owner for a while, by pushing that time forward by
// the lease: claimers never get the same item while its lease runs, in one
// process or, on PostgreSQL, in many; a sender that dies mid-send leaves
// the item to be claimed again once the lease ends.
type Outbox interface {
	// EnqueueOutbox stores items that no chat event causes (a periodic
	// digest), in one transaction; items whose kind and key are already
	// stored are left as they are.
	EnqueueOutbox(ctx context.Context, items ...Outgoing) error
	// ClaimOutbox leases up to limit due items of kind to owner for lease,
	// counting an attempt on each, and returns them in the order stored.
	ClaimOutbox(ctx context.Context, kind, owner string, limit int, lease time.Duration) ([]OutboxItem, error)
	// MarkOutboxSent records that item id was sent. It holds whoever's
	// lease the item is under: the mail went out.
	MarkOutboxSent(ctx context.Context, id int64) error
	// RetryOutbox records why owner's attempt at item id failed, and makes
	// it due again after retryIn; ErrLeaseLost when owner no longer
	// holds it.
	RetryOutbox(ctx context.Context, id int64, owner, reason string, retryIn time.Duration) error
	// FailOutbox gives item id up, with the reason, keeping it as failed;
	// ErrLeaseLost when owner no longer holds it.
	FailOutbox(ctx context.Context, id int64, owner, reason string) error
	// OutboxStats counts the items of kind.
	OutboxStats(ctx context.Context, kind string) (OutboxStats, error)
	// PruneOutbox deletes the items of kind sent longer than olderThan
	// ago, and says how many. Their keys are free again then, so keep them
	// longer than the same item could be enqueued twice.
	PruneOutbox(ctx context.Context, kind string, olderThan time.Duration) (int64, error)
}

// MaxOutboxError bounds the reason kept for a failed attempt, in bytes.
const MaxOutboxError = 1000

// OutboxReason cuts reason to what the outbox keeps, at a rune boundary.
func OutboxReason(reason string) string {
	if len(reason) <= MaxOutboxError {
		return reason
	}
	cut := MaxOutboxError
	for cut > 0 && !runeStart(reason[cut]) {
		cut--
	}
	return reason[:cut]
}

func runeStart(b byte) bool { return b&0xC0 != 0x80 }
