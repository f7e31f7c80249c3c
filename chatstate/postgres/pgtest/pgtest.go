// Package pgtest gives tests a fresh, empty PostgreSQL database: a real
// server, never a mock.
//
// With PARLEY_TEST_POSTGRES_URL set to a server's URL (one whose user may
// create databases, like
// postgres://parley@127.0.0.1:5432/postgres?sslmode=disable), each call of
// URL creates a database of its own there and drops it when the test ends.
// Without it, the first call starts a throwaway cluster (initdb and
// postgres from /usr/lib/postgresql/*/bin or PATH) in a temporary
// directory, listening on a free loopback port, for the whole test binary;
// it stops and is removed when the test binary exits, however it exits.
// PostgreSQL refuses to run as root, so as root the cluster runs as the
// "postgres" system user, or else as "nobody".
//
// When neither is possible, the test is skipped with the reason; with the
// environment variable CI=true it fails instead, so that CI cannot pass
// without running the PostgreSQL tests.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvURL names the environment variable holding the URL of a server to
// create test databases on.
const EnvURL = "PARLEY_TEST_POSTGRES_URL"

// URL returns the URL of a new, empty database, dropped when t ends (after
// the cleanups t registers later, such as closing a store on it).
func URL(t testing.TB) string {
	t.Helper()
	srv := server()
	switch {
	case srv.skip != "" && os.Getenv("CI") == "true":
		t.Fatalf("pgtest: %s; CI must run the PostgreSQL tests", srv.skip)
	case srv.skip != "":
		t.Skipf("pgtest: %s", srv.skip)
	case srv.err != nil:
		t.Fatalf("pgtest: %v", srv.err)
	}

	name := "parley_test_" + randomHex(8)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// template0 is never connected to, so concurrent creations cannot
	// find it "being accessed by other users".
	if err := admin(ctx, srv.url, `CREATE DATABASE `+name+` TEMPLATE template0 ENCODING 'UTF8'`); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		// t's own context is done by now.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		// FORCE ends connections a test left open.
		if err := admin(ctx, srv.url, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	u, err := withDatabase(srv.url, name)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return u
}

// source is where test databases are made: a server's URL, or why there
// is none (skip: nothing to run a server with; err: it failed).
type source struct {
	url  string
	skip string
	err  error
	// stop is the supervisor's stdin: it is never written, and when the
	// process exits and it closes, the throwaway cluster stops and is
	// removed. Held here so that no finalizer closes it sooner.
	stop io.WriteCloser
}

// server finds or starts the server, once per test binary: a cluster takes
// a second or two to start, a database a fraction of that.
var server = sync.OnceValue(func() source {
	if u := os.Getenv(EnvURL); u != "" {
		return source{url: u}
	}
	return startCluster()
})

// admin runs one statement on the server's own database.
func admin(ctx context.Context, serverURL, sql string) error {
	conn, err := pgx.Connect(ctx, serverURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

// withDatabase returns serverURL naming database name instead of its own,
// in either form pgx accepts: a URL, or keyword=value settings.
func withDatabase(serverURL, name string) (string, error) {
	if !strings.Contains(serverURL, "://") {
		return serverURL + " dbname=" + name, nil
	}
	u, err := url.Parse(serverURL)
	if err != nil {
		return "", fmt.Errorf("%s: %w", EnvURL, err)
	}
	u.Path, u.RawPath = "/"+name, ""
	return u.String(), nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails
	return hex.EncodeToString(b)
}

// startCluster starts a throwaway cluster, trying a few ports in case
// another process takes the free one first.
func startCluster() source {
	bin, err := findBinaries()
	if err != nil {
		return source{skip: err.Error()}
	}
	var uid, gid *uint32
	if os.Geteuid() == 0 {
		id, err := serviceUser()
		if err != nil {
			return source{skip: err.Error()}
		}
		uid, gid = &id[0], &id[1]
	}
	var errs []error
	for range 3 {
		src, err := tryCluster(bin, uid, gid)
		if err == nil {
			return src
		}
		errs = append(errs, err)
	}
	return source{err: fmt.Errorf("start a throwaway PostgreSQL: %w", errors.Join(errs...))}
}

// findBinaries returns the directory holding initdb and postgres: the
// newest /usr/lib/postgresql/N/bin (Debian keeps them off PATH), or else
// the one of initdb on PATH.
func findBinaries() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	version := func(p string) int {
		n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(p))))
		return n
	}
	slices.SortFunc(dirs, func(a, b string) int { return version(b) - version(a) })
	if p, err := exec.LookPath("initdb"); err == nil {
		dirs = append(dirs, p)
	}
	for _, initdb := range dirs {
		dir := filepath.Dir(initdb)
		if _, err := os.Stat(filepath.Join(dir, "postgres")); err == nil {
			return dir, nil
		}
	}
	return "", fmt.Errorf("no PostgreSQL server to start (no initdb and postgres in /usr/lib/postgresql/*/bin or on PATH) and %s is not set", EnvURL)
}

