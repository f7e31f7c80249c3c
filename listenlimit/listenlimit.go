// Package listenlimit caps what clients hold open on a server: TCP
// connections on its listener, and requests in flight. Connections per
// client, so that one client opening idle connections faster than the
// server's timeouts close them cannot use up the process's open files, and
// in all, below the process's open-file limit, so that many clients
// together cannot either. A connection over a cap is closed as soon as it
// is accepted; the connections already open go on being served.
package listenlimit

import (
	"net"
	"net/http"
	"net/netip"
	"sync"
	"syscall"
)

// DefaultIPv6Prefix is how many leading bits of an IPv6 address name one
// client: a host is commonly given a whole /64, and picks any address in it.
const DefaultIPv6Prefix = 64

// Config bounds what a Listener keeps open.
type Config struct {
	// PerAddress caps the connections one client may hold open. A client is
	// an IPv4 address, or an IPv6 prefix of IPv6Prefix bits.
	PerAddress int
	// IPv6Prefix is DefaultIPv6Prefix when 0; 128 keys on whole addresses.
	IPv6Prefix int
	// Total caps the connections open at once, all clients together
	// (DefaultTotal when 0).
	Total int
	// Exempt, when set, names the addresses that are not capped per
	// client (the trusted reverse proxies, which carry every client); their
	// connections still count towards Total.
	Exempt func(netip.Addr) bool
}

// DefaultTotal is the most connections a listener should hold open in this
// process: its open-file limit, less room for everything else that needs a
// file (the database, logs, the accept that refuses one connection over the
// cap).
func DefaultTotal() int {
	var limit syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &limit); err != nil || limit.Cur == 0 {
		return 1024
	}
	return TotalFor(limit.Cur)
}

// TotalFor is DefaultTotal for an open-file limit of files: a tenth of them
// kept back, and at least 64.
func TotalFor(files uint64) int {
	headroom := max(files/10, 64)
	if files <= headroom {
		return 1
	}
	return int(min(files-headroom, 1<<30))
}

// Listener accepts connections within Config's caps.
type Listener struct {
	net.Listener
	cfg Config

	mu    sync.Mutex
	open  map[netip.Prefix]int
	total int
}

// New wraps l.
func New(l net.Listener, cfg Config) *Listener {
	if cfg.IPv6Prefix <= 0 || cfg.IPv6Prefix > 128 {
		cfg.IPv6Prefix = DefaultIPv6Prefix
	}
	if cfg.Total <= 0 {
		cfg.Total = DefaultTotal()
	}
	return &Listener{Listener: l, cfg: cfg, open: map[netip.Prefix]int{}}
}

// Accept returns the next connection within the caps, closing those over
// them.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		conn, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		client, ok := l.take(conn.RemoteAddr())
		if !ok {
			conn.Close()
			continue
		}
		return &countedConn{Conn: conn, release: func() { l.give(client) }}, nil
	}
}

// Client is the key a connection from addr is counted under: the address
// itself for IPv4, its prefix for IPv6. Other limits that key on clients
// use it too, so that each sees the same client.
func Client(addr netip.Addr, ipv6Prefix int) netip.Prefix {
	addr = addr.Unmap()
	bits := addr.BitLen()
	if addr.Is6() {
		bits = ipv6Prefix
	}
	prefix, err := addr.Prefix(bits)
	if err != nil {
		return netip.PrefixFrom(addr, addr.BitLen())
	}
	return prefix
}

// take counts a new connection from remote, reporting false when a cap is
// reached. An address it cannot read, or an exempt one, counts towards the
// total only (under the zero Prefix).
func (l *Listener) take(remote net.Addr) (netip.Prefix, bool) {
	var client netip.Prefix
	if ap, err := netip.ParseAddrPort(remote.String()); err == nil {
		addr := ap.Addr().Unmap()
		if l.cfg.Exempt == nil || !l.cfg.Exempt(addr) {
			client = Client(addr, l.cfg.IPv6Prefix)
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.total >= l.cfg.Total {
		return netip.Prefix{}, false
	}
	if client.IsValid() {
		if l.open[client] >= l.cfg.PerAddress {
			return netip.Prefix{}, false
		}
		l.open[client]++
	}
	l.total++
	return client, true
}

func (l *Listener) give(client netip.Prefix) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if !client.IsValid() {
		return
	}
	if l.open[client]--; l.open[client] <= 0 {
		delete(l.open, client)
	}
}

// countedConn gives its place back once, when closed.
type countedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *countedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// Requests caps the requests one client has in flight on next at
// perClient, answering the one over it 503 at once. A request in flight
// holds its handler, and its response's buffers until the client reads
// them: over HTTP/2 a client that never opens its flow-control window
// would otherwise pin one for each stream of each of its connections.
// clientOf names a request's client (see Client); a request it names no
// client for is not capped.
func Requests(next http.Handler, perClient int, clientOf func(*http.Request) netip.Prefix) http.Handler {
	var mu sync.Mutex
	inFlight := map[netip.Prefix]int{}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		client := clientOf(r)
		if !client.IsValid() {
			next.ServeHTTP(w, r)
			return
		}
		mu.Lock()
		if inFlight[client] >= perClient {
			mu.Unlock()
			w.Header().Set("Retry-After", "5")
			http.Error(w, "too many requests at once from your address", http.StatusServiceUnavailable)
			return
		}
		inFlight[client]++
		mu.Unlock()
		defer func() {
			mu.Lock()
			if inFlight[client]--; inFlight[client] <= 0 {
				delete(inFlight, client)
			}
			mu.Unlock()
		}()
		next.ServeHTTP(w, r)
	})
}
