package handlers

import (
	"crypto/subtle"
	"fmt"
	"net/http"
	"net/netip"
	"runtime"
	"strings"

	"github.com/labstack/echo/v4"
)

// Metrics serves Prometheus's text format to a scraper with the metrics
// token, or without one to clients on this machine only: the numbers say
// how busy the server is, which is nobody else's business.
func (t *liveTransports) Metrics(c echo.Context) error {
	if !t.metricsAllowed(c.Request()) {
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

// metricsAllowed lets in the bearer of the metrics token, and without a
// token configured, a client on this machine that did not come through a
// proxy (through a trusted one on this machine, anyone could).
func (t *liveTransports) metricsAllowed(r *http.Request) bool {
	if t.metricsToken != "" {
		sent, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		return ok && subtle.ConstantTimeCompare([]byte(sent), []byte(t.metricsToken)) == 1
	}
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	return err == nil && peer.Addr().IsLoopback() && !t.fromTrustedProxy(r) && r.Header.Get("X-Forwarded-For") == ""
}
