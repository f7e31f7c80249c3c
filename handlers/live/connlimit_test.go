package live

import (
	"errors"
	"testing"

	"github.com/parley/parley/handlers/web"
)

// TestParkSheds fills the places of waiting long-polls from a few
// addresses, as about forty did in an attack: a poll from another address
// still waits, the address holding the most giving up its newest poll; a
// poll from the address holding the most is refused instead.
func TestParkSheds(t *testing.T) {
	l := newConnLimits(web.Limits{ParkedPolls: 4})
	park := func(addr string) (<-chan struct{}, func()) {
		t.Helper()
		shed, unpark, err := l.park(addr)
		if err != nil {
			t.Fatalf("park(%s) = %v, want a place", addr, err)
		}
		return shed, unpark
	}
	shedNow := func(shed <-chan struct{}) bool {
		select {
		case <-shed:
			return true
		default:
			return false
		}
	}
	a1, _ := park("attacker")
	a2, _ := park("attacker")
	a3, _ := park("attacker")
	b1, _ := park("other")

	// Full. The attacker's newest poll makes way for a third address's.
	c1, unparkC1 := park("visitor")
	if !shedNow(a3) || shedNow(a1) || shedNow(a2) || shedNow(b1) {
		t.Errorf("a poll from a new address shed %v %v %v (attacker) %v (other), want only the attacker's newest",
			shedNow(a1), shedNow(a2), shedNow(a3), shedNow(b1))
	}
	// Full again: the attacker, holding the most, is refused its next.
	if _, _, err := l.park("attacker"); !isRateLimited(err) {
		t.Errorf("park(attacker) at the cap while holding the most = %v, want rate_limited", err)
	}
	// A place given back is taken without shedding anyone.
	unparkC1()
	if !shedNow(c1) {
		t.Error("unpark left the poll's shed channel open")
	}
	d1, _ := park("another")
	if shedNow(a1) || shedNow(a2) || shedNow(b1) || shedNow(d1) {
		t.Error("a free place was taken by shedding a waiting poll")
	}
	if l.parkedAll != 4 {
		t.Errorf("%d polls counted as waiting, want 4", l.parkedAll)
	}

	// Full again (attacker 2, other 1, another 1): a new address takes the
	// attacker's newest place...
	park("fresh")
	if !shedNow(a2) || shedNow(a1) {
		t.Error("a poll from a new address did not take the attacker's newest place")
	}
	// ...and once every address holds one, a newcomer is refused rather
	// than shed another's poll, whose next poll would shed yet another.
	if _, _, err := l.park("newcomer"); !isRateLimited(err) {
		t.Errorf("park(newcomer) with the places spread evenly = %v, want rate_limited", err)
	}
	if shedNow(a1) || shedNow(b1) || shedNow(d1) {
		t.Error("a newcomer shed a poll of an address holding one")
	}
}

func isRateLimited(err error) bool {
	var apiErr *web.APIError
	return errors.As(err, &apiErr) && apiErr.Name == "rate_limited"
}
