package handlers_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/google/go-cmp/cmp"
	"github.com/gorilla/websocket"
	"golang.org/x/crypto/bcrypt"

	"github.com/parley/parley/agents"
	"github.com/parley/parley/chatstate"
	"github.com/parley/parley/handlers"
)

const agentCookie = "parley_agent"

// consoleAccounts are the agents of the console tests, hashed at the
// lowest bcrypt cost so that tests stay fast.
func consoleAccounts(t testing.TB) *agents.Accounts {
	t.Helper()
	a, err := agents.New([]agents.Credential{
		{Name: "alice", Password: "alice-password", DisplayName: "Alice from Support"},
		{Name: "bob", Password: "bob-password"},
	}, bcrypt.MinCost)
	if err != nil {
		t.Fatalf("agents.New() = %v", err)
	}
	return a
}

func (en *env) consoleDeps(closing chan struct{}) handlers.Deps {
	return handlers.Deps{
		Chats:          en.chats,
		Catalogs:       en.cats,
		Agents:         consoleAccounts(en.t),
		SessionSecrets: [][]byte{secretNew},
		Closing:        closing,
		Logger:         slog.New(slog.DiscardHandler),
	}
}

// consoleServer is the handlers with the console's agents.
func (en *env) consoleServer() http.Handler {
	return newSite(en.consoleDeps(nil))
}

// signIn loads the sign-in form and signs in as name.
func signIn(t *testing.T, v *visitor, name, password string) *response {
	t.Helper()
	v.get("/agent/login").wantStatus(http.StatusOK)
	return v.post("/agent/login", url.Values{"name": {name}, "password": {password}})
}

// agentBrowser is a signed-in agent.
func agentBrowser(t *testing.T, en *env, srv http.Handler, name string) *visitor {
	t.Helper()
	v := en.visitor(srv)
	signIn(t, v, name, name+"-password").wantRedirect("/agent")
	return v
}

// queueRows are the waiting chats' ids as the console lists them.
func queueRows(doc *goquery.Selection) []string {
	var ids []string
	doc.Find("#agent-queue-list > li").Each(func(_ int, li *goquery.Selection) {
		ids = append(ids, li.AttrOr("data-chat-id", ""))
	})
	return ids
}

func TestAgentLogin(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, user, password string
		wantStatus           int
	}{
		{"right password", "alice", "alice-password", http.StatusSeeOther},
		{"wrong password", "alice", "bob-password", http.StatusUnauthorized},
		{"unknown name", "mallory", "alice-password", http.StatusUnauthorized},
		{"empty", "", "", http.StatusUnauthorized},
		{"name with other case", "Alice", "alice-password", http.StatusUnauthorized},
		{"password too long for bcrypt", "alice", "alice-password" + strings.Repeat("x", 80), http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			en := newEnv(t)
			v := en.visitor(en.consoleServer())
			page := v.get("/agent/login")
			page.wantStatus(http.StatusOK)
			doc := page.doc()
			for _, label := range []string{"Name", "Password"} {
				id := doc.Find("label").FilterFunction(func(_ int, s *goquery.Selection) bool { return s.Text() == label }).AttrOr("for", "")
				if id == "" || doc.Find("input#"+id).Length() != 1 {
					t.Errorf("sign-in form has no field labelled %q", label)
				}
			}
			if got := strings.TrimSpace(doc.Find("form button[type=submit]").Text()); got != "Sign in" {
				t.Errorf("sign-in button = %q, want %q", got, "Sign in")
			}

			res := v.post("/agent/login", url.Values{"name": {tt.user}, "password": {tt.password}})
			res.wantStatus(tt.wantStatus)
			if tt.wantStatus != http.StatusSeeOther {
				if c := res.cookie(agentCookie); c != nil {
					t.Errorf("failed sign-in set the agent cookie %v", c)
				}
				form := res.doc()
				if got := strings.TrimSpace(form.Find(`[role="alert"]`).Text()); got != "Wrong name or password." {
					t.Errorf("failed sign-in says %q, want %q", got, "Wrong name or password.")
				}
				if got := form.Find("input[name=name]").AttrOr("value", ""); got != strings.TrimSpace(tt.user) {
					t.Errorf("failed sign-in keeps name %q, want %q", got, tt.user)
				}
				if got := form.Find("input[name=password]").AttrOr("value", ""); got != "" {
					t.Errorf("failed sign-in echoes the password %q", got)
				}
				v.get("/agent").wantRedirect("/agent/login")
				return
			}
			res.wantRedirect("/agent")
			c := res.cookie(agentCookie)
			if c == nil {
				t.Fatal("sign-in set no agent cookie")
			}
			if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/agent" || c.Secure {
				t.Errorf("agent cookie HttpOnly=%v SameSite=%v Path=%q Secure=%v, want HttpOnly, Strict, /agent, not Secure over plain HTTP",
					c.HttpOnly, c.SameSite, c.Path, c.Secure)
			}
			if strings.Contains(c.Value, tt.user) {
				t.Errorf("agent cookie %q shows the name in clear", c.Value)
			}
			console := v.get("/agent")
			console.wantStatus(http.StatusOK)
			if got := strings.TrimSpace(console.doc().Find(".agent-who strong").Text()); got != tt.user {
				t.Errorf("console signed in as %q, want %q", got, tt.user)
			}
			// The sign-in page sends a signed-in agent to the console.
			v.get("/agent/login").wantRedirect("/agent")

			// Sign out: the cookie goes, and the console asks to sign in.
			out := v.post("/agent/logout", nil)
			out.wantRedirect("/agent/login")
			if c := out.cookie(agentCookie); c == nil || c.MaxAge >= 0 {
				t.Errorf("sign-out Set-Cookie = %v, want the agent cookie deleted", c)
			}
			v.get("/agent").wantRedirect("/agent/login")
		})
	}
}

