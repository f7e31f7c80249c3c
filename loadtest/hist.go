package main

import (
	"math/bits"
	"time"
)

// Histogram records latencies in microseconds in log-linear buckets: exact
// below 128 µs, then 128 buckets per power of two, so a percentile read
// from it is within 1 % of the true value. Workers send theirs to the
// parent as sparse JSON, which merges them; exact count, sum and max ride
// along.
type Histogram struct {
	Counts map[int]uint64 `json:"c,omitempty"`
	N      uint64         `json:"n"`
	Sum    uint64         `json:"s"`
	Max    uint64         `json:"m"`
}

const subBuckets = 128

func bucketOf(us uint64) int {
	if us < subBuckets {
		return int(us)
	}
	shift := bits.Len64(us) - 8 // us>>shift is in [128, 256)
	return subBuckets + shift*subBuckets + int(us>>shift) - subBuckets
}

// bucketValue is the middle of a bucket, in microseconds.
func bucketValue(i int) uint64 {
	if i < subBuckets {
		return uint64(i)
	}
	shift := (i - subBuckets) / subBuckets
	sub := uint64(i-subBuckets-shift*subBuckets) + subBuckets
	low := sub << shift
	return low + (uint64(1)<<shift)/2
}

// Record adds one latency.
func (h *Histogram) Record(d time.Duration) {
	us := uint64(max(d, 0) / time.Microsecond)
	if h.Counts == nil {
		h.Counts = map[int]uint64{}
	}
	h.Counts[bucketOf(us)]++
	h.N++
	h.Sum += us
	h.Max = max(h.Max, us)
}

// Merge adds o's samples to h.
func (h *Histogram) Merge(o *Histogram) {
	if o == nil || o.N == 0 {
		return
	}
	if h.Counts == nil {
		h.Counts = map[int]uint64{}
	}
	for i, n := range o.Counts {
		h.Counts[i] += n
	}
	h.N += o.N
	h.Sum += o.Sum
	h.Max = max(h.Max, o.Max)
}

// Quantile is the latency below which a fraction q of the samples lie.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.N == 0 {
		return 0
	}
	rank := uint64(q*float64(h.N) + 0.5)
	rank = min(max(rank, 1), h.N)
	// Walk the buckets in order; the map is small (a few hundred keys).
	top := bucketOf(h.Max)
	var seen uint64
	for i := 0; i <= top; i++ {
		seen += h.Counts[i]
		if seen >= rank {
			return time.Duration(min(bucketValue(i), h.Max)) * time.Microsecond
		}
	}
	return time.Duration(h.Max) * time.Microsecond
}

// MaxDuration is the largest sample.
func (h *Histogram) MaxDuration() time.Duration { return time.Duration(h.Max) * time.Microsecond }
