// Command parley serves the demo site with Parley's live-chat widget and
// the agent console that answers it.
package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/parley/parley/agents"
	"github.com/parley/parley/config"
	"github.com/parley/parley/demo"
	"github.com/parley/parley/listenlimit"
	"github.com/parley/parley/parley"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "parley:", err)
		os.Exit(1)
	}
}

// shutdownGrace is how long in-flight requests get to finish on shutdown.
const shutdownGrace = 10 * time.Second

// maxStreamsPerConn is the most HTTP/2 streams a connection may have open.
const maxStreamsPerConn = 32

// run builds every dependency from the configuration, serves until ctx is
// done, then shuts down cleanly. Tests call it with -addr 127.0.0.1:0 and
// read the address from the "listening" line on stdout.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := config.Parse(args, getenv, stderr)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	secrets, err := cfg.SessionSecrets()
	if err != nil {
		return err
	}
	for flag, variable := range cfg.SecretFlags {
		logger.Warn("a secret given as a flag is readable by every user of this machine (ps, /proc): give it in the environment instead", "flag", flag, "variable", variable)
	}
	if cfg.Chat.DatabaseURL != "" && len(cfg.SessionKeys) == 0 {
		// Instances sharing a database must read each other's cookies.
		logger.Warn("no -session-key: the key generated in -data is this instance's alone; give every instance on the database the same PARLEY_SESSION_KEYS")
	}
	chatCfg := cfg.Chat
	chatCfg.SessionKeys = secrets
	chatCfg.Agents = agentAccounts(chatCfg.Agents, stdout)
	chatCfg.Logger = logger
	chat, err := parley.New(ctx, chatCfg)
	if err != nil {
		return err
	}
	defer chat.Close()

	ipExtractor := chat.IPExtractor()
	clientOf := func(r *http.Request) netip.Prefix {
		addr, err := netip.ParseAddr(ipExtractor(r))
		if err != nil {
			return netip.Prefix{}
		}
		return listenlimit.Client(addr, cfg.Chat.IPv6Prefix)
	}
	var handler http.Handler = demo.New(chat, logger)
	if cfg.TLSCert != "" && cfg.HSTSMaxAge > 0 {
		handler = strictTransport(handler, cfg.HSTSMaxAge)
	}
	server := &http.Server{
		Handler:           listenlimit.Requests(handler, cfg.MaxRequestsPerAddress, clientOf),
		ReadHeaderTimeout: 10 * time.Second,
		// A request's body comes within this, and an idle keep-alive
		// connection is closed after the other: a client that opens
		// connections and sends nothing cannot hold them. Live WebSockets
		// set their own deadlines once upgraded.
		ReadTimeout: cfg.ReadTimeout,
		// A client that does not read its answer (a stalled HTTP/2 stream,
		// pipelined requests never read) lets go of it by then.
		WriteTimeout: cfg.WriteTimeout,
		IdleTimeout:  cfg.IdleTimeout,
		// Go allows 250 streams a connection; each stream in flight holds a
		// handler and its buffers, and a browser needs few at once here.
		HTTP2:    &http.HTTP2Config{MaxConcurrentStreams: maxStreamsPerConn},
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	scheme := "http"
	if cfg.TLSCert != "" {
		// Loaded now, so that a bad certificate stops the start. Renewed
		// files take a restart (or a proxy in front that renews them).
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return fmt.Errorf("tls: %w", err)
		}
		server.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		scheme = "https"
	}
	listener, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	listener = listenlimit.New(listener, listenlimit.Config{
		PerAddress: cfg.MaxOpenPerAddress,
		IPv6Prefix: cfg.Chat.IPv6Prefix,
		Total:      cfg.MaxOpen,
		Exempt:     chat.IsTrustedProxy,
	})
	if cfg.PprofAddr != "" {
		_, stopProfiler, err := serveProfiler(cfg.PprofAddr, logger)
		if err != nil {
			return err
		}
		defer stopProfiler()
	}
	fmt.Fprintf(stdout, "parley listening on %s://%s\n", scheme, listener.Addr())

	serveErr := make(chan error, 1)
	go func() {
		if server.TLSConfig != nil {
			// HTTP/2 as well; a WebSocket takes HTTP/1.1, which browsers
			// ask for since Go's HTTP/2 offers no WebSocket (RFC 8441).
			serveErr <- server.ServeTLS(listener, "", "")
			return
		}
		serveErr <- server.Serve(listener)
	}()
	select {
	case err := <-serveErr:
		return err
	case <-ctx.Done():
	}
	// Parley ends its live connections first, telling their clients to come
	// back later; the server then waits for the other requests, and
	// chat.Close closes the store once nothing uses it.
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := chat.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := server.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return chat.Close()
}

// strictTransport tells browsers to reach this host over HTTPS only, for
// maxAge; it goes on every answer, as browsers heed it only over TLS.
func strictTransport(next http.Handler, maxAge time.Duration) http.Handler {
	value := fmt.Sprintf("max-age=%d", int64(maxAge.Seconds()))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Strict-Transport-Security", value)
		next.ServeHTTP(w, r)
	})
}

// serveProfiler serves net/http/pprof on addr, which must be a loopback
// address: profiles show what the server does, to whoever may see that. It
// answers only requests that name it by its loopback address or localhost,
// so that a page on another site cannot reach it through a DNS name that
// points at loopback (DNS rebinding); and it has no /debug/pprof/cmdline,
// which would show secrets given as flags.
func serveProfiler(addr string, logger *slog.Logger) (bound net.Addr, stop func(), err error) {
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		return nil, nil, fmt.Errorf("pprof-addr %q: want a loopback address and port, such as 127.0.0.1:6060", addr)
	}
	listener, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	// Where goroutines wait (channels, locks, the database pool) is what a
	// latency that grows while the CPU idles needs; sampling it costs little.
	runtime.SetBlockProfileRate(int(100 * time.Microsecond))
	runtime.SetMutexProfileFraction(100)
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	_, port, _ := net.SplitHostPort(listener.Addr().String())
	hosts := map[string]bool{listener.Addr().String(): true, net.JoinHostPort("localhost", port): true}
	server := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !hosts[r.Host] {
				http.Error(w, "unknown host", http.StatusMisdirectedRequest)
				return
			}
			mux.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       time.Minute,
	}
	go func() {
		if err := server.Serve(listener); err != nil && err != http.ErrServerClosed {
			logger.Error("profiler", "err", err)
		}
	}()
	logger.Info("profiler listening", "addr", listener.Addr().String())
	return listener.Addr(), func() { server.Close() }, nil
}

// agentAccounts are the configured agents. With none configured, a "demo"
// agent gets a random password, printed once so that whoever started the
// server can sign in.
func agentAccounts(accounts []parley.Agent, stdout io.Writer) []parley.Agent {
	if len(accounts) == 0 {
		demo := parley.Agent{Name: "demo", Password: agents.NewPassword(), DisplayName: "Demo Agent"}
		accounts = append(accounts, demo)
		fmt.Fprintf(stdout, "agent %s password: %s\n", demo.Name, demo.Password)
	}
	return accounts
}
