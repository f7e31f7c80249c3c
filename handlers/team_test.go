package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/google/go-cmp/cmp"

	"github.com/parley/parley/chatstate"
)

// teamRows is the console's team list: each agent as "name, status, chats".
func teamRows(s *goquery.Selection) []string {
	var rows []string
	s.Find("#agent-team-list > li").Each(func(_ int, li *goquery.Selection) {
		rows = append(rows, strings.Join([]string{
			strings.TrimSpace(li.Find(".agent-team-name").Text()),
			li.Find(".agent-team-status").Text(),
			li.Find(".agent-team-chats").Text(),
		}, ", "))
	})
	return rows
}

// TestAgentStatusSwitch: the console lists every agent, the signed-in one
// first, with their status and chats; an agent's switch changes what
// every console shows, and a status that is none is refused.
func TestAgentStatusSwitch(t *testing.T) {
	t.Parallel()
	en := newEnv(t)
	srv := en.consoleServer()
	alice := agentBrowser(t, en, srv, "alice")
	page := alice.get("/agent")
	page.wantStatus(http.StatusOK)
	if diff := cmp.Diff([]string{"Alice from Support (you), Online, 0 chats", "bob, Offline, 0 chats"}, teamRows(page.doc().Selection)); diff != "" {
		t.Errorf("alice's console, before bob came (-want +got):\n%s", diff)
	}
	if got := page.doc().Find(`#agent-status input[name="status"][checked]`).AttrOr("value", ""); got != "online" {
		t.Errorf("alice's switch shows %q, want online", got)
	}

	v := en.visitor(srv)
	id := v.register("/", "Ada")
	alice.post("/agent/chats/"+id+"/accept", nil).wantRedirect("/agent/chats/" + id)
	res := alice.post("/agent/status", url.Values{"status": {"away"}}, hx)
	res.wantStatus(http.StatusOK)
	if diff := cmp.Diff([]string{"Alice from Support (you), Away, 1 chat", "bob, Offline, 0 chats"}, teamRows(res.doc().Selection)); diff != "" {
		t.Errorf("alice's switch answers (-want +got):\n%s", diff)
	}

	bob := agentBrowser(t, en, srv, "bob")
	page = bob.get("/agent")
	if diff := cmp.Diff([]string{"bob (you), Online, 0 chats", "Alice from Support, Away, 1 chat"}, teamRows(page.doc().Selection)); diff != "" {
		t.Errorf("bob's console (-want +got):\n%s", diff)
	}
	if got := page.doc().Find(`#agent-status input[name="status"][checked]`).AttrOr("value", ""); got != "online" {
		t.Errorf("bob's switch shows %q, want his own status, online", got)
	}
	if got := alice.get("/agent").doc().Find(`#agent-status input[name="status"][checked]`).AttrOr("value", ""); got != "away" {
		t.Errorf("alice's switch after her choice shows %q, want away", got)
	}
	// Without JavaScript, the form posts and the console comes back.
	bob.post("/agent/status", url.Values{"status": {"offline"}}).wantRedirect("/agent")
	team, err := en.chats.Availability().Team(context.Background(), []string{"alice", "bob"})
	if err != nil {
		t.Fatal(err)
	}
	if team[1].Status != chatstate.AgentOffline {
		t.Errorf("bob chose offline: the team says %s", team[1].Status)
	}
	for _, bad := range []string{"", "busy", "ONLINE"} {
		if res := bob.post("/agent/status", url.Values{"status": {bad}}, hx); res.status != http.StatusBadRequest {
			t.Errorf("status %q: %d, want 400", bad, res.status)
		}
	}
	if res := en.visitor(srv).post("/agent/status", url.Values{"status": {"away"}}, hx); res.status == http.StatusOK {
		t.Error("a visitor who is not signed in set a status")
	}
}
