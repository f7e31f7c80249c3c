package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"time"
)

// options are a scenario's flags.
type options struct {
	scenario string
	addr     string

	// The server under test: a running one (target, serverPID), or one the
	// tool starts (parleyBin with parleyArgs).
	target       string
	serverPID    int
	metricsToken string
	parleyBin    string
	parleyArgs   string
	// The baseline: started by the tool unless baselineTarget is given.
	baselineTarget string
	baselinePID    int
	only           string

	workers   int
	n         int
	rate      float64
	parallel  int
	hold      time.Duration
	settle    time.Duration
	transport string
	keepAlive bool

	msgEvery, navEvery, replyAfter, typingFor time.Duration
	chatsPerAgent                             int
	agentPrefix, agentPassword                string
	agents                                    int

	messages int
	msgRate  float64

	idle          int
	idleTransport string
	start, step   int
	maxChats      int
	probeChats    int
	probeEvery    time.Duration
	ackP99        time.Duration
	restoreP99    time.Duration

	jsonOut string
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	o := options{scenario: args[0]}
	fs := flag.NewFlagSet("loadtest "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.addr, "addr", "127.0.0.1:0", "baseline: address to listen on")
	fs.StringVar(&o.target, "target", "", "a running Parley, like http://127.0.0.1:8080 (on loopback); empty: start -parley")
	fs.IntVar(&o.serverPID, "server-pid", 0, "the running Parley's process id; 0: the process listening on -target's port")
	fs.StringVar(&o.metricsToken, "metrics-token", "", "Parley's -metrics-token, to read its heap from /metrics")
	fs.StringVar(&o.parleyBin, "parley", "", "a parley binary (go build -o /tmp/parley .) to start on a random port with a fresh data directory and the load agents, when -target is empty")
	fs.StringVar(&o.parleyArgs, "parley-args", "", "more flags for the started parley, space-separated (e.g. \"-max-parked-polls 30000\")")
	fs.StringVar(&o.baselineTarget, "baseline-target", "", "a running baseline (loadtest baseline); empty: the tool starts one")
	fs.IntVar(&o.baselinePID, "baseline-pid", 0, "the running baseline's process id; 0: found by its port")
	fs.StringVar(&o.only, "only", "both", "which servers to run: both, parley or baseline")
	fs.IntVar(&o.workers, "workers", 0, "client processes; 0: one per 8,000 connections, at least 2; -1: in this process")
	fs.IntVar(&o.n, "n", 0, "visitors (idle-ws, idle-poll), active chats (mix) or chats restored at once (restore); 0: the scenario's default")
	fs.Float64Var(&o.rate, "rate", 200, "new visitors a second while ramping up, all workers together")
	fs.IntVar(&o.parallel, "parallel", 32, "visitor setups in flight per worker while ramping up")
	fs.DurationVar(&o.hold, "duration", 60*time.Second, "how long the measured phase lasts (idle hold, mix, each restore loop)")
	fs.DurationVar(&o.settle, "settle", 5*time.Second, "pause after ramping up before measuring")
	fs.StringVar(&o.transport, "transport", "ws", "mix: the visitors' transport, ws or poll")
	fs.BoolVar(&o.keepAlive, "keep-alive", false, "idle-ws: keep each visitor's HTTP keep-alive connection open beside its WebSocket (the server's -idle-timeout closes it after 2 min)")
	fs.DurationVar(&o.msgEvery, "msg-every", 10*time.Second, "mix: a visitor message every")
	fs.DurationVar(&o.navEvery, "nav-every", 30*time.Second, "mix: a page navigation every")
	fs.DurationVar(&o.replyAfter, "reply-after", 2*time.Second, "mix: the agent replies this long after the visitor's message")
	fs.DurationVar(&o.typingFor, "typing-for", time.Second, "mix: time between the typing frame and the message")
	fs.IntVar(&o.chatsPerAgent, "chats-per-agent", 10, "mix, capacity: chats each agent takes (Parley allows an agent 3 replies a second)")
	fs.StringVar(&o.agentPrefix, "agent-prefix", "loadagent", "load agents are named PREFIX1, PREFIX2, …")
	fs.StringVar(&o.agentPassword, "agent-password", "loadtest-password", "the load agents' password")
	fs.IntVar(&o.agents, "agents", 0, "agents to configure on a started parley (and to print with \"agents\"); 0: as many as the scenario needs")
	fs.IntVar(&o.messages, "messages", 300, "restore, capacity probe: messages in each seeded chat")
	fs.Float64Var(&o.msgRate, "msg-rate", 2.9, "restore: messages a second per seeded chat (Parley allows 3, 10 at once)")
	fs.IntVar(&o.idle, "idle", 20000, "capacity: idle visitors held throughout")
	fs.StringVar(&o.idleTransport, "idle-transport", "ws", "capacity: the idle visitors' transport, ws or poll")
	fs.IntVar(&o.start, "start", 250, "capacity: active chats at the first step")
	fs.IntVar(&o.step, "step", 250, "capacity: active chats added at each step")
	fs.IntVar(&o.maxChats, "max", 4000, "capacity: stop after this many active chats")
	fs.IntVar(&o.probeChats, "probe-chats", 8, "capacity: seeded chats restored every -probe-every throughout (0: take the mix's navigations as restores)")
	fs.DurationVar(&o.probeEvery, "probe-every", time.Second, "capacity: how often each probe chat is restored")
	fs.DurationVar(&o.ackP99, "max-ack-p99", 50*time.Millisecond, "capacity: a step fails above this p99 send-to-ack")
	fs.DurationVar(&o.restoreP99, "max-restore-p99", 10*time.Millisecond, "capacity: a step fails above this restore p99")
	fs.StringVar(&o.jsonOut, "json", "", "also write the report as JSON to this file")
	if err := fs.Parse(args[1:]); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if o.n == 0 {
		o.n = map[string]int{"idle-ws": 8000, "idle-poll": 8000, "mix": 200, "restore": 32}[o.scenario]
	}
	switch {
	case o.only != "both" && o.only != "parley" && o.only != "baseline":
		return o, fmt.Errorf("-only: want both, parley or baseline")
	case o.transport != "ws" && o.transport != "poll", o.idleTransport != "ws" && o.idleTransport != "poll":
		return o, fmt.Errorf("transports are ws or poll")
	case o.chatsPerAgent <= 0 || o.msgEvery <= 0 || o.navEvery <= 0 || o.msgRate <= 0:
		return o, fmt.Errorf("-chats-per-agent, -msg-every, -nav-every and -msg-rate must be positive")
	}
	return o, nil
}

// agentsNeeded is how many load agents a scenario signs in at most.
func agentsNeeded(o options) int {
	if o.agents > 0 {
		return o.agents
	}
	chats := 0
	switch o.scenario {
	case "mix":
		chats = o.n
	case "capacity":
		chats = o.maxChats
	}
	// Each worker rounds its share up.
	return (chats+o.chatsPerAgent-1)/o.chatsPerAgent + 16
}

// agentList is the PARLEY_AGENTS value for the load agents.
func agentList(o options) string {
	n := agentsNeeded(o)
	if o.scenario == "agents" && o.agents == 0 {
		n = 100
	}
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf("%s%d:%s", o.agentPrefix, i+1, o.agentPassword)
	}
	return strings.Join(parts, ",")
}
