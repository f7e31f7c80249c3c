package e2e

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// TestStalledHTTP2StreamsBounded attacks Parley serving TLS itself the way
// an outside attack did: connections that open many HTTP/2 streams for
// the embed script and never open their flow-control window, so no answer
// can be sent and each stream pins a handler and its buffers. Unbounded,
// 20 such connections took the process from 30 to 259 MB and kept it
// there. The process's memory must stay within a bound, and the server
// must go on answering others.
func TestStalledHTTP2StreamsBounded(t *testing.T) {
	cert := newTestCert(t)
	s := startTLSServer(t, cert)
	pid := s.proc.Pid()
	// Warm up the embed script's path, so its first use is not counted.
	if res, err := s.client.Get(s.URL + "/chat/embed.js"); err != nil {
		t.Fatal(err)
	} else {
		res.Body.Close()
	}
	before := residentKB(t, pid)

	const conns, streamsPerConn = 20, 250
	var answered atomic.Int64 // response headers received, over all connections
	var wg sync.WaitGroup
	for range conns {
		conn := stalledH2Conn(t, s.addr, cert, &answered)
		wg.Go(func() { conn.requestMany(t, streamsPerConn, "/chat/embed.js") })
	}
	wg.Wait()

	// Watch the process while the streams stall: the most it grows to.
	peak := before
	for deadline := time.Now().Add(4 * time.Second); time.Now().Before(deadline); {
		peak = max(peak, residentKB(t, pid))
		time.Sleep(100 * time.Millisecond)
	}
	grown := peak - before
	t.Logf("RSS %d KB before, %d KB at most with %d connections × %d stalled streams (%d answered with headers)",
		before, peak, conns, streamsPerConn, answered.Load())
	// Unbounded, this attack grew the process by 229 MB (more under the race
	// detector, which keeps shadow memory for every byte the program uses:
	// 5 to 10 times as much, by its documentation).
	limitMB := int64(48)
	if raceEnabled {
		limitMB *= 4
	}
	if grown > limitMB*1024 {
		t.Errorf("stalled HTTP/2 streams grew the process by %d MB, want at most %d MB", grown/1024, limitMB)
	}
	// Another client (another loopback address) is served as usual.
	other := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: cert.pool},
		DialContext:     (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}).DialContext,
	}}
	res, err := other.Get(s.URL + "/healthz")
	if err != nil {
		t.Fatalf("while stalled streams are open, /healthz: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("while stalled streams are open, /healthz = %d, want 200", res.StatusCode)
	}
}

// TestStrictTransportSecurity: Parley serving TLS itself tells browsers to
// come back over HTTPS only.
func TestStrictTransportSecurity(t *testing.T) {
	cert := newTestCert(t)
	s := startTLSServer(t, cert)
	res, err := s.client.Get(s.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if got, want := res.Header.Get("Strict-Transport-Security"), "max-age=31536000"; got != want {
		t.Errorf("Strict-Transport-Security = %q, want %q", got, want)
	}
}

// h2Conn is an HTTP/2 client connection that never opens its window.
type h2Conn struct {
	conn   *tls.Conn
	framer *http2.Framer
	mu     sync.Mutex // guards writes
}

// stalledH2Conn connects and says, in its SETTINGS, that it takes no data
// until told otherwise; it reads frames (counting answers in answered) but
// never sends a WINDOW_UPDATE.
func stalledH2Conn(t *testing.T, addr string, cert testCert, answered *atomic.Int64) *h2Conn {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: cert.pool, ServerName: "127.0.0.1", NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if got := conn.ConnectionState().NegotiatedProtocol; got != "h2" {
		t.Fatalf("negotiated %q, want h2", got)
	}
	if _, err := conn.Write([]byte(http2.ClientPreface)); err != nil {
		t.Fatal(err)
	}
	c := &h2Conn{conn: conn, framer: http2.NewFramer(conn, bufio.NewReader(conn))}
	if err := c.framer.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0}); err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			f, err := c.framer.ReadFrame()
			if err != nil {
				return
			}
			switch f := f.(type) {
			case *http2.SettingsFrame:
				if !f.IsAck() {
					c.mu.Lock()
					_ = c.framer.WriteSettingsAck()
					c.mu.Unlock()
				}
			case *http2.HeadersFrame:
				answered.Add(1)
			}
		}
	}()
	return c
}

// requestMany opens n streams, each a GET of path.
func (c *h2Conn) requestMany(t *testing.T, n int, path string) {
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	for i := range n {
		block.Reset()
		for _, f := range [][2]string{{":method", "GET"}, {":scheme", "https"}, {":authority", "127.0.0.1"}, {":path", path}} {
			_ = enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
		}
		c.mu.Lock()
		err := c.framer.WriteHeaders(http2.HeadersFrameParam{StreamID: uint32(2*i + 1), BlockFragment: block.Bytes(), EndStream: true, EndHeaders: true})
		c.mu.Unlock()
		if err != nil {
			return // the server may close a connection that asks too much
		}
	}
}

// residentKB is the process's resident memory, from /proc.
func residentKB(t *testing.T, pid int) int64 {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.Fields(rest)[0], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb
		}
	}
	t.Fatalf("no VmRSS in /proc/%d/status", pid)
	return 0
}
