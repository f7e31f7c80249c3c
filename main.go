// Command parley serves a website with an embedded live-chat widget and the
// agent console that answers it.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/parley/parley/agents"
	"github.com/parley/parley/chatstate"
	"github.com/parley/parley/chatstate/sqlite"
	"github.com/parley/parley/config"
	"github.com/parley/parley/handlers"
	"github.com/parley/parley/localization"
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

// expirySweep is how often chats of offline visitors are looked for; it
// bounds how late past its maxOfflineDuration a chat ends.
const expirySweep = time.Second

// run builds every dependency from the configuration, serves until ctx is
// done, then shuts down cleanly. Tests call it with -addr 127.0.0.1:0 and
// read the address from the "listening" line on stdout.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := config.Parse(args, getenv, stderr)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))

	if strings.HasPrefix(cfg.DatabaseURL, "postgres") {
		return errors.New("-database-url: the PostgreSQL backend is not available yet; leave it empty to use SQLite")
	}
	store, err := sqlite.Open(ctx, filepath.Join(cfg.DataDir, "parley.db"))
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	defer store.Close()

	secrets, err := cfg.SessionSecrets()
	if err != nil {
		return err
	}
	catalogs, err := localization.New(localization.Config{Sources: cfg.Localization, Logger: logger})
	if err != nil {
		return fmt.Errorf("localization: %w", err)
	}
	accounts, err := agentAccounts(cfg.Agents, stdout)
	if err != nil {
		return err
	}
	chats := chatstate.NewService(chatstate.Config{
		Store:             store,
		DefaultMaxOffline: cfg.MaxOffline,
		MaxOfflineCap:     cfg.MaxOfflineCap,
	})
	closing := make(chan struct{})
	server := &http.Server{
		Handler: handlers.New(handlers.Deps{
			Chats:          chats,
			Catalogs:       catalogs,
			Agents:         accounts,
			SessionSecrets: secrets,
			AllowedOrigins: cfg.AllowedOrigins,
			Closing:        closing,
			Ready:          storeReady(store),
			Logger:         logger,
		}),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	listener, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "parley listening on http://%s\n", listener.Addr())

	// Background work ends with the server: stopBackground, then wait.
	bgCtx, stopBackground := context.WithCancel(ctx)
	var background sync.WaitGroup
	defer background.Wait()
	defer stopBackground()
	background.Go(func() { catalogs.Run(bgCtx) })
	background.Go(func() {
		chats.RunExpiry(bgCtx, expirySweep, func(err error) { logger.Error("expire offline chats", "err", err) })
	})

	serveErr := make(chan error, 1)
	go func() { serveErr <- server.Serve(listener) }()
	select {
	case err := <-serveErr:
		return err
	case <-ctx.Done():
	}
	close(closing)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := server.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// agentAccounts hashes the configured agents' passwords. With none
// configured, a "demo" agent gets a random password, printed once so that
// whoever started the server can sign in.
func agentAccounts(configured []config.Agent, stdout io.Writer) (*agents.Accounts, error) {
	creds := make([]agents.Credential, len(configured))
	for i, a := range configured {
		creds[i] = agents.Credential{Name: a.Name, Password: a.Password}
	}
	if len(creds) == 0 {
		demo := agents.Credential{Name: "demo", Password: agents.NewPassword()}
		creds = append(creds, demo)
		fmt.Fprintf(stdout, "agent %s password: %s\n", demo.Name, demo.Password)
	}
	accounts, err := agents.New(creds, 0)
	if err != nil {
		return nil, fmt.Errorf("agents: %w", err)
	}
	return accounts, nil
}

// storeReady answers /healthz: the store must answer a query.
func storeReady(store chatstate.Store) func(context.Context) error {
	return func(ctx context.Context) error {
		_, err := store.ListChats(ctx, chatstate.ChatFilter{Limit: 1})
		return err
	}
}
