package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/chromedp/cdproto/cdp"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"

	"github.com/parley/parley/chatclient"
)

// The browser API tests drive window.chat as a site owner's script does.
// Each page gets a small "site harness" (siteScript) before any of its own
// scripts runs: it records every startChat/restoreChat call and how its
// promise settled, every session callback, every WebSocket the page opens
// and every fetch it makes, and it can hand the demo site's own
// restoreChat({embedded: true}) call extra options, as a site owner who
// configures the widget would write them.

// siteSetup configures the site harness of a page.
type siteSetup struct {
	// restoreOptions is a JavaScript expression for the options merged into
	// the site's own restoreChat call on every page load ("" for none). It
	// runs in the page, so it may hold functions (registration, transport).
	restoreOptions string
	// webSocket is "" to let WebSockets through (they are still counted),
	// "block" to make every WebSocket fail to connect, as a proxy that
	// refuses upgrades does, "first" to make only the first one fail, as
	// a server restarting does, or "twice" for the first two.
	webSocket string
	// prelude is JavaScript run first in every document, before the chat
	// script, for a test's own helpers (a custom transport, counters).
	prelude string
}

// siteScript is the harness installed by installSite; %s are the prelude,
// the WebSocket mode and the restore options.
const siteScript = `(() => {
  "use strict";
  if (window.top !== window || window.e2e) return;
  const e2e = window.e2e = {calls: [], events: [], sockets: [], live: [], fetches: [], sessions: []};
  %s
  const RealSocket = window.WebSocket;
  const mode = %q;
  function Socket(url, protocols) {
    e2e.sockets.push(String(url));
    const blocked = mode === "block" || (mode === "first" && e2e.sockets.length === 1) ||
      (mode === "twice" && e2e.sockets.length <= 2);
    // A handshake the server refuses: the socket fails without opening.
    const socket = blocked ? new RealSocket(location.origin.replace(/^http/, "ws") + "/e2e-no-websocket-here")
      : new RealSocket(url, protocols);
    e2e.live.push(socket);
    return socket;
  }
  Socket.prototype = RealSocket.prototype;
  Object.assign(Socket, {CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3});
  window.WebSocket = Socket;
  const realFetch = window.fetch;
  window.fetch = function (input, init) {
    e2e.fetches.push(String(input && input.url || input));
    return realFetch.apply(window, arguments);
  };

  e2e.restoreOptions = %s;
  const callbacks = ["onAgentConnected", "onAgentDisconnected", "onMessageReceived", "onAgentTyping",
    "onSessionEnded", "onConnectionError", "onReconnected"];
  function plain(v) { try { return JSON.parse(JSON.stringify(v === undefined ? null : v)); } catch (e) { return String(v); } }
  function listen(session) {
    if (e2e.sessions.indexOf(session) >= 0) return;
    e2e.sessions.push(session);
    callbacks.forEach(name => session[name](ev => e2e.events.push(Object.assign({cb: name}, plain(ev)))));
  }
  function widgetPhase() {
    const w = document.getElementById("parley-widget");
    return w ? w.getAttribute("data-phase") : "";
  }
  // track records a call of the API and how its promise settles.
  e2e.track = function (name, promise) {
    const call = {name: name, state: "pending"};
    e2e.calls.push(call);
    promise.done(value => {
      call.state = "done";
      call.phase = widgetPhase();
      if (value && typeof value.getChatId === "function") {
        call.chatId = value.getChatId();
        e2e.session = value;
        listen(value);
      } else if (value && value.popup) {
        call.popup = true;
      }
    }).fail(ev => { call.state = "fail"; call.event = plain(ev); });
    return promise;
  };
  // call calls the real API, as a test's own script on the page would.
  e2e.call = function (name, options) { return e2e.track(name, e2e.api[name](options)); };
  e2e.state = function () { return {calls: e2e.calls, events: e2e.events, sockets: e2e.sockets, fetches: e2e.fetches}; };

  let wrapped;
  Object.defineProperty(window, "chat", {
    configurable: true,
    get: () => wrapped,
    set: api => {
      e2e.api = api;
      wrapped = Object.assign({}, api, {
        // The demo site's own call, with the options this test's site adds.
        restoreChat: options => e2e.track("restoreChat", api.restoreChat(Object.assign({}, options, e2e.restoreOptions))),
        startChat: options => e2e.track("startChat", api.startChat(options)),
        startChatInThisWindow: options => e2e.track("startChatInThisWindow", api.startChatInThisWindow(options))
      });
    }
  });
})();`

