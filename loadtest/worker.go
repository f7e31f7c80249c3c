package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/parley/parley/chatclient"
)

// A worker is one client process: it holds its share of the visitors and
// agents, from source addresses of its own, and does what the parent asks
// of them, one command at a time (JSON lines on stdin), answering each with
// a result (a JSON line on stdout).

// command is one thing the parent asks of a worker.
type command struct {
	Op string `json:"op"`
	// Target and Baseline say where the server is; the first command
	// ("init") carries them.
	Target    string        `json:"target,omitempty"`
	Baseline  bool          `json:"baseline,omitempty"`
	TypingFor time.Duration `json:"typingFor,omitempty"`
	AckWait   time.Duration `json:"ackWait,omitempty"`
	// N new clients, numbered from First (their source addresses).
	N     int `json:"n,omitempty"`
	First int `json:"first,omitempty"`
	// Rate caps new clients a second; Parallel the setups in flight.
	Rate      float64 `json:"rate,omitempty"`
	Parallel  int     `json:"parallel,omitempty"`
	Transport string  `json:"transport,omitempty"`
	// KeepAlive keeps an idle visitor's HTTP connection once its
	// WebSocket is open; otherwise it is closed, so that the server holds
	// the WebSocket alone.
	KeepAlive bool `json:"keepAlive,omitempty"`
	// Agents are the new agents for "active", by number; ChatsPerAgent
	// how many chats each takes.
	Agents        []int  `json:"agents,omitempty"`
	AgentPrefix   string `json:"agentPrefix,omitempty"`
	AgentPassword string `json:"agentPassword,omitempty"`
	AgentFirst    int    `json:"agentFirst,omitempty"` // source address number of agent 0
	ChatsPerAgent int    `json:"chatsPerAgent,omitempty"`
	// The mix: a message every MsgEvery (with typing), a navigation every
	// NavEvery, the agent's reply ReplyAfter the message.
	MsgEvery   time.Duration `json:"msgEvery,omitempty"`
	NavEvery   time.Duration `json:"navEvery,omitempty"`
	ReplyAfter time.Duration `json:"replyAfter,omitempty"`
	// Messages each seeded chat gets, at MsgRate a second.
	Messages int     `json:"messages,omitempty"`
	MsgRate  float64 `json:"msgRate,omitempty"`
	// Kind of loop ("restore", "page", "static"), for Duration; Every
	// paces a probe.
	Kind     string        `json:"kind,omitempty"`
	Duration time.Duration `json:"duration,omitempty"`
	Every    time.Duration `json:"every,omitempty"`
	Reset    bool          `json:"reset,omitempty"`
}

// result answers a command.
type result struct {
	Op    string   `json:"op"`
	Stats snapshot `json:"stats"`
	Count int      `json:"count"`
	Err   string   `json:"err,omitempty"`
}

type worker struct {
	w      *world
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	idle   []*visitor
	chats  []*visitor
	agents []*agent
	seeded []*visitor
}

// runWorker serves commands from in until "stop" or its end.
func runWorker(ctx context.Context, in io.Reader, out io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	wk := &worker{ctx: ctx, cancel: cancel}
	defer wk.shutdown()
	enc := json.NewEncoder(out)
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var cmd command
		if err := json.Unmarshal(sc.Bytes(), &cmd); err != nil {
			return fmt.Errorf("worker: bad command: %w", err)
		}
		if cmd.Op == "stop" {
			wk.shutdown()
			return enc.Encode(result{Op: "stop"})
		}
		res := wk.do(cmd)
		res.Op = cmd.Op
		if err := enc.Encode(res); err != nil {
			return err
		}
	}
	return sc.Err()
}

