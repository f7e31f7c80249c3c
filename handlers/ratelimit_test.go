package handlers

import (
	"strconv"
	"testing"
	"time"
)

// TestRateLimiterForgetsFullBuckets floods a limiter with new keys, as a
// script rotating addresses or chats does: the buckets of keys gone quiet
// for a refill time are forgotten, so memory stays bounded, and a key
// that comes back is limited as before.
func TestRateLimiterForgetsFullBuckets(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newRateLimiter(1, 2) // refills in 2 s
	l.now = func() time.Time { return now }

	if !l.Allow("steady") || !l.Allow("steady") || l.Allow("steady") {
		t.Fatal("a burst of 2 did not hold for one key")
	}
	for i := range 100_000 {
		l.Allow("flood-" + strconv.Itoa(i))
		if i%1000 == 0 {
			now = now.Add(100 * time.Millisecond)
		}
	}
	if n := len(l.buckets); n > 50_000 {
		t.Errorf("after 100,000 keys over 10 s the limiter holds %d buckets, want those of the last refill time or so", n)
	}
	now = now.Add(time.Minute)
	l.Allow("late")
	if n := len(l.buckets); n != 1 {
		t.Errorf("a minute later the limiter holds %d buckets, want only the new one", n)
	}
	if !l.Allow("steady") || !l.Allow("steady") || l.Allow("steady") {
		t.Error("a key that came back is not limited as before")
	}
}
