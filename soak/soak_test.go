package soak

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/parley/parley/chatclient"
	"github.com/parley/parley/chatstate/postgres/pgtest"
)

// agentNames are the agents' accounts; each gets a password of its own.
var agentNames = []string{"alice", "bob", "carol", "dave", "erin", "frank"}

// settleFor bounds the end of the run: sending what is still unacknowledged
// and waiting for every client to show the whole chat, with faults off.
const settleFor = 60 * time.Second

// catchUpFor is how long a client may take, with faults off, to show what
// the store has.
const catchUpFor = 10 * time.Second

// TestSoak drives visitors and agents through reload / navigate /
// reconnect cycles over both transports, through the fault proxy and
// SIGKILL restarts, and checks that every acknowledged message is shown
// exactly once, in seq order, on both sides.
func TestSoak(t *testing.T) { soak(t, 1) }

// TestSoakInstances is the soak on three instances sharing one PostgreSQL
// database (DESIGN §7), the proxy sending each connection to the next one
// (so a visitor's page, its posts and its live transport land anywhere),
// and the SIGKILLs striking one instance at a time.
func TestSoakInstances(t *testing.T) { soak(t, 3) }

// soak runs the soak on one instance on SQLite, or several on one
// PostgreSQL database.
func soak(t *testing.T, instances int) {
	leaks := goleak.IgnoreCurrent()
	nCycles, nChats, nAgents, nKills := *cycles, *chats, *agents, *kills
	if nKills <= 0 {
		nKills = max(1, nCycles/200)
	}
	if nAgents < 1 || nAgents > len(agentNames) || nChats < 1 || nCycles < 1 {
		t.Fatalf("want 1–%d agents, at least one chat and one cycle; have -agents %d -chats %d -cycles %d", len(agentNames), nAgents, nChats, nCycles)
	}
	t.Logf("seed %d: %d cycles, %d chats, %d agents, %d SIGKILL restarts (rerun: -args -seed %d -cycles %d -chats %d -agents %d -kills %d)",
		*seed, nCycles, nChats, nAgents, nKills, *seed, nCycles, nChats, nAgents, nKills)
	began := time.Now()

	// Cleanups run last registered first: the leak check after all else.
	t.Cleanup(func() { goleak.VerifyNone(t, leaks) })
	var args []string
	for _, name := range agentNames[:nAgents] {
		args = append(args, "-agent", name+":"+password(name))
	}
	if instances > 1 {
		args = append(args, "-database-url", pgtest.URL(t))
	}
	ports := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0))
	var srvs []*chatclient.Server
	var addrs []string
	for i := range instances {
		srv := newServer(t.TempDir(), args)
		addr, err := stablePort(ports)
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Start(context.Background(), addr); err != nil {
			t.Fatalf("start parley: %v\n%s", err, srv.Log())
		}
		srvs, addrs = append(srvs, srv), append(addrs, srv.Addr)
		t.Cleanup(func() {
			if err := srv.Stop(stopTimeout); err != nil {
				t.Errorf("parley (instance %d): %v", i, err)
			}
			if strings.Contains(srv.Log(), "WARNING: DATA RACE") {
				t.Errorf("the race detector reported a data race in parley (instance %d)", i)
			}
			if t.Failed() {
				t.Logf("the output of parley (instance %d):\n%s", i, lastLines(srv.Log(), 200))
			}
		})
	}
	px, err := newProxy(addrs, *seed)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(px.close)
	r := &soakRun{t: t, base: "http://" + px.addr(), began: began}

	runFor := 20 * time.Minute
	if d, ok := t.Deadline(); ok {
		runFor = time.Until(d) - settleFor - 30*time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), runFor)
	defer cancel()

	visitors, agents := setUp(ctx, t, r, nChats, nAgents)
	t.Cleanup(func() {
		for _, v := range visitors {
			v.closeTransport()
			v.client.HTTP.CloseIdleConnections()
		}
		for _, a := range agents {
			a.closeFeed()
			a.client.HTTP.CloseIdleConnections()
		}
	})
	if t.Failed() {
		return
	}

	// The soak: every client takes cycles until the count is spent, while
	// the proxy injects faults and the server is killed now and then.
	px.armed.Store(true)
	var taken atomic.Int64
	take := func() bool { return taken.Add(1) <= int64(nCycles) }
	var wg sync.WaitGroup
	loop := func(name string, cycle func(context.Context) error, count *atomic.Int64) {
		defer wg.Done()
		for take() {
			if err := cycle(ctx); err != nil {
				r.violate("client failed", "%s: %v", name, err)
				return
			}
			count.Add(1)
		}
	}
	for _, v := range visitors {
		wg.Add(1)
		go loop(v.name, v.cycle, &r.stats.visitorCycles)
	}
	for _, a := range agents {
		wg.Add(1)
		go loop(a.name, a.cycle, &r.stats.agentCycles)
	}
	loopsDone, killed := make(chan struct{}), make(chan int)
	go func() {
		n := 0
		defer func() { killed <- n }()
		rng := rand.New(rand.NewPCG(*seed, 300))
		for i := range nKills {
			at := int64(nCycles * (i + 1) / (nKills + 1))
			for taken.Load() < at {
				select {
				case <-loopsDone: // every client has stopped early
					return
				case <-ctx.Done():
					return
				case <-time.After(10 * time.Millisecond):
				}
			}
			srv := srvs[0]
			if len(srvs) > 1 {
				srv = srvs[rng.IntN(len(srvs))]
			}
			r.trace("server", "kill -9 of %s at cycle %d", srv.Addr, taken.Load())
			if err := srv.Kill(); err != nil {
				r.violate("server", "kill -9: %v", err)
				return
			}
			n++
			_ = chatclient.Sleep(ctx, time.Duration(100+rng.IntN(400))*time.Millisecond)
			if err := restart(ctx, srv); err != nil {
				r.violate("server", "restart after kill -9: %v", err)
				cancel()
				return
			}
			r.trace("server", "restarted on the same data")
		}
	}()
	wg.Wait()
	close(loopsDone)
	nKilled := <-killed
	soaked := time.Since(began)

	// Faults off: send what is unacknowledged, let every client catch up,
	// and hold what each shows to the store's truth.
	px.disarm()
	settle(r, visitors, agents)
	r.stats.print(t, r, px, nKilled, soaked, time.Since(began))
	if report := r.report(); report != "" {
		t.Errorf("seed %d: promises broken:\n%s\nwhat the clients named did (and the server's restarts):\n%s", *seed, report, r.tracesOf())
	}
}