// installSite installs the site harness for every document the page loads
// from now on; call it before the first navigation.
func installSite(p *page, s siteSetup) {
	p.t.Helper()
	options := s.restoreOptions
	if options == "" {
		options = "null"
	}
	script := fmt.Sprintf(siteScript, s.prelude, s.webSocket, options)
	p.do("install the site harness", chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, cdppage.AddScriptToEvaluateOnNewDocument, cdppage.AddScriptToEvaluateOnNewDocumentParams{Source: script})
		return err
	}))
}

// apiError is event.error of a failed call.
type apiError struct {
	Code        int    `json:"code"`
	Name        string `json:"name"`
	Description string `json:"description"`
}

// failEvent is what a call's fail callback got.
type failEvent struct {
	Error  *apiError `json:"error"`
	Reason string    `json:"reason"`
}

// apiCall is one recorded call of the browser API.
type apiCall struct {
	Name  string     `json:"name"`
	State string     `json:"state"` // pending, done or fail
	Phase string     `json:"phase"` // the widget's data-phase when done fired
	Chat  string     `json:"chatId"`
	Popup bool       `json:"popup"`
	Event *failEvent `json:"event"`
}

// sessionEvent is one event a session callback got.
type sessionEvent struct {
	Callback string `json:"cb"`
	Seq      int64  `json:"seq"`
	Time     string `json:"time"`
	Kind     string `json:"kind"`
	Text     string `json:"text"`
	Reason   string `json:"reason"`
	From     struct {
		Type string `json:"type"`
		Name string `json:"name"`
	} `json:"from"`
	Error *apiError `json:"error"`
}

// harnessState is everything the site harness recorded in the current
// document.
type harnessState struct {
	Calls   []apiCall      `json:"calls"`
	Events  []sessionEvent `json:"events"`
	Sockets []string       `json:"sockets"`
	Fetches []string       `json:"fetches"`
}

func siteState(p *page) harnessState {
	p.t.Helper()
	return evalJS[harnessState](p, "window.e2e ? e2e.state() : {calls: [], events: [], sockets: [], fetches: []}")
}

// callJS calls a method of the browser API from the page (not awaiting it)
// and returns the index of the recorded call.
func callJS(p *page, method, options string) int {
	p.t.Helper()
	return evalJS[int](p, fmt.Sprintf("e2e.call(%q, %s), e2e.calls.length - 1", method, options))
}

// waitCall waits until the recorded call i of the current document has
// settled (or exists, for the site's own call) and returns it.
func waitCall(t *testing.T, p *page, i int) apiCall {
	t.Helper()
	var last harnessState
	if !p.poll(func(ctx context.Context) bool {
		s, err := chromedp.Run(ctx, chromedp.Evaluate[harnessState]("window.e2e ? e2e.state() : {}"))
		if err != nil {
			return false
		}
		last = s
		return len(s.Calls) > i && s.Calls[i].State != "pending"
	}) {
		t.Fatalf("call %d of the browser API never settled within %v; calls: %+v", i, actionTimeout, last.Calls)
	}
	return last.Calls[i]
}

// waitEvent waits until a session callback has received an event that
// matches and returns it.
func waitEvent(t *testing.T, p *page, what string, match func(sessionEvent) bool) sessionEvent {
	t.Helper()
	var last harnessState
	var found sessionEvent
	if !p.poll(func(ctx context.Context) bool {
		s, err := chromedp.Run(ctx, chromedp.Evaluate[harnessState]("window.e2e ? e2e.state() : {}"))
		if err != nil {
			return false
		}
		last = s
		for _, ev := range s.Events {
			if match(ev) {
				found = ev
				return true
			}
		}
		return false
	}) {
		t.Fatalf("no session callback got %s within %v; events: %+v", what, actionTimeout, last.Events)
	}
	return found
}

// siteRestore is the first call of the site's own restoreChat in the
// current document, once it has settled.
func siteRestore(t *testing.T, p *page) apiCall {
	t.Helper()
	return waitCall(t, p, 0)
}

// sendViaAPI sends text with the session API of the page and returns the
// seq its promise resolved with.
func sendViaAPI(t *testing.T, p *page, text string) int64 {
	t.Helper()
	return evalJS[int64](p, fmt.Sprintf("e2e.session.sendMessage(%q).then(r => r.seq)", text))
}

