package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/parley/parley/chatstate"
)

// Listener defaults.
const (
	// DefaultSyncEvery is how often a Listener checks that its connection
	// still delivers, and compares what it followed with the store.
	DefaultSyncEvery = 5 * time.Second
	// DefaultSyncTimeout is how long a Listener waits for its own check
	// before it takes the connection for dead and reconnects.
	DefaultSyncTimeout = 10 * time.Second
	// listenWorkers read the log for notified chats in parallel; one
	// chat's notifications always go to the same worker, in order.
	listenWorkers = 4
	// minBackoff and maxBackoff bound the wait between reconnections.
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
)

// barrierPrefix starts the payload of a Listener's own check, which no
// chat id (lowercase hex) can.
const barrierPrefix = "sync:"

// ListenerConfig builds a Listener.
type ListenerConfig struct {
	// Relay is told of what the notifications say.
	Relay chatstate.Relay
	// Logger receives reconnections and their reasons; nil is
	// slog.Default().
	Logger *slog.Logger
	// SyncEvery and SyncTimeout: see DefaultSyncEvery, DefaultSyncTimeout.
	SyncEvery   time.Duration
	SyncTimeout time.Duration
}

// Listener keeps a Relay in step with every commit to the store, by any
// instance: on a connection of its own it LISTENs on Channel and passes
// each notification on. Notifications only wake it; the log is the truth.
// A lost notification is found and recovered from the log:
//
//   - when the connection drops, it reconnects with backoff, then has the
//     relay compare what it followed with the store (Settle with gap);
//   - every SyncEvery it reads the heads of the chats followed, then
//     notifies itself and waits for that notification: when it comes, every
//     notification of what the heads hold has been passed on, so the relay
//     can compare exactly (Settle without gap). A notification of its own
//     that does not come within SyncTimeout means a connection that no
//     longer delivers (a dead peer, a pause): it reconnects.
type Listener struct {
	store       *Store
	relay       chatstate.Relay
	log         *slog.Logger
	syncEvery   time.Duration
	syncTimeout time.Duration
	// id tells this listener's checks from other instances'.
	id string
	// channel is Channel; tests make a listener deaf by changing it.
	channel string

	mu sync.Mutex
	// listening is set while notifications flow and the relay has been
	// settled since the last connection.
	listening bool
	since     time.Time
	lastErr   error
	// synced counts checks that came back, and sessions connections made,
	// for tests.
	synced, sessions int
}

// Follow returns a Listener that passes every instance's commits to relay:
// a store shared by several instances says so by offering it.
func (s *Store) Follow(relay chatstate.Relay, logger *slog.Logger) chatstate.Follower {
	return NewListener(s, ListenerConfig{Relay: relay, Logger: logger})
}

// NewListener returns a Listener on s's database; Run runs it.
func NewListener(s *Store, cfg ListenerConfig) *Listener {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	l := &Listener{
		store: s, relay: cfg.Relay, log: cfg.Logger,
		syncEvery: cfg.SyncEvery, syncTimeout: cfg.SyncTimeout,
		id: hex.EncodeToString(b), channel: Channel, since: time.Now(),
	}
	if l.log == nil {
		l.log = slog.Default()
	}
	if l.syncEvery <= 0 {
		l.syncEvery = DefaultSyncEvery
	}
	if l.syncTimeout <= 0 {
		l.syncTimeout = DefaultSyncTimeout
	}
	return l
}

// Check reports whether the listener is listening, for a health check: nil
// once it has connected and caught up, an error saying since when and why
// not otherwise.
func (l *Listener) Check(context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.listening {
		return nil
	}
	if l.lastErr != nil {
		return fmt.Errorf("not listening since %s: %w", l.since.UTC().Format(time.RFC3339), l.lastErr)
	}
	return fmt.Errorf("not listening yet (since %s)", l.since.UTC().Format(time.RFC3339))
}

