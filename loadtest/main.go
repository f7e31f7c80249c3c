// Command loadtest drives a running Parley server on loopback as browsers
// do (pages with cookies, the widget's forms, WebSockets and long-polls,
// agents at the console) and reports, for each scenario, throughput,
// latency percentiles, errors, and the server's memory per connection and
// CPU per operation, beside the same scenario against a bare baseline
// server it ships and starts itself.
//
//	go run ./loadtest idle-ws -parley /tmp/parley -n 8000
//	go run ./loadtest mix -target http://127.0.0.1:8080 -n 200
//	go run ./loadtest baseline -addr 127.0.0.1:9090
//
// docs/operations.md, "Load tool", lists the scenarios and flags.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// childEnv marks a process the tool started of itself (a worker, the
// baseline), so that a test binary re-executed as one runs main's code.
const childEnv = "LOADTEST_CHILD"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
}

// run dispatches on the first argument: a scenario, "baseline" (serve the
// baseline alone), "agents" (print the PARLEY_AGENTS value for the load
// agents) or "worker" (a client process, started by the tool itself).
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		usage(stderr)
		return fmt.Errorf("no scenario")
	}
	switch args[0] {
	case "worker":
		if _, err := raiseFileLimit(1 << 20); err != nil {
			fmt.Fprintln(stderr, "loadtest worker: open-file limit:", err)
		}
		return runWorker(ctx, stdin, stdout)
	case "baseline":
		opts, err := parseFlags(args, stderr)
		if err != nil {
			return err
		}
		if _, err := raiseFileLimit(1 << 20); err != nil {
			fmt.Fprintln(stderr, "loadtest baseline: open-file limit:", err)
		}
		return runBaseline(ctx, opts.addr, stdout)
	case "agents":
		opts, err := parseFlags(args, stderr)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, agentList(opts))
		return nil
	case "idle-ws", "idle-poll", "mix", "restore", "capacity":
		opts, err := parseFlags(args, stderr)
		if err != nil {
			return err
		}
		return runScenario(ctx, opts, stdout, stderr)
	case "-h", "-help", "--help", "help":
		usage(stdout)
		return nil
	}
	usage(stderr)
	return fmt.Errorf("unknown scenario %q", args[0])
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage: loadtest SCENARIO [flags]

scenarios:
  idle-ws    N visitors with a chat and an idle WebSocket each
  idle-poll  N visitors with a chat and a parked long-poll each
  mix        N active chats: a message every 10 s with typing, an agent reply,
             a navigation every 30 s; agents with the console feed open
  restore    N chats of 300 messages restored by N concurrent visitors, beside
             the page without a chat and a static file
  capacity   a fixed idle population, then more active chats step by step
             until p99 ack > 50 ms or restore p99 > 10 ms
  baseline   serve the bare baseline server alone (-addr)
  agents     print PARLEY_AGENTS for the load agents (-agents N)

Run "loadtest SCENARIO -h" for the flags.
`)
}
