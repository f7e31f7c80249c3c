package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"sync"
	"time"

	"github.com/parley/parley/chatclient"
)

// addrSpace is how many source addresses each worker has (visitors from
// its start, agents from agentBase within it).
const (
	addrSpace = 100_000
	agentBase = 90_000
	// slots is how many worker spaces fit in 127.1.0.1–127.254.255.254.
	slots = 160
)

// runner runs one scenario against one system.
type runner struct {
	o      options
	s      *system
	p      *pool
	stderr io.Writer
	// slot is the first address space of this run's workers, drawn at
	// random so that back-to-back runs against one server do not share
	// addresses (and their rate-limit buckets).
	slot      int
	nextFirst []int // per worker, the next visitor number
	nextAgent int   // the next agent number (global, from 1)
	agentsOf  []int // per worker, the agents signed in
	chatsOf   []int // per worker, its active chats
	rows      []row
}

func (r *runner) first(i, n int) int {
	f := (r.slot+i)*addrSpace + r.nextFirst[i]
	r.nextFirst[i] += n
	if r.nextFirst[i] > agentBase {
		fmt.Fprintf(r.stderr, "loadtest: worker %d has more than %d clients; use more -workers\n", i, agentBase)
	}
	return f
}

func (r *runner) logf(format string, args ...any) {
	fmt.Fprintf(r.stderr, "%s %s: %s\n", time.Now().Format("15:04:05"), r.s.name, fmt.Sprintf(format, args...))
}

// lockedWriter serializes writes from several goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// report is everything a run prints.
type report struct {
	Rows []row `json:"rows"`
	// Held is, for capacity, the largest number of active chats each
	// server held within the limits.
	Held map[string]int `json:"held,omitempty"`
}

