// Package soak is Parley's fault-injection soak test: protocol clients (no
// browser) drive visitors and agents through reloads, navigations and
// reconnects over both live transports, through a TCP proxy that resets
// connections mid-frame, black-holes them and cuts long-poll answers, while
// the server is killed with SIGKILL and restarted on the same data. At the
// end every acknowledged message must be shown exactly once, in seq order,
// by every visitor and by the agent console.
//
// `go test ./soak` runs a CI-sized count; the long run is
//
//	go test ./soak -run 'TestSoak$' -v -timeout 30m -args -cycles 1000
//
// and on three instances sharing one PostgreSQL database (see pgtest for
// the server it runs on)
//
//	go test ./soak -run TestSoakInstances -v -timeout 30m -args -cycles 400 -chats 16 -kills 4
package soak

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/parley/parley/chatclient"
)

var (
	cycles = flag.Int("cycles", 30, "reload / navigate / reconnect cycles, over all visitors and agents")
	chats  = flag.Int("chats", 4, "visitors, each with a chat of its own")
	agents = flag.Int("agents", 2, "agents sharing the chats")
	kills  = flag.Int("kills", 0, "SIGKILL restarts of the server during the run (0: one per 200 cycles, at least one)")
	seed   = flag.Uint64("seed", 1, "seed of every random choice: faults, transports, actions")
)

// serverBin is the parley binary TestMain builds once.
var serverBin string

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "parley-soak-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	serverBin = filepath.Join(dir, "parley")
	// The server gets the race detector too when the test has it; a report
	// in its output fails the test.
	if err := chatclient.Build(serverBin, "..", raceEnabled); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		return 1
	}
	return m.Run()
}
