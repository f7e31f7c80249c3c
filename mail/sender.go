package mail

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	mathrand "math/rand/v2"
	netmail "net/mail"
	"sync/atomic"
	"time"

	gomail "github.com/wneessen/go-mail"
	"github.com/wneessen/go-mail/smtp"

	"github.com/parley/parley/chatstate"
)

// Outbox is what a Sender needs of the store: chatstate.Outbox but for
// enqueueing, which chat events do.
type Outbox interface {
	ClaimOutbox(ctx context.Context, kind, owner string, limit int, lease time.Duration) ([]chatstate.OutboxItem, error)
	MarkOutboxSent(ctx context.Context, id int64) error
	RetryOutbox(ctx context.Context, id int64, owner, reason string, retryIn time.Duration) error
	FailOutbox(ctx context.Context, id int64, owner, reason string) error
	OutboxStats(ctx context.Context, kind string) (chatstate.OutboxStats, error)
	PruneOutbox(ctx context.Context, kind string, olderThan time.Duration) (int64, error)
}

// Defaults of Config.
const (
	DefaultPoll        = 10 * time.Second
	DefaultBatch       = 20
	DefaultLease       = 2 * time.Minute
	DefaultTimeout     = 30 * time.Second
	DefaultMinRetry    = 30 * time.Second
	DefaultMaxRetry    = time.Hour
	DefaultMaxAttempts = 25
	DefaultMaxAge      = 48 * time.Hour
	DefaultKeepSent    = 7 * 24 * time.Hour
)

// pruneEvery is how often a Sender deletes the mails sent long ago.
const pruneEvery = time.Hour

// Config builds a Sender. Outbox, SMTPURL and From are required; the rest
// has defaults.
type Config struct {
	Outbox Outbox
	// SMTPURL is the server to send through; see ParseURL.
	SMTPURL string
	// From is the mails' sender, one address with an optional display
	// name ("Parley <chat@shop.example>"); its domain ends the
	// Message-IDs.
	From string
	// TLSConfig checks the server's certificate; nil uses the system's
	// roots. Its ServerName defaults to the URL's host.
	TLSConfig *tls.Config
	Logger    *slog.Logger

	// Poll is how often the outbox is looked at when nothing wakes the
	// sender (Wake): retries coming due, mails enqueued by other
	// instances.
	Poll time.Duration
	// Batch is how many mails one claim takes, sent over one connection.
	Batch int
	// Lease is how long a claimed batch is this sender's alone; the batch
	// is cut off well before it ends, so that another sender never takes a
	// mail this one still sends. A sender that dies leaves its batch to be
	// taken again once the lease ends.
	Lease time.Duration
	// Timeout bounds each exchange with the SMTP server.
	Timeout time.Duration
	// MinRetry and MaxRetry bound the wait before a failed mail is tried
	// again: it doubles from MinRetry with each attempt, up to MaxRetry,
	// and a random part of it is taken off so that retries spread out.
	MinRetry, MaxRetry time.Duration
	// MaxAttempts and MaxAge: a mail that failed this many times, or that
	// has been queued this long, is given up and kept as failed.
	MaxAttempts int
	MaxAge      time.Duration
	// KeepSent is how long sent mails stay in the outbox, their keys
	// keeping the same mail from being enqueued again.
	KeepSent time.Duration
}

// Stats are a Sender's numbers, for metrics.
type Stats struct {
	// Outbox counts the store's mails, every instance's.
	Outbox chatstate.OutboxStats
	// Sent, Retried and Failed count this sender's mails sent, attempts
	// that failed and will be tried again, and mails given up.
	Sent, Retried, Failed uint64
}

// Sender drains the mails of an outbox over SMTP. Its owner runs Run in a
// goroutine of its own, and may Wake it when mails were enqueued.
type Sender struct {
	cfg    Config
	server Server
	from   *netmail.Address
	client *gomail.Client
	log    *slog.Logger
	// owner names this sender's leases in the outbox.
	owner string
	wake  chan struct{}

	sent, retried, failed atomic.Uint64
}

