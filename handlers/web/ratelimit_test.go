package web

import (
	"context"
	"errors"
	"slices"
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
	l := NewRateLimiter(1, 2) // refills in 2 s
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

// fakeShared is shared buckets that answer ok, or fail as a database that
// does not answer does.
type fakeShared struct {
	ok   bool
	err  error
	keys []string
}

func (f *fakeShared) TakeToken(_ context.Context, key string, _ float64, _ int) (bool, error) {
	f.keys = append(f.keys, key)
	return f.ok, f.err
}

func (f *fakeShared) HasToken(_ context.Context, key string, _ float64, _ int) (bool, error) {
	f.keys = append(f.keys, key)
	return f.ok, f.err
}

// TestSharedRateLimiter: a shared limiter asks the shared buckets, under
// its own name, and they decide; while they fail, its own buckets do.
func TestSharedRateLimiter(t *testing.T) {
	shared := &fakeShared{ok: false}
	l := ShareLimit(NewRateLimiter(1, 2), shared, "start")
	if l.Allow("203.0.113.7") || l.Ready("203.0.113.7") {
		t.Error("the shared buckets said no, and the limiter allowed")
	}
	if want := []string{"start\x00203.0.113.7", "start\x00203.0.113.7"}; !slices.Equal(shared.keys, want) {
		t.Errorf("shared buckets asked for %q, want %q", shared.keys, want)
	}
	shared.ok = true
	if !l.Allow("203.0.113.7") {
		t.Error("the shared buckets said yes, and the limiter refused")
	}
	shared.err = errors.New("database down")
	if !l.Allow("198.51.100.1") || !l.Allow("198.51.100.1") || l.Allow("198.51.100.1") {
		t.Error("with the shared buckets failing, the local burst of 2 did not hold")
	}
	// Every Allow spent the local bucket too, so it was empty already.
	if l.Allow("203.0.113.7") {
		t.Error("with the shared buckets failing, a key whose local bucket is spent was allowed")
	}
}
