package handlers

import (
	"crypto/subtle"
	"log/slog"
	"net/http"
	"net/netip"
	"runtime"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/parley/parley/chatstate"
)

// The transport label of the latency histograms: a WebSocket, or plain
// HTTP (the long-poll fallback and the form posts).
const (
	transportWebSocket = "websocket"
	transportHTTP      = "http"
)

// latencyBuckets, in seconds, run from well under DESIGN §8's targets
// (a restore in 10 ms, an ack in 50 ms, both bucket bounds) to the few
// seconds of a server in trouble.
func latencyBuckets() []float64 {
	return []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}
}

// metrics are one Parley's Prometheus collectors. Each Parley has its own
// registry, not the client library's global one, so that two of them in
// one process neither collide nor count each other's work.
type metrics struct {
	handler http.Handler
	// restoreRender times Widget for a page that restores a chat.
	restoreRender prometheus.Histogram
	// sendAck times a send from its arrival to its ack written, by transport.
	sendAck *prometheus.HistogramVec
	// publishDelivery times an event from the hub to a live subscriber's
	// connection, by transport.
	publishDelivery *prometheus.HistogramVec
}

// newMetrics registers the runtime's, the process's and Parley's metrics;
// hubStats is read at each scrape.
func newMetrics(hubStats func() chatstate.HubStats, log *slog.Logger) *metrics {
	m := &metrics{
		restoreRender: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "parley_restore_render_seconds",
			Help:    "Time to restore and render the widget of a page that shows a chat.",
			Buckets: latencyBuckets(),
		}),
		sendAck: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "parley_send_ack_seconds",
			Help:    "Time from a message send arriving to its acknowledgement written, by transport.",
			Buckets: latencyBuckets(),
		}, []string{"transport"}),
		publishDelivery: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "parley_publish_delivery_seconds",
			Help:    "Time from an event's publication to its frame written to a live subscriber, by transport.",
			Buckets: latencyBuckets(),
		}, []string{"transport"}),
	}
	for _, transport := range []string{transportWebSocket, transportHTTP} {
		// Both series exist from the start, so a rate over them is never
		// missing rather than zero.
		m.sendAck.WithLabelValues(transport)
		m.publishDelivery.WithLabelValues(transport)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		newHubCollector(hubStats),
		// The names Parley served before the Go collector, kept for the
		// dashboards that read them.
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "parley_goroutines", Help: "Goroutines in the process."},
			func() float64 { return float64(runtime.NumGoroutine()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "parley_heap_bytes", Help: "Bytes of allocated heap objects."},
			func() float64 {
				var mem runtime.MemStats
				runtime.ReadMemStats(&mem)
				return float64(mem.HeapAlloc)
			}),
		m.restoreRender, m.sendAck, m.publishDelivery,
	)
	m.handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelError),
		Registry: reg,
	})
	return m
}

// acked records a send acknowledged over transport, which arrived at
// received.
func (m *metrics) acked(transport string, received time.Time) {
	m.sendAck.WithLabelValues(transport).Observe(time.Since(received).Seconds())
}

// delivered records a published event written to a subscriber over
// transport. An event read from the store has no publication time.
func (m *metrics) delivered(transport string, published time.Time) {
	if !published.IsZero() {
		m.publishDelivery.WithLabelValues(transport).Observe(time.Since(published).Seconds())
	}
}

// timeSend records in parley_send_ack_seconds a send posted as a form,
// whose answer (the widget, the line, or a redirect to them) is its ack; a
// refused send, answered with an error status, is not recorded.
func (m *metrics) timeSend(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		received := time.Now()
		err := next(c)
		if res := c.Response(); err == nil && res.Committed && res.Status < http.StatusBadRequest {
			m.acked(transportHTTP, received)
		}
		return err
	}
}

// hubCollector reads the hub's load at each scrape, all of it from one
// snapshot.
type hubCollector struct {
	stats                              func() chatstate.HubStats
	subscriptions, deliveries, lagging *prometheus.Desc
}

func newHubCollector(stats func() chatstate.HubStats) *hubCollector {
	return &hubCollector{
		stats: stats,
		subscriptions: prometheus.NewDesc("parley_live_subscriptions",
			"Live transport subscriptions: open WebSockets and waiting polls.", nil, nil),
		deliveries: prometheus.NewDesc("parley_deliveries_total",
			"Events handed to live subscribers.", nil, nil),
		lagging: prometheus.NewDesc("parley_lagging_subscribers_total",
			"Subscribers dropped for falling behind (they resume by seq).", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (h *hubCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- h.subscriptions
	ch <- h.deliveries
	ch <- h.lagging
}

// Collect implements prometheus.Collector.
func (h *hubCollector) Collect(ch chan<- prometheus.Metric) {
	s := h.stats()
	ch <- prometheus.MustNewConstMetric(h.subscriptions, prometheus.GaugeValue, float64(s.Subscriptions))
	ch <- prometheus.MustNewConstMetric(h.deliveries, prometheus.CounterValue, float64(s.Delivered))
	ch <- prometheus.MustNewConstMetric(h.lagging, prometheus.CounterValue, float64(s.Dropped))
}

// Metrics serves Prometheus's text format to a scraper with the metrics
// token, or without one to clients on this machine only: the numbers say
// how busy the server is, which is nobody else's business.
func (t *liveTransports) Metrics(c echo.Context) error {
	if !t.metricsAllowed(c.Request()) {
		// A plain 404, which any site's error handler knows.
		return echo.ErrNotFound
	}
	t.metrics.handler.ServeHTTP(c.Response(), c.Request())
	return nil
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