// widgetAttr is an attribute of the chat widget in the page now.
func widgetAttr(p *page, name string) string {
	p.t.Helper()
	return evalJS[string](p, fmt.Sprintf(`(document.getElementById("parley-widget") || {getAttribute: () => ""}).getAttribute(%q) || ""`, name))
}

// linesWith counts the transcript lines whose text contains text.
func linesWith(p *page, text string) int {
	p.t.Helper()
	return evalJS[int](p, fmt.Sprintf(`Array.from(document.querySelectorAll("#parley-widget li"))
		.filter(li => li.textContent.includes(%q)).length`, text))
}

// waitLines waits until exactly n transcript lines contain text (and stay
// so for a moment: a duplicate arrives right after the original).
func waitLines(t *testing.T, p *page, text string, n int) {
	t.Helper()
	var got int
	stable := 0
	if !p.poll(func(ctx context.Context) bool {
		c, err := chromedp.Run(ctx, chromedp.Evaluate[int](fmt.Sprintf(`Array.from(document.querySelectorAll("#parley-widget li"))
			.filter(li => li.textContent.includes(%q)).length`, text)))
		if err != nil {
			stable = 0
			return false
		}
		got = c
		if c != n {
			stable = 0
			return false
		}
		stable++
		return stable >= 6 // 300 ms at the poll's pace
	}) {
		t.Fatalf("the transcript has %d lines with %q, want %d", got, text, n)
	}
}

// siblingPage opens another tab in p's browser context: the same visitor,
// with the same cookies, in a second tab. close closes the tab.
func siblingPage(t *testing.T, p *page) (tab *page, close func()) {
	t.Helper()
	ctx, cancel := chromedp.NewContext(p.ctx)
	return attachPage(t, ctx, cancel), cancel
}

// attachPage makes a page of a chromedp tab context, with its console
// recorded and checked as newPage does.
func attachPage(t *testing.T, ctx context.Context, cancel context.CancelFunc) *page {
	t.Helper()
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	q := &page{t: t, ctx: ctx}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			q.mu.Lock()
			q.console = append(q.console, m)
			q.mu.Unlock()
		}
	}()
	t.Cleanup(q.checkConsole)
	return q
}

// openPopup runs script in p as if a click ran it (so a popup is allowed),
// waits for the window it opens and returns it as a page.
func openPopup(t *testing.T, p *page, script string) *page {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, actionTimeout)
	defer cancel()
	opened := chromedp.WaitNewTarget(ctx, func(info *target.Info) bool { return info.Type == "page" })
	_, err := chromedp.Run(ctx, chromedp.Evaluate[bool](script+"; true", func(e *runtime.EvaluateParams) {
		e.UserGesture = new(true)
	}))
	if err != nil {
		t.Fatalf("run %s: %v", script, err)
	}
	var id target.ID
	select {
	case id = <-opened:
	case <-ctx.Done():
	}
	if id == "" {
		t.Fatalf("%s opened no window within %v", script, actionTimeout)
	}
	popupCtx, popupCancel := chromedp.NewContext(p.ctx, chromedp.WithTargetID(id))
	return attachPage(t, popupCtx, popupCancel)
}

// waitUntil polls check (run in the page) until it is true.
func waitUntil(t testing.TB, p *page, what, check string) {
	t.Helper()
	if !p.poll(func(ctx context.Context) bool {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](check))
		return err == nil && ok
	}) {
		t.Fatalf("%s: %s stayed false for %v", what, check, actionTimeout)
	}
}

// ---- the agent's side, over the console's own endpoints ----

// apiAgentName and apiAgentPassword are the agent startAPIServer configures.
const apiAgentName, apiAgentPassword = "alice", "secret-password"

// startAPIServer runs parley with one agent account.
func startAPIServer(t *testing.T) *server {
	t.Helper()
	return startServer(t, "", "-agent", apiAgentName+":"+apiAgentPassword)
}

// agentClient is an agent signed in to the console, posting the console's
// forms as its page does (enhanced requests, with the CSRF header).
type agentClient struct {
	t       *testing.T
	client  *chatclient.Client
	console chatclient.Console
}

// signInAgent signs alice in through POST /agent/login.
func signInAgent(t *testing.T, srv *server) *agentClient {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	a := &agentClient{t: t, client: &chatclient.Client{Base: srv.URL, HTTP: &http.Client{Jar: jar, Timeout: actionTimeout}}}
	if srv.client != nil {
		a.client.HTTP.Transport = srv.client.Transport
	}
	ctx := context.Background()
	token, err := a.client.LoginToken(ctx)
	if err != nil {
		t.Fatalf("agent sign-in page: %v", err)
	}
	if a.console, err = a.client.SignIn(ctx, token, apiAgentName, apiAgentPassword); err != nil {
		t.Fatalf("signing in as %s: %v", apiAgentName, err)
	}
	return a
}