// serviceUser returns the uid and gid to run PostgreSQL as when running
// as root, which PostgreSQL refuses.
func serviceUser() ([2]uint32, error) {
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 == nil && err2 == nil && uid != 0 {
			return [2]uint32{uint32(uid), uint32(gid)}, nil
		}
	}
	return [2]uint32{}, fmt.Errorf("running as root, PostgreSQL refuses root and there is no postgres or nobody user to run it as, and %s is not set", EnvURL)
}

// supervise runs PostgreSQL ($1 the postgres binary, $2 the data
// directory, $3 the port, $4 the directory to remove) until its stdin
// closes, which happens when the test binary exits, whatever the way;
// then it stops the server (fast shutdown) and removes the directory.
// The server keeps PostgreSQL's durable defaults (fsync=on), so that
// benchmarks on it measure what a deployment would.
const supervise = `
{ "$1" -D "$2" -p "$3" -c listen_addresses=127.0.0.1 -c unix_socket_directories= \
	-c max_connections=300 >"$4/server.log" 2>&1
  echo $? >"$4/exited"; } </dev/null &
cat >/dev/null
pid=$(head -n 1 "$2/postmaster.pid" 2>/dev/null) && kill -INT "$pid" 2>/dev/null
wait
rm -rf "$4"
`

// tryCluster creates a cluster in a new temporary directory and starts it
// on a free port, as uid and gid when they are set.
func tryCluster(bin string, uid, gid *uint32) (source, error) {
	dir, err := os.MkdirTemp("", "parley-pgtest-")
	if err != nil {
		return source{}, err
	}
	var cred *syscall.Credential
	if uid != nil {
		if err := os.Chown(dir, int(*uid), int(*gid)); err != nil {
			os.RemoveAll(dir)
			return source{}, err
		}
		cred = &syscall.Credential{Uid: *uid, Gid: *gid}
	}
	command := func(name string, args ...string) *exec.Cmd {
		cmd := exec.Command(name, args...)
		// The user may not reach the test's working directory.
		cmd.Dir = dir
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		return cmd
	}

	data := filepath.Join(dir, "data")
	initdb := command(filepath.Join(bin, "initdb"), "-D", data, "-U", "parley", "--auth=trust",
		"-E", "UTF8", "--locale=C", "--no-sync")
	if out, err := initdb.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return source{}, fmt.Errorf("initdb: %w\n%s", err, out)
	}

	port, err := freePort()
	if err != nil {
		os.RemoveAll(dir)
		return source{}, err
	}
	sup := command("/bin/sh", "-c", supervise, "sh", filepath.Join(bin, "postgres"), data, strconv.Itoa(port), dir)
	stop, err := sup.StdinPipe()
	if err != nil {
		os.RemoveAll(dir)
		return source{}, err
	}
	if err := sup.Start(); err != nil {
		os.RemoveAll(dir)
		return source{}, fmt.Errorf("start postgres: %w", err)
	}
	// Closing stop makes the supervisor remove dir.
	fail := func(err error) (source, error) {
		log, _ := os.ReadFile(filepath.Join(dir, "server.log"))
		stop.Close()
		sup.Wait() //nolint:errcheck // the failure is err
		return source{}, fmt.Errorf("%w\nserver log:\n%s", err, log)
	}

	u := fmt.Sprintf("postgres://parley@127.0.0.1:%d/postgres?sslmode=disable", port)
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(dir, "exited")); err == nil {
			return fail(errors.New("postgres exited"))
		}
		err := ping(u)
		if err == nil {
			return source{url: u, stop: stop}, nil
		}
		if time.Now().After(deadline) {
			return fail(fmt.Errorf("postgres not ready after a minute: %w", err))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ping connects to u once.
func ping(u string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		return err
	}
	return conn.Close(ctx)
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
