// Command existingsite is an existing Echo + templ site, Northwind Supply,
// with its own layout, sign-in, session cookie, CSRF check and CSP, that
// adds Parley's chat in a few lines (README.md, "Add Parley to your Echo
// site", shows them). A signed-in user chats as themselves, on any device.
//
//	go run ./examples/existingsite   # http://127.0.0.1:8081, sign in as ada / ada-password
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/parley/parley/parley"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "existingsite:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("existingsite", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8081", "address to listen on")
	dataDir := fs.String("data", "data-existingsite", "directory for the chat database")
	siteKeyFlag := fs.String("site-key", "", "the site's own cookie key, 32+ characters (default: a new random one, so sign-ins do not survive a restart)")
	chatKeyFlag := fs.String("chat-key", "", "Parley's cookie key, 32+ characters, not the site's (default: a new random one, so chats do not survive a restart)")
	agent := fs.String("agent", "alice:alice-password", "NAME:PASSWORD of the agent who answers at /agent")
	if err := fs.Parse(args); err != nil {
		return err
	}
	// Each cookie has a key of its own: a key that signs one kind of cookie
	// must not sign another's.
	siteKey, chatKey := []byte(*siteKeyFlag), []byte(*chatKeyFlag)
	if len(siteKey) == 0 {
		siteKey = []byte(rand.Text() + rand.Text())
	}
	if len(chatKey) == 0 {
		chatKey = []byte(rand.Text() + rand.Text())
	}
	agentName, agentPassword, ok := strings.Cut(*agent, ":")
	if !ok {
		return errors.New("-agent: want NAME:PASSWORD")
	}
	if err := os.MkdirAll(*dataDir, 0o700); err != nil {
		return err
	}
	site := newSite(siteKey,
		&user{ID: "u-1001", Name: "ada", Password: "ada-password", FirstName: "Ada", LastName: "Lovelace", Email: "ada@example.com"},
		&user{ID: "u-1002", Name: "grace", Password: "grace-password", FirstName: "Grace", LastName: "Hopper", Email: "grace@example.com"},
	)

	// README.md "Add Parley to your Echo site": begin
	chat, err := parley.New(ctx, parley.Config{
		SQLitePath:  filepath.Join(*dataDir, "chat.db"),
		SessionKeys: [][]byte{chatKey},
		Agents:      []parley.Agent{{Name: agentName, Password: agentPassword}},
		Visitor:     site.chatVisitor, // optional: your signed-in user is the visitor
	})
	if err != nil {
		return err
	}
	defer chat.Close()

	e := echo.New()
	e.Use(middleware.CSRFWithConfig(middleware.CSRFConfig{TokenLookup: "form:_csrf", Skipper: chat.Skipper}))
	chat.Mount(e)
	e.GET("/account", func(c echo.Context) error {
		return render(c, http.StatusOK, layout(site.page(c, "My account"), accountBody(site.user(c)), chat.Assets(), chat.Widget(c)))
	}, site.requireLogin)
	// README.md "Add Parley to your Echo site": end

	e.HideBanner, e.HidePort = true, true
	e.Use(security)
	show := func(c echo.Context, status int, title string, body templ.Component) error {
		return render(c, status, layout(site.page(c, title), body, chat.Assets(), chat.Widget(c)))
	}
	e.GET("/", func(c echo.Context) error { return show(c, http.StatusOK, "Home", homeBody()) })
	e.GET("/orders", func(c echo.Context) error { return show(c, http.StatusOK, "My orders", ordersBody()) }, site.requireLogin)
	e.GET("/login", func(c echo.Context) error {
		return show(c, http.StatusOK, "Sign in", loginBody(site.page(c, "").CSRF, "", ""))
	})
	e.POST("/login", func(c echo.Context) error {
		ok, err := site.login(c)
		if err != nil {
			return err
		}
		if !ok {
			return show(c, http.StatusUnprocessableEntity, "Sign in", loginBody(site.page(c, "").CSRF, c.FormValue("user"), "Wrong user name or password."))
		}
		return c.Redirect(http.StatusSeeOther, "/account")
	})
	e.POST("/logout", func(c echo.Context) error {
		if err := site.logout(c); err != nil {
			return err
		}
		return c.Redirect(http.StatusSeeOther, "/")
	})
	e.GET("/assets/*", echo.WrapHandler(http.StripPrefix("/assets", assetsHandler())))
	e.GET("/healthz", chat.Health)

	return serve(ctx, e, chat, *addr, stdout)
}

// serve serves e on addr until ctx is done, then shuts down: Parley's live
// connections first, so that they do not hold up the server's shutdown.
func serve(ctx context.Context, e *echo.Echo, chat *parley.Parley, addr string, stdout io.Writer) error {
	listener, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "existingsite listening on http://%s\n", listener.Addr())
	// The timeouts keep a client that opens connections and sends or reads
	// nothing from holding them; the write timeout is past a long-poll's
	// 25 s wait.
	server := &http.Server{
		Handler:           e,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      time.Minute,
		IdleTimeout:       2 * time.Minute,
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- server.Serve(listener) }()
	select {
	case err := <-serveErr:
		return err
	case <-ctx.Done():
	}
	// docs/embedding.md "Shutdown": begin
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := chat.Shutdown(shutdownCtx); err != nil {
		return err
	}
	return server.Shutdown(shutdownCtx)
	// docs/embedding.md "Shutdown": end
}