func TestAgentCookieIsNotTheVisitors(t *testing.T) {
	t.Parallel()
	en := newEnv(t)
	srv := en.consoleServer()
	// A visitor's restore cookie is signed with keys for another purpose:
	// presented as the agent cookie, it lets nobody in.
	v := en.visitor(srv)
	v.register("/", "Ada")
	forged := en.visitor(srv)
	forged.cookies[agentCookie] = &http.Cookie{Name: agentCookie, Value: v.cookies[chatCookie].Value}
	forged.get("/agent").wantRedirect("/agent/login")

	// A tampered agent cookie neither.
	a := agentBrowser(t, en, srv, "alice")
	val := a.cookies[agentCookie].Value
	a.cookies[agentCookie] = &http.Cookie{Name: agentCookie, Value: flipMiddle(val)}
	a.get("/agent").wantRedirect("/agent/login")

	// Another deployment's keys neither.
	b := agentBrowser(t, en, srv, "bob")
	other := newSite(handlers.Deps{
		Chats: en.chats, Catalogs: en.cats, Agents: consoleAccounts(t),
		SessionSecrets: [][]byte{secretOld}, Logger: slog.New(slog.DiscardHandler),
	})
	b.srv = other
	b.get("/agent").wantRedirect("/agent/login")
}

func TestAgentLoginCSRF(t *testing.T) {
	t.Parallel()
	en := newEnv(t)
	srv := en.consoleServer()
	tests := []struct {
		name string
		form url.Values
	}{
		{"no token", url.Values{"parley_csrf": {""}}},
		{"wrong token", url.Values{"parley_csrf": {"not-the-token"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := en.visitor(srv)
			v.get("/agent/login")
			form := tt.form
			form.Set("name", "alice")
			form.Set("password", "alice-password")
			res := v.post("/agent/login", form)
			res.wantStatus(http.StatusForbidden)
			if c := res.cookie(agentCookie); c != nil {
				t.Errorf("sign-in without CSRF token set the agent cookie")
			}

			// Every console form is checked too.
			a := agentBrowser(t, en, srv, "alice")
			id := en.visitor(srv).register("/", "Ada")
			for _, path := range []string{"/agent/chats/" + id + "/accept", "/agent/logout"} {
				f := url.Values{"parley_csrf": tt.form["parley_csrf"]}
				a.post(path, f).wantStatus(http.StatusForbidden)
			}
			if got := en.chat(id).Phase; got != chatstate.PhaseQueued {
				t.Errorf("accept without CSRF token: phase = %s, want queued", got)
			}
		})
	}
}

func TestAgentLoginRateLimited(t *testing.T) {
	t.Parallel()
	t.Run("per address", func(t *testing.T) {
		t.Parallel()
		en := newEnv(t)
		v := en.visitor(en.consoleServer())
		v.get("/agent/login")
		for i := range 10 {
			// Different names, so only the address's bucket runs dry.
			res := v.post("/agent/login", url.Values{"name": {"guess" + itoa(int64(i))}, "password": {"x"}})
			res.wantStatus(http.StatusUnauthorized)
		}
		res := v.post("/agent/login", url.Values{"name": {"alice"}, "password": {"alice-password"}})
		res.wantStatus(http.StatusTooManyRequests)
		if res.cookie(agentCookie) != nil {
			t.Error("a rate-limited sign-in set the agent cookie, even with the right password")
		}
		if got := res.doc().Find(`[role="alert"]`).Text(); !strings.Contains(got, "Too many sign-in attempts") {
			t.Errorf("rate-limited sign-in says %q", got)
		}
	})
	t.Run("per name, from many addresses", func(t *testing.T) {
		t.Parallel()
		en := newEnv(t)
		srv := en.consoleServer()
		// Alice signed in at her laptop before: a browser the console knows.
		laptop := en.visitor(srv)
		signIn(t, laptop, "alice", "alice-password").wantRedirect("/agent")
		laptop.post("/agent/logout", nil).wantRedirect("/agent/login")

		// Thirty addresses guess at her password, three times each: the
		// name's budget (five wrong guesses) is all they get, however many
		// addresses they spread over.
		checked := 0
		for range 30 {
			v := en.visitor(srv) // a new address each time
			for range 3 {
				switch res := signIn(t, v, "ALICE", "guess"); res.status {
				case http.StatusUnauthorized:
					checked++
				case http.StatusTooManyRequests:
				default:
					t.Fatalf("a guess answered %d", res.status)
				}
			}
		}
		if checked > 5 {
			t.Errorf("90 guesses from 30 addresses had %d passwords checked, want at most the name's 5", checked)
		}
		// Alice, at her laptop, is not locked out...
		signIn(t, laptop, "alice", "alice-password").wantRedirect("/agent")
		// ...while a browser that never signed in as her waits, even with
		// the right password, until her name recovers.
		signIn(t, en.visitor(srv), "alice", "alice-password").wantStatus(http.StatusTooManyRequests)
		// Other names are not held up.
		signIn(t, en.visitor(srv), "bob", "bob-password").wantRedirect("/agent")
	})
}

// TestAgentRoutesNeedSignIn checks every console route, and both console
// transports, refuse a visitor who is not signed in as an agent.
func TestAgentRoutesNeedSignIn(t *testing.T) {
	t.Parallel()
	en := newEnv(t)
	closing := make(chan struct{})
	ls := httptest.NewServer(newSite(en.consoleDeps(closing)))
	t.Cleanup(func() { close(closing); ls.Close() })
	srv := ls.Config.Handler
	id := en.visitor(srv).register("/", "Ada")

	v := en.visitor(srv)
	v.get("/agent/login") // a CSRF token, so that only the sign-in is missing
	pages := []string{"/agent", "/agent/chats/" + id, "/agent/history", "/agent/history/" + id, "/agent/anything"}
	for _, p := range pages {
		v.get(p).wantRedirect("/agent/login")
		v.get(p, hx).wantStatus(http.StatusUnauthorized)
	}
	posts := []string{"accept", "messages", "typing", "end", "release"}
	for _, p := range posts {
		res := v.post("/agent/chats/"+id+"/"+p, url.Values{"text": {"hi"}, "client_id": {"c1"}})
		res.wantStatus(http.StatusUnauthorized)
	}
	if got := en.chat(id); got.Phase != chatstate.PhaseQueued {
		t.Errorf("after unauthenticated posts, phase = %s, want queued", got.Phase)
	}
	v.get("/agent/poll?queue=&chats=", header("Accept", "application/json")).wantStatus(http.StatusUnauthorized)
	_, res, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(ls.URL, "http")+"/agent/ws", http.Header{"Origin": {ls.URL}})
	if err == nil || res == nil || res.StatusCode != http.StatusUnauthorized {
		t.Errorf("dial /agent/ws without signing in = %v (%v), want 401", err, res)
	}
}

