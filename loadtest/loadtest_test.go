package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parley/parley/chatclient"
)

// parleyBin is the parley binary TestMain builds once, run as the server
// under test as in production (as soak and e2e do); LOADTEST_PARLEY names
// one built elsewhere instead.
var parleyBin string

func TestMain(m *testing.M) {
	// The tool starts its workers and the baseline as processes of its own
	// executable; in a test that is this binary.
	if os.Getenv(childEnv) != "" {
		if err := run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, "loadtest:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	if bin := os.Getenv("LOADTEST_PARLEY"); bin != "" {
		// A parley built elsewhere (another commit, say) instead of this tree's.
		parleyBin = bin
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "parley-loadtest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	parleyBin = filepath.Join(dir, "parley")
	if err := chatclient.Build(parleyBin, "..", false); err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		return 1
	}
	return m.Run()
}

// TestScenarios runs every scenario at a tiny size against a real Parley
// and the baseline, and checks that each operation happened, without
// errors.
func TestScenarios(t *testing.T) {
	common := []string{"-parley", parleyBin, "-agents", "4", "-settle", "200ms", "-rate", "50"}
	tests := []struct {
		scenario string
		args     []string
		ops      []string // operations that must have happened on both servers
	}{
		{"idle-ws", []string{"-n", "6", "-duration", "1s", "-workers", "2"}, []string{"setup", "connect", "hold"}},
		{"idle-poll", []string{"-n", "4", "-duration", "1s", "-workers", "1"}, []string{"setup", "hold"}},
		{"mix", []string{"-n", "4", "-duration", "4s", "-msg-every", "1s", "-nav-every", "2s", "-reply-after", "100ms",
			"-typing-for", "100ms", "-chats-per-agent", "2", "-workers", "-1"}, []string{"setup", "ack", "feed", "reply", "deliver", "nav", "connect"}},
		{"restore", []string{"-n", "2", "-messages", "8", "-duration", "1s", "-workers", "1"}, []string{"seed", "restore", "page", "static"}},
		{"capacity", []string{"-idle", "3", "-start", "2", "-step", "2", "-max", "4", "-probe-chats", "1", "-messages", "3", "-probe-every", "300ms",
			"-duration", "3s", "-msg-every", "1s", "-nav-every", "1500ms", "-reply-after", "100ms", "-typing-for", "100ms", "-chats-per-agent", "2",
			"-max-ack-p99", "10s", "-max-restore-p99", "10s", "-workers", "1"}, []string{"idle-setup", "ack@2", "restore@2", "ack@4", "restore@4"}},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			t.Parallel()
			out := filepath.Join(t.TempDir(), "report.json")
			args := append(append([]string{tt.scenario}, common...), tt.args...)
			args = append(args, "-json", out)
			var stdout, stderr bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			if err := run(ctx, args, nil, &stdout, &stderr); err != nil {
				t.Fatalf("loadtest %s: %v\n%s\n%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
			}
			data, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			var rep report
			if err := json.Unmarshal(data, &rep); err != nil {
				t.Fatal(err)
			}
			got := map[string]row{}
			for _, r := range rep.Rows {
				got[r.Server+" "+r.Op] = r
				if r.Errors != 0 {
					t.Errorf("%s %s: %d errors, want none: %v", r.Server, r.Op, r.Errors, r.Examples)
				}
			}
			for _, server := range []string{"parley", "baseline"} {
				for _, op := range tt.ops {
					r, ok := got[server+" "+op]
					if !ok {
						t.Errorf("%s: no %s row in the report", server, op)
						continue
					}
					if r.Ops == 0 {
						t.Errorf("%s %s: no operations, want some", server, op)
					}
					if r.Rate <= 0 && op != "hold" {
						t.Errorf("%s %s: throughput %v, want > 0", server, op, r.Rate)
					}
				}
			}
			if tt.scenario == "capacity" {
				for _, server := range []string{"parley", "baseline"} {
					if rep.Held[server] != 4 {
						t.Errorf("%s held %d active chats, want 4 (the limits are loose)", server, rep.Held[server])
					}
				}
			}
			if !strings.Contains(stdout.String(), "Parley / baseline:") {
				t.Errorf("the printed report has no ratios:\n%s", stdout.String())
			}
			if t.Failed() {
				t.Logf("report:\n%s\nlog:\n%s", stdout.String(), stderr.String())
			}
		})
	}
}

func TestHistogramQuantiles(t *testing.T) {
	var h Histogram
	for i := 1; i <= 10000; i++ {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 5000 * time.Microsecond}, {0.99, 9900 * time.Microsecond}, {1, 10000 * time.Microsecond}} {
		got := h.Quantile(tc.q)
		if diff := float64(got-tc.want) / float64(tc.want); diff < -0.01 || diff > 0.01 {
			t.Errorf("Quantile(%v) = %v, want %v within 1%%", tc.q, got, tc.want)
		}
	}
	var merged Histogram
	merged.Merge(&h)
	merged.Merge(&h)
	if merged.N != 20000 || merged.Quantile(0.5) != h.Quantile(0.5) {
		t.Errorf("merged: n %d p50 %v, want 20000 and %v", merged.N, merged.Quantile(0.5), h.Quantile(0.5))
	}
}

func TestSourceAddrsDistinct(t *testing.T) {
	seen := map[string]int{}
	for i := range 200_000 {
		a := sourceAddr(i)
		if b := a.As4(); b[0] != 127 || b[3] == 0 || b[3] == 255 {
			t.Fatalf("sourceAddr(%d) = %v, want 127.x.y.z with z in 1..254", i, a)
		}
		if j, dup := seen[a.String()]; dup {
			t.Fatalf("sourceAddr(%d) = sourceAddr(%d) = %v", i, j, a)
		}
		seen[a.String()] = i
	}
}
