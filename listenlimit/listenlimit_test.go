package listenlimit_test

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/parley/parley/listenlimit"
)

// serve runs an HTTP server on a capped listener.
func serve(t *testing.T, perAddress int, exempt func(netip.Addr) bool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &httptest.Server{
		Listener: listenlimit.New(ln, perAddress, exempt),
		Config:   &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })},
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return ln.Addr().String()
}

// refused reports whether the server closed a fresh connection without
// answering a request on it.
func refused(t *testing.T, addr string) bool {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return true
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(2 * time.Second))
	io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	buf := make([]byte, 64)
	n, _ := conn.Read(buf)
	return n == 0
}

// TestCapPerAddress: one address holding its cap of idle connections gets
// the next one closed at once; a connection that closes frees its place.
func TestCapPerAddress(t *testing.T) {
	addr := serve(t, 5, nil)
	var idle []net.Conn
	for range 5 {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		idle = append(idle, conn)
	}
	time.Sleep(50 * time.Millisecond) // let the server accept them
	if !refused(t, addr) {
		t.Fatal("a sixth connection from the address was served, want it closed")
	}
	idle[0].Close()
	served := false
	for range 50 {
		time.Sleep(20 * time.Millisecond)
		if !refused(t, addr) {
			served = true
			break
		}
	}
	if !served {
		t.Error("after one idle connection closed, a new one is still refused")
	}
	for _, c := range idle {
		c.Close()
	}
}

// TestExemptAddresses: a trusted proxy carries every client; it is not
// capped.
func TestExemptAddresses(t *testing.T) {
	addr := serve(t, 2, netip.Addr.IsLoopback)
	var idle []net.Conn
	for range 5 {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		idle = append(idle, conn)
	}
	time.Sleep(50 * time.Millisecond)
	if refused(t, addr) {
		t.Error("an exempt address was capped")
	}
	for _, c := range idle {
		c.Close()
	}
}