// TestAcceptRace has two agents accept one chat at the same moment through
// HTTP: exactly one gets it, the other is told another agent took it.
func TestAcceptRace(t *testing.T) {
	t.Parallel()
	for _, partial := range []bool{false, true} {
		name := "form"
		if partial {
			name = "fetch"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			en := newEnv(t)
			srv := en.consoleServer()
			id := en.visitor(srv).register("/", "Ada")
			browsers := []*visitor{agentBrowser(t, en, srv, "alice"), agentBrowser(t, en, srv, "bob")}
			reqs := make([]*http.Request, len(browsers))
			for i, b := range browsers {
				b.get("/agent").wantStatus(http.StatusOK)
				req := httptest.NewRequest(http.MethodPost, baseURL+"/agent/chats/"+id+"/accept", strings.NewReader(url.Values{"parley_csrf": {b.csrf}}.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.RemoteAddr = b.addr
				if partial {
					req.Header.Set("HX-Request", "true")
				}
				for _, c := range b.cookies {
					req.AddCookie(c)
				}
				reqs[i] = req
			}
			recs := make([]*httptest.ResponseRecorder, len(reqs))
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range reqs {
				recs[i] = httptest.NewRecorder()
				wg.Go(func() {
					<-start
					srv.ServeHTTP(recs[i], reqs[i])
				})
			}
			close(start)
			wg.Wait()

			winners, losers := 0, 0
			for i, rec := range recs {
				doc, err := goquery.NewDocumentFromReader(rec.Body)
				if err != nil {
					t.Fatal(err)
				}
				switch rec.Code {
				case http.StatusSeeOther, http.StatusOK:
					winners++
					if got, want := en.chat(id).AgentName, []string{"alice", "bob"}[i]; got != want {
						t.Errorf("agent %s won the race but the chat is held by %q", want, got)
					}
				case http.StatusConflict:
					losers++
					if got := strings.TrimSpace(doc.Find(`#agent-alert[role="alert"]`).Text()); got != "Another agent has already accepted this chat." {
						t.Errorf("losing agent is told %q", got)
					}
					if rows := queueRows(doc.Selection); len(rows) != 0 {
						t.Errorf("losing agent's queue still lists %q", rows)
					}
				default:
					t.Errorf("accept answered %d:\n%s", rec.Code, rec.Body)
				}
			}
			if winners != 1 || losers != 1 {
				t.Errorf("winners = %d, losers = %d; want exactly one of each", winners, losers)
			}
			if n := len(en.events(id, chatstate.EventAgentJoined)); n != 1 {
				t.Errorf("agent_joined events = %d, want 1", n)
			}
		})
	}
}

// TestAgentChat follows a chat through the console: queue, accept, reply
// (idempotent), typing, page trail, end, history.
func TestAgentChat(t *testing.T) {
	t.Parallel()
	en := newEnv(t)
	srv := en.consoleServer()
	v := en.visitor(srv)
	id := v.register("/pricing", "Ada")

	a := agentBrowser(t, en, srv, "alice")
	console := a.get("/agent")
	console.wantStatus(http.StatusOK)
	doc := console.doc()
	if got := doc.Find("title").Text(); got != "(1) Parley agent" {
		t.Errorf("title = %q, want %q", got, "(1) Parley agent")
	}
	row := doc.Find("#agent-queue-" + id)
	if row.Length() != 1 {
		t.Fatalf("queue = %q, want the chat %s", queueRows(doc.Selection), id)
	}
	var facts []string
	row.Find("dd").Each(func(_ int, dd *goquery.Selection) { facts = append(facts, strings.TrimSpace(dd.Text())) })
	if diff := cmp.Diff([]string{"ada@example.com", "Sizing", "/pricing", "just now"}, facts); diff != "" {
		t.Errorf("queue row facts (-want +got):\n%s", diff)
	}
	if got := strings.TrimSpace(row.Find("h3").Text()); got != "Ada Lovelace" {
		t.Errorf("queue row name = %q", got)
	}
	if got := strings.TrimSpace(row.Find("form button").Text()); got != "Accept" {
		t.Errorf("queue row button = %q, want Accept", got)
	}

	a.post("/agent/chats/"+id+"/accept", nil).wantRedirect("/agent/chats/" + id)
	pane := a.get("/agent/chats/" + id)
	pane.wantStatus(http.StatusOK)
	p := pane.doc().Find("#agent-chat-" + id)
	if _, hidden := p.Attr("hidden"); hidden || p.Length() != 1 {
		t.Fatalf("chat pane shown = %v", p.Length())
	}
	if n := len(queueRows(pane.doc().Selection)); n != 0 {
		t.Errorf("after accept the queue lists %d chats, want 0", n)
	}
	if got := en.chat(id); got.Phase != chatstate.PhaseConnected || got.AgentName != "alice" {
		t.Fatalf("after accept chat = %s held by %q", got.Phase, got.AgentName)
	}

	// A reply, posted twice with the same client id, is stored once.
	clientID := p.Find(`input[name="client_id"]`).AttrOr("value", "")
	for range 2 {
		a.post("/agent/chats/"+id+"/messages", url.Values{"client_id": {clientID}, "text": {"Hello Ada, which size?"}}).wantRedirect("/agent/chats/" + id)
	}
	if msgs := en.events(id, chatstate.EventMessage); len(msgs) != 1 || msgs[0].From != (chatstate.Party{Type: chatstate.PartyAgent, Name: "Alice from Support"}) {
		t.Errorf("agent messages = %+v, want one from Alice from Support", msgs)
	}
	// The visitor's widget shows it, by the agent's display name: the name
	// alice signs in with is not the visitor's to know.
	page := v.get("/pricing")
	lines := transcript(page.widget())
	if last := lines[len(lines)-1]; last.Text != "Hello Ada, which size?" || last.Author != "Alice from Support" {
		t.Errorf("visitor's last line = %+v", last)
	}
	if strings.Contains(string(page.body), "alice") {
		t.Errorf("the visitor's page holds the agent's sign-in name %q", "alice")
	}

	// A fetch send answers with the line to swap in.
	res := a.post("/agent/chats/"+id+"/messages", url.Values{"client_id": {"c-fetch-1"}, "text": {"Still there?"}}, hx)
	res.wantStatus(http.StatusOK)
	if got := res.doc().Find("li.agent-line .agent-text").Text(); got != "Still there?" {
		t.Errorf("fetch send answered line %q", got)
	}
	// An empty reply is refused in place.
	res = a.post("/agent/chats/"+id+"/messages", url.Values{"client_id": {"c-fetch-2"}, "text": {"  "}}, hx)
	res.wantStatus(http.StatusUnprocessableEntity)
	if got := res.doc().Find("#agent-error-" + id).Text(); got != "Please type a message first." {
		t.Errorf("empty send says %q", got)
	}

	a.post("/agent/chats/"+id+"/typing", nil, hx).wantStatus(http.StatusNoContent)
	if n := len(en.events(id, chatstate.EventTyping)); n != 1 {
		t.Errorf("typing events = %d, want 1", n)
	}

	// The visitor moves on; the console's trail shows it.
	v.get("/contact")
	trail := a.get("/agent/chats/" + id).doc()
	if got := strings.TrimSpace(trail.Find("#agent-trail-" + id + " .agent-trail-page").Text()); got != "/contact" {
		t.Errorf("page trail = %q, want /contact", got)
	}
	if got := strings.TrimSpace(trail.Find("#agent-page-" + id).Text()); got != "/contact" {
		t.Errorf("current page = %q, want /contact", got)
	}

	// Another agent cannot answer or end it.
	b := agentBrowser(t, en, srv, "bob")
	b.get("/agent/chats/" + id).wantStatus(http.StatusForbidden)
	b.post("/agent/chats/"+id+"/messages", url.Values{"client_id": {"b1"}, "text": {"Hi"}}, hx).wantStatus(http.StatusForbidden)
	b.post("/agent/chats/"+id+"/end", nil, hx).wantStatus(http.StatusForbidden)

	a.post("/agent/chats/"+id+"/end", nil).wantRedirect("/agent/chats/" + id)
	if got := en.chat(id); got.Phase != chatstate.PhaseEnded || got.EndReason != chatstate.ReasonAgent {
		t.Errorf("after End chat: %s, reason %q", got.Phase, got.EndReason)
	}
	lines = transcript(v.get("/contact").widget())
	if last := lines[len(lines)-1]; last.Text != en.en("conversation.ended.agent", "name", "Alice from Support") {
		t.Errorf("visitor's last line = %q", last.Text)
	}
	ended := a.get("/agent/chats/" + id).doc()
	if ended.Find("#agent-chat-"+id+" textarea").Length() != 0 {
		t.Error("an ended chat still offers the reply box")
	}

	// History finds it by what was said, and shows the transcript.
	en.visitor(srv).register("/", "Grace")
	hist := a.get("/agent/history?q=WHICH+SIZE").doc()
	var found []string
	hist.Find(".agent-results-list a").Each(func(_ int, s *goquery.Selection) { found = append(found, s.Text()) })
	if diff := cmp.Diff([]string{"Ada Lovelace"}, found); diff != "" {
		t.Errorf("history search (-want +got):\n%s", diff)
	}
	open := a.get("/agent/history/" + id).doc()
	var texts []string
	open.Find("#agent-log-" + id + " .agent-text").Each(func(_ int, s *goquery.Selection) { texts = append(texts, s.Text()) })
	want := []string{"Ada is waiting for an agent.", "Alice from Support accepted the chat.", "Hello Ada, which size?", "Still there?", "Alice from Support ended the chat."}
	if diff := cmp.Diff(want, texts); diff != "" {
		t.Errorf("history transcript (-want +got):\n%s", diff)
	}
}

// TestAgentFeed checks the console's live transport: a resume says what
// changed, and live events arrive as fragments.
func TestAgentFeed(t *testing.T) {
	t.Parallel()
	en := newEnv(t)
	closing := make(chan struct{})
	ls := httptest.NewServer(newSite(en.consoleDeps(closing)))
	t.Cleanup(func() {
		select {
		case <-closing:
		default:
			close(closing)
		}
		ls.Close()
	})
	srv := ls.Config.Handler
	a := agentBrowser(t, en, srv, "alice")

	wsURL := "ws" + strings.TrimPrefix(ls.URL, "http") + "/agent/ws?queue=&chats="
	h := http.Header{"Origin": {ls.URL}, "Cookie": {a.cookieHeader()}}
	conn, _, err := websocket.DefaultDialer.Dial(wsURL, h)
	if err != nil {
		t.Fatalf("dial /agent/ws: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	send(t, conn, map[string]any{"type": "hello", "lastSeq": 0})
	wantResume(t, next(t, conn), true)
	// The client said it shows no queue version: it gets the (empty) list.
	if f := next(t, conn); !strings.Contains(f.HTML, `id="agent-queue-list"`) {
		t.Fatalf("after resume got %+v, want the queue list", f)
	}

	// A visitor registers: the queue list comes with the chat in it.
	v := en.visitor(srv)
	id := v.register("/products", "Ada")
	f := nextWith(t, conn, "agent-queue-"+id)
	if f.Event == nil || f.Event.Kind != string(chatstate.EventRegistered) {
		t.Errorf("frame event = %+v, want registered", f.Event)
	}

	// Accepting (here, by the service) brings the pane; the queue empties.
	if _, err := en.chats.Accept(context.Background(), id, chatstate.AgentParty("alice", "")); err != nil {
		t.Fatal(err)
	}
	f = nextWith(t, conn, `id="agent-chat-`+id+`"`)
	if strings.Contains(f.HTML, `id="agent-queue-`+id+`"`) {
		t.Error("after accept the queue still lists the chat")
	}
	// The visitor types, moves and writes: each arrives.
	v.get("/pricing")
	nextWith(t, conn, `id="agent-trail-`+id+`-`)
	if err := en.chats.Typing(context.Background(), id, chatstate.Party{Type: chatstate.PartyVisitor}); err != nil {
		t.Fatal(err)
	}
	nextWith(t, conn, "Ada is typing…")
	v.say("/pricing", "Is the tent waterproof?")
	nextWith(t, conn, "Is the tent waterproof?")

	// A client that shows the chat up to seq 2 gets the rest by long-poll
	// at once, and nothing when it is up to date.
	chat := en.chat(id)
	status, frames := pollFrames(t, &liveServer{Server: ls}, a, http.MethodGet, "/agent/poll?queue=&chats="+id+".2", "")
	if status != http.StatusOK || len(frames) != 2 || !strings.Contains(frames[1].HTML, "Is the tent waterproof?") {
		t.Fatalf("poll from seq 2 = %d %+v", status, frames)
	}
	q := en.chatsQueueVersion(t, a)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ls.URL+"/agent/poll?"+q+"&chats="+id+"."+itoa(chat.LastSeq), nil)
	req.Header.Set("Cookie", a.cookieHeader())
	if res, err := http.DefaultClient.Do(req); err == nil {
		res.Body.Close()
		t.Errorf("an up-to-date poll answered %d at once, want it to wait", res.StatusCode)
	}

	// Ending (by the visitor) replaces the pane with the ended chat.
	v.post("/chat/end", url.Values{"return_to": {"/pricing"}})
	f = nextWith(t, conn, `data-live="false"`)
	if !strings.Contains(f.HTML, "Ada ended the chat.") {
		t.Errorf("ended frame lacks the ending line:\n%s", f.HTML)
	}
}

// nextWith reads frames until one whose HTML contains s.
func nextWith(t *testing.T, conn *websocket.Conn, s string) frame {
	t.Helper()
	for range 20 {
		f := next(t, conn)
		if strings.Contains(f.HTML, s) {
			return f
		}
	}
	t.Fatalf("no frame with %q", s)
	return frame{}
}

// chatsQueueVersion is what the console says of its queue when it
// reconnects: the "queue" and "pages" parameters of its feed.
func (en *env) chatsQueueVersion(t *testing.T, a *visitor) string {
	t.Helper()
	doc := a.get("/agent").doc()
	return url.Values{
		"queue": {doc.Find("#agent-queue-list").AttrOr("data-version", "")},
		"pages": {doc.Find("#agent-queue-pages").AttrOr("data-pages", "")},
	}.Encode()
}

// TestSignOutEndsCopiedSessions: a copy of an agent's cookie (a shared
// computer, a stolen cookie) stops working when the agent signs out, on
// every instance and after a restart; the agent's other browsers stay
// signed in.
func TestSignOutEndsCopiedSessions(t *testing.T) {
	t.Parallel()
	en := newEnv(t)
	srv := en.consoleServer()
	a := agentBrowser(t, en, srv, "alice")
	thief := en.visitor(srv)
	for name, c := range a.cookies {
		copied := *c
		thief.cookies[name] = &copied
	}
	thief.get("/agent").wantStatus(http.StatusOK)

	// Another instance on the same store (or this one after a restart)
	// knows nothing of this one's memory.
	other := en.consoleDeps(nil)
	other.Chats = chatstate.NewService(chatstate.Config{Store: en.store})
	thiefElsewhere := en.visitor(newSite(other))
	thiefElsewhere.cookies = thief.cookies
	thiefElsewhere.get("/agent").wantStatus(http.StatusOK)

	// Alice on a second computer keeps her own session.
	laptop := agentBrowser(t, en, srv, "alice")

	a.get("/agent")
	a.post("/agent/logout", url.Values{}).wantRedirect("/agent/login")
	thief.get("/agent").wantRedirect("/agent/login")
	thiefElsewhere.get("/agent").wantRedirect("/agent/login")
	laptop.get("/agent").wantStatus(http.StatusOK)

	// Signing in again starts a session that works.
	signIn(t, a, "alice", "alice-password").wantRedirect("/agent")
	a.get("/agent").wantStatus(http.StatusOK)
}

// TestForwardedForIsBelievedFromTrustedProxiesOnly: a client that forges
// X-Forwarded-For cannot pick a fresh address for each sign-in guess,
// whatever the site's Echo would believe; behind a trusted proxy, the
// clients it forwards are told apart.
func TestForwardedForIsBelievedFromTrustedProxiesOnly(t *testing.T) {
	t.Parallel()
	// Each guess is for another name, so that only the address's limit
	// can hold it up.
	guess := func(v *visitor, forwardedFor string) int {
		return v.post("/agent/login", url.Values{"name": {"name-" + forwardedFor}, "password": {"x"}}, header("X-Forwarded-For", forwardedFor)).status
	}
	t.Run("forged", func(t *testing.T) {
		t.Parallel()
		en := newEnv(t)
		v := en.visitor(en.consoleServer())
		v.get("/agent/login")
		for i := range 10 {
			if got := guess(v, "198.51.100."+itoa(int64(i+1))); got != http.StatusUnauthorized {
				t.Fatalf("guess %d = %d, want 401", i+1, got)
			}
		}
		if got := guess(v, "198.51.100.99"); got != http.StatusTooManyRequests {
			t.Errorf("the 11th guess with yet another forged address = %d, want 429", got)
		}
	})
	// Behind a trusted proxy each client has its own bucket, also when the
	// proxy writes the client's port ("addr:port", "[addr]:port").
	for name, forwarded := range map[string]func(i int) string{
		"from a trusted proxy":                   func(i int) string { return "198.51.100." + itoa(int64(i)) },
		"from a trusted proxy that writes ports": func(i int) string { return "198.51.100." + itoa(int64(i)) + ":4" + itoa(int64(i+1000)) },
		"from a trusted proxy, IPv6 with ports":  func(i int) string { return "[2001:db8:" + itoa(int64(i)) + "::7]:443" },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			en := newEnv(t)
			d := en.consoleDeps(nil)
			d.Options.TrustedProxies = prefixes("192.0.2.0/24")
			v := en.visitor(newSite(d))
			v.get("/agent/login")
			for i := range 12 {
				if got := guess(v, forwarded(i+1)); got != http.StatusUnauthorized {
					t.Fatalf("guess from forwarded client %s = %d, want 401: each client has its own bucket", forwarded(i+1), got)
				}
			}
		})
	}
}