// restart starts the killed server again on its address and data, trying
// a few times: another process may hold the port for a moment.
func restart(ctx context.Context, srv *chatclient.Server) error {
	var err error
	for range 5 {
		if err = srv.Start(ctx, srv.Addr); err == nil {
			return nil
		}
		if chatclient.Sleep(ctx, 500*time.Millisecond) != nil {
			break
		}
	}
	return fmt.Errorf("%w\n%s", err, lastLines(srv.Log(), 20))
}

func password(name string) string { return name + "-soak-password" }

// setUp signs the agents in, starts and registers each visitor's chat
// (slowly enough for the per-address start limit), and has the agents
// accept them in turn. Faults are off: the run starts from chats in place.
func setUp(ctx context.Context, t *testing.T, r *soakRun, nChats, nAgents int) ([]*visitor, []*agent) {
	t.Helper()
	var agents []*agent
	for i, name := range agentNames[:nAgents] {
		a := newAgent(r, name, password(name), i, *seed)
		agents = append(agents, a)
		if err := a.signIn(ctx); err != nil {
			t.Errorf("%s: sign in: %v", name, err)
			return nil, agents
		}
	}
	var visitors []*visitor
	for i := range nChats {
		v := newVisitor(r, i, *seed)
		visitors = append(visitors, v)
		if err := v.start(ctx); err != nil {
			t.Errorf("%s: start a chat: %v", v.name, err)
			return visitors, agents
		}
		if err := agents[i%nAgents].accept(ctx, v.chatID); err != nil {
			t.Error(err)
			return visitors, agents
		}
	}
	return visitors, agents
}

// settle ends the run: every client sends what is still unacknowledged,
// then waits until it shows every event the store has; then each view is
// held to the store's, and every acknowledged message to all of them.
func settle(r *soakRun, visitors []*visitor, agents []*agent) {
	ctx, cancel := context.WithTimeout(context.Background(), settleFor)
	defer cancel()
	var wg sync.WaitGroup
	for _, v := range visitors {
		wg.Go(func() {
			ws := v.rng.IntN(2) == 0
			if err := v.open(ctx, ws); err != nil {
				r.violate("client failed", "%s: reconnect at the end: %v", v.name, err)
				return
			}
			for len(v.pending) > 0 && ctx.Err() == nil {
				if err := v.flush(ctx, ws, 5); err != nil {
					r.violate("client failed", "%s: send at the end: %v", v.name, err)
					return
				}
			}
		})
	}
	for _, a := range agents {
		wg.Go(func() {
			if err := a.openFeed(ctx, a.rng.IntN(2) == 0); err != nil {
				r.violate("client failed", "%s: reconnect at the end: %v", a.name, err)
				return
			}
			for len(a.pending) > 0 && ctx.Err() == nil {
				if err := a.flush(ctx, 5); err != nil {
					r.violate("client failed", "%s: send at the end: %v", a.name, err)
					return
				}
			}
		})
	}
	wg.Wait()

	for i, v := range visitors {
		a := agents[i%len(agents)]
		truth, err := a.chatPage(ctx, v.chatID)
		if err != nil {
			r.violate("client failed", "%s: the chat page of %s: %v", a.name, v.chatID, err)
			continue
		}
		want := truth.sorted()
		who := fmt.Sprintf("%s (%s)", v.name, v.chatID[:8])
		checkLedger(r, who, v.chatID, want)

		// Both sides catch up over their live transports.
		caughtUp := func() bool {
			_, vl := v.snapshot()
			_, al, ok := a.snapshot(v.chatID)
			return vl >= truth.lastSeq && ok && al >= truth.lastSeq
		}
		for wait := time.Now().Add(catchUpFor); !caughtUp() && time.Now().Before(wait); {
			_ = chatclient.Sleep(ctx, 20*time.Millisecond)
		}
		lines, last := v.snapshot()
		if last < truth.lastSeq {
			r.violate("gap", "%s: shows up to seq %d at the end, the store has %d", who, last, truth.lastSeq)
		}
		r.compareView(who, "end of run", lines, last, want, truth.lastSeq)
		if lines, last, ok := a.snapshot(v.chatID); !ok {
			r.violate("lost", "%s console: chat %s is not on it at the end", a.name, v.chatID)
		} else {
			if last < truth.lastSeq {
				r.violate("gap", "%s console (%s): shows up to seq %d at the end, the store has %d", a.name, v.chatID[:8], last, truth.lastSeq)
			}
			r.compareView(a.name+" console ("+v.chatID[:8]+")", "end of run", lines, last, want, truth.lastSeq)
		}

		// A fresh page renders the same transcript as the agent's page.
		v.closeTransport()
		if err := v.load(ctx, "fresh page at the end"); err != nil {
			r.violate("client failed", "%v", err)
		}
		lines, last = v.snapshot()
		r.compareView(who+" fresh page", "end of run", want, truth.lastSeq, lines, last)
	}
	for _, v := range visitors {
		checkOrder(r, v.name, v.sent)
	}
	for _, a := range agents {
		checkOrder(r, a.name, a.sent)
	}
}