func (a *agentClient) get(path string) *goquery.Document {
	a.t.Helper()
	html, err := a.client.Get(context.Background(), path)
	if err != nil {
		a.t.Fatalf("agent GET %s: %v", path, err)
	}
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(html))
	if err != nil {
		a.t.Fatalf("agent GET %s: %v", path, err)
	}
	return doc
}

// post posts a console form as the console's script does.
func (a *agentClient) post(path string) {
	a.t.Helper()
	if _, err := a.client.PostForm(context.Background(), path, a.console.CSRF, nil); err != nil {
		a.t.Fatalf("agent POST %s: %v", path, err)
	}
}

func (a *agentClient) accept(chatID string) {
	a.t.Helper()
	if _, err := a.client.Accept(context.Background(), a.console.CSRF, chatID); err != nil {
		a.t.Fatalf("agent accept %s: %v", chatID, err)
	}
}

func (a *agentClient) send(chatID, text string) {
	a.t.Helper()
	if err := a.trySend(chatID, text); err != nil {
		a.t.Fatal(err)
	}
}

// trySend is send for a goroutine other than the test's: it returns the
// failure instead of ending the test.
func (a *agentClient) trySend(chatID, text string) error {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	if _, err := a.client.Reply(context.Background(), a.console.CSRF, chatID, hex.EncodeToString(b), text); err != nil {
		return fmt.Errorf("agent reply in %s: %w", chatID, err)
	}
	return nil
}

func (a *agentClient) typing(chatID string) {
	a.t.Helper()
	a.post("/agent/chats/" + chatID + "/typing")
}

func (a *agentClient) end(chatID string) {
	a.t.Helper()
	a.post("/agent/chats/" + chatID + "/end")
}

// chatPane is the agent's view of a chat: its facts and transcript.
type chatPane struct {
	Live  bool
	Facts string   // visitor name, email, subject… as text
	Lines []string // the transcript, one line each, whitespace collapsed
}

// pane reads the console's pane of the chat.
func (a *agentClient) pane(chatID string) chatPane {
	a.t.Helper()
	doc := a.get("/agent/chats/" + chatID)
	sel := doc.Find(fmt.Sprintf(`.agent-pane[data-chat-id=%q]`, chatID))
	if sel.Length() != 1 {
		a.t.Fatalf("the console shows %d panes for chat %s, want 1", sel.Length(), chatID)
	}
	p := chatPane{Live: sel.AttrOr("data-live", "") == "true", Facts: collapse(sel.Find("header").Text())}
	sel.Find(".agent-log > li").Each(func(_ int, li *goquery.Selection) {
		p.Lines = append(p.Lines, collapse(li.Text()))
	})
	return p
}

// waitPane polls the agent's view of a chat until ok holds.
func (a *agentClient) waitPane(chatID, what string, ok func(chatPane) bool) chatPane {
	a.t.Helper()
	deadline := time.Now().Add(actionTimeout)
	for {
		p := a.pane(chatID)
		if ok(p) {
			return p
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("the agent's view of the chat never showed %s within %v: %+v", what, actionTimeout, p)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func collapse(s string) string { return strings.Join(strings.Fields(s), " ") }

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// openSite opens a tab of b on the test site's page at path, with the site
// harness as setup installs it, and waits for the site's own restoreChat
// call to settle, as a visitor's page load does.
func openSite(t *testing.T, b *browser, srv *server, path string, setup siteSetup) *page {
	t.Helper()
	p := b.newPage(t)
	installSite(p, setup)
	p.navigate(srv.URL + path)
	siteRestore(t, p)
	return p
}

// embeddedChat starts the API test server, signs its agent in, and has a
// visitor on the site's home page start a chat through the API (Ada): the
// setup of the tests that go on from a running chat.
func embeddedChat(t *testing.T) (srv *server, agent *agentClient, p *page, chatID string) {
	t.Helper()
	srv = startAPIServer(t)
	agent = signInAgent(t, srv)
	p = openSite(t, newBrowser(t), srv, "/", siteSetup{})
	return srv, agent, p, startEmbedded(t, p, "{embedded: true}", "Ada")
}