// TestAgentCookieOverTLS: behind TLS the console's session is a __Host-
// cookie (Secure, for the whole host), and the console works with it.
func TestAgentCookieOverTLS(t *testing.T) {
	t.Parallel()
	en := newEnv(t)
	deps := en.consoleDeps(nil)
	deps.Options.TrustedProxies = prefixes("192.0.2.0/24") // httptest's clients
	v := en.visitor(newSite(deps))
	v.header = http.Header{"X-Forwarded-Proto": {"https"}}
	res := signIn(t, v, "alice", "alice-password")
	res.wantRedirect("/agent")
	c := res.cookie("__Host-" + agentCookie)
	if c == nil {
		t.Fatalf("sign-in over TLS set no __Host-%s cookie; cookies: %v", agentCookie, res.cookies)
	}
	if !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Domain != "" {
		t.Errorf("agent cookie HttpOnly=%v Secure=%v SameSite=%v Path=%q Domain=%q, want HttpOnly, Secure, Strict, /, none",
			c.HttpOnly, c.Secure, c.SameSite, c.Path, c.Domain)
	}
	v.get("/agent").wantStatus(http.StatusOK)
	out := v.post("/agent/logout", nil)
	out.wantRedirect("/agent/login")
	if c := out.cookie("__Host-" + agentCookie); c == nil || c.MaxAge >= 0 || c.Path != "/" {
		t.Errorf("sign-out Set-Cookie = %v, want the __Host- cookie deleted at Path=/", c)
	}
	v.get("/agent").wantRedirect("/agent/login")
}

