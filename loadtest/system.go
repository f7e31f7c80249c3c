package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"time"
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

var listening = regexp.MustCompile(`listening on (http://\S+)`)

// startProcess runs a server that prints "listening on URL" and waits for
// the line and for /healthz.
func startProcess(ctx context.Context, name string, cmd *exec.Cmd, stderr io.Writer) (*system, error) {
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	s := &system{name: name, pid: cmd.Process.Pid}
	exited := make(chan struct{})
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		sent := false
		for sc.Scan() {
			if m := listening.FindStringSubmatch(sc.Text()); m != nil && !sent {
				lines <- m[1]
				sent = true
			}
		}
	}()
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	s.stop = func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}
	select {
	case s.base = <-lines:
	case <-exited:
		return nil, fmt.Errorf("%s exited before listening", name)
	case <-time.After(2 * time.Minute):
		s.stop()
		return nil, fmt.Errorf("%s printed no listening line", name)
	case <-ctx.Done():
		s.stop()
		return nil, ctx.Err()
	}
	if err := waitHealthy(ctx, s.base); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

func waitHealthy(ctx context.Context, base string) error {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		resp, err := client.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if sleepCtx(ctx, 50*time.Millisecond) != nil {
			return ctx.Err()
		}
	}
	return fmt.Errorf("%s/healthz did not answer OK", base)
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
	args := []string{"-addr", "127.0.0.1:0", "-data", dir, "-session-key", "loadtest-session-key-0123456789abcdefghij"}
	if o.metricsToken != "" {
		args = append(args, "-metrics-token", o.metricsToken)
	}
	args = append(args, strings.Fields(o.parleyArgs)...)
	cmd := exec.Command(o.parleyBin, args...)
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PARLEY_") {
			env = append(env, kv)
		}
	}
	// The agents go in the environment: hundreds of -agent flags would
	// show in ps.
	cmd.Env = append(env, "PARLEY_AGENTS="+agentList(o))
	// Its log goes to a file beside the data directory: an INFO line per
	// accepted chat would drown the tool's own.
	logFile, err := os.CreateTemp("", "parley-loadtest-*.log")
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	defer logFile.Close()
	fmt.Fprintf(stderr, "loadtest: parley's log: %s\n", logFile.Name())
	s, err := startProcess(ctx, "parley", cmd, logFile)
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
	cmd := exec.Command(exe, "baseline", "-addr", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	s, err := startProcess(ctx, "baseline", cmd, stderr)
	if err != nil {
		return nil, err
	}
	s.baseline = true
	return s, nil
}
