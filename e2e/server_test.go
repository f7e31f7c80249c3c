package e2e

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/parley/parley/chatclient"
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

// server is one running parley process, or one of the examples.
type server struct {
	t       testing.TB
	bin     string
	dataDir string
	// keys are the flags that give the process its cookie keys.
	keys []string
	args []string
	// URL is the server's origin, like http://127.0.0.1:40123.
	URL  string
	addr string
	// client is what the test asks the server with: one that trusts the
	// server's certificate, when it serves HTTPS (nil: the default).
	client *http.Client

	proc *chatclient.Server
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
	s := &server{t: t, bin: serverBin, dataDir: dataDir, keys: []string{"-session-key", testSessionKey}, args: extraArgs}
	s.launch("127.0.0.1:0")
	return s
}

// startExample runs the existing-site example like startServer runs parley,
// with a key of its own for the site's cookies beside Parley's.
func startExample(t testing.TB, extraArgs ...string) *server {
	t.Helper()
	s := &server{t: t, bin: exampleBin, dataDir: t.TempDir(),
		keys: []string{"-chat-key", testSessionKey, "-site-key", "e2e-site-key-0123456789abcdefghijklmnopqrstu"}, args: extraArgs}
	s.launch("127.0.0.1:0")
	return s
}

// launch starts the binary on addr and waits until it serves; the first
// launch stops it at the test's cleanup.
func (s *server) launch(addr string) {
	s.t.Helper()
	if s.proc == nil {
		args := append([]string{"-data", s.dataDir}, s.keys...)
		if s.bin == serverBin {
			// The tests of live chat keep no agent online: chat stays open
			// without one. A test of leaving a message passes
			// -queue-without-agents=false, which comes later and wins.
			args = append(args, "-queue-without-agents")
		}
		s.proc = &chatclient.Server{
			Path:         s.bin,
			Args:         append(args, s.args...),
			HTTP:         s.client,
			StartTimeout: startTimeout,
		}
		s.t.Cleanup(s.stop)
	}
	if err := s.proc.Start(context.Background(), addr); err != nil {
		s.t.Fatalf("start %s on %s: %v", s.bin, addr, err) // stop logs its output
	}
	s.URL, s.addr = s.proc.URL, s.proc.Addr
}

// kill9 kills the server with SIGKILL, as a crash or an OOM kill would: no
// shutdown code runs.
func (s *server) kill9() {
	s.t.Helper()
	if err := s.proc.Kill(); err != nil {
		s.t.Fatalf("kill -9 parley: %v", err)
	}
}

// restart starts the server again on the same address and data directory,
// after kill9 or a crash, so that the page the browser shows can reload.
func (s *server) restart() {
	s.t.Helper()
	if !s.proc.Exited() {
		s.t.Fatal("restart: the server is still running; stop it first")
	}
	s.launch(s.addr)
}

// stop sends SIGTERM and checks the server shuts down cleanly; it runs at
// the test's cleanup. A server killed on purpose by the test, or crashed
// (then the test has most likely failed already), is not stopped again.
func (s *server) stop() {
	if err := s.proc.Stop(stopTimeout); err != nil {
		s.t.Errorf("parley: %v", err)
	}
	if strings.Contains(s.log(), "WARNING: DATA RACE") {
		s.t.Errorf("the race detector reported a data race in parley")
	}
	if s.t.Failed() {
		s.t.Logf("parley output (data %s):\n%s", s.dataDir, s.log())
	}
}

// log is everything the server printed, over all its starts.
func (s *server) log() string { return s.proc.Log() }
