package handlers_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/parley/parley/handlers"
)

// metricFamilies parses a scrape in Prometheus's text format.
func metricFamilies(t *testing.T, body []byte) map[string]*dto.MetricFamily {
	t.Helper()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parse metrics: %v\n%s", err, body)
	}
	return families
}

// metricValue is the value of an unlabelled gauge or counter; ok is false
// when the scrape has no such metric.
func metricValue(families map[string]*dto.MetricFamily, name string) (value float64, ok bool) {
	mf := families[name]
	if mf == nil || len(mf.GetMetric()) != 1 {
		return 0, false
	}
	m := mf.GetMetric()[0]
	switch mf.GetType() {
	case dto.MetricType_GAUGE:
		return m.GetGauge().GetValue(), true
	case dto.MetricType_COUNTER:
		return m.GetCounter().GetValue(), true
	}
	return 0, false
}

// histogramCount is how many observations a histogram's series with the
// given transport label ("" for an unlabelled histogram) holds; -1 when
// the scrape has no such series.
func histogramCount(families map[string]*dto.MetricFamily, name, transport string) int {
	mf := families[name]
	if mf.GetType() != dto.MetricType_HISTOGRAM {
		return -1
	}
	for _, m := range mf.GetMetric() {
		got := ""
		for _, l := range m.GetLabel() {
			if l.GetName() == "transport" {
				got = l.GetValue()
			}
		}
		if got == transport {
			return int(m.GetHistogram().GetSampleCount())
		}
	}
	return -1
}

// scrape reads srv's /metrics as a scraper on this machine.
func scrape(t *testing.T, srv http.Handler) map[string]*dto.MetricFamily {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, baseURL+"/metrics", nil)
	req.RemoteAddr = "127.0.0.1:40000"
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics from loopback = %d, want 200", rec.Code)
	}
	return metricFamilies(t, rec.Body.Bytes())
}

func TestMetrics(t *testing.T) {
	en := newEnv(t)
	srv := en.server()
	sub := en.chats.Hub().Subscribe("some-chat", 1)
	defer sub.Close()

	get := func(remoteAddr string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, baseURL+"/metrics", nil)
		req.RemoteAddr = remoteAddr
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		return rec
	}
	rec := get("127.0.0.1:40000")
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics from loopback = %d, want 200", rec.Code)
	}
	families := metricFamilies(t, rec.Body.Bytes())
	if got, _ := metricValue(families, "parley_live_subscriptions"); got != 1 {
		t.Errorf("parley_live_subscriptions = %v, want 1 (one open subscription)", got)
	}
	for _, name := range []string{
		"parley_deliveries_total", "parley_lagging_subscribers_total", "parley_websocket_resyncs_total", "parley_goroutines", "parley_heap_bytes",
		// The Go runtime's and the process's collectors.
		"go_goroutines", "go_memstats_heap_alloc_bytes", "process_resident_memory_bytes", "process_cpu_seconds_total",
	} {
		if _, ok := metricValue(families, name); !ok {
			t.Errorf("metric %s missing", name)
		}
	}
	sub.Close()
	if got, _ := metricValue(metricFamilies(t, get("[::1]:40000").Body.Bytes()), "parley_live_subscriptions"); got != 0 {
		t.Errorf("after Close, parley_live_subscriptions = %v, want 0", got)
	}
	if rec := get("192.0.2.7:40000"); rec.Code != http.StatusNotFound {
		t.Errorf("GET /metrics from another machine = %d, want 404", rec.Code)
	}
	// Through a proxy on this machine, the client is somewhere else.
	req := httptest.NewRequest(http.MethodGet, baseURL+"/metrics", nil)
	req.RemoteAddr = "127.0.0.1:40000"
	req.Header.Set("X-Forwarded-For", "203.0.113.9")
	rec = httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	if rec.Code != http.StatusNotFound {
		t.Errorf("GET /metrics forwarded by a local proxy = %d, want 404", rec.Code)
	}
}

