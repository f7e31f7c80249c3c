package chatclient

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
)

// listeningLine is what Parley (and the load tool's baseline) prints once
// it serves.
var listeningLine = regexp.MustCompile(`listening on (https?://\S+)`)

// Server is a server process under test, run as in production: Parley's
// binary, or another that prints a "listening on URL" line and answers
// /healthz. It may be killed and started again on the same address.
type Server struct {
	// Path is the binary; Args its arguments, to which Start adds
	// -addr ADDR.
	Path string
	Args []string
	// Env is the process's environment; nil: this process's without its
	// PARLEY_* variables, so that a developer's settings do not change
	// the server under test.
	Env []string
	// Stderr, when set, gets the process's standard error (its log)
	// instead of Log; an *os.File is handed to the process itself.
	Stderr io.Writer
	// HTTP asks /healthz (nil: a client with a 2 s timeout).
	HTTP *http.Client
	// StartTimeout bounds the wait for the listening line and for
	// /healthz (0: 30 s).
	StartTimeout time.Duration

	// URL is the server's origin, like http://127.0.0.1:40123, and Addr
	// its host:port; both are set by Start.
	URL, Addr string

	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
	err  error         // cmd.Wait's result, set before done closes
	log  processLog
}

// Start runs the binary on addr (127.0.0.1:0 for a free port) and waits
// until it serves. A process that does not get there is killed.
func (s *Server) Start(ctx context.Context, addr string) (err error) {
	args := append(append([]string(nil), s.Args...), "-addr", addr)
	s.log.mark(fmt.Sprintf("---- %s %s ----\n", filepath.Base(s.Path), strings.Join(args, " ")))
	from := s.log.len()
	cmd := exec.Command(s.Path, args...)
	cmd.Env = s.Env
	if cmd.Env == nil {
		cmd.Env = CleanEnv()
	}
	cmd.Stdout, cmd.Stderr = &s.log, &s.log
	if s.Stderr != nil {
		cmd.Stderr = s.Stderr
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.Path, err)
	}
	done := make(chan struct{})
	s.cmd, s.done, s.err = cmd, done, nil
	go func() {
		s.err = cmd.Wait()
		close(done)
	}()
	defer func() {
		if err != nil {
			// Half started: no second process may run on the same data.
			_ = cmd.Process.Kill()
			<-done
		}
	}()
	timeout := cmp.Or(s.StartTimeout, 30*time.Second)
	deadline := time.Now().Add(timeout)
	pause := func(d time.Duration) error {
		select {
		case <-done:
			return fmt.Errorf("%s exited while starting: %v", filepath.Base(s.Path), s.err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d):
			return nil
		}
	}
	for {
		if m := listeningLine.FindStringSubmatch(s.log.since(from)); m != nil {
			s.URL = m[1]
			_, s.Addr, _ = strings.Cut(s.URL, "://")
			break
		}
		if err := pause(10 * time.Millisecond); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s printed no %q line within %v", filepath.Base(s.Path), "listening on", timeout)
		}
	}
	client := s.HTTP
	if client == nil {
		client = &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	}
	last := "no answer"
	for time.Now().Before(deadline) {
		resp, err := client.Get(s.URL + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		if err := pause(20 * time.Millisecond); err != nil {
			return err
		}
	}
	return fmt.Errorf("%s/healthz not OK within %v (last: %s)", s.URL, timeout, last)
}

// Pid is the running process's id.
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// Exited reports whether the process has exited (or was never started).
func (s *Server) Exited() bool {
	if s.done == nil {
		return true
	}
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// Kill kills the process with SIGKILL, as a crash or an OOM kill would: no
// shutdown code runs.
func (s *Server) Kill() error {
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	select {
	case <-s.done:
		return nil
	case <-time.After(15 * time.Second):
		return errors.New("still running 15 s after SIGKILL")
	}
}

// Stop ends the process with SIGTERM, as a deployment does, and kills it
// when it has not exited within grace. It is an error not to exit cleanly;
// a process that had exited already is not stopped again.
func (s *Server) Stop(grace time.Duration) error {
	if s.Exited() {
		return nil
	}
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("SIGTERM: %w", err)
	}
	select {
	case <-s.done:
		if s.err != nil {
			return fmt.Errorf("exited with %v after SIGTERM, want a clean exit", s.err)
		}
		return nil
	case <-time.After(grace):
		_ = s.cmd.Process.Kill()
		<-s.done
		return fmt.Errorf("did not exit within %v of SIGTERM; killed it", grace)
	}
}

// Log is what the process printed (without Stderr, when set), over all
// its starts, each after a line naming its command.
func (s *Server) Log() string { return s.log.since(0) }

// Build builds the main package pkg (a path such as "..") into the binary
// bin, with the race detector when race is set, for a harness to run as a
// process; the compiler's messages go to this process's standard error.
func Build(bin, pkg string, race bool) error {
	args := []string{"build", "-o", bin}
	if race {
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, pkg)...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go %s %s: %w", strings.Join(args, " "), pkg, err)
	}
	return nil
}

// CleanEnv is this process's environment without PARLEY_* variables.
func CleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PARLEY_") {
			env = append(env, kv)
		}
	}
	return env
}

// processLog collects a process's output; os/exec's copying goroutine
// writes it while the harness reads it.
type processLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *processLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *processLog) mark(s string) { _, _ = l.Write([]byte(s)) }

func (l *processLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Len()
}

func (l *processLog) since(from int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.buf.Bytes()[from:])
}
