package main

import (
	"maps"
	"slices"
	"sync"
	"time"
)

// opStats is what one kind of operation did: latencies, errors (with one
// example message each, for the report), and bytes received.
type opStats struct {
	Hist   Histogram      `json:"h"`
	Errors map[string]int `json:"e,omitempty"`
	Bytes  int64          `json:"b,omitempty"`
}

// stats collects every operation of a worker, by name.
type stats struct {
	mu       sync.Mutex
	ops      map[string]*opStats
	examples map[string]string
	since    time.Time
}

func newStats() *stats {
	return &stats{ops: map[string]*opStats{}, examples: map[string]string{}, since: time.Now()}
}

func (s *stats) op(name string) *opStats {
	o := s.ops[name]
	if o == nil {
		o = &opStats{}
		s.ops[name] = o
	}
	return o
}

// ok records a successful operation of name that took d and read n bytes.
func (s *stats) ok(name string, d time.Duration, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.op(name)
	o.Hist.Record(d)
	o.Bytes += int64(n)
}

// fail records a failed operation: kind sorts errors ("429", "timeout",
// "refused") and err is kept as an example.
func (s *stats) fail(name, kind string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.op(name)
	if o.Errors == nil {
		o.Errors = map[string]int{}
	}
	o.Errors[kind]++
	key := name + " " + kind
	if _, ok := s.examples[key]; !ok && err != nil {
		s.examples[key] = err.Error()
	}
}

// snapshot is the stats so far; with reset they start over.
type snapshot struct {
	Ops      map[string]*opStats `json:"ops"`
	Examples map[string]string   `json:"examples,omitempty"`
	Seconds  float64             `json:"seconds"`
}

func (s *stats) snapshot(reset bool) snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	snap := snapshot{Ops: s.ops, Examples: maps.Clone(s.examples), Seconds: time.Since(s.since).Seconds()}
	if reset {
		s.ops = map[string]*opStats{}
		s.examples = map[string]string{}
		s.since = time.Now()
	} else {
		snap.Ops = map[string]*opStats{}
		for k, v := range s.ops {
			c := *v
			c.Hist.Counts = maps.Clone(v.Hist.Counts)
			c.Errors = maps.Clone(v.Errors)
			snap.Ops[k] = &c
		}
	}
	return snap
}

// merge adds o to s.
func (s *snapshot) merge(o snapshot) {
	if s.Ops == nil {
		s.Ops = map[string]*opStats{}
	}
	if s.Examples == nil {
		s.Examples = map[string]string{}
	}
	for name, v := range o.Ops {
		dst := s.Ops[name]
		if dst == nil {
			dst = &opStats{}
			s.Ops[name] = dst
		}
		dst.Hist.Merge(&v.Hist)
		dst.Bytes += v.Bytes
		for k, n := range v.Errors {
			if dst.Errors == nil {
				dst.Errors = map[string]int{}
			}
			dst.Errors[k] += n
		}
	}
	for k, v := range o.Examples {
		if _, ok := s.Examples[k]; !ok {
			s.Examples[k] = v
		}
	}
	s.Seconds = max(s.Seconds, o.Seconds)
}

func (s *snapshot) errors(op string) int {
	o := s.Ops[op]
	if o == nil {
		return 0
	}
	n := 0
	for _, c := range o.Errors {
		n += c
	}
	return n
}

func (s *snapshot) totalErrors() int {
	n := 0
	for _, name := range slices.Sorted(maps.Keys(s.Ops)) {
		n += s.errors(name)
	}
	return n
}