// TestMetricsHistograms drives each timed path for real and reads the
// histograms back from a scrape: a page that restores a chat, sends over a
// WebSocket, a long-poll POST, the widget's form and the agent's reply, and
// live deliveries to a WebSocket and to a waiting poll.
func TestMetricsHistograms(t *testing.T) {
	en := newEnv(t)
	ls := startLiveServer(t, en.consoleDeps(nil))
	srv := ls.Config.Handler
	const (
		restore = "parley_restore_render_seconds"
		sendAck = "parley_send_ack_seconds"
		deliver = "parley_publish_delivery_seconds"
	)
	// reaches waits up to within for a count that the server records just
	// after the client has its answer.
	reaches := func(name, transport string, atLeast int, within time.Duration) (int, bool) {
		deadline := time.Now().Add(within)
		for {
			got := histogramCount(scrape(t, srv), name, transport)
			if got >= atLeast {
				return got, true
			}
			if time.Now().After(deadline) {
				return got, false
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	eventually := func(name, transport string, atLeast int) {
		t.Helper()
		if got, ok := reaches(name, transport, atLeast, 5*time.Second); !ok {
			t.Fatalf("%s{transport=%q} count = %d, want at least %d", name, transport, got, atLeast)
		}
	}

	// Every series is there from the start, empty.
	families := scrape(t, srv)
	for _, s := range []struct{ name, transport string }{
		{restore, ""},
		{sendAck, "websocket"}, {sendAck, "http"},
		{deliver, "websocket"}, {deliver, "http"},
	} {
		if got := histogramCount(families, s.name, s.transport); got != 0 {
			t.Errorf("before any traffic, %s{transport=%q} count = %d, want 0", s.name, s.transport, got)
		}
	}

	// A page without a chat restores nothing; a page of a chat does.
	en.visitor(srv).get("/").wantStatus(http.StatusOK)
	if got := histogramCount(scrape(t, srv), restore, ""); got != 0 {
		t.Errorf("after a page without a chat, %s count = %d, want 0", restore, got)
	}
	v, id := registeredVisitor(t, en, ls)
	before := histogramCount(scrape(t, srv), restore, "")
	v.get("/pricing").wantStatus(http.StatusOK)
	if got := histogramCount(scrape(t, srv), restore, ""); got != before+1 || before < 1 {
		t.Errorf("%s count = %d after registering, %d after one more page; want at least 1, then one more", restore, before, got)
	}

	// The agent takes the chat and replies with the console's form.
	a := agentBrowser(t, en, srv, "alice")
	a.post("/agent/chats/"+id+"/accept", nil).wantRedirect("/agent/chats/" + id)
	a.post("/agent/chats/"+id+"/messages", url.Values{"text": {"Hello Ada"}}).wantRedirect("/agent/chats/" + id)
	eventually(sendAck, "http", 1)

	// The visitor sends over a WebSocket, and gets her own message back live.
	conn := mustDial(t, ls, v)
	send(t, conn, map[string]any{"type": "hello", "lastSeq": en.chat(id).LastSeq})
	wantResume(t, next(t, conn), true)
	send(t, conn, map[string]any{"type": "message", "clientId": "w1", "text": "over the socket"})
	for acked, live := false, false; !acked || !live; {
		f := next(t, conn)
		acked = acked || f.Type == "ack" && f.ClientID == "w1"
		live = live || f.Event != nil && f.Event.Text == "over the socket"
	}
	eventually(sendAck, "websocket", 1)
	eventually(deliver, "websocket", 1)

	// Then over HTTP: a long-poll POST and the widget's form.
	if status, frames := pollFrames(t, ls, v, http.MethodPost, "/chat/frames", `{"type":"message","clientId":"p1","text":"over a post"}`); status != http.StatusOK || len(frames) != 1 || frames[0].Type != "ack" {
		t.Fatalf("POST /chat/frames = %d %+v, want one ack", status, frames)
	}
	eventually(sendAck, "http", 2)
	v.say("/pricing", "over the form")
	eventually(sendAck, "http", 3)

	// A waiting poll is woken by the next event and delivers it: the agent
	// writes once the poll has subscribed. A write that lands before the
	// poll has read the log is answered from the log, which is no live
	// delivery and records none: then the next try.
	for try := 1; ; try++ {
		last := en.chat(id).LastSeq
		subscribed := en.chats.Hub().Stats().Subscriptions
		text := "over the poll " + itoa(int64(try))
		wrote := make(chan struct{})
		go func() {
			defer close(wrote)
			if !en.subscriptionsReach(func(n int) bool { return n != subscribed }) {
				t.Error("the poll never waited")
				return
			}
			if _, err := en.chats.SendMessage(context.Background(), id, agentParty(), "a-poll-"+itoa(int64(try)), text); err != nil {
				t.Error(err)
			}
		}()
		_, frames := pollFrames(t, ls, v, http.MethodGet, "/chat/poll?after="+itoa(last), "")
		<-wrote
		if len(frames) < 2 || frames[1].Event == nil || frames[1].Event.Text != text {
			t.Fatalf("waiting poll = %+v, want resume then the agent's message", frames)
		}
		if _, ok := reaches(deliver, "http", 1, time.Second); ok {
			break
		}
		if try == 5 {
			t.Fatalf("%s{transport=\"http\"} count = 0 after %d polls woken by a message, want at least 1", deliver, try)
		}
	}

	families = scrape(t, srv)
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes", "parley_live_subscriptions", "parley_deliveries_total"} {
		if _, ok := metricValue(families, name); !ok {
			t.Errorf("metric %s missing after traffic", name)
		}
	}
	if got, _ := metricValue(families, "parley_deliveries_total"); got < 3 {
		t.Errorf("parley_deliveries_total = %v, want at least 3", got)
	}
}

func TestMetricsToken(t *testing.T) {
	en := newEnv(t)
	srv := newSite(handlers.Deps{Chats: en.chats, Catalogs: en.cats, SessionSecrets: [][]byte{secretNew}, Options: handlers.Options{MetricsToken: "s3cret-scraper-token"}})
	for _, tt := range []struct {
		name, peer, auth string
		want             int
	}{
		{"token from anywhere", "192.0.2.7:40000", "Bearer s3cret-scraper-token", http.StatusOK},
		{"wrong token", "192.0.2.7:40000", "Bearer guess", http.StatusNotFound},
		{"no token, even from this machine", "127.0.0.1:40000", "", http.StatusNotFound},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, baseURL+"/metrics", nil)
			req.RemoteAddr = tt.peer
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, req)
			if rec.Code != tt.want {
				t.Errorf("GET /metrics = %d, want %d", rec.Code, tt.want)
			}
		})
	}
}
