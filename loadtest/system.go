package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/parley/parley/chatclient"
)

// system is a server under test: Parley or the baseline.
type system struct {
	name     string // "parley" or "baseline"
	base     string
	pid      int
	token    string
	baseline bool
	stop     func()
}

func (s *system) sample(ctx context.Context) procSample {
	ps, err := sampleProc(ctx, s.pid, s.base+"/metrics", s.token)
	if err != nil {
		ps = procSample{at: time.Now(), rssKB: -1, heap: -1}
	}
	return ps
}

// startProcess runs a server that prints "listening on URL" on a random
// loopback port and waits for the line and for /healthz.
func startProcess(ctx context.Context, name string, proc *chatclient.Server) (*system, error) {
	proc.StartTimeout = 2 * time.Minute
	if err := proc.Start(ctx, "127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &system{name: name, base: proc.URL, pid: proc.Pid(), stop: func() { _ = proc.Stop(20 * time.Second) }}, nil
}

// parleySystem is the Parley under test: a running one, or one started
// from -parley on a random port with a fresh data directory and the load
// agents configured.
func parleySystem(ctx context.Context, o options, stderr io.Writer) (*system, error) {
	if o.target != "" {
		s := &system{name: "parley", base: strings.TrimSuffix(o.target, "/"), pid: o.serverPID, token: o.metricsToken, stop: func() {}}
		if s.pid == 0 {
			pid, err := pidListening(s.base)
			if err != nil {
				return nil, err
			}
			s.pid = pid
		}
		return s, nil
	}
	if o.parleyBin == "" {
		return nil, errors.New("give -target (a running Parley) or -parley (a parley binary to start)")
	}
	dir, err := os.MkdirTemp("", "parley-loadtest-")
	if err != nil {
		return nil, err
	}
	// The load's visitors start chats whether or not its agents are
	// online yet.
	args := []string{"-data", dir, "-session-key", "loadtest-session-key-0123456789abcdefghij", "-queue-without-agents"}
	if o.metricsToken != "" {
		args = append(args, "-metrics-token", o.metricsToken)
	}
	args = append(args, strings.Fields(o.parleyArgs)...)
	// Its log goes to a file beside the data directory: an INFO line per
	// accepted chat would drown the tool's own.
	logFile, err := os.CreateTemp("", "parley-loadtest-*.log")
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	defer logFile.Close()
	fmt.Fprintf(stderr, "loadtest: parley's log: %s\n", logFile.Name())
	proc := &chatclient.Server{
		Path: o.parleyBin,
		Args: args,
		// The agents go in the environment: hundreds of -agent flags would
		// show in ps.
		Env:    append(chatclient.CleanEnv(), "PARLEY_AGENTS="+agentList(o)),
		Stderr: logFile,
	}
	s, err := startProcess(ctx, "parley", proc)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("%w (see %s)", err, logFile.Name())
	}
	s.token = o.metricsToken
	stop := s.stop
	s.stop = func() {
		stop()
		os.RemoveAll(dir)
	}
	return s, nil
}

// baselineSystem is the baseline: a running one, or this executable
// started as "baseline" on a random port.
func baselineSystem(ctx context.Context, o options, stderr io.Writer) (*system, error) {
	if o.baselineTarget != "" {
		s := &system{name: "baseline", base: strings.TrimSuffix(o.baselineTarget, "/"), pid: o.baselinePID, baseline: true, stop: func() {}}
		if s.pid == 0 {
			pid, err := pidListening(s.base)
			if err != nil {
				return nil, err
			}
			s.pid = pid
		}
		return s, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	proc := &chatclient.Server{Path: exe, Args: []string{"baseline"}, Env: append(os.Environ(), childEnv+"=1"), Stderr: stderr}
	s, err := startProcess(ctx, "baseline", proc)
	if err != nil {
		return nil, err
	}
	s.baseline = true
	return s, nil
}
