package soak

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// message is one message a client sent: its client id makes retries
// idempotent, and its text carries the client id, so that a line on any
// screen says which message it is.
type message struct {
	chat     string
	from     string // "visitor" or "agent"
	clientID string
	text     string
	// ackSeq is the seq the server acknowledged, 0 until then.
	ackSeq   int64
	attempts int
}

// line is a message line as a client shows it.
type line struct {
	seq  int64
	text string
}

func (l line) String() string { return fmt.Sprintf("%d:%q", l.seq, l.text) }

// ledger holds every message of the run, by chat.
type ledger struct {
	mu     sync.Mutex
	byChat map[string][]*message
}

func (l *ledger) add(m *message) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.byChat == nil {
		l.byChat = map[string][]*message{}
	}
	l.byChat[m.chat] = append(l.byChat[m.chat], m)
}

// acked records the server's acknowledgement of m at seq; a later ack of
// the same message with another seq means it was stored twice.
func (l *ledger) acked(r *soakRun, m *message, seq int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case m.ackSeq == 0:
		m.ackSeq = seq
		r.stats.acked.Add(1)
	case m.ackSeq != seq:
		r.violate("duplicate", "chat %s: message %s acknowledged as seq %d, then as seq %d", m.chat, m.clientID, m.ackSeq, seq)
	}
}

func (l *ledger) messages(chat string) []*message {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.byChat[chat])
}

// stats are the run's counters.
type stats struct {
	visitorCycles, agentCycles       atomic.Int64
	reloads, navigations, reconnects atomic.Int64
	wsOpens, pollOpens               atomic.Int64
	sent, attempts, acked            atomic.Int64
	delivered, resyncs, checks       atomic.Int64
	rateLimited, transportErrors     atomic.Int64
}

// soakRun is what every client of a run shares.
type soakRun struct {
	t      *testing.T
	base   string // the site as clients see it: the proxy
	ledger ledger
	stats  stats

	mu         sync.Mutex
	violations map[string][]string
	began      time.Time
	traces     map[string][]string
}

// traceKept is how many of a client's latest steps a failure report shows.
const traceKept = 300

// trace records a step of who (a client, or "server"), for the report of a
// failure: the exact sequence that led to it.
func (r *soakRun) trace(who, format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.traces == nil {
		r.traces = map[string][]string{}
	}
	t := append(r.traces[who], fmt.Sprintf("%8.3fs %s", time.Since(r.began).Seconds(), fmt.Sprintf(format, args...)))
	if len(t) > traceKept {
		t = t[len(t)-traceKept:]
	}
	r.traces[who] = t
}

// tracesOf lists the steps of the clients a violation names, and the
// server's.
func (r *soakRun) tracesOf() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	named := map[string]bool{"server": true}
	for _, vs := range r.violations {
		for _, v := range vs {
			for who := range r.traces {
				if strings.HasPrefix(v, who+" ") || strings.HasPrefix(v, who+":") || strings.HasPrefix(v, who+",") {
					named[who] = true
				}
			}
		}
	}
	var b strings.Builder
	for _, who := range slices.Sorted(maps.Keys(named)) {
		fmt.Fprintf(&b, "---- %s ----\n%s\n", who, strings.Join(r.traces[who], "\n"))
	}
	return b.String()
}

// violate records a broken promise; the test fails with all of them.
func (r *soakRun) violate(kind, format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.violations == nil {
		r.violations = map[string][]string{}
	}
	r.violations[kind] = append(r.violations[kind], fmt.Sprintf(format, args...))
}

func (r *soakRun) count(kind string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.violations[kind])
}

// report lists the violations, at most a few of each kind.
func (r *soakRun) report() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var kinds []string
	for k := range r.violations {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	var b strings.Builder
	for _, k := range kinds {
		v := r.violations[k]
		fmt.Fprintf(&b, "%d × %s:\n", len(v), k)
		for i, s := range v {
			if i == 20 {
				fmt.Fprintf(&b, "  … %d more\n", len(v)-i)
				break
			}
			fmt.Fprintf(&b, "  %s\n", s)
		}
	}
	return b.String()
}

// compareView checks what a client shows (have, complete up to haveLast)
// against what the server renders now (truth, complete up to truthLast):
// every line the server has up to haveLast is shown once, in seq order,
// and nothing else is. who and when say where, for the report.
func (r *soakRun) compareView(who, when string, have []line, haveLast int64, truth []line, truthLast int64) {
	r.stats.checks.Add(1)
	if truthLast < haveLast {
		r.violate("lost", "%s, %s: the server renders up to seq %d, the client had seen %d", who, when, truthLast, haveLast)
	}
	texts := map[string]int64{}
	var prev int64
	for _, l := range have {
		if l.seq <= prev {
			r.violate("reordered", "%s, %s: seq %d shown after seq %d", who, when, l.seq, prev)
		}
		prev = max(prev, l.seq)
		if s, ok := texts[l.text]; ok {
			r.violate("duplicate", "%s, %s: %q shown as seq %d and seq %d", who, when, l.text, s, l.seq)
		}
		texts[l.text] = l.seq
	}
	want := map[int64]string{}
	for _, l := range truth {
		want[l.seq] = l.text
	}
	got := map[int64]string{}
	for _, l := range have {
		got[l.seq] = l.text
		if w, ok := want[l.seq]; !ok || w != l.text {
			r.violate("mismatch", "%s, %s: shows %v, the server has %q there", who, when, l, w)
		}
	}
	for _, l := range truth {
		if l.seq > haveLast {
			break
		}
		if _, ok := got[l.seq]; !ok {
			r.violate("gap", "%s, %s: never got %v although it has seen up to seq %d", who, when, l, haveLast)
		}
	}
}
