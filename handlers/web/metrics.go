package web

import (
	"context"
	"log/slog"
	"net/http"
	"runtime"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/parley/parley/chatstate"
	"github.com/parley/parley/mail"
)

// The transport label of the latency histograms: a WebSocket, or plain
// HTTP (the long-poll fallback and the form posts).
const (
	TransportWebSocket = "websocket"
	TransportHTTP      = "http"
)

// latencyBuckets, in seconds, run from well under DESIGN §8's targets
// (a restore in 10 ms, an ack in 50 ms, both bucket bounds) to the few
// seconds of a server in trouble.
func latencyBuckets() []float64 {
	return []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}
}

// Metrics are one Parley's Prometheus collectors. Each Parley has its own
// registry, not the client library's global one, so that two of them in
// one process neither collide nor count each other's work.
type Metrics struct {
	// Handler serves the registry in Prometheus's text format.
	Handler http.Handler
	// RestoreRender times Widget for a page that restores a chat.
	RestoreRender prometheus.Histogram
	// sendAck times a send from its arrival to its ack written, by transport.
	sendAck *prometheus.HistogramVec
	// publishDelivery times an event from the hub to a live subscriber's
	// connection, by transport.
	publishDelivery *prometheus.HistogramVec
	// resyncs counts WebSockets whose dropped subscription was made again
	// and caught up in place.
	resyncs prometheus.Counter
}

// NewMetrics registers the runtime's, the process's and Parley's metrics;
// hubStats and, when mail is sent, mailStats are read at each scrape.
func NewMetrics(hubStats func() chatstate.HubStats, mailStats func(context.Context) (mail.Stats, error), log *slog.Logger) *Metrics {
	m := &Metrics{
		RestoreRender: prometheus.NewHistogram(prometheus.HistogramOpts{
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
		resyncs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_websocket_resyncs_total",
			Help: "WebSockets whose subscription the hub dropped, caught up from the log on the same connection.",
		}),
	}
	for _, transport := range []string{TransportWebSocket, TransportHTTP} {
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
		m.RestoreRender, m.sendAck, m.publishDelivery, m.resyncs,
	)
	if mailStats != nil {
		reg.MustRegister(newMailCollector(mailStats, log))
	}
	m.Handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelError),
		Registry: reg,
	})
	return m
}

// Acked records a send acknowledged over transport, which arrived at
// received.
func (m *Metrics) Acked(transport string, received time.Time) {
	m.sendAck.WithLabelValues(transport).Observe(time.Since(received).Seconds())
}

// Delivered records a published event written to a subscriber over
// transport. An event read from the store has no publication time.
func (m *Metrics) Delivered(transport string, published time.Time) {
	if !published.IsZero() {
		m.publishDelivery.WithLabelValues(transport).Observe(time.Since(published).Seconds())
	}
}

// Resynced records a WebSocket caught up in place after the hub dropped
// its subscription.
func (m *Metrics) Resynced() { m.resyncs.Inc() }

// TimeSend records in parley_send_ack_seconds a send posted as a form,
// whose answer (the widget, the line, or a redirect to them) is its ack; a
// refused send, answered with an error status, is not recorded.
func (m *Metrics) TimeSend(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		received := time.Now()
		err := next(c)
		if res := c.Response(); err == nil && res.Committed && res.Status < http.StatusBadRequest {
			m.Acked(TransportHTTP, received)
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

// mailScrapeTimeout bounds reading the outbox's counts for one scrape.
const mailScrapeTimeout = 2 * time.Second

// mailCollector reads the outbox and the mail sender at each scrape. The
// gauges are the outbox's, the same on every instance sharing it; the
// counters are this instance's, to be summed across instances.
type mailCollector struct {
	stats                     func(context.Context) (mail.Stats, error)
	log                       *slog.Logger
	queued, failedNow, oldest *prometheus.Desc
	sent, retries, failed     *prometheus.Desc
}

func newMailCollector(stats func(context.Context) (mail.Stats, error), log *slog.Logger) *mailCollector {
	return &mailCollector{
		stats: stats,
		log:   log,
		queued: prometheus.NewDesc("parley_mail_queued",
			"Mails in the outbox waiting to be sent, retries included (every instance's).", nil, nil),
		failedNow: prometheus.NewDesc("parley_mail_failed",
			"Mails given up and kept in the outbox as failed (every instance's).", nil, nil),
		oldest: prometheus.NewDesc("parley_mail_oldest_queued_seconds",
			"Age of the oldest mail waiting in the outbox; 0 when none waits.", nil, nil),
		sent: prometheus.NewDesc("parley_mail_sent_total",
			"Mails this instance sent.", nil, nil),
		retries: prometheus.NewDesc("parley_mail_retries_total",
			"Attempts of this instance that failed and will be retried.", nil, nil),
		failed: prometheus.NewDesc("parley_mail_failed_total",
			"Mails this instance gave up on.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *mailCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.queued, c.failedNow, c.oldest, c.sent, c.retries, c.failed} {
		ch <- d
	}
}

// Collect implements prometheus.Collector. When the outbox cannot be
// read, its gauges are left out rather than reported as zero.
func (c *mailCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), mailScrapeTimeout)
	defer cancel()
	s, err := c.stats(ctx)
	if err != nil {
		c.log.Error("metrics: read the mail outbox", "err", err)
	} else {
		ch <- prometheus.MustNewConstMetric(c.queued, prometheus.GaugeValue, float64(s.Outbox.Queued))
		ch <- prometheus.MustNewConstMetric(c.failedNow, prometheus.GaugeValue, float64(s.Outbox.Failed))
		ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, s.Outbox.OldestQueued.Seconds())
	}
	ch <- prometheus.MustNewConstMetric(c.sent, prometheus.CounterValue, float64(s.Sent))
	ch <- prometheus.MustNewConstMetric(c.retries, prometheus.CounterValue, float64(s.Retried))
	ch <- prometheus.MustNewConstMetric(c.failed, prometheus.CounterValue, float64(s.Failed))
}
