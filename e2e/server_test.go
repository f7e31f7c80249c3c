package e2e

import (
	"bytes"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// testSessionKey is a fixed cookie key, so that a restarted server still
// reads the cookies the browser holds.
const testSessionKey = "e2e-session-key-0123456789abcdefghijklmnop"

const (
	// startTimeout bounds the wait for the "listening" line and /healthz.
	startTimeout = 20 * time.Second
	// stopTimeout is how long a server may take to exit after SIGTERM: its
	// own shutdown grace (10 s) plus a margin.
	stopTimeout = 15 * time.Second
)

var listeningLine = regexp.MustCompile(`listening on (https?://\S+)`)

// server is one running parley process, or one of the examples.
type server struct {
	t       testing.TB
	bin     string
	dataDir string
	args    []string
	// URL is the server's origin, like http://127.0.0.1:40123.
	URL  string
	addr string
	// client is what the test asks the server with: one that trusts the
	// server's certificate, when it serves HTTPS (nil: the default).
	client *http.Client

	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
	err  error         // cmd.Wait's result, set before done closes
	logs []*processLog // one per start, for failure reports
}

// startServer runs parley on a random loopback port with its data under
// dataDir (a fresh temporary directory when empty) and extraArgs, waits until
// /healthz answers, and stops it when the test ends: SIGTERM, and the test
// fails if the server does not exit cleanly.
func startServer(t testing.TB, dataDir string, extraArgs ...string) *server {
	t.Helper()
	if dataDir == "" {
		dataDir = t.TempDir()
	}
	s := &server{t: t, bin: serverBin, dataDir: dataDir, args: extraArgs}
	s.launch("127.0.0.1:0")
	t.Cleanup(s.stop)
	return s
}

// startExample runs the existing-site example like startServer runs parley.
func startExample(t testing.TB, extraArgs ...string) *server {
	t.Helper()
	s := &server{t: t, bin: exampleBin, dataDir: t.TempDir(), args: extraArgs}
	s.launch("127.0.0.1:0")
	t.Cleanup(s.stop)
	return s
}

// launch starts the binary on addr and waits until it serves.
func (s *server) launch(addr string) {
	s.t.Helper()
	args := append([]string{"-addr", addr, "-data", s.dataDir, "-session-key", testSessionKey}, s.args...)
	log := &processLog{}
	cmd := exec.Command(s.bin, args...)
	cmd.Env = cleanEnv()
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start %s: %v", s.bin, err)
	}
	s.cmd, s.done, s.err = cmd, make(chan struct{}), nil
	s.logs = append(s.logs, log)
	go func() {
		s.err = cmd.Wait()
		close(s.done)
	}()

	deadline := time.Now().Add(startTimeout)
	for {
		if m := listeningLine.FindStringSubmatch(log.String()); m != nil {
			s.URL = m[1]
			_, s.addr, _ = strings.Cut(s.URL, "://")
			break
		}
		select {
		case <-s.done:
			s.t.Fatalf("parley %s exited before listening: %v\n%s", strings.Join(args, " "), s.err, log)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%s printed no %q line within %v:\n%s", s.bin, "listening on", startTimeout, log)
		}
	}
	s.waitHealthy(deadline)
}

// waitHealthy polls /healthz until it answers 200.
func (s *server) waitHealthy(deadline time.Time) {
	s.t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	if s.client != nil {
		client = s.client
	}
	var last string
	for time.Now().Before(deadline) {
		resp, err := client.Get(s.URL + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		select {
		case <-s.done:
			s.t.Fatalf("parley exited while waiting for /healthz: %v\n%s", s.err, s.log())
		case <-time.After(20 * time.Millisecond):
		}
	}
	s.t.Fatalf("/healthz not OK within %v (last: %s)\n%s", startTimeout, last, s.log())
}

// kill9 kills the server with SIGKILL, as a crash or an OOM kill would: no
// shutdown code runs.
func (s *server) kill9() {
	s.t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		s.t.Fatalf("kill -9 parley: %v", err)
	}
	select {
	case <-s.done:
	case <-time.After(stopTimeout):
		s.t.Fatalf("parley still running %v after SIGKILL", stopTimeout)
	}
}

// restart starts the server again on the same address and data directory,
// after kill9 or a crash, so that the page the browser shows can reload.
func (s *server) restart() {
	s.t.Helper()
	select {
	case <-s.done:
	default:
		s.t.Fatal("restart: the server is still running; stop it first")
	}
	s.launch(s.addr)
}

// stop sends SIGTERM and checks the server shuts down cleanly; it runs at
// the test's cleanup.
func (s *server) stop() {
	select {
	case <-s.done:
		// Killed on purpose by the test, or crashed (then the test has
		// most likely failed already).
	default:
		if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
			s.t.Errorf("SIGTERM parley: %v", err)
		}
		select {
		case <-s.done:
			if s.err != nil {
				s.t.Errorf("parley exited with %v after SIGTERM, want a clean exit", s.err)
			}
		case <-time.After(stopTimeout):
			_ = s.cmd.Process.Kill()
			<-s.done
			s.t.Errorf("parley did not exit within %v of SIGTERM; killed it", stopTimeout)
		}
	}
	if strings.Contains(s.log(), "WARNING: DATA RACE") {
		s.t.Errorf("the race detector reported a data race in parley")
	}
	if s.t.Failed() {
		s.t.Logf("parley output (data %s):\n%s", s.dataDir, s.log())
	}
}

// log is everything the server printed, over all its starts.
func (s *server) log() string {
	var b strings.Builder
	for i, l := range s.logs {
		if i > 0 {
			b.WriteString("---- restarted ----\n")
		}
		b.WriteString(l.String())
	}
	return b.String()
}

// cleanEnv is the test's environment without PARLEY_* variables, so that a
// developer's settings do not change what the server under test does.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PARLEY_") {
			env = append(env, kv)
		}
	}
	return env
}

// processLog collects a process's output; it is written by os/exec's copying
// goroutine and read by the test.
type processLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *processLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *processLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
