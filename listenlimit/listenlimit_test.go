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
func serve(t *testing.T, cfg listenlimit.Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &httptest.Server{
		Listener: listenlimit.New(ln, cfg),
		Config:   &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })},
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return ln.Addr().String()
}

// dialFrom opens a connection to addr from the loopback address from.
func dialFrom(t *testing.T, from, addr string) (net.Conn, error) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	return d.Dial("tcp", addr)
}

// answers reports whether the server answers a request on conn.
func answers(conn net.Conn) bool {
	conn.SetDeadline(time.Now().Add(2 * time.Second))
	io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	buf := make([]byte, 64)
	n, _ := conn.Read(buf)
	return n > 0
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
	addr := serve(t, listenlimit.Config{PerAddress: 5})
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
	addr := serve(t, listenlimit.Config{PerAddress: 2, Exempt: netip.Addr.IsLoopback})
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

// TestTotalCap: many clients together, each within its own cap, reach the
// total; the next connection is closed at once, whoever opens it, and the
// connections already open go on being served.
func TestTotalCap(t *testing.T) {
	addr := serve(t, listenlimit.Config{PerAddress: 4, Total: 6})
	var open []net.Conn
	for _, from := range []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"} {
		for range 2 {
			conn, err := dialFrom(t, from, addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			open = append(open, conn)
		}
	}
	// A request answered on each makes sure the server has taken them all.
	for i, conn := range open {
		if !answers(conn) {
			t.Fatalf("connection %d within the caps was not served", i)
		}
	}
	conn, err := dialFrom(t, "127.0.0.4", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if answers(conn) {
		t.Error("a seventh connection, from a fresh address, was served past the total of 6")
	}
	if !answers(open[0]) {
		t.Error("an open connection was no longer served once the total was reached")
	}
}

// TestIPv6ClientIsItsPrefix: a host picks any address of its /64, so the
// addresses of one /64 share one cap; another /64 has its own.
func TestIPv6ClientIsItsPrefix(t *testing.T) {
	ln := newFakeListener()
	capped := listenlimit.New(ln, listenlimit.Config{PerAddress: 2, Total: 100})
	accepted := func(remote string) bool {
		ln.conns <- fakeConn(remote)
		ln.conns <- fakeConn("[2001:db8:ffff::1]:1") // a marker that is always let through
		conn, err := capped.Accept()
		if err != nil {
			t.Fatal(err)
		}
		if conn.RemoteAddr().String() != remote {
			// The marker: remote was closed.
			conn.Close()
			return false
		}
		if marker, err := capped.Accept(); err != nil || marker.RemoteAddr().String() == remote {
			t.Fatalf("the marker did not follow: %v", err)
		} else {
			marker.Close()
		}
		return true
	}
	for i, remote := range []string{"[2001:db8:1:1::a]:1000", "[2001:db8:1:1::b]:1000"} {
		if !accepted(remote) {
			t.Fatalf("connection %d of the /64 refused within its cap of 2", i)
		}
	}
	if accepted("[2001:db8:1:1:ffff::c]:1000") {
		t.Error("a third address of the same /64 was let in past the cap of 2 per client")
	}
	if !accepted("[2001:db8:1:2::a]:1000") {
		t.Error("an address of another /64 was refused")
	}
	if !accepted("[::ffff:192.0.2.1]:1000") || !accepted("192.0.2.2:1000") {
		t.Error("IPv4 addresses, mapped or not, were refused")
	}
}

func TestTotalFor(t *testing.T) {
	for _, tt := range []struct {
		files uint64
		want  int
	}{{20000, 18000}, {2048, 1844}, {256, 192}, {64, 1}} {
		if got := listenlimit.TotalFor(tt.files); got != tt.want {
			t.Errorf("TotalFor(%d) = %d, want %d", tt.files, got, tt.want)
		}
	}
}

// fakeListener hands out the connections sent on conns.
type fakeListener struct{ conns chan net.Conn }

func newFakeListener() *fakeListener { return &fakeListener{conns: make(chan net.Conn, 4)} }

func (l *fakeListener) Accept() (net.Conn, error) { return <-l.conns, nil }
func (l *fakeListener) Close() error              { return nil }
func (l *fakeListener) Addr() net.Addr            { return fakeAddr("listener") }

// fakeConn is a connection from remote that carries nothing.
func fakeConn(remote string) net.Conn {
	a, b := net.Pipe()
	b.Close()
	return remoteConn{Conn: a, remote: fakeAddr(remote)}
}

type remoteConn struct {
	net.Conn
	remote net.Addr
}

func (c remoteConn) RemoteAddr() net.Addr { return c.remote }

type fakeAddr string

func (a fakeAddr) Network() string { return "tcp" }
func (a fakeAddr) String() string  { return string(a) }
