package soak

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/parley/parley/chatclient"
)

// sessionKey is fixed, so that a restarted server reads the cookies the
// clients hold.
const sessionKey = "soak-session-key-0123456789abcdefghijklmnop"

// stopTimeout is how long a server may take to exit after SIGTERM: its
// own shutdown grace (10 s) plus a margin.
const stopTimeout = 15 * time.Second

// newServer is the parley process under test: started, killed with
// SIGKILL and started again on the same address and data.
func newServer(dataDir string, args []string) *chatclient.Server {
	return &chatclient.Server{Path: serverBin, Args: append([]string{"-data", dataDir, "-session-key", sessionKey, "-queue-without-agents"}, args...)}
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