// TestConsolesShareTheQueue: an event that changes the queue reaches every
// console, and the queue is read once for all of them, not once each (with
// many agents and a long queue, that read was most of the server's work).
func TestConsolesShareTheQueue(t *testing.T) {
	t.Parallel()
	en := newEnv(t)
	ls := consoleServer(t, en)
	srv := ls.Config.Handler
	const consoles = 6
	var conns []*websocket.Conn
	for range consoles {
		conns = append(conns, dialConsole(t, en, ls, "alice"))
	}

	before := en.store.queueReads.Load()
	id := en.visitor(srv).register("/products", "Ada")
	for _, conn := range conns {
		nextWith(t, conn, "agent-queue-"+id)
	}
	if reads := en.store.queueReads.Load() - before; reads != 1 {
		t.Errorf("one new chat reached %d consoles with %d reads of the queue, want 1", consoles, reads)
	}

	// The waiting visitor moves: every console shows the new page.
	v := en.visitor(srv)
	other := v.register("/products", "Grace")
	for _, conn := range conns {
		nextWith(t, conn, "agent-queue-"+other)
	}
	before = en.store.queueReads.Load()
	v.get("/pricing")
	for _, conn := range conns {
		nextWith(t, conn, `/pricing`)
	}
	if reads := en.store.queueReads.Load() - before; reads != 1 {
		t.Errorf("a waiting visitor's move reached %d consoles with %d reads of the queue, want 1", consoles, reads)
	}

	// Once the chat is taken, its moves leave the queue alone.
	if _, err := en.chats.Accept(context.Background(), other, chatstate.AgentParty("alice", "")); err != nil {
		t.Fatal(err)
	}
	for _, conn := range conns {
		f := nextWith(t, conn, `id="agent-queue-list"`)
		if strings.Contains(f.HTML, "agent-queue-"+other) {
			t.Fatal("the queue still lists the accepted chat")
		}
	}
	before = en.store.queueReads.Load()
	v.get("/products")
	// A message after the move: once it reaches the agent, the move has
	// reached every console.
	v.say("/products", "Done")
	for _, conn := range conns {
		nextWith(t, conn, "Done")
	}
	if reads := en.store.queueReads.Load() - before; reads != 0 {
		t.Errorf("a taken chat's move made %d reads of the queue, want 0", reads)
	}
}