func (l *Listener) setListening() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.listening, l.since, l.lastErr = true, time.Now(), nil
}

func (l *Listener) setDown(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.listening {
		l.since = time.Now()
	}
	l.listening, l.lastErr = false, err
}

func (l *Listener) markSynced() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.synced++
}

// sessions counts connections made, for tests.
func (l *Listener) countSession() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sessions++
}

// Run listens until ctx is done, reconnecting after every failure.
func (l *Listener) Run(ctx context.Context) {
	backoff := minBackoff
	for {
		settled, err := l.session(ctx)
		if ctx.Err() != nil {
			l.setDown(errors.New("stopped"))
			return
		}
		l.setDown(err)
		if settled {
			backoff = minBackoff
		}
		l.log.Warn("postgres listener: reconnecting", "err", err, "after", backoff)
		select {
		case <-ctx.Done():
			l.setDown(errors.New("stopped"))
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// connConfig is the pool's connection settings, named for
// pg_stat_activity.
func (l *Listener) connConfig() *pgx.ConnConfig {
	cfg := l.store.pool.Config().ConnConfig.Copy()
	cfg.RuntimeParams["application_name"] = strings.TrimSpace(cfg.RuntimeParams["application_name"] + " listener")
	return cfg
}

// session is the life of one connection: it returns why it ended, and
// whether it got as far as catching up.
func (l *Listener) session(ctx context.Context) (settled bool, err error) {
	conn, err := pgx.ConnectConfig(ctx, l.connConfig())
	if err != nil {
		return false, fmt.Errorf("connect: %w", err)
	}
	l.countSession()
	readCtx, stopReading := context.WithCancel(ctx)
	readerDone := make(chan struct{})
	defer func() {
		stopReading()
		<-readerDone
		closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		conn.Close(closeCtx) //nolint:errcheck // going away either way
	}()
	l.mu.Lock()
	channel := l.channel
	l.mu.Unlock()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
		close(readerDone)
		return false, fmt.Errorf("listen: %w", err)
	}

	notes := make(chan *pgconn.Notification, 4096)
	readErr := make(chan error, 1)
	go func() {
		defer close(readerDone)
		for {
			n, err := conn.WaitForNotification(readCtx)
			if err != nil {
				readErr <- err
				return
			}
			select {
			case notes <- n:
			case <-readCtx.Done():
				return
			}
		}
	}()

	work := startWorkers(ctx, l.relay)
	defer work.stop()

	// Whatever was committed while nobody listened is in the log.
	if err := l.settle(ctx, true); err != nil {
		return false, fmt.Errorf("catch up: %w", err)
	}
	l.setListening()

	ticker := time.NewTicker(l.syncEvery)
	defer ticker.Stop()
	var check *barrier
	// late fires when the check on its way is overdue; nil while none is.
	var late <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return true, ctx.Err()
		case err := <-readErr:
			return true, fmt.Errorf("wait for notification: %w", err)
		case err := <-work.errc:
			return true, fmt.Errorf("relay: %w", err)
		case n := <-notes:
			if id, seq, ok := parsePayload(n.Payload); ok {
				if err := work.dispatch(ctx, id, seq); err != nil {
					return true, err
				}
				continue
			}
			if check == nil || n.Payload != check.payload {
				continue // another instance's check
			}
			if err := work.flush(ctx); err != nil {
				return true, err
			}
			if err := l.relay.Settle(ctx, check.heads, false); err != nil {
				return true, fmt.Errorf("settle: %w", err)
			}
			l.markSynced()
			check, late = nil, nil
		case <-late:
			return true, fmt.Errorf("its own notification did not come back within %v", l.syncTimeout)
		case <-ticker.C:
			if check != nil {
				continue
			}
			if check, err = l.sendBarrier(ctx); err != nil {
				return true, fmt.Errorf("check: %w", err)
			}
			late = time.After(l.syncTimeout)
		}
	}
}

