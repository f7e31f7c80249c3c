package live

import (
	"net/http"
	"slices"
	"sync"

	"github.com/parley/parley/handlers/web"
)

// connLimits counts the open live connections by chat and by address, and
// keeps the waiting long-polls.
type connLimits struct {
	web.Limits
	mu    sync.Mutex
	chats map[string]int
	addrs map[string]int
	// parked are the waiting long-polls by address, the newest last, and
	// parkedAll their number.
	parked    map[string][]*parkedPoll
	parkedAll int
}

// parkedPoll is a long-poll waiting for news; shed tells it to answer now.
type parkedPoll struct {
	shed chan struct{}
}

func newConnLimits(l web.Limits) *connLimits {
	d := web.DefaultLimits()
	if l.PerChat <= 0 {
		l.PerChat = d.PerChat
	}
	if l.PerAddress <= 0 {
		l.PerAddress = d.PerAddress
	}
	if l.ParkedPolls <= 0 {
		l.ParkedPolls = d.ParkedPolls
	}
	return &connLimits{Limits: l, chats: map[string]int{}, addrs: map[string]int{}, parked: map[string][]*parkedPoll{}}
}

// acquire takes a place for a connection of chat (none for the console's)
// from addr; release gives it back. It refuses a chat with all its places
// taken with too_many_connections (a person with many tabs, who is told
// so), and an address with all its places taken with rate_limited. A
// long-poll takes a place here first, and parks only once it finds
// nothing to answer (park).
func (l *connLimits) acquire(chat, addr string) (release func(), err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.addrs[addr] >= l.PerAddress {
		return nil, errConnectionsExhausted()
	}
	if chat != "" && l.chats[chat] >= l.PerChat {
		return nil, web.APIErrorNamed("too_many_connections")
	}
	if chat != "" {
		l.chats[chat]++
	}
	l.addrs[addr]++
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			if chat != "" {
				if l.chats[chat]--; l.chats[chat] <= 0 {
					delete(l.chats, chat)
				}
			}
			if l.addrs[addr]--; l.addrs[addr] <= 0 {
				delete(l.addrs, addr)
			}
		})
	}, nil
}

// park lets a long-poll from addr wait for news. With ParkedPolls waiting
// already, the address holding the most waiting polls gives one up if it
// holds more than addr would: its newest is told to answer now (shed), so
// that a few addresses cannot hold every place while others are refused.
// Otherwise (addr holds as many, or the places are spread evenly, where
// shedding one poll for another would only have the shed one take the
// next) addr's poll is refused with rate_limited. The poll waits until
// shed is closed or it calls unpark.
func (l *connLimits) park(addr string) (shed <-chan struct{}, unpark func(), err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.parkedAll >= l.ParkedPolls {
		heaviest := addr
		for a, polls := range l.parked {
			if len(polls) > len(l.parked[heaviest]) {
				heaviest = a
			}
		}
		if len(l.parked[heaviest]) <= len(l.parked[addr])+1 {
			return nil, nil, errConnectionsExhausted()
		}
		polls := l.parked[heaviest]
		l.removeLocked(heaviest, polls[len(polls)-1])
	}
	p := &parkedPoll{shed: make(chan struct{})}
	l.parked[addr] = append(l.parked[addr], p)
	l.parkedAll++
	var once sync.Once
	return p.shed, func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.removeLocked(addr, p)
		})
	}, nil
}

// removeLocked takes p out of the waiting polls, telling it to answer if it
// is still waiting. l.mu is held.
func (l *connLimits) removeLocked(addr string, p *parkedPoll) {
	polls := l.parked[addr]
	i := slices.Index(polls, p)
	if i < 0 {
		return
	}
	close(p.shed)
	l.parked[addr] = slices.Delete(polls, i, i+1)
	if len(l.parked[addr]) == 0 {
		delete(l.parked, addr)
	}
	l.parkedAll--
}

// errConnectionsExhausted refuses a connection past an address's or the
// server's limit.
func errConnectionsExhausted() *web.APIError {
	e := web.APIErrorAs("rate_limited", "Too many connections are open from this address; close a tab and try again.", http.StatusTooManyRequests)
	e.Key = "error.too_many_connections"
	return e
}