// NewSender checks cfg and builds a Sender; nothing runs until Run.
func NewSender(cfg Config) (*Sender, error) {
	if cfg.Outbox == nil {
		return nil, errors.New("mail: no Outbox")
	}
	server, err := ParseURL(cfg.SMTPURL)
	if err != nil {
		return nil, fmt.Errorf("mail: %w", err)
	}
	from, err := ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("mail: From: %w", err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cfg.Poll = or(cfg.Poll, DefaultPoll)
	cfg.Batch = or(cfg.Batch, DefaultBatch)
	cfg.Lease = or(cfg.Lease, DefaultLease)
	cfg.Timeout = or(cfg.Timeout, DefaultTimeout)
	cfg.MinRetry = or(cfg.MinRetry, DefaultMinRetry)
	cfg.MaxRetry = max(or(cfg.MaxRetry, DefaultMaxRetry), cfg.MinRetry)
	cfg.MaxAttempts = or(cfg.MaxAttempts, DefaultMaxAttempts)
	cfg.MaxAge = or(cfg.MaxAge, DefaultMaxAge)
	cfg.KeepSent = or(cfg.KeepSent, DefaultKeepSent)
	client, err := server.client(cfg.Timeout, cfg.TLSConfig)
	if err != nil {
		return nil, fmt.Errorf("mail: %w", err)
	}
	return &Sender{
		cfg:    cfg,
		server: server,
		from:   from,
		client: client,
		log:    cfg.Logger,
		owner:  "mail-" + rand.Text(),
		wake:   make(chan struct{}, 1),
	}, nil
}

// or is v, or fallback when v is not positive.
func or[T int | time.Duration](v, fallback T) T {
	if v <= 0 {
		return fallback
	}
	return v
}

// Wake tells the sender that mails were enqueued, so that it sends them
// now rather than at its next poll. It never blocks.
func (s *Sender) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Stats returns the sender's numbers and the outbox's.
func (s *Sender) Stats(ctx context.Context) (Stats, error) {
	st := Stats{Sent: s.sent.Load(), Retried: s.retried.Load(), Failed: s.failed.Load()}
	var err error
	st.Outbox, err = s.cfg.Outbox.OutboxStats(ctx, chatstate.OutboxMail)
	if err != nil {
		return st, fmt.Errorf("mail: %w", err)
	}
	return st, nil
}

// Run sends the outbox's mails until ctx ends: at once, then whenever
// woken or Poll has passed. A mail it is sending when ctx ends is left to
// the next sender (or the next Run), which sends it again if the server
// had taken it: see docs/mail.md.
func (s *Sender) Run(ctx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	var pruned time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-timer.C:
		}
		s.drain(ctx)
		if time.Since(pruned) >= pruneEvery && ctx.Err() == nil {
			pruned = time.Now()
			if _, err := s.cfg.Outbox.PruneOutbox(ctx, chatstate.OutboxMail, s.cfg.KeepSent); err != nil {
				s.log.Error("mail: prune the outbox", "err", err)
			}
		}
		timer.Reset(s.cfg.Poll)
	}
}

// drain sends batches while there are due mails.
func (s *Sender) drain(ctx context.Context) {
	for ctx.Err() == nil {
		items, err := s.cfg.Outbox.ClaimOutbox(ctx, chatstate.OutboxMail, s.owner, s.cfg.Batch, s.cfg.Lease)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Error("mail: claim from the outbox", "err", err)
			}
			return
		}
		if len(items) == 0 {
			return
		}
		s.sendBatch(ctx, items)
		if len(items) < s.cfg.Batch {
			return
		}
	}
}

// sendBatch sends items, claimed together, over one connection, and
// records each one's fate.
func (s *Sender) sendBatch(ctx context.Context, items []chatstate.OutboxItem) {
	// The batch ends well within its lease: past the lease another sender
	// may take these mails, and must not find this one still sending.
	batch, cancel := context.WithTimeout(ctx, s.cfg.Lease*3/4)
	defer cancel()
	batch = withBatch(batch)
	// Recording a fate must not fail because ctx ended just after the
	// mail went out: that would send it again.
	record, cancelRecord := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelRecord()

	var conn *smtp.Client
	defer func() {
		if conn != nil {
			_ = s.client.CloseWithSMTPClient(conn)
		}
	}()
	for i, it := range items {
		msg, err := s.build(it)
		if err != nil {
			// Sending it again would fail alike.
			s.giveUp(record, it, err)
			continue
		}
		if err := batch.Err(); err != nil {
			// Stopped, or out of time: the rest go back, due at once,
			// rather than wait for the lease to end.
			s.release(record, items[i:], "not attempted: the sender stopped, or its batch ran out of time")
			return
		}
		if conn == nil {
			conn, err = s.client.DialToSMTPClientWithContext(batch)
			if err != nil {
				conn = nil
				// The server is away, or refuses this client: the whole
				// batch waits its turn.
				for _, rest := range items[i:] {
					s.retry(record, rest, fmt.Errorf("connect: %w", err))
				}
				return
			}
		}
		err = s.client.SendWithSMTPClient(conn, msg)
		if err != nil && ctx.Err() != nil {
			// Stopped mid-send, which cut the connection: whether the
			// server took this mail is unknown, and it goes back with the
			// rest (docs/mail.md says why it may then arrive twice).
			s.release(record, items[i:], "sender stopped during this mail")
			return
		}
		switch {
		case err == nil:
			s.markSent(record, it)
		case permanent(err):
			s.giveUp(record, it, err)
		default:
			s.retry(record, it, err)
		}
		if err != nil {
			// The connection may be left in any state: the next mail
			// gets a new one.
			_ = s.client.CloseWithSMTPClient(conn)
			conn = nil
		}
	}
}