// TestAcceptOpensThePaneInTheAgentsConsolesOnly: an accepted chat opens in
// every console of the agent who took it, and the others' consoles, many
// as they may be, only see the queue change, without reading the chat.
func TestAcceptOpensThePaneInTheAgentsConsolesOnly(t *testing.T) {
	t.Parallel()
	en := newEnv(t)
	ls := consoleServer(t, en)
	srv := ls.Config.Handler
	alice := []*websocket.Conn{dialConsole(t, en, ls, "alice"), dialConsole(t, en, ls, "alice")}
	var others []*websocket.Conn
	for range 6 {
		others = append(others, dialConsole(t, en, ls, "bob"))
	}
	id := en.visitor(srv).register("/products", "Ada")
	for _, conn := range append(others, alice...) {
		nextWith(t, conn, "agent-queue-"+id)
	}

	before := en.store.chatReads.Load()
	if _, err := en.chats.Accept(context.Background(), id, chatstate.AgentParty("alice", "")); err != nil {
		t.Fatal(err)
	}
	for _, conn := range alice {
		nextWith(t, conn, `id="agent-chat-`+id+`"`)
	}
	for _, conn := range others {
		f := nextWith(t, conn, `id="agent-queue-list"`)
		if strings.Contains(f.HTML, `id="agent-chat-`+id+`"`) || strings.Contains(f.HTML, "agent-queue-"+id) {
			t.Errorf("bob's console after alice's accept got:\n%s", f.HTML)
		}
	}
	if reads := en.store.chatReads.Load() - before; reads > int64(len(alice)) {
		t.Errorf("an accept reached %d consoles with %d reads of the chat, want at most %d (the accepting agent's)", len(alice)+len(others), reads, len(alice))
	}
}

