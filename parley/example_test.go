package parley_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/parley/parley/parley"
)

// An Echo site adds the chat: build Parley, mount its routes, and render
// its assets and widget in the site's own layout.
func Example() {
	dir, err := os.MkdirTemp("", "parley-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	chat, err := parley.New(context.Background(), parley.Config{
		SQLitePath:  filepath.Join(dir, "chat.db"),
		SessionKeys: [][]byte{[]byte("replace me: 32 or more random bytes")},
		Agents:      []parley.Agent{{Name: "alice", Password: "a long password"}},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer chat.Close()

	e := echo.New()
	chat.Mount(e) // /chat/… for visitors, /agent/… for agents
	e.GET("/", func(c echo.Context) error {
		// Widget restores the visitor's chat now, before the page is written.
		page := layout("Home", chat.Assets(), chat.Widget(c))
		return page.Render(c.Request().Context(), c.Response())
	})

	res := httptest.NewRecorder()
	e.ServeHTTP(res, httptest.NewRequest(http.MethodGet, "/", nil))
	doc, err := goquery.NewDocumentFromReader(res.Body)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Code, doc.Find("#parley-widget .parley-launcher button").Text())
	fmt.Println(doc.Find(`script[src$="chat.js"]`).AttrOr("src", ""))
	// Output:
	// 200 Open chat
	// /chat/static/chat.js
}

// A server stops in three steps: Parley's live connections first (they
// would hold http.Server.Shutdown up, and are told to come back later),
// then the server's other requests, then Parley's background work and
// store.
func ExampleParley_Shutdown() {
	dir, err := os.MkdirTemp("", "parley-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	// New's context bounds opening the store only: a setup timeout is fine.
	setup, cancelSetup := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancelSetup()
	chat, err := parley.New(setup, parley.Config{
		SQLitePath:  filepath.Join(dir, "chat.db"),
		SessionKeys: [][]byte{[]byte("replace me: 32 or more random bytes")},
	})
	if err != nil {
		log.Fatal(err)
	}
	e := echo.New()
	chat.Mount(e)
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	server := &http.Server{Handler: e, ReadHeaderTimeout: 10 * time.Second}
	go server.Serve(listener)

	// On SIGTERM:
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fmt.Println(chat.Shutdown(ctx))
	fmt.Println(server.Shutdown(ctx))
	fmt.Println(chat.Close())
	// Output:
	// <nil>
	// <nil>
	// <nil>
}

// Opening hours in the team's time zone: the schedule reads the zone's wall
// clock, in summer and in winter alike.
func ExampleParseHours() {
	hours, err := parley.ParseHours(`
		Europe/Berlin
		Mon-Fri 09:00-17:00   # weekdays
		Sat 10:00-14:00
		closed 2026-12-24..2026-12-26
	`)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(hours)

	friday := time.Date(2026, 12, 18, 16, 30, 0, 0, time.UTC) // 17:30 in Berlin
	next, _ := hours.NextOpen(friday)
	fmt.Println(hours.Open(friday), next)
	christmasEve := time.Date(2026, 12, 24, 9, 0, 0, 0, time.UTC)
	next, _ = hours.NextOpen(christmasEve)
	fmt.Println(hours.Open(christmasEve), next)
	// Output:
	// Europe/Berlin; Mon-Fri 09:00-17:00; Sat 10:00-14:00; closed 2026-12-24..2026-12-26
	// false 2026-12-19 10:00:00 +0100 CET
	// false 2026-12-28 09:00:00 +0100 CET
}

// layout stands for the site's own templ layout: in a .templ file it is
//
//	templ layout(title string, chatAssets, chatWidget templ.Component) {
//		<html><head><title>{ title }</title>@chatAssets</head>
//		<body><main>…</main>@chatWidget</body></html>
//	}
func layout(title string, chatAssets, chatWidget templ.Component) templ.Component {
	return templ.ComponentFunc(func(ctx context.Context, w io.Writer) error {
		if _, err := io.WriteString(w, "<!DOCTYPE html><html><head><title>"+templ.EscapeString(title)+"</title>"); err != nil {
			return err
		}
		if err := chatAssets.Render(ctx, w); err != nil {
			return err
		}
		if _, err := io.WriteString(w, "</head><body><main></main>"); err != nil {
			return err
		}
		if err := chatWidget.Render(ctx, w); err != nil {
			return err
		}
		_, err := io.WriteString(w, "</body></html>")
		return err
	})
}
