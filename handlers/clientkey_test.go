package handlers_test

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
)

// TestStartLimitKeysIPv6OnItsPrefix: a host picks any address of the /64
// it is given, so eight addresses of one /64 are one client, which gets
// the five chat starts one IPv4 address gets; another /64 has its own.
func TestStartLimitKeysIPv6OnItsPrefix(t *testing.T) {
	t.Parallel()
	en := newEnv(t)
	srv := en.server()
	start := func(addr string) int {
		v := en.visitor(srv)
		v.addr = addr
		v.get("/")
		return v.post("/chat/start", url.Values{"return_to": {"/"}}).status
	}
	var codes []int
	for i := range 8 {
		codes = append(codes, start(fmt.Sprintf("[2001:db8:1:1::%x]:4000", i+1)))
	}
	want := []int{303, 303, 303, 303, 303, 429, 429, 429}
	if fmt.Sprint(codes) != fmt.Sprint(want) {
		t.Errorf("chat starts from eight addresses of one /64 answered %v, want %v", codes, want)
	}
	if got := start("[2001:db8:1:2::1]:4000"); got != http.StatusSeeOther {
		t.Errorf("a chat start from another /64 answered %d, want 303", got)
	}
}