func runScenario(ctx context.Context, o options, stdout, stderr io.Writer) error {
	// Workers' and servers' output is copied in by goroutines of their own.
	stderr = &lockedWriter{w: stderr}
	// Workers and a started server inherit the limit.
	if got, err := raiseFileLimit(1 << 20); err != nil {
		fmt.Fprintln(stderr, "loadtest: open-file limit:", err)
	} else if need := o.n + o.idle*btoi(o.scenario == "capacity") + 2*o.maxChats*btoi(o.scenario == "capacity"); got < uint64(need)+1000 {
		fmt.Fprintf(stderr, "loadtest: the open-file limit stays at %d (its hard limit; raising it needs CAP_SYS_RESOURCE): "+
			"a server started with -parley inherits it, and holds fewer connections than this run asks for (%d)\n", got, need)
	}
	var rep report
	rep.Held = map[string]int{}
	servers := []string{"parley", "baseline"}
	switch o.only {
	case "parley":
		servers = servers[:1]
	case "baseline":
		servers = servers[1:]
	}
	parleyLimit := 0 // capacity: the baseline goes as far as Parley's first failure
	for _, name := range servers {
		var s *system
		var err error
		if name == "parley" {
			s, err = parleySystem(ctx, o, stderr)
		} else {
			s, err = baselineSystem(ctx, o, stderr)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		r := &runner{o: o, s: s, stderr: stderr, slot: rand.IntN(slots - 4 - max(o.workers, workersFor(o)))}
		held, limit, err := r.run(ctx, parleyLimit)
		s.stop()
		rep.Rows = append(rep.Rows, r.rows...)
		if err != nil {
			printReport(stdout, rep)
			return fmt.Errorf("%s: %w", name, err)
		}
		if o.scenario == "capacity" {
			rep.Held[name] = held
			if name == "parley" {
				parleyLimit = limit
			}
		}
	}
	printReport(stdout, rep)
	if o.jsonOut != "" {
		data, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(o.jsonOut, data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// workersFor is the default number of client processes: one per 8,000
// connections, at least two.
func workersFor(o options) int {
	conns := o.n
	if o.scenario == "capacity" {
		conns = o.idle + 2*o.maxChats
	}
	return max(2, (conns+7999)/8000)
}

func (r *runner) run(ctx context.Context, limit int) (held, failedAt int, err error) {
	n := r.o.workers
	if n == 0 {
		n = workersFor(r.o)
	}
	if r.p, err = startPool(ctx, n, r.stderr); err != nil {
		return 0, 0, err
	}
	defer r.p.close()
	k := len(r.p.workers)
	r.nextFirst, r.agentsOf, r.chatsOf = make([]int, k), make([]int, k), make([]int, k)
	if _, err := r.p.all(func(int) command {
		return command{Op: "init", Target: r.s.base, Baseline: r.s.baseline, TypingFor: r.o.typingFor}
	}); err != nil {
		return 0, 0, err
	}
	r.logf("%s against %s (pid %d), %d workers", r.o.scenario, r.s.base, r.s.pid, k)
	switch r.o.scenario {
	case "idle-ws":
		return 0, 0, r.idle(ctx, "ws")
	case "idle-poll":
		return 0, 0, r.idle(ctx, "poll")
	case "mix":
		return 0, 0, r.mix(ctx)
	case "restore":
		return 0, 0, r.restore(ctx)
	case "capacity":
		return r.capacity(ctx, limit)
	}
	return 0, 0, fmt.Errorf("unknown scenario %s", r.o.scenario)
}

// addIdle brings n idle visitors over transport, all workers together.
func (r *runner) addIdle(n int, transport string) (snapshot, int, time.Duration, error) {
	k := len(r.p.workers)
	start := time.Now()
	snap, count, err := r.p.merged(func(i int) command {
		part := split(n, k, i)
		return command{Op: "idle", N: part, First: r.first(i, part), Rate: r.o.rate / float64(k), Parallel: r.o.parallel, Transport: transport, KeepAlive: r.o.keepAlive}
	})
	return snap, count, time.Since(start), err
}

// idle: N visitors, each with a chat and its transport open, then held.
func (r *runner) idle(ctx context.Context, transport string) error {
	before := r.s.sample(ctx)
	snap, count, took, err := r.addIdle(r.o.n, transport)
	if err != nil {
		return err
	}
	after := r.s.sample(ctx)
	r.logf("%d of %d visitors connected in %v", count, r.o.n, took.Round(time.Millisecond))
	setup := r.opRow("setup", r.o.n, snap, took)
	setup.CPUPerOp = cpuPerOp(before, after, snap.Ops["setup"])
	r.rows = append(r.rows, setup)
	if transport == "ws" {
		r.rows = append(r.rows, r.opRow("connect", r.o.n, snap, took))
	}
	if chatclient.Sleep(ctx, r.o.settle) != nil {
		return ctx.Err()
	}
	if _, _, err := r.p.merged(func(int) command { return command{Op: "report", Reset: true} }); err != nil {
		return err
	}
	holdStart := r.s.sample(ctx)
	if chatclient.Sleep(ctx, r.o.hold) != nil {
		return ctx.Err()
	}
	holdEnd := r.s.sample(ctx)
	loops, up, err := r.p.merged(func(int) command { return command{Op: "report", Reset: true} })
	if err != nil {
		return err
	}
	hold := blankRow(r.o.scenario, r.s.name, "hold", count)
	hold.Ops, hold.Errors, hold.Examples = uint64(up), loops.totalErrors(), loops.Examples
	hold.Note = "hold: ops is the visitors still connected at the end; RSS, heap: the server's growth since before the ramp, per visitor"
	hold.setMemory(before, holdEnd, count)
	hold.CPUPct = cpuPct(holdStart, holdEnd)
	r.rows = append(r.rows, hold)
	return nil
}

// addActive adds n active chats and the agents they need.
func (r *runner) addActive(n int) (snapshot, time.Duration, error) {
	k := len(r.p.workers)
	cmds := make([]command, k)
	for i := range k {
		part := split(n, k, i)
		r.chatsOf[i] += part
		need := (r.chatsOf[i] + r.o.chatsPerAgent - 1) / r.o.chatsPerAgent
		var agents []int
		for r.agentsOf[i] < need {
			r.nextAgent++
			r.agentsOf[i]++
			agents = append(agents, r.nextAgent)
		}
		cmds[i] = command{
			Op: "active", N: part, First: r.first(i, part), Rate: r.o.rate / float64(k), Parallel: r.o.parallel,
			Transport: r.o.transport, Agents: agents, AgentPrefix: r.o.agentPrefix, AgentPassword: r.o.agentPassword,
			AgentFirst: (r.slot+i)*addrSpace + agentBase, ChatsPerAgent: r.o.chatsPerAgent,
			MsgEvery: r.o.msgEvery, NavEvery: r.o.navEvery, ReplyAfter: r.o.replyAfter,
		}
	}
	start := time.Now()
	snap, _, err := r.p.merged(func(i int) command { return cmds[i] })
	return snap, time.Since(start), err
}

// mixOps are the operations of an active chat, in the report's order.
var mixOps = []string{"ack", "feed", "reply", "deliver", "nav", "connect"}

// mix: N active chats talking, agents answering, for -duration.
func (r *runner) mix(ctx context.Context) error {
	before := r.s.sample(ctx)
	snap, took, err := r.addActive(r.o.n)
	if err != nil {
		return err
	}
	r.logf("%d chats and %d agents set up in %v", r.o.n, r.nextAgent, took.Round(time.Millisecond))
	for _, op := range []string{"setup", "accept", "login"} {
		if snap.Ops[op] != nil {
			r.rows = append(r.rows, r.opRow(op, r.o.n, snap, took))
		}
	}
	if chatclient.Sleep(ctx, r.o.settle) != nil {
		return ctx.Err()
	}
	if _, _, err := r.p.merged(func(int) command { return command{Op: "report", Reset: true} }); err != nil {
		return err
	}
	start := r.s.sample(ctx)
	if chatclient.Sleep(ctx, r.o.hold) != nil {
		return ctx.Err()
	}
	end := r.s.sample(ctx)
	loops, _, err := r.p.merged(func(int) command { return command{Op: "report", Reset: true} })
	if err != nil {
		return err
	}
	r.windowRows(loops, r.o.n, end.at.Sub(start.at))
	all := blankRow(r.o.scenario, r.s.name, "window", r.o.n)
	all.Errors, all.Examples = loops.totalErrors(), loops.Examples
	all.setMemory(before, end, r.o.n+r.nextAgent)
	all.CPUPct = cpuPct(start, end)
	all.CPUPerOp = cpuPerOp(start, end, loops.Ops["ack"])
	all.Note = "CPU/op: per visitor message, with its typing, reply and share of navigations; RSS, heap: per chat or agent"
	r.rows = append(r.rows, all)
	return nil
}

func (r *runner) windowRows(loops snapshot, n int, window time.Duration) {
	for _, op := range mixOps {
		if loops.Ops[op] != nil {
			r.rows = append(r.rows, r.opRow(op, n, loops, window))
		}
	}
}

// seed gives n chats m messages each, all workers together.
func (r *runner) seed(n int) (snapshot, int, time.Duration, error) {
	k := len(r.p.workers)
	start := time.Now()
	messages := r.o.messages
	if r.s.baseline {
		// The baseline keeps no transcript: a few messages show the path.
		messages = min(messages, 8)
	}
	snap, count, err := r.p.merged(func(i int) command {
		part := split(n, k, i)
		return command{Op: "seed", N: part, First: r.first(i, part), Rate: r.o.rate / float64(k), Parallel: 256, Messages: messages, MsgRate: r.o.msgRate}
	})
	r.logf("%d chats of %d messages seeded in %v", count, messages, time.Since(start).Round(time.Second))
	if err == nil && count < n {
		err = fmt.Errorf("only %d of %d chats seeded: %v", count, n, snap.Examples)
	}
	return snap, count, time.Since(start), err
}

// restore: N chats of 300 messages, restored by N concurrent visitors
// (each its own chat), then the page without a chat and the static file
// at the same concurrency.
func (r *runner) restore(ctx context.Context) error {
	snap, count, took, err := r.seed(r.o.n)
	if err != nil {
		return err
	}
	if op := snap.Ops["seed"]; op != nil {
		r.rows = append(r.rows, r.opRow("seed", count, snap, took))
	}
	k := len(r.p.workers)
	for _, kind := range []string{"restore", "page", "static"} {
		before := r.s.sample(ctx)
		snap, _, err := r.p.merged(func(i int) command {
			part := split(r.o.n, k, i)
			return command{Op: "loop", Kind: kind, N: part, First: r.first(i, part), Duration: r.o.hold}
		})
		if err != nil {
			return err
		}
		after := r.s.sample(ctx)
		rw := r.opRow(kind, r.o.n, snap, after.at.Sub(before.at))
		rw.CPUPerOp = cpuPerOp(before, after, snap.Ops[kind])
		rw.CPUPct = cpuPct(before, after)
		if r.s.baseline && kind == "restore" {
			rw.Note = "the baseline has no chat: its page"
		}
		r.rows = append(r.rows, rw)
	}
	return nil
}

// capacity: a fixed idle population, restore probes, then more active
// chats at each step until a step misses the limits.
func (r *runner) capacity(ctx context.Context, limit int) (held, failedAt int, err error) {
	before := r.s.sample(ctx)
	if r.o.idle > 0 {
		snap, count, took, err := r.addIdle(r.o.idle, r.o.idleTransport)
		if err != nil {
			return 0, 0, err
		}
		r.logf("%d of %d idle visitors connected in %v", count, r.o.idle, took.Round(time.Millisecond))
		setup := r.opRow("setup", r.o.idle, snap, took)
		setup.Op = "idle-setup"
		r.rows = append(r.rows, setup)
	}
	restoreOp := "nav"
	if r.o.probeChats > 0 {
		if _, _, _, err := r.seed(r.o.probeChats); err != nil {
			return 0, 0, err
		}
		if _, err := r.p.all(func(int) command { return command{Op: "probe", Every: r.o.probeEvery} }); err != nil {
			return 0, 0, err
		}
		restoreOp = "restore"
	}
	maxChats := r.o.maxChats
	if limit > 0 {
		maxChats = min(maxChats, limit)
	}
	chats := 0
	for target := r.o.start; target <= maxChats; target += r.o.step {
		if _, took, err := r.addActive(target - chats); err != nil {
			return held, target, err
		} else {
			r.logf("step: %d active chats (%d agents) set up in %v", target, r.nextAgent, took.Round(time.Millisecond))
		}
		chats = target
		if chatclient.Sleep(ctx, r.o.settle) != nil {
			return held, target, ctx.Err()
		}
		if _, _, err := r.p.merged(func(int) command { return command{Op: "report", Reset: true} }); err != nil {
			return held, target, err
		}
		start := r.s.sample(ctx)
		if chatclient.Sleep(ctx, r.o.hold) != nil {
			return held, target, ctx.Err()
		}
		end := r.s.sample(ctx)
		loops, _, err := r.p.merged(func(int) command { return command{Op: "report", Reset: true} })
		if err != nil {
			return held, target, err
		}
		ack := r.opRow(fmt.Sprintf("ack@%d", target), target, loops, end.at.Sub(start.at))
		ack.Errors = loops.totalErrors()
		ack.Examples = loops.Examples
		ack.setMemory(before, end, r.o.idle+target+r.nextAgent)
		ack.CPUPct = cpuPct(start, end)
		ack.CPUPerOp = cpuPerOp(start, end, loops.Ops["ack"])
		rest := blankRow(r.o.scenario, r.s.name, fmt.Sprintf("%s@%d", restoreOp, target), target)
		rest.fill(loops.Ops[restoreOp], end.at.Sub(start.at))
		rest.Errors = loops.errors(restoreOp)
		r.rows = append(r.rows, ack, rest)
		ops := ack.Ops + rest.Ops
		ok := ack.Ops > 0 && ack.P99 <= r.o.ackP99 && rest.P99 <= r.o.restoreP99 && float64(ack.Errors) <= 0.01*float64(max(ops, 1))
		r.logf("step %d: p99 ack %v, p99 %s %v, errors %d, CPU %.0f%%: %s", target, ack.P99, restoreOp, rest.P99, ack.Errors, ack.CPUPct, map[bool]string{true: "held", false: "missed"}[ok])
		if !ok {
			return held, target, nil
		}
		held = target
	}
	return held, 0, nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
