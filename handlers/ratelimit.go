package handlers

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// rateLimiter keeps a token bucket per key (a client address or a chat),
// forgetting keys that have been quiet for a while so memory stays bounded.
type rateLimiter struct {
	mu        sync.Mutex
	limit     rate.Limit
	burst     int
	buckets   map[string]*bucket
	lastSweep time.Time
	now       func() time.Time
}

type bucket struct {
	limiter  *rate.Limiter
	lastSeen time.Time
}

const bucketIdle = 10 * time.Minute

func newRateLimiter(perSecond float64, burst int) *rateLimiter {
	return &rateLimiter{limit: rate.Limit(perSecond), burst: burst, buckets: map[string]*bucket{}, now: time.Now}
}

// Ready reports whether key's bucket has a token, without spending it.
func (l *rateLimiter) Ready(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	return b == nil || b.limiter.TokensAt(l.now()) >= 1
}

// Allow spends one token of key's bucket, reporting whether there was one.
func (l *rateLimiter) Allow(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if now.Sub(l.lastSweep) > bucketIdle {
		for k, b := range l.buckets {
			if now.Sub(b.lastSeen) > bucketIdle {
				delete(l.buckets, k)
			}
		}
		l.lastSweep = now
	}
	b := l.buckets[key]
	if b == nil {
		b = &bucket{limiter: rate.NewLimiter(l.limit, l.burst)}
		l.buckets[key] = b
	}
	b.lastSeen = now
	return b.limiter.AllowN(now, 1)
}
