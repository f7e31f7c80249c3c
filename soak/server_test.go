package soak

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// sessionKey is fixed, so that a restarted server reads the cookies the
// clients hold.
const sessionKey = "soak-session-key-0123456789abcdefghijklmnop"

const startTimeout = 30 * time.Second

var listeningLine = regexp.MustCompile(`listening on http://(\S+)`)

// server is the parley process under test: started, killed with SIGKILL
// and started again on the same address and data.
type server struct {
	dataDir string
	args    []string
	// addr is where it listens, host:port; the same after every restart.
	addr string

	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
	log  processLog
}

// start runs the binary on addr and waits until /healthz answers.
func (s *server) start(addr string) (err error) {
	args := append([]string{"-addr", addr, "-data", s.dataDir, "-session-key", sessionKey}, s.args...)
	s.log.mark(fmt.Sprintf("---- parley %s ----\n", strings.Join(args, " ")))
	from := s.log.len()
	cmd := exec.Command(serverBin, args...)
	cmd.Env = cleanEnv()
	cmd.Stdout, cmd.Stderr = &s.log, &s.log
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	s.cmd, s.done = cmd, done
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	defer func() {
		if err != nil {
			// Half started: no second process may run on the same data.
			_ = cmd.Process.Kill()
			<-done
		}
	}()
	deadline := time.Now().Add(startTimeout)
	for {
		if m := listeningLine.FindStringSubmatch(s.log.since(from)); m != nil {
			s.addr = m[1]
			break
		}
		select {
		case <-done:
			return fmt.Errorf("parley exited before listening")
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("parley printed no listening line within %v", startTimeout)
		}
	}
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for time.Now().Before(deadline) {
		resp, err := client.Get("http://" + s.addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-done:
			return fmt.Errorf("parley exited while starting")
		case <-time.After(20 * time.Millisecond):
		}
	}
	return fmt.Errorf("/healthz not OK within %v", startTimeout)
}

// stablePort finds a free loopback port below the kernel's ephemeral range,
// which outgoing connections never take: while the server is down between
// a kill and its restart, its port cannot become some connection's source
// port and stop it from listening again.
func stablePort(rng *rand.Rand) (string, error) {
	low := 32768
	if data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(data)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil {
				low = n
			}
		}
	}
	if low <= 10000 {
		return "127.0.0.1:0", nil
	}
	for range 100 {
		addr := fmt.Sprintf("127.0.0.1:%d", 10000+rng.IntN(low-10000))
		if ln, err := net.Listen("tcp", addr); err == nil {
			ln.Close()
			return addr, nil
		}
	}
	return "", errors.New("no free port below the ephemeral range")
}

// kill9 kills the server as a crash or an OOM kill would: no shutdown code
// runs.
func (s *server) kill9() error {
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return err
	}
	select {
	case <-s.done:
		return nil
	case <-time.After(15 * time.Second):
		return errors.New("parley still running 15 s after SIGKILL")
	}
}

// stop ends the server with SIGTERM, as a deployment does.
func (s *server) stop() error {
	select {
	case <-s.done:
		return nil
	default:
	}
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	select {
	case <-s.done:
		if !s.cmd.ProcessState.Success() {
			return fmt.Errorf("parley exited with %v after SIGTERM", s.cmd.ProcessState)
		}
		return nil
	case <-time.After(15 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
		return errors.New("parley did not exit within 15 s of SIGTERM")
	}
}

// cleanEnv is the environment without PARLEY_* variables, so that a
// developer's settings do not change the server under test.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PARLEY_") {
			env = append(env, kv)
		}
	}
	return env
}

// processLog collects the output of every start of the process.
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

func (l *processLog) String() string { return l.since(0) }
