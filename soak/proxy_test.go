package soak

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// fault is what the proxy does to one TCP connection.
type fault int

const (
	// passThrough forwards everything.
	passThrough fault = iota
	// resetMidway forwards a number of bytes (both ways together), then
	// resets both sides: mostly in the middle of a response or a frame.
	resetMidway
	// blackHole forwards a number of bytes, then nothing either way for
	// blackHoleFor, then closes both sides.
	blackHole
	// cutPoll forwards until a long-poll is answered and closes both sides
	// in the middle of the answer's body; a connection that carries no poll
	// passes through.
	cutPoll
	faultKinds
)

var faultNames = [faultKinds]string{"pass", "reset mid-stream", "2 s black hole", "long-poll cut"}

// blackHoleFor is how long a black-holed connection stays silent.
const blackHoleFor = 2 * time.Second

// faultWeights are the odds of each fault per connection, out of their sum.
var faultWeights = [faultKinds]int{passThrough: 55, resetMidway: 20, blackHole: 7, cutPoll: 18}

// proxy is a TCP proxy on a loopback port in front of the server, or of
// several instances: each connection goes to the next instance in turn
// (as a load balancer without stickiness sends it), or on to the one after
// when an instance refuses it. While armed it picks a fault for each
// connection it accepts, with its own seeded random source.
type proxy struct {
	ln        net.Listener
	upstreams []string
	armed     atomic.Bool

	mu    sync.Mutex
	rng   *rand.Rand
	conns map[*proxyConn]struct{}
	next  int
	wg    sync.WaitGroup

	// chosen counts connections by fault; triggered counts the faults that
	// happened (a reset after more bytes than a connection carried did not).
	chosen, triggered [faultKinds]atomic.Int64
}

func newProxy(upstreams []string, seed uint64) (*proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &proxy{ln: ln, upstreams: upstreams, rng: rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15)), conns: map[*proxyConn]struct{}{}}
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

// addr is the proxy's host:port, which the clients use as the site's.
func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		pc := p.newConn(c)
		if pc == nil {
			c.Close()
			return
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			pc.run(p)
		}()
	}
}

// newConn draws the connection's fault; nil once the proxy is closed.
func (p *proxy) newConn(c net.Conn) *proxyConn {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns == nil {
		return nil
	}
	pc := &proxyConn{client: c, kind: passThrough, done: make(chan struct{})}
	if p.armed.Load() {
		n := p.rng.IntN(100)
		for k := range faultKinds {
			if n < faultWeights[k] {
				pc.kind = k
				break
			}
			n -= faultWeights[k]
		}
		// 32 bytes to 32 KB, evenly on a log scale: a request's headers, a
		// frame (well under 1 KB), a page (about 10 KB) and a live
		// socket's later frames are all cut somewhere in their middle.
		pc.limit = int(math.Exp(math.Log(32) + p.rng.Float64()*math.Log(1024)))
		pc.cut = p.rng.Float64()
	}
	p.chosen[pc.kind].Add(1)
	p.conns[pc] = struct{}{}
	return pc
}

// upstream is the instance for the next connection.
func (p *proxy) upstream() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	u := p.upstreams[p.next%len(p.upstreams)]
	p.next++
	return u
}

func (p *proxy) forget(pc *proxyConn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.conns, pc)
}

// disarm stops injecting faults, on new connections and on open ones
// whose fault has not struck yet.
func (p *proxy) disarm() {
	p.armed.Store(false)
	p.mu.Lock()
	defer p.mu.Unlock()
	for pc := range p.conns {
		pc.mu.Lock()
		if !pc.holed && !pc.closed {
			pc.kind = passThrough
		}
		pc.mu.Unlock()
	}
}

// close stops accepting, closes every connection and waits for their
// goroutines.
func (p *proxy) close() {
	p.ln.Close()
	p.mu.Lock()
	conns := p.conns
	p.conns = nil
	p.mu.Unlock()
	for pc := range conns {
		pc.closeBoth(false)
	}
	p.wg.Wait()
}

// summary is a line of how many connections got each fault.
func (p *proxy) summary() string {
	var b bytes.Buffer
	for k := range faultKinds {
		if k > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %d", faultNames[k], p.chosen[k].Load())
		if k != passThrough {
			fmt.Fprintf(&b, " (%d hit)", p.triggered[k].Load())
		}
	}
	return b.String()
}