func (wk *worker) do(cmd command) result {
	switch cmd.Op {
	case "init":
		wk.w = &world{base: cmd.Target, baseline: cmd.Baseline, st: newStats(), typingFor: cmd.TypingFor, ackWait: cmd.AckWait}
		if wk.w.ackWait == 0 {
			wk.w.ackWait = 10 * time.Second
		}
		return result{}
	case "idle":
		return wk.addIdle(cmd)
	case "active":
		return wk.addActive(cmd)
	case "seed":
		return wk.seed(cmd)
	case "loop":
		return wk.loop(cmd)
	case "probe":
		wk.probe(cmd)
		return result{Count: len(wk.seeded)}
	case "report":
		// Count is the visitors whose transport is up now.
		up := 0
		for _, list := range [][]*visitor{wk.idle, wk.chats} {
			for _, v := range list {
				if v.connected() {
					up++
				}
			}
		}
		return result{Stats: wk.w.st.snapshot(cmd.Reset), Count: up}
	}
	return result{Err: "unknown command " + cmd.Op}
}

// ramp runs setup for n new clients, at most rate a second and parallel
// at once, and waits for them all.
func (wk *worker) ramp(n int, rate float64, parallel int, setup func(i int)) {
	if parallel <= 0 {
		parallel = 64
	}
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		if rate > 0 {
			due := start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
			if chatclient.Sleep(wk.ctx, time.Until(due)) != nil {
				break
			}
		}
		select {
		case sem <- struct{}{}:
		case <-wk.ctx.Done():
		}
		if wk.ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			setup(i)
		}()
	}
	wg.Wait()
}

// addIdle brings n visitors to the site, each with a chat and its live
// transport open, then leaves them be.
func (wk *worker) addIdle(cmd command) result {
	st := newStats()
	var mu sync.Mutex
	wk.ramp(cmd.N, cmd.Rate, cmd.Parallel, func(i int) {
		v := newVisitor(wk.w, cmd.First+i)
		start := time.Now()
		if err := v.setup(wk.ctx); err != nil {
			st.fail("setup", errKind(err), err)
			return
		}
		connStart := time.Now()
		if err := v.connect(wk.ctx, cmd.Transport); err != nil {
			st.fail("setup", errKind(err), err)
			return
		}
		now := time.Now()
		if cmd.Transport != "poll" {
			st.ok("connect", now.Sub(connStart), 0)
			if !cmd.KeepAlive {
				v.client.HTTP.CloseIdleConnections()
			}
		}
		st.ok("setup", now.Sub(start), 0)
		mu.Lock()
		wk.idle = append(wk.idle, v)
		mu.Unlock()
	})
	return result{Stats: st.snapshot(true), Count: len(wk.idle)}
}

// addActive adds chats that talk (the mix): each visitor starts a chat,
// an agent of this worker accepts it, and both go on as the mix says.
func (wk *worker) addActive(cmd command) result {
	st := newStats()
	// The new agents first, so that their consoles see the chats come.
	var mu sync.Mutex
	newAgents := make([]*agent, len(cmd.Agents))
	wk.ramp(len(cmd.Agents), 0, 16, func(i int) {
		n := cmd.Agents[i]
		a := newAgent(wk.w, cmd.AgentFirst+n, fmt.Sprintf("%s%d", cmd.AgentPrefix, n), cmd.AgentPassword)
		start := time.Now()
		if err := a.signIn(wk.ctx); err != nil {
			st.fail("login", errKind(err), err)
			return
		}
		if !wk.w.baseline { // the baseline has no sign-in
			st.ok("login", time.Since(start), 0)
		}
		start = time.Now()
		if err := a.openFeed(wk.ctx); err != nil {
			st.fail("feed-open", errKind(err), err)
			return
		}
		st.ok("feed-open", time.Since(start), 0)
		newAgents[i] = a
	})
	for _, a := range newAgents {
		if a != nil {
			wk.agents = append(wk.agents, a)
		}
	}
	if len(wk.agents) == 0 {
		return result{Stats: st.snapshot(true), Err: fmt.Sprintf("no agent could sign in: %v", st.snapshot(false).Examples)}
	}
	first := len(wk.chats)
	wk.ramp(cmd.N, cmd.Rate, cmd.Parallel, func(i int) {
		a := wk.agents[min((first+i)/max(cmd.ChatsPerAgent, 1), len(wk.agents)-1)]
		v := newVisitor(wk.w, cmd.First+i)
		v.page = pages[i%len(pages)]
		start := time.Now()
		if err := v.setup(wk.ctx); err != nil {
			st.fail("setup", errKind(err), err)
			return
		}
		if err := v.connect(wk.ctx, cmd.Transport); err != nil {
			st.fail("setup", errKind(err), err)
			return
		}
		acceptStart := time.Now()
		if err := a.accept(wk.ctx, v.chatID); err != nil {
			st.fail("accept", errKind(err), err)
			return
		}
		if !wk.w.baseline { // nor anything to accept
			st.ok("accept", time.Since(acceptStart), 0)
		}
		st.ok("setup", time.Since(start), 0)
		mu.Lock()
		wk.chats = append(wk.chats, v)
		mu.Unlock()
		wk.wg.Add(1)
		go func() {
			defer wk.wg.Done()
			wk.talk(v, a, cmd)
		}()
	})
	return result{Stats: st.snapshot(true), Count: len(wk.chats)}
}