// settle compares the relay with the store's heads now.
func (l *Listener) settle(ctx context.Context, gap bool) error {
	ids, all := l.relay.Watched()
	heads, err := l.store.Heads(ctx, ids, all)
	if err != nil {
		return err
	}
	return l.relay.Settle(ctx, heads, gap)
}

// barrier is a check on its way: the heads read before it was sent.
type barrier struct {
	payload string
	heads   []chatstate.Head
}

// sendBarrier reads the heads of what the relay follows, then notifies
// Channel with a payload of this listener's own: notifications of the
// commits the heads hold come before it.
func (l *Listener) sendBarrier(ctx context.Context) (*barrier, error) {
	// A pool whose connections hang must not hang the listener too.
	ctx, cancel := context.WithTimeout(ctx, l.syncTimeout)
	defer cancel()
	ids, all := l.relay.Watched()
	heads, err := l.store.Heads(ctx, ids, all)
	if err != nil {
		return nil, err
	}
	b := &barrier{payload: barrierPrefix + l.id + ":" + strconv.FormatInt(time.Now().UnixNano(), 10), heads: heads}
	if _, err := l.store.pool.Exec(ctx, `SELECT pg_notify($1, $2)`, Channel, b.payload); err != nil {
		return nil, err
	}
	return b, nil
}

// parsePayload reads a commit's notification, "CHATID:SEQ".
func parsePayload(p string) (id string, seq int64, ok bool) {
	if strings.HasPrefix(p, barrierPrefix) {
		return "", 0, false
	}
	id, num, found := strings.Cut(p, ":")
	if !found || id == "" {
		return "", 0, false
	}
	seq, err := strconv.ParseInt(num, 10, 64)
	if err != nil || seq <= 0 {
		return "", 0, false
	}
	return id, seq, true
}

// workers pass notifications to the relay, a chat always to the same
// worker so that its notifications stay in order, and several chats'
// reads at once.
type workers struct {
	queues []chan notice
	errc   chan error
	wg     sync.WaitGroup
}

// notice is a notification to pass on, or (done set) a marker that the
// notifications before it have been.
type notice struct {
	id   string
	seq  int64
	done chan struct{}
}

func startWorkers(ctx context.Context, relay chatstate.Relay) *workers {
	w := &workers{errc: make(chan error, 1)}
	for range listenWorkers {
		q := make(chan notice, 1024)
		w.queues = append(w.queues, q)
		w.wg.Go(func() {
			failed := false
			for n := range q {
				switch {
				case n.done != nil:
					close(n.done)
				case failed:
				default:
					if err := relay.Notified(ctx, n.id, n.seq); err != nil {
						// The session ends and the next one settles
						// with a gap: nothing is skipped.
						failed = true
						select {
						case w.errc <- err:
						default:
						}
					}
				}
			}
		})
	}
	return w
}

func (w *workers) queue(id string) chan notice {
	h := fnv.New32a()
	h.Write([]byte(id))
	return w.queues[h.Sum32()%uint32(len(w.queues))]
}

func (w *workers) dispatch(ctx context.Context, id string, seq int64) error {
	select {
	case w.queue(id) <- notice{id: id, seq: seq}:
		return nil
	case err := <-w.errc:
		return fmt.Errorf("relay: %w", err)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// flush waits until every notification dispatched so far has been passed
// on.
func (w *workers) flush(ctx context.Context) error {
	dones := make([]chan struct{}, len(w.queues))
	for i, q := range w.queues {
		dones[i] = make(chan struct{})
		select {
		case q <- notice{done: dones[i]}:
		case err := <-w.errc:
			return fmt.Errorf("relay: %w", err)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for _, done := range dones {
		select {
		case <-done:
		case err := <-w.errc:
			return fmt.Errorf("relay: %w", err)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (w *workers) stop() {
	for _, q := range w.queues {
		close(q)
	}
	w.wg.Wait()
}