// TestConsoleTakesEveryEventOfAChatItTakes: a console is woken only for the
// chats it shows, yet misses nothing of a chat taken while its visitor
// writes: every message shows once. Another agent's console is not woken
// for that chat's messages at all.
func TestConsoleTakesEveryEventOfAChatItTakes(t *testing.T) {
	t.Parallel()
	en := newEnv(t)
	ls := consoleServer(t, en)
	srv := ls.Config.Handler
	alice, bob := dialConsole(t, en, ls, "alice"), dialConsole(t, en, ls, "bob")
	id := en.visitor(srv).register("/products", "Ada")
	nextWith(t, alice, "agent-queue-"+id)
	nextWith(t, bob, "agent-queue-"+id)

	const messages = 40
	visitor := chatstate.Party{Type: chatstate.PartyVisitor, Name: "Ada"}
	delivered := en.chats.Hub().Stats().Delivered
	sent := make(chan error, 1)
	go func() {
		for i := range messages {
			if _, err := en.chats.SendMessage(context.Background(), id, visitor, fmt.Sprintf("m%02d", i), fmt.Sprintf("msg-%02d.", i)); err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()
	if _, err := en.chats.Accept(context.Background(), id, chatstate.AgentParty("alice", "")); err != nil {
		t.Fatal(err)
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	// No later event repairs a gap: the last message must arrive as is.
	last := fmt.Sprintf("msg-%02d.", messages-1)
	var shown strings.Builder
	for !strings.Contains(shown.String(), last) {
		shown.WriteString(next(t, alice).HTML)
	}
	for i := range messages {
		if n := strings.Count(shown.String(), fmt.Sprintf("msg-%02d.", i)); n != 1 {
			t.Errorf("alice's console showed msg-%02d %d times, want once", i, n)
		}
	}
	// Bob's console took the queue's change, and nothing of the messages.
	nextWith(t, bob, `id="agent-queue-list"`)
	if n := en.chats.Hub().Stats().Delivered - delivered; n > messages+5 {
		t.Errorf("the hub delivered %d events for %d messages to two consoles, want about one each: the other console was woken too", n, messages)
	}
}

// consoleServer serves the site with the console on a live listener,
// closing it (and the consoles' feeds) at the end of the test.
func consoleServer(t *testing.T, en *env) *httptest.Server {
	t.Helper()
	closing := make(chan struct{})
	ls := httptest.NewServer(newSite(en.consoleDeps(closing)))
	t.Cleanup(func() {
		close(closing)
		ls.Close()
	})
	return ls
}

// dialConsole signs agent in and opens its console's feed, up to the
// queue list that follows the resume.
func dialConsole(t *testing.T, en *env, ls *httptest.Server, agent string) *websocket.Conn {
	t.Helper()
	a := agentBrowser(t, en, ls.Config.Handler, agent)
	h := http.Header{"Origin": {ls.URL}, "Cookie": {a.cookieHeader()}}
	conn, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(ls.URL, "http")+"/agent/ws?queue=&chats=", h)
	if err != nil {
		t.Fatalf("dial /agent/ws: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	send(t, conn, map[string]any{"type": "hello", "lastSeq": 0})
	wantResume(t, next(t, conn), true)
	nextWith(t, conn, `id="agent-queue-list"`)
	return conn
}

// TestNewPasswordEndsSessions: an agent's password is changed in the
// configuration and the server restarted (here: the handlers built again
// on the same store and keys). Every session signed in with the old
// password ends; the new one signs in; and a restart that changes nothing
// keeps the agent signed in.
func TestNewPasswordEndsSessions(t *testing.T) {
	t.Parallel()
	en := newEnv(t)
	withPassword := func(password string) http.Handler {
		accounts, err := agents.New([]agents.Credential{{Name: "alice", Password: password}}, bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		d := en.consoleDeps(nil)
		d.Agents = accounts
		return newSite(d)
	}
	laptop := en.visitor(withPassword("old-password"))
	signIn(t, laptop, "alice", "old-password").wantRedirect("/agent")
	laptop.get("/agent").wantStatus(http.StatusOK)

	laptop.srv = withPassword("old-password")
	laptop.get("/agent").wantStatus(http.StatusOK)

	laptop.srv = withPassword("new-password")
	laptop.get("/agent").wantRedirect("/agent/login")
	laptop.post("/agent/chats/x/accept", nil).wantStatus(http.StatusUnauthorized)
	signIn(t, laptop, "alice", "old-password").wantStatus(http.StatusUnauthorized)
	signIn(t, laptop, "alice", "new-password").wantRedirect("/agent")
	laptop.get("/agent").wantStatus(http.StatusOK)
}

// TestWaitingVisitorsMoveSendsItsPage: a waiting visitor's page move
// reaches each console as that page alone, not the queue: with 200 waiting
// chats, each move re-rendering the whole queue for every console sent an
// idle console hundreds of megabytes a minute. A console that reconnects
// with the pages it shows gets nothing more; one with older pages gets the
// pages that moved.
func TestWaitingVisitorsMoveSendsItsPage(t *testing.T) {
	t.Parallel()
	en := newEnv(t)
	ls := consoleServer(t, en)
	srv := ls.Config.Handler
	conn := dialConsole(t, en, ls, "alice")
	var ids []string
	for i := range 30 {
		ids = append(ids, en.visitor(srv).register("/products", "Visitor"+itoa(int64(i))))
		nextWith(t, conn, "agent-queue-"+ids[i])
	}
	v := en.visitor(srv)
	moving := v.register("/products", "Ada")
	full := nextWith(t, conn, "agent-queue-"+moving)

	v.get("/pricing")
	moved := nextWith(t, conn, "/pricing")
	if strings.Contains(moved.HTML, `id="agent-queue-list"`) || len(moved.HTML) > len(full.HTML)/10 {
		t.Errorf("a move sent %d bytes (the queue is %d): %.300s; want the page alone", len(moved.HTML), len(full.HTML), moved.HTML)
	}
	if !strings.Contains(moved.HTML, `id="agent-queue-`+moving+`-page"`) {
		t.Errorf("the move's fragment (%.200s) does not name the row's page", moved.HTML)
	}

	// Reconnecting (each long-poll does) with the pages shown: nothing to
	// send, the poll waits.
	a := agentBrowser(t, en, srv, "bob")
	current := en.chatsQueueVersion(t, a)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ls.URL+"/agent/poll?"+current+"&chats=", nil)
	req.Header.Set("Cookie", a.cookieHeader())
	if res, err := http.DefaultClient.Do(req); err == nil {
		res.Body.Close()
		t.Errorf("a poll with the queue's pages answered %d at once, want it to wait", res.StatusCode)
	}
	// With the pages from before the move: the pages, not the queue.
	q, _ := url.ParseQuery(current)
	status, frames := pollFrames(t, &liveServer{Server: ls}, a, http.MethodGet,
		"/agent/poll?queue="+url.QueryEscape(q.Get("queue"))+"&pages=before&chats=", "")
	if status != http.StatusOK || len(frames) != 2 || strings.Contains(frames[1].HTML, `id="agent-queue-list"`) ||
		!strings.Contains(frames[1].HTML, `id="agent-queue-`+moving+`-page"`) {
		t.Errorf("a poll with old pages = %d %+v, want the pages without the list", status, frames)
	}
}