// proxyConn is one client connection and its upstream one.
type proxyConn struct {
	client, server net.Conn
	kind           fault
	limit          int     // bytes before a reset or a black hole
	cut            float64 // where in a poll answer's first body bytes to cut

	mu          sync.Mutex
	forwarded   int
	holed       bool   // in a black hole: nothing passes until it closes
	pollAsked   bool   // cutPoll: the client has sent a long-poll request
	headersDone bool   // cutPoll: the poll's answer's headers have passed
	tail        []byte // cutPoll: the last bytes read, for a split "\r\n\r\n"
	closed      bool
	done        chan struct{} // closed when the connection ends
}

func (pc *proxyConn) run(p *proxy) {
	defer p.forget(pc)
	var server net.Conn
	var err error
	for range p.upstreams {
		if server, err = net.DialTimeout("tcp", p.upstream(), 2*time.Second); err == nil {
			break
		}
	}
	if err != nil {
		// The server is down (killed, restarting): refuse as it would.
		pc.closeBoth(true)
		return
	}
	pc.mu.Lock()
	closed := pc.closed
	if !closed {
		pc.server = server
	}
	pc.mu.Unlock()
	if closed {
		server.Close()
		return
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); pc.pipe(p, pc.client, server, true) }()
	go func() { defer wg.Done(); pc.pipe(p, server, pc.client, false) }()
	wg.Wait()
}

// pipe copies src to dst through the fault until either side ends.
func (pc *proxyConn) pipe(p *proxy, src, dst net.Conn, up bool) {
	defer pc.end()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !pc.forward(p, buf[:n], dst, up) {
			return
		}
		if err != nil {
			return
		}
	}
}

// end closes the connection when one side has ended, unless it is in a
// black hole: then nothing, not even a FIN, passes until the hole closes.
func (pc *proxyConn) end() {
	pc.mu.Lock()
	holed := pc.holed
	pc.mu.Unlock()
	if holed {
		<-pc.done
		return
	}
	pc.closeBoth(false)
}

// forward writes data to dst as the connection's fault allows, reporting
// whether to go on.
func (pc *proxyConn) forward(p *proxy, data []byte, dst net.Conn, up bool) bool {
	pc.mu.Lock()
	if pc.holed || pc.closed {
		pc.mu.Unlock()
		return false
	}
	switch pc.kind {
	case resetMidway, blackHole:
		if pc.forwarded+len(data) < pc.limit {
			break
		}
		keep := pc.limit - pc.forwarded
		pc.forwarded = pc.limit
		if pc.kind == blackHole {
			pc.holed = true
		}
		pc.mu.Unlock()
		_, _ = dst.Write(data[:keep])
		p.triggered[pc.kind].Add(1)
		if pc.kind == resetMidway {
			pc.closeBoth(true)
			return false
		}
		time.AfterFunc(blackHoleFor, func() { pc.closeBoth(false) })
		return false
	case cutPoll:
		keep, cut := pc.pollCut(data, up)
		if !cut {
			break
		}
		pc.mu.Unlock()
		_, _ = dst.Write(data[:keep])
		p.triggered[cutPoll].Add(1)
		pc.closeBoth(false)
		return false
	}
	pc.forwarded += len(data)
	pc.mu.Unlock()
	_, err := dst.Write(data)
	return err == nil
}

// pollCut follows a cutPoll connection: once the client has asked for a
// long-poll, it finds the end of the answer's headers (they may span reads)
// and cuts inside the first body bytes. keep is how much of data to send
// before closing, when cut.
func (pc *proxyConn) pollCut(data []byte, up bool) (keep int, cut bool) {
	if up {
		if bytes.Contains(data, []byte("GET /chat/poll")) || bytes.Contains(data, []byte("GET /agent/poll")) {
			pc.pollAsked = true
		}
		return 0, false
	}
	if !pc.pollAsked {
		return 0, false
	}
	bodyAt := 0
	if !pc.headersDone {
		scan := append(pc.tail[:len(pc.tail):len(pc.tail)], data...)
		end := bytes.Index(scan, []byte("\r\n\r\n"))
		if end < 0 {
			pc.tail = scan[max(0, len(scan)-3):]
			return 0, false
		}
		pc.headersDone = true
		bodyAt = end + 4 - len(pc.tail)
	}
	body := len(data) - bodyAt
	if body <= 0 {
		return 0, false
	}
	return bodyAt + int(pc.cut*float64(body)), true
}

// closeBoth ends the connection: with reset, both sides get a TCP RST
// rather than a FIN.
func (pc *proxyConn) closeBoth(reset bool) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.closed {
		return
	}
	pc.closed = true
	close(pc.done)
	for _, c := range []net.Conn{pc.client, pc.server} {
		if c == nil {
			continue
		}
		if tc, ok := c.(*net.TCPConn); ok && reset {
			_ = tc.SetLinger(0)
		}
		_ = c.Close()
	}
}
