package web

import (
	"context"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// RateLimiter keeps a token bucket per key (a client address or a chat).
// A bucket that has refilled is as good as a new one, so it is forgotten:
// memory stays bounded by the keys active within one refill time, however
// many keys a flood of requests brings.
type RateLimiter struct {
	mu      sync.Mutex
	limit   rate.Limit
	burst   int
	buckets map[string]*bucket
	// refill is how long an unused bucket takes to fill up again.
	refill time.Duration
	// lastSweep and sweptSize decide when to look for full buckets: every
	// refill time, or sooner when the map has doubled since.
	lastSweep time.Time
	sweptSize int
	now       func() time.Time
	// shared, when set, holds the buckets every instance spends from, under
	// name; the local buckets then only stand in while it fails.
	shared SharedLimits
	name   string
}

// SharedLimits keeps token buckets that several instances spend from
// together (chatstate/postgres's Store does, in the database), so that a
// limit holds across instances instead of per instance.
type SharedLimits interface {
	// TakeToken spends a token of the bucket named key, which refills at
	// perSecond up to burst, and reports whether there was one.
	TakeToken(ctx context.Context, key string, perSecond float64, burst int) (bool, error)
	// HasToken reports whether it has one, without spending it.
	HasToken(ctx context.Context, key string, perSecond float64, burst int) (bool, error)
}

// sharedLimitWait bounds a shared bucket's answer; past it, the local
// bucket answers.
const sharedLimitWait = 2 * time.Second

type bucket struct {
	limiter  *rate.Limiter
	lastSeen time.Time
}

// minSweepSize is the map size below which a sweep is not worth it early.
const minSweepSize = 1024

func NewRateLimiter(perSecond float64, burst int) *RateLimiter {
	refill := time.Duration(float64(burst) / perSecond * float64(time.Second))
	return &RateLimiter{limit: rate.Limit(perSecond), burst: burst, refill: refill, buckets: map[string]*bucket{}, now: time.Now}
}

// ShareLimit makes l's buckets the ones of shared named name, when shared
// is set, so that the limit holds across every instance spending from them.
func ShareLimit(l *RateLimiter, shared SharedLimits, name string) *RateLimiter {
	l.shared, l.name = shared, name
	return l
}

// Ready reports whether key's bucket has a token, without spending it.
func (l *RateLimiter) Ready(key string) bool {
	local := l.readyLocal(key)
	if l.shared == nil {
		return local
	}
	ctx, cancel := context.WithTimeout(context.Background(), sharedLimitWait)
	defer cancel()
	ok, err := l.shared.HasToken(ctx, l.name+"\x00"+key, float64(l.limit), l.burst)
	if err != nil {
		return local
	}
	return ok
}

func (l *RateLimiter) readyLocal(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	return b == nil || b.limiter.TokensAt(l.now()) >= 1
}

// Allow spends one token of key's bucket, reporting whether there was one.
// A shared limiter spends the local bucket too, which answers while the
// shared one cannot.
func (l *RateLimiter) Allow(key string) bool {
	local := l.allowLocal(key)
	if l.shared == nil {
		return local
	}
	ctx, cancel := context.WithTimeout(context.Background(), sharedLimitWait)
	defer cancel()
	ok, err := l.shared.TakeToken(ctx, l.name+"\x00"+key, float64(l.limit), l.burst)
	if err != nil {
		return local
	}
	return ok
}

func (l *RateLimiter) allowLocal(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.sweep(now)
	b := l.buckets[key]
	if b == nil {
		b = &bucket{limiter: rate.NewLimiter(l.limit, l.burst)}
		l.buckets[key] = b
	}
	b.lastSeen = now
	return b.limiter.AllowN(now, 1)
}

// sweep forgets the buckets unused for a refill time.
func (l *RateLimiter) sweep(now time.Time) {
	grown := len(l.buckets) >= max(minSweepSize, 2*l.sweptSize)
	if now.Sub(l.lastSweep) < l.refill && !grown {
		return
	}
	for k, b := range l.buckets {
		if now.Sub(b.lastSeen) >= l.refill {
			delete(l.buckets, k)
		}
	}
	l.lastSweep, l.sweptSize = now, len(l.buckets)
}