// checkLedger holds the store's transcript of a chat to the messages sent
// in it: each acknowledged one is there once, at its seq; nothing else is.
func checkLedger(r *soakRun, who, chatID string, truth []line) {
	at := map[string][]int64{}
	for _, l := range truth {
		at[l.text] = append(at[l.text], l.seq)
	}
	for _, m := range r.ledger.messages(chatID) {
		seqs := at[m.text]
		delete(at, m.text)
		switch {
		case m.ackSeq == 0:
			r.violate("unacknowledged", "%s: %s %s never acknowledged (%d attempts); stored at %v", who, m.from, m.clientID, m.attempts, seqs)
		case len(seqs) == 0:
			r.violate("lost", "%s: %s %s acknowledged as seq %d, not in the store", who, m.from, m.clientID, m.ackSeq)
		case len(seqs) > 1:
			r.violate("duplicate", "%s: %s %s stored as seqs %v", who, m.from, m.clientID, seqs)
		case seqs[0] != m.ackSeq:
			r.violate("mismatch", "%s: %s %s acknowledged as seq %d, stored as %d", who, m.from, m.clientID, m.ackSeq, seqs[0])
		}
	}
	for text, seqs := range at {
		r.violate("mismatch", "%s: the store has %q at %v, which nobody sent", who, text, seqs)
	}
}

// checkOrder holds a sender's messages to the order it wrote them in: each
// is sent only after the one before is acknowledged, so their seqs rise.
func checkOrder(r *soakRun, who string, sent []*message) {
	last := map[string]*message{}
	for _, m := range sent {
		if prev := last[m.chat]; prev != nil && m.ackSeq != 0 && prev.ackSeq != 0 && m.ackSeq <= prev.ackSeq {
			r.violate("reordered", "%s: %s stored at seq %d, before %s (seq %d) written earlier", who, m.clientID, m.ackSeq, prev.clientID, prev.ackSeq)
		}
		if m.ackSeq != 0 {
			last[m.chat] = m
		}
	}
}

// print logs the run's figures.
func (s *stats) print(t *testing.T, r *soakRun, px *proxy, killed int, soaked, total time.Duration) {
	t.Helper()
	t.Logf("seed %d: %d cycles (%d visitor, %d agent: %d reloads, %d navigations, %d reconnects), %d SIGKILL restarts, soak %v, total %v",
		*seed, s.visitorCycles.Load()+s.agentCycles.Load(), s.visitorCycles.Load(), s.agentCycles.Load(),
		s.reloads.Load(), s.navigations.Load(), s.reconnects.Load(), killed, soaked.Round(100*time.Millisecond), total.Round(100*time.Millisecond))
	t.Logf("transports: %d WebSocket opens, %d long-poll loops; faults on connections: %s", s.wsOpens.Load(), s.pollOpens.Load(), px.summary())
	t.Logf("sent %d (%d attempts, %d rate-limited, %d transport errors), acknowledged %d, delivered %d live, duplicates %d, gaps %d, reordered %d, lost %d, resyncs %d, view checks %d",
		s.sent.Load(), s.attempts.Load(), s.rateLimited.Load(), s.transportErrors.Load(), s.acked.Load(), s.delivered.Load(),
		r.count("duplicate"), r.count("gap"), r.count("reordered"), r.count("lost")+r.count("unacknowledged"), s.resyncs.Load(), s.checks.Load())
}

// lastLines is the end of a long log.
func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("… %d lines before", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}