// build makes the mail of outbox item it.
func (s *Sender) build(it chatstate.OutboxItem) (*gomail.Msg, error) {
	var m Message
	if err := json.Unmarshal(it.Payload, &m); err != nil {
		return nil, fmt.Errorf("payload: %w", err)
	}
	// The payload was checked when enqueued; a row changed since, or
	// written by another version, is checked again.
	if err := m.Validate(); err != nil {
		return nil, err
	}
	to, _ := ParseAddress(m.To)
	msg := gomail.NewMsg()
	msg.FromMailAddress(s.from)
	msg.ToMailAddress(to)
	msg.Subject(m.Subject)
	msg.SetMessageIDWithValue(MessageID(it.Key, domainOf(s.from)))
	// The time the mail was decided, so that every attempt writes the
	// same mail.
	msg.SetDateWithValue(it.CreatedAt)
	// RFC 3834: out-of-office replies and the like are not sent back.
	msg.SetGenHeader(gomail.Header("Auto-Submitted"), "auto-generated")
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}
	return msg, nil
}

// permanent reports whether err says that this mail can never be sent as
// it is: the server refused its recipient, or its content, for good (5xx).
// A 5xx refusal of the sender (MAIL FROM) or of the login is retried like a
// 4xx: it is the configuration's, and would lose every mail at once.
func permanent(err error) bool {
	var se *gomail.SendError
	if !errors.As(err, &se) {
		return false
	}
	code := se.ErrorCode()
	return code >= 500 && code < 600 && (se.Reason == gomail.ErrSMTPRcptTo || se.Reason == gomail.ErrSMTPDataClose)
}

func (s *Sender) markSent(ctx context.Context, it chatstate.OutboxItem) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	s.sent.Add(1)
	if err := s.cfg.Outbox.MarkOutboxSent(ctx, it.ID); err != nil {
		// The mail went out; once the lease ends it will go out again,
		// with the same Message-ID.
		s.log.Error("mail: sent, but not recorded as sent: it will be sent again", "key", it.Key, "err", err)
	}
}

// retry records a failed attempt at it, which is tried again after a
// backoff, or given up when it is out of attempts or time.
func (s *Sender) retry(ctx context.Context, it chatstate.OutboxItem, cause error) {
	if it.Attempts >= s.cfg.MaxAttempts || time.Since(it.CreatedAt) >= s.cfg.MaxAge {
		s.giveUp(ctx, it, fmt.Errorf("after %d attempts: %w", it.Attempts, cause))
		return
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	s.retried.Add(1)
	wait := Backoff(it.Attempts, s.cfg.MinRetry, s.cfg.MaxRetry)
	s.log.Warn("mail: not sent, will retry", "key", it.Key, "attempt", it.Attempts, "in", wait, "err", cause)
	if err := s.cfg.Outbox.RetryOutbox(ctx, it.ID, s.owner, cause.Error(), wait); err != nil {
		s.log.Error("mail: record a failed attempt", "key", it.Key, "err", err)
	}
}

// giveUp keeps it as failed.
func (s *Sender) giveUp(ctx context.Context, it chatstate.OutboxItem, cause error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	s.failed.Add(1)
	s.log.Error("mail: given up", "key", it.Key, "attempts", it.Attempts, "err", cause)
	if err := s.cfg.Outbox.FailOutbox(ctx, it.ID, s.owner, cause.Error()); err != nil {
		s.log.Error("mail: record a mail given up", "key", it.Key, "err", err)
	}
}

// release hands items back, due at once, for this sender's next run or
// another sender: their attempt was not made.
func (s *Sender) release(ctx context.Context, items []chatstate.OutboxItem, reason string) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	for _, it := range items {
		if err := s.cfg.Outbox.RetryOutbox(ctx, it.ID, s.owner, reason, 0); err != nil {
			// Its lease ends anyway.
			s.log.Warn("mail: hand a mail back", "key", it.Key, "err", err)
		}
	}
}

// Backoff is the wait before attempt n+1 of a mail whose attempt n failed:
// lo doubled n-1 times, capped at hi, less a random part of up to half,
// so that mails that failed together are not all retried together.
func Backoff(n int, lo, hi time.Duration) time.Duration {
	wait := lo
	for i := 1; i < n && wait < hi; i++ {
		wait *= 2
	}
	wait = min(wait, hi)
	return wait - time.Duration(mathrand.Int64N(int64(wait/2)+1))
}
