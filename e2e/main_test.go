// Package e2e checks Parley as its users meet it: the real server binary,
// started and killed like a process in production, driven by real headless
// Chromium through the Chrome DevTools Protocol.
//
// Tests read like a visitor's steps (clickButton("Start chat"),
// fillField("Email", …), waitText(…)) and find controls by accessible role
// and name, as a screen reader does. Each test gets its own server and data
// directory, and its pages are tabs of their own browser contexts (their own
// cookies and storage) in one shared Chromium, unless a test needs a browser
// started with options of its own.
package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/parley/parley/chatclient"
)

// chromiumPath is Debian's chromium; CI installs it (.ci/run). Its absence
// fails the package: a browser test that skips would pass without testing.
const chromiumPath = "/usr/bin/chromium"

// serverBin is the parley binary TestMain builds once, so that tests can run
// it as a process: kill -9 it and start it again on the same data;
// exampleBin is the existing-site example (examples/existingsite).
var serverBin, exampleBin string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	if _, err := os.Stat(chromiumPath); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: FAIL: the browser tests need Chromium at %s (%v).\n"+
			"Install it with: apt-get install -y --no-install-recommends chromium (.ci/run does)\n", chromiumPath, err)
		return 1
	}
	dir, err := os.MkdirTemp("", "parley-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)

	serverBin = filepath.Join(dir, "parley")
	exampleBin = filepath.Join(dir, "existingsite")
	for bin, pkg := range map[string]string{serverBin: "..", exampleBin: "../examples/existingsite"} {
		// With -race, the server under test gets the race detector too;
		// stopServer fails the test on any race report in its output.
		if err := chatclient.Build(bin, pkg, raceEnabled); err != nil {
			fmt.Fprintln(os.Stderr, "e2e:", err)
			return 1
		}
	}
	defer closeSharedBrowser()
	return m.Run()
}