// talk is one active chat: a message every MsgEvery after a typing frame,
// acknowledged, shown on the agent's console and answered by the agent a
// moment later; a full page navigation every NavEvery.
func (wk *worker) talk(v *visitor, a *agent, cmd command) {
	ctx := wk.ctx
	now := time.Now()
	nextMsg := now.Add(time.Duration(v.rng.Int64N(int64(cmd.MsgEvery))))
	nextNav := now.Add(time.Duration(v.rng.Int64N(int64(cmd.NavEvery))))
	var replies sync.WaitGroup
	defer replies.Wait()
	for {
		due := nextMsg
		if nextNav.Before(due) {
			due = nextNav
		}
		if chatclient.Sleep(ctx, time.Until(due)) != nil {
			return
		}
		if !v.connected() && !v.reconnect(ctx, cmd.Transport) {
			// Down: try again in a second, as chat.js backs off.
			if chatclient.Sleep(ctx, time.Second) != nil {
				return
			}
			continue
		}
		if !nextMsg.After(due) {
			nextMsg = nextMsg.Add(cmd.MsgEvery)
			_, sent, err := v.send(ctx, true, a.expect)
			if err != nil {
				if ctx.Err() == nil {
					wk.w.st.fail("ack", errKind(err), err)
				}
				continue
			}
			wk.w.st.ok("ack", time.Since(sent), 0)
			replies.Add(1)
			go func() {
				defer replies.Done()
				if chatclient.Sleep(ctx, cmd.ReplyAfter) == nil {
					a.reply(ctx, v)
				}
			}()
			continue
		}
		nextNav = nextNav.Add(cmd.NavEvery)
		v.navigate(ctx, cmd.Transport)
	}
}

// seed gives n new chats a transcript of Messages messages each, sent at
// MsgRate a second per chat (Parley allows 3 a second, 10 at once), then
// leaves them: their visitors come back in the restore loop.
func (wk *worker) seed(cmd command) result {
	st := newStats()
	var mu sync.Mutex
	wk.ramp(cmd.N, cmd.Rate, cmd.Parallel, func(i int) {
		v := newVisitor(wk.w, cmd.First+i)
		if err := v.setup(wk.ctx); err != nil {
			st.fail("setup", errKind(err), err)
			return
		}
		if err := v.connect(wk.ctx, "ws"); err != nil {
			st.fail("setup", errKind(err), err)
			return
		}
		const burst = 8
		start := time.Now()
		for m := range cmd.Messages {
			if m >= burst {
				due := start.Add(time.Duration(float64(m-burst+1) / cmd.MsgRate * float64(time.Second)))
				if chatclient.Sleep(wk.ctx, time.Until(due)) != nil {
					break
				}
			}
			if !v.connected() && v.connect(wk.ctx, "ws") != nil {
				continue
			}
			_, sent, err := v.send(wk.ctx, false, nil)
			if err != nil {
				st.fail("seed", errKind(err), err)
				continue
			}
			st.ok("seed", time.Since(sent), 0)
		}
		v.disconnect()
		v.client.HTTP.CloseIdleConnections()
		mu.Lock()
		wk.seeded = append(wk.seeded, v)
		mu.Unlock()
	})
	return result{Stats: st.snapshot(true), Count: len(wk.seeded)}
}

