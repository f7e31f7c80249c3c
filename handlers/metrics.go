package handlers

import (
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strings"

	"github.com/labstack/echo/v4"
)

// Metrics serves Prometheus's text format to clients on this machine only:
// the numbers say how busy the server is, which is nobody else's business.
func (t *liveTransports) Metrics(c echo.Context) error {
	if ip := net.ParseIP(c.RealIP()); ip == nil || !ip.IsLoopback() {
		// A plain 404, which any site's error handler knows.
		return echo.ErrNotFound
	}
	stats := t.chats.Hub().Stats()
	var mem runtime.MemStats
	runtime.ReadMemStats(&mem)
	var b strings.Builder
	metric := func(name, kind, help string, value any) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n%s %v\n", name, help, name, kind, name, value)
	}
	metric("parley_live_subscriptions", "gauge", "Live transport subscriptions: open WebSockets and waiting polls.", stats.Subscriptions)
	metric("parley_deliveries_total", "counter", "Events handed to live subscribers.", stats.Delivered)
	metric("parley_lagging_subscribers_total", "counter", "Subscribers dropped for falling behind (they resume by seq).", stats.Dropped)
	metric("parley_goroutines", "gauge", "Goroutines in the process.", runtime.NumGoroutine())
	metric("parley_heap_bytes", "gauge", "Bytes of allocated heap objects.", mem.HeapAlloc)
	return c.Blob(http.StatusOK, "text/plain; version=0.0.4; charset=utf-8", []byte(b.String()))
}
