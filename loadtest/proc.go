package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTicks is the kernel's USER_HZ, the unit of utime and stime in
// /proc/PID/stat; 100 on every Linux this runs on.
const clockTicks = 100

// procSample is a server process's resources at one moment.
type procSample struct {
	at      time.Time
	rssKB   int64
	cpu     time.Duration // user + system time so far
	heap    int64         // bytes, from /metrics; -1 when not reported
	threads int64
}

// sampleProc reads pid's RSS and CPU time from /proc, and its heap from
// metricsURL (empty: none).
func sampleProc(ctx context.Context, pid int, metricsURL, token string) (procSample, error) {
	s := procSample{at: time.Now(), heap: -1}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(value)
		if len(f) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		switch name {
		case "VmRSS":
			s.rssKB = n
		case "Threads":
			s.threads = n
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, err
	}
	// The command name may hold spaces and parentheses: fields start after
	// the last ')'. utime and stime are fields 14 and 15 of the line.
	rest := string(stat)
	if i := strings.LastIndexByte(rest, ')'); i >= 0 {
		rest = rest[i+1:]
	}
	f := strings.Fields(rest)
	if len(f) < 13 {
		return s, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	s.cpu = time.Duration(utime+stime) * time.Second / clockTicks
	if metricsURL != "" {
		s.heap = readHeap(ctx, metricsURL, token)
	}
	return s, nil
}

// readHeap reads the first metric named *_heap_bytes from a Prometheus
// text page; -1 when there is none. The lowest of a few reads is taken:
// HeapAlloc counts garbage not yet collected.
func readHeap(ctx context.Context, metricsURL, token string) int64 {
	best := int64(-1)
	client := &http.Client{Timeout: 5 * time.Second}
	for i := range 3 {
		if i > 0 {
			time.Sleep(300 * time.Millisecond)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, metricsURL, nil)
		if err != nil {
			return best
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			return best
		}
		sc := bufio.NewScanner(io.LimitReader(resp.Body, 1<<20))
		for sc.Scan() {
			line := sc.Text()
			if strings.HasPrefix(line, "#") {
				continue
			}
			name, value, ok := strings.Cut(line, " ")
			if !ok || !strings.HasSuffix(name, "_heap_bytes") {
				continue
			}
			if v, err := strconv.ParseFloat(strings.TrimSpace(value), 64); err == nil && (best < 0 || int64(v) < best) {
				best = int64(v)
			}
			break
		}
		resp.Body.Close()
	}
	return best
}

// pidListening finds the process that listens on the port of target, by
// the socket's inode in /proc/net/tcp and the process whose fd links to it.
func pidListening(target string) (int, error) {
	u, err := url.Parse(target)
	if err != nil {
		return 0, err
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		return 0, fmt.Errorf("target %s has no port", target)
	}
	inodes := map[string]bool{}
	for _, file := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		data, err := os.ReadFile(file)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) < 10 || f[3] != "0A" { // 0A: LISTEN
				continue
			}
			_, hexPort, _ := strings.Cut(f[1], ":")
			if p, err := strconv.ParseInt(hexPort, 16, 32); err == nil && int(p) == port {
				inodes["socket:["+f[9]+"]"] = true
			}
		}
	}
	if len(inodes) == 0 {
		return 0, fmt.Errorf("nothing listens on port %d", port)
	}
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, dir := range procs {
		fds, _ := os.ReadDir(dir + "/fd")
		for _, fd := range fds {
			link, err := os.Readlink(dir + "/fd/" + fd.Name())
			if err == nil && inodes[link] {
				return strconv.Atoi(filepath.Base(dir))
			}
		}
	}
	return 0, fmt.Errorf("no process found listening on port %d (run as its user, or pass -server-pid)", port)
}

// raiseFileLimit lifts this process's open-file limit to want, the hard
// limit too when allowed (root), so that a worker can hold its share of
// connections and a server started from here inherits the limit.
func raiseFileLimit(want uint64) (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	if lim.Cur >= want {
		return lim.Cur, nil
	}
	next := lim
	next.Cur = want
	if next.Max < want {
		next.Max = want
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &next); err != nil {
		// Not allowed to raise the hard limit: take what it allows.
		next = lim
		next.Cur = lim.Max
		if err2 := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &next); err2 != nil {
			return lim.Cur, errors.Join(err, err2)
		}
		return next.Cur, nil
	}
	return next.Cur, nil
}
