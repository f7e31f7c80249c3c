// Package listenlimit caps the TCP connections one client address may hold
// open on a listener: a client opening idle connections faster than the
// server's timeouts close them would otherwise use up the process's open
// files, and with them the site.
package listenlimit

import (
	"net"
	"net/netip"
	"sync"
)

// Listener accepts at most perAddress open connections from one address;
// a connection over the cap is closed as soon as it is accepted. Addresses
// exempt says so of (the trusted reverse proxies, which carry every
// client) are not capped.
type Listener struct {
	net.Listener
	perAddress int
	exempt     func(netip.Addr) bool

	mu   sync.Mutex
	open map[netip.Addr]int
}

// New wraps l; exempt may be nil.
func New(l net.Listener, perAddress int, exempt func(netip.Addr) bool) *Listener {
	return &Listener{Listener: l, perAddress: perAddress, exempt: exempt, open: map[netip.Addr]int{}}
}

// Accept returns the next connection within the cap, closing those over it.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		conn, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		addr, ok := l.take(conn.RemoteAddr())
		if !ok {
			conn.Close()
			continue
		}
		if !addr.IsValid() {
			return conn, nil
		}
		return &countedConn{Conn: conn, release: func() { l.give(addr) }}, nil
	}
}

// take counts a new connection from remote, reporting false when its
// address is at the cap; an address it cannot read, or an exempt one, is
// not counted (the zero Addr).
func (l *Listener) take(remote net.Addr) (netip.Addr, bool) {
	ap, err := netip.ParseAddrPort(remote.String())
	if err != nil {
		return netip.Addr{}, true
	}
	addr := ap.Addr().Unmap()
	if l.exempt != nil && l.exempt(addr) {
		return netip.Addr{}, true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[addr] >= l.perAddress {
		return netip.Addr{}, false
	}
	l.open[addr]++
	return addr, true
}

func (l *Listener) give(addr netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[addr]--; l.open[addr] <= 0 {
		delete(l.open, addr)
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