// loop runs one kind of page load for Duration and reports it: "restore"
// (each seeded visitor reloads its page, restoring its chat), "page" (the
// home page without a chat) and "static" (the widget's script), with
// Concurrency clients numbered from First for the last two.
func (wk *worker) loop(cmd command) result {
	st := newStats()
	ctx, cancel := context.WithTimeout(wk.ctx, cmd.Duration)
	defer cancel()
	var wg sync.WaitGroup
	run := func(fn func() (int, error)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				start := time.Now()
				n, err := fn()
				if ctx.Err() != nil {
					return
				}
				if err != nil {
					st.fail(cmd.Kind, errKind(err), err)
					_ = chatclient.Sleep(ctx, 100*time.Millisecond)
					continue
				}
				st.ok(cmd.Kind, time.Since(start), n)
			}
		}()
	}
	switch cmd.Kind {
	case "restore":
		for _, v := range wk.seeded {
			run(func() (int, error) {
				html, err := v.client.Get(ctx, v.page)
				if err == nil && !wk.w.baseline {
					var wst chatclient.Widget
					if wst, err = chatclient.ParseWidget(html); err == nil && wst.ChatID != v.chatID {
						err = fmt.Errorf("the page restored chat %q, want %q", wst.ChatID, v.chatID)
					}
				}
				return len(html), err
			})
		}
	case "page", "static":
		path := "/"
		if cmd.Kind == "static" {
			path = "/chat/static/chat.js"
		}
		for i := range cmd.N {
			client := newBrowserClient(wk.w.base, sourceAddr(cmd.First+i))
			defer client.HTTP.CloseIdleConnections()
			run(func() (int, error) {
				body, err := client.Get(ctx, path)
				return len(body), err
			})
		}
	default:
		return result{Err: "unknown loop " + cmd.Kind}
	}
	wg.Wait()
	return result{Stats: st.snapshot(true), Count: len(wk.seeded)}
}

// probe starts a background restore of each seeded chat every Every,
// recorded as "restore" among the running loops' operations.
func (wk *worker) probe(cmd command) {
	for i, v := range wk.seeded {
		wk.wg.Add(1)
		go func() {
			defer wk.wg.Done()
			if chatclient.Sleep(wk.ctx, time.Duration(i)*cmd.Every/time.Duration(max(len(wk.seeded), 1))) != nil {
				return
			}
			t := time.NewTicker(cmd.Every)
			defer t.Stop()
			for {
				_, _ = v.load(wk.ctx, "restore")
				select {
				case <-wk.ctx.Done():
					return
				case <-t.C:
				}
			}
		}()
	}
}

// shutdown ends every loop and connection.
func (wk *worker) shutdown() {
	wk.cancel()
	wk.wg.Wait()
	var wg sync.WaitGroup
	for _, list := range [][]*visitor{wk.idle, wk.chats, wk.seeded} {
		for _, v := range list {
			wg.Add(1)
			go func() {
				defer wg.Done()
				v.disconnect()
				v.client.HTTP.CloseIdleConnections()
			}()
		}
	}
	for _, a := range wk.agents {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.close()
		}()
	}
	wg.Wait()
	wk.idle, wk.chats, wk.seeded, wk.agents = nil, nil, nil, nil
}
