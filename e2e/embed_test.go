package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/dom"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/google/go-cmp/cmp"

	"github.com/parley/parley/static"
)

// Parley on another site (the script-tag embed, docs/embedding.md "On any
// website: one script tag"), as browsers meet it now: a plain static "shop" on one site
// (https://shop.test) adds <script src="https://chat.test/chat/embed.js"
// async>, Parley runs on another (https://chat.test), both on loopback
// (Chromium's --host-resolver-rules) with a certificate the test makes.
// Chromium trusts that one certificate only (by its key, with
// --ignore-certificate-errors-spki-list), so TLS, Secure cookies and
// secure-context rules hold as they do on the web. Third-party cookies are
// blocked as the browser's own setting does it (the profile's
// cookie_controls_mode), and each test shows that the block holds before
// relying on it. A second shop (https://other.test) is not on Parley's
// list of embedding sites.

// testCert is a self-signed certificate for the test's hosts.
type testCert struct {
	certFile, keyFile string
	cert              tls.Certificate
	pool              *x509.CertPool
	// spki is the base64 SHA-256 of the certificate's public key, as
	// Chromium's --ignore-certificate-errors-spki-list takes it.
	spki string
}

func newTestCert(t *testing.T) testCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "Parley e2e"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		DNSNames:     []string{"chat.test", "shop.test", "other.test", "probe.test"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	c := testCert{certFile: filepath.Join(dir, "cert.pem"), keyFile: filepath.Join(dir, "key.pem"), pool: x509.NewCertPool()}
	if err := os.WriteFile(c.certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(c.keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	c.cert = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: parsed}
	c.pool.AddCert(parsed)
	sum := sha256.Sum256(parsed.RawSubjectPublicKeyInfo)
	c.spki = base64.StdEncoding.EncodeToString(sum[:])
	return c
}

// startTLSServer runs parley serving HTTPS itself with cert (-tls-cert,
// -tls-key), like startServer.
func startTLSServer(t *testing.T, cert testCert, extraArgs ...string) *server {
	t.Helper()
	s := &server{t: t, bin: serverBin, dataDir: t.TempDir(), keys: []string{"-session-key", testSessionKey},
		args:   append([]string{"-tls-cert", cert.certFile, "-tls-key", cert.keyFile}, extraArgs...),
		client: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: cert.pool}}},
	}
	s.launch("127.0.0.1:0")
	if !strings.HasPrefix(s.URL, "https://") {
		t.Fatalf("parley with -tls-cert listens on %s, want https", s.URL)
	}
	return s
}

// newEmbedBrowser is Chromium that finds the test's sites on loopback,
// trusts the test's certificate and nothing else that is not trusted
// anyway, and blocks third-party cookies.
func newEmbedBrowser(t *testing.T, cert testCert) *browser {
	t.Helper()
	profile := t.TempDir()
	if err := os.MkdirAll(filepath.Join(profile, "Default"), 0o700); err != nil {
		t.Fatal(err)
	}
	// 1 is "Block third-party cookies" in the browser's settings.
	prefs := `{"profile": {"cookie_controls_mode": 1}}`
	if err := os.WriteFile(filepath.Join(profile, "Default", "Preferences"), []byte(prefs), 0o600); err != nil {
		t.Fatal(err)
	}
	return newBrowser(t,
		chromedp.UserDataDir(profile),
		chromedp.Flag("host-resolver-rules", "MAP chat.test 127.0.0.1, MAP shop.test 127.0.0.1, MAP other.test 127.0.0.1, MAP probe.test 127.0.0.1"),
		chromedp.Flag("ignore-certificate-errors-spki-list", cert.spki),
	)
}

// shops serves the embedding sites over HTTPS on one loopback port, by
// host: shop.test and other.test (the same static pages) and probe.test,
// a third party that shows whether the browser keeps its cookies.
type shops struct {
	port string
	// chat is the chat server's https origin, once it runs.
	chat atomic.Pointer[string]
}

func startShops(t *testing.T, cert testCert) *shops {
	t.Helper()
	s := &shops{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert.cert}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	_, s.port, _ = net.SplitHostPort(srv.Listener.Addr().String())
	return s
}

func (s *shops) origin(host string) string { return "https://" + host + ":" + s.port }

// startShopAndChat starts the shops and Parley serving TLS itself for them
// (with extraArgs), the shop on its list of embedding sites, and a browser
// that finds and trusts both.
func startShopAndChat(t *testing.T, extraArgs ...string) (*shops, *server, *browser) {
	t.Helper()
	cert := newTestCert(t)
	sites := startShops(t, cert)
	srv := startTLSServer(t, cert, append([]string{"-embed-origin", sites.origin("shop.test")}, extraArgs...)...)
	sites.serveChat(srv)
	return sites, srv, newEmbedBrowser(t, cert)
}

// serveChat tells the shops where the chat server is.
func (s *shops) serveChat(srv *server) {
	_, port, _ := strings.Cut(srv.addr, ":")
	origin := "https://chat.test:" + port
	s.chat.Store(&origin)
}

// turboNonce lets Turbo's own style element in; the widget needs none.
const turboNonce = "turbo-progress-bar"

// shopPages are the shops' pages: a title, and how they navigate. "/" and
// "/reset" add the widget with the script tag alone; the others also call
// chat.restoreChat from the page's own script before embed.js has loaded
// (the queue in docs/embedding.md).
var shopPages = map[string]struct {
	title, nav string
	queue      bool
	// attrs are the script tag's data- attributes.
	attrs string
}{
	"/":         {"Home", "plain", false, ""},
	"/products": {"Products", "plain", true, ""},
	"/reset":    {"Reset", "plain", false, ""},
	"/turbo/a":  {"Turbo A", "turbo", true, ""},
	"/turbo/b":  {"Turbo B", "turbo", true, ""},
	"/htmx/a":   {"Htmx A", "htmx", true, ""},
	"/htmx/b":   {"Htmx B", "htmx", true, ""},
	"/poll":     {"Long-poll", "plain", false, ` data-disable-websockets="true" data-title="Tent help" data-position="left"`},
}

func (s *shops) serve(w http.ResponseWriter, r *http.Request) {
	host, _, _ := strings.Cut(r.Host, ":")
	if host == "probe.test" {
		s.probe(w, r)
		return
	}
	chat := *s.chat.Load()
	switch {
	case r.URL.Path == "/site.js":
		w.Header().Set("Content-Type", "text/javascript")
		fmt.Fprint(w, siteJS)
		return
	case r.URL.Path == "/reset.css":
		w.Header().Set("Content-Type", "text/css")
		fmt.Fprint(w, resetCSS)
		return
	case r.URL.Path == "/favicon.ico":
		w.WriteHeader(http.StatusNoContent)
		return
	case strings.HasPrefix(r.URL.Path, "/vendor/"):
		http.StripPrefix("/vendor/", static.Vendor()).ServeHTTP(w, r)
		return
	}
	pg, ok := shopPages[r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	// The page's own policy, as strict as a site keeps it: the chat server
	// in script-src and in connect-src (https: for its requests, wss: for
	// its WebSocket), nothing for styles or frames. (Turbo's progress bar
	// is a style element of its own, allowed by its nonce.)
	styles := "'self'"
	if pg.nav == "turbo" {
		styles += " 'nonce-" + turboNonce + "'"
	}
	w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'self' "+chat+
		"; connect-src 'self' "+chat+" "+strings.Replace(chat, "https:", "wss:", 1)+" "+s.origin("probe.test")+
		"; style-src "+styles+"; img-src 'self'; frame-src 'none'; base-uri 'none'; object-src 'none'")
	var head, body, links strings.Builder
	switch pg.nav {
	case "turbo":
		head.WriteString(`<meta name="csp-nonce" content="` + turboNonce + `"><script src="/vendor/turbo/turbo.es2017-umd.js"></script>`)
		links.WriteString(`<a href="/turbo/a">Turbo A</a> <a href="/turbo/b">Turbo B</a>`)
	case "htmx":
		head.WriteString(`<meta name="htmx-config" content='{"includeIndicatorStyles": false}'><script src="/vendor/htmx/htmx.min.js"></script>`)
		body.WriteString(` hx-boost="true"`)
		links.WriteString(`<a href="/htmx/a">Htmx A</a> <a href="/htmx/b">Htmx B</a>`)
	default:
		links.WriteString(`<a href="/">Home</a> <a href="/products">Products</a> <a href="/turbo/a">Turbo A</a> <a href="/htmx/a">Htmx A</a>`)
	}
	if r.URL.Path == "/reset" {
		head.WriteString(`<link rel="stylesheet" href="/reset.css">`)
	}
	queue := ""
	if pg.queue {
		queue = " data-queue"
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprintf(w, `<!doctype html>
<html lang="en"%s>
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Shop: %s</title>
<script src="/site.js"></script>
%s
<script src="%s/chat/embed.js" async%s></script>
</head>
<body%s>
<h1>%s</h1>
<nav>%s</nav>
<p>Tents, poles and pegs.</p>
</body>
</html>`, queue, pg.title, head.String(), chat, pg.attrs, body.String(), pg.title, links.String())
}

// probe sets a plain third-party cookie and a partitioned one, and says
// which it gets back.
func (s *shops) probe(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Access-Control-Allow-Origin", r.Header.Get("Origin"))
	w.Header().Set("Access-Control-Allow-Credentials", "true")
	w.Header().Set("Cache-Control", "no-store")
	switch r.URL.Path {
	case "/set":
		http.SetCookie(w, &http.Cookie{Name: "third_party", Value: "1", Path: "/", Secure: true, SameSite: http.SameSiteNoneMode})
		http.SetCookie(w, &http.Cookie{Name: "partitioned", Value: "1", Path: "/", Secure: true, SameSite: http.SameSiteNoneMode, Partitioned: true})
	case "/read":
		names := []string{}
		for _, c := range r.Cookies() {
			names = append(names, c.Name)
		}
		_ = json.NewEncoder(w).Encode(names)
	}
}

// siteJS is the shops' own script: docs/embedding.md's queue for window.chat, as
// a site writes it in its own script file, and what the test reads back
// (window.shop). A page marked data-queue restores the chat itself, before
// embed.js has loaded.
const siteJS = `window.chat = window.chat || (function (q) {
  function later(m) {
    return function (o) {
      var c = { m: m, o: o, d: [], f: [] }, p = {
        done: function (fn) { c.d.push(fn); return p; },
        fail: function (fn) { c.f.push(fn); return p; }
      };
      q.push(c);
      return p;
    };
  }
  return { q: q, startChat: later("startChat"), restoreChat: later("restoreChat") };
})([]);

window.shop = { violations: [], restore: [], sockets: 0 };
document.addEventListener("securitypolicyviolation", function (e) {
  shop.violations.push(e.effectiveDirective + " " + e.blockedURI);
});
// Counts the WebSockets the page opens (the embed's, on this document).
window.WebSocket = class extends window.WebSocket {
  constructor(...args) { super(...args); shop.sockets++; shop.socket = this; }
};
if (document.documentElement.hasAttribute("data-queue")) {
  chat.restoreChat({ embedded: true })
    .done(function (s) { shop.restore.push("done " + s.getChatId()); })
    .fail(function (e) { shop.restore.push("fail " + (e.error ? e.error.code + " " + e.error.name : e.reason || "no chat")); });
}
`

// resetCSS is the meanest stylesheet a site could have: it unsets every
// property of every element with !important, shrinks rem, turns the page
// right to left, and aims at anything Parley might be called.
const resetCSS = `*, *::before, *::after { all: unset !important; }
html { font-size: 10px !important; direction: rtl !important; }
head, script, style, title { display: none !important; }
body { display: block !important; font: italic 40px/3 "Comic Sans MS", cursive !important; color: #f0f !important; letter-spacing: 5px !important; }
:root { --parley-accent: #ff0000 !important; --parley-bg: #000000 !important; --parley-vh: 10px !important; }
html > *:not(head):not(body), parley-chat, [class*="parley"], [id*="parley"], section, form, button, input, textarea {
  display: none !important; visibility: hidden !important; opacity: 0 !important; transform: scale(0) !important;
  position: absolute !important; z-index: -1 !important; pointer-events: none !important; filter: blur(20px) !important;
}
`

// shopState is what the shop's script recorded.
type shopState struct {
	Violations []string `json:"violations"`
	Restore    []string `json:"restore"`
	Sockets    int      `json:"sockets"`
}

func readShop(p *page) shopState {
	p.t.Helper()
	return evalJS[shopState](p, "window.shop")
}

// checkNoViolations fails the test if the page's policy blocked anything.
func checkNoViolations(t *testing.T, p *page, where string) {
	t.Helper()
	if v := readShop(p).Violations; len(v) > 0 {
		t.Errorf("%s: the shop's Content-Security-Policy blocked %q", where, v)
	}
}

// checkThirdPartyCookiesBlocked shows that the browser blocks third-party
// cookies, and keeps partitioned ones, on the page p shows.
func checkThirdPartyCookiesBlocked(t *testing.T, p *page, s *shops) {
	t.Helper()
	probe := s.origin("probe.test")
	got := evalJS[[]string](p, fmt.Sprintf(`fetch(%q, {credentials: "include"})
		.then(() => fetch(%q, {credentials: "include"})).then(r => r.json())`, probe+"/set", probe+"/read"))
	if !cmp.Equal(got, []string{"partitioned"}) {
		t.Fatalf("a third party's request from the shop carried the cookies %q, want only the partitioned one: third-party cookies are not blocked, or CHIPS does not work", got)
	}
}

// widgetCall calls fn (a JavaScript function) on the widget's element with
// the given role and name, inside its closed shadow root, which the page's
// scripts cannot reach; found reports whether the element is there now.
func widgetCall[T any](ctx context.Context, role, name, fn string) (v T, found bool, err error) {
	type result struct {
		v     T
		found bool
	}
	r, err := chromedp.Run(ctx, chromedp.QueryAfter(named(role, name),
		func(ctx context.Context, t *chromedp.Target, nodes []*chromedp.Node) (result, error) {
			if len(nodes) == 0 {
				return result{}, nil
			}
			obj, err := cdp.Call(ctx, t, dom.ResolveNode, dom.ResolveNodeParams{NodeID: nodes[0].NodeID})
			if err != nil {
				return result{}, err
			}
			defer cdp.Call(ctx, t, runtime.ReleaseObject, runtime.ReleaseObjectParams{ObjectID: obj.Object.ObjectID})
			v, err := chromedp.CallFunctionOn[T](fn, func(c *runtime.CallFunctionOnParams) {
				c.ObjectID = obj.Object.ObjectID
				c.AwaitPromise = new(true)
			})(ctx, t)
			return result{v, true}, err
		}, axLookup(role, name), chromedp.AtLeast(0)))
	return r.v, r.found, err
}

// widgetText is the widget's visible text, "" while there is none.
func widgetText(ctx context.Context) string {
	text, _, err := widgetCall[string](ctx, widgetRole, widgetName, "function () { return this.innerText; }")
	if err != nil {
		return ""
	}
	return text
}

// waitWidgetText waits until the widget shows text.
func waitWidgetText(t *testing.T, p *page, text string) {
	t.Helper()
	var last string
	if !p.poll(func(ctx context.Context) bool {
		last = widgetText(ctx)
		return strings.Contains(last, text)
	}) {
		t.Fatalf("the widget never showed %q within %v; it shows:\n%s", text, actionTimeout, last)
	}
}

// waitEmbedLine waits until a line of the widget's transcript holds text.
func waitEmbedLine(t *testing.T, p *page, text string) {
	t.Helper()
	var last []string
	if !p.poll(func(ctx context.Context) bool {
		lines, _, err := widgetCall[[]string](ctx, logRole, logName, `function () {
			return Array.from(this.querySelectorAll("li"), li => li.innerText.replace(/\s+/g, " ").trim());
		}`)
		last = lines
		for _, l := range lines {
			if err == nil && strings.Contains(l, text) {
				return true
			}
		}
		return false
	}) {
		t.Fatalf("the transcript never showed %q within %v; it holds %q", text, actionTimeout, last)
	}
}

// transcriptLines is the widget's transcript now.
func transcriptLines(p *page) []string {
	p.t.Helper()
	return evalOn[[]string](p, logRole, logName, `function () {
		return Array.from(this.querySelectorAll("li"), li => li.innerText.replace(/\s+/g, " ").trim());
	}`)
}

// hasFocus reports whether the element with role and name has the focus.
func hasFocus(p *page, role, name string) bool {
	p.t.Helper()
	return evalOn[bool](p, role, name, "function () { return this.getRootNode().activeElement === this; }")
}

// styledBox is where an element is and how it looks.
type styledBox struct {
	X, Y, Width, Height float64
	Background, Color   string
	Font                string
}

// boxOf measures an element once the widget's animations (its panel
// sliding in) have ended.
const boxOf = `async function () {
	await Promise.all(this.getRootNode().getAnimations().map(a => a.finished));
	const r = this.getBoundingClientRect(), s = getComputedStyle(this);
	return {X: r.x, Y: r.y, Width: r.width, Height: r.height, Background: s.backgroundColor, Color: s.color,
		Font: s.fontStyle + " " + s.fontWeight + " " + s.fontSize + " " + s.fontFamily};
}`

// hostCount is how many of the embed's shadow hosts the page holds.
func hostCount(p *page) int {
	p.t.Helper()
	return evalJS[int](p, `document.getElementsByTagName("parley-chat").length`)
}

// TestEmbedOnAnotherSite: a visitor of the shop starts a chat with the
// widget that the shop added with one script tag, fills in the form
// (kept across a reload), talks to an agent, reloads, minimizes, and moves
// through the shop by full page loads and by the shop's own Turbo and htmx
// navigations; the chat follows in the state it was left, the agent's
// replies arrive live, and the agent sees each page. The restore token is a
// partitioned, HttpOnly cookie, with third-party cookies blocked.
func TestEmbedOnAnotherSite(t *testing.T) {
	t.Parallel()
	sites, srv, b := startShopAndChat(t, "-agent", apiAgentName+":"+apiAgentPassword)
	shop, chat := sites.origin("shop.test"), *sites.chat.Load()
	agent := signInAgent(t, srv)
	p := b.newPage(t)

	p.navigate(shop + "/")
	checkThirdPartyCookiesBlocked(t, p, sites)

	// Start, with a draft that a reload keeps.
	p.clickButton("Open chat")
	p.clickButton("Start chat")
	typed := map[string]string{"First name": "Grace", "Last name": "", "Email": "grace@example.com", "Subject": ""}
	p.fillField("First name", typed["First name"])
	p.fillField("Email", typed["Email"])
	var saved map[string]string
	if !p.poll(func(ctx context.Context) bool {
		var err error
		saved, err = renderedForm(ctx, chat+"/chat/widget?return_to=/")
		return err == nil && cmp.Equal(saved, typed)
	}) {
		t.Fatalf("the chat server never saved the draft: its form holds %q, want %q", saved, typed)
	}
	p.reload()
	p.waitFor("button", "Start")
	for field, want := range typed {
		if got := p.fieldValue(field); got != want {
			t.Errorf("after a reload, %s = %q, want the draft's %q", field, got, want)
		}
	}
	p.clickButton("Start")
	waitWidgetText(t, p, "Thanks, Grace! An agent will be with you shortly.")

	// Send; the agent accepts and answers, live.
	p.fillField("Message", "Do the tents ship to Norway?")
	p.pressEnter("Message")
	waitEmbedLine(t, p, "Do the tents ship to Norway?")
	chatID := embedWidgetAttr(p, "data-chat-id")
	agent.accept(chatID)
	waitEmbedLine(t, p, apiAgentName+" joined the chat.")
	agent.send(chatID, "They do, in three days.")
	waitEmbedLine(t, p, "They do, in three days.")
	if n := readShop(p).Sockets; n != 1 {
		t.Errorf("the page opened %d WebSockets, want 1", n)
	}

	// The restore token: Parley's cookie, partitioned by the shop's site,
	// HttpOnly, and nothing of Parley's in the shop's own cookies.
	checkRestoreCookie(t, p, chat, "https://shop.test")
	if got := evalJS[string](p, "document.cookie"); strings.Contains(got, "parley") {
		t.Errorf("the shop's page reads Parley's cookies: %q", got)
	}

	// A reload: the conversation, open, every line, and live again.
	before := transcriptLines(p)
	p.reload()
	p.waitFor("button", "Minimize chat")
	waitEmbedLine(t, p, "They do, in three days.")
	if diff := cmp.Diff(before, transcriptLines(p)); diff != "" {
		t.Errorf("the transcript after a reload differs (-before +after):\n%s", diff)
	}
	agent.send(chatID, "Anything else?")
	waitEmbedLine(t, p, "Anything else?")
	shoot(t, p, "shop-conversation")

	// Minimized, it stays minimized on the next page (a full page load),
	// which the page's own queued restoreChat restores.
	p.clickButton("Minimize chat")
	p.waitFor("button", "Open chat")
	trail := agentTrail(agent, chatID)
	for _, page := range trail {
		if !strings.HasPrefix(page, shop+"/") {
			t.Errorf("the agent's trail shows %q, want the shop's pages with its origin", page)
		}
	}
	p.clickLinkAndWaitLoad("Products")
	p.waitFor("button", "Open chat")
	if n := p.count("button", "Minimize chat"); n != 0 {
		t.Error("after a page load the widget is open; the visitor left it minimized")
	}
	// The agent sees the shop's pages with the shop's origin.
	trail = append(trail, shop+"/products")
	waitAgentTrail(t, agent, chatID, trail)
	waitUntil(t, p, "the page's own restoreChat, queued before embed.js loaded", fmt.Sprintf(`shop.restore.join() === %q`, "done "+chatID))
	agent.send(chatID, "We are here when you need us.")
	p.waitFor("button", "Open chat")
	waitUntil(t, p, "one unread message beside the launcher", `document.title === "(1) Shop: Products"`)
	p.clickButton("Open chat")
	waitEmbedLine(t, p, "We are here when you need us.")

	// The shop's own navigations: Turbo Drive, then htmx's hx-boost. The
	// widget stays the same element with the same connection, the agent
	// sees each page, and replies arrive live.
	for _, step := range []struct{ start, link, path string }{
		{"/turbo/a", "Turbo B", "/turbo/b"},
		{"/htmx/a", "Htmx B", "/htmx/b"},
	} {
		p.navigate(shop + step.start)
		p.waitFor("button", "Minimize chat")
		waitUntil(t, p, "the live connection on "+step.start, "shop.sockets === 1 && shop.socket.readyState === WebSocket.OPEN")
		trail = append(trail, shop+step.start)
		waitAgentTrail(t, agent, chatID, trail)
		evalJS[bool](p, `(window.sameDocument = true, document.getElementsByTagName("parley-chat")[0].kept = true)`)

		p.clickLink(step.link)
		waitUntil(t, p, "the shop's navigation to "+step.path, fmt.Sprintf("location.pathname === %q && document.title === %q", step.path, "Shop: "+shopPages[step.path].title))
		if !evalJS[bool](p, `window.sameDocument === true && document.getElementsByTagName("parley-chat")[0].kept === true`) {
			t.Errorf("after the shop's navigation to %s the document or the widget is new; want both kept", step.path)
		}
		if n := hostCount(p); n != 1 {
			t.Errorf("after the shop's navigation to %s the page holds %d widgets, want 1", step.path, n)
		}
		trail = append(trail, shop+step.path)
		waitAgentTrail(t, agent, chatID, trail)
		reply := "Seen you on " + step.path
		agent.send(chatID, reply)
		waitEmbedLine(t, p, reply)
		if n := readShop(p).Sockets; n != 1 {
			t.Errorf("on %s the page opened %d WebSockets, want the first one only", step.path, n)
		}
		p.fillField("Message", "Writing from "+step.path)
		p.pressEnter("Message")
		agent.waitPane(chatID, "the visitor's message from "+step.path, func(c chatPane) bool {
			return strings.Contains(strings.Join(c.Lines, "\n"), "Writing from "+step.path)
		})
		checkNoViolations(t, p, step.path)
	}
}

// widgetAttr is an attribute of the widget's element (its region), inside
// the closed shadow root.
func embedWidgetAttr(p *page, name string) string {
	p.t.Helper()
	return evalOn[string](p, widgetRole, widgetName, fmt.Sprintf("function () { return this.getAttribute(%q) || ''; }", name))
}

// checkRestoreCookie checks the chat server's restore cookie in the
// browser: partitioned by site, HttpOnly, Secure, SameSite=None.
func checkRestoreCookie(t *testing.T, p *page, chat, site string) {
	t.Helper()
	cookies := run(p, "read the browser's cookies", chromedp.Action[[]*network.Cookie](func(ctx context.Context, tg *chromedp.Target) ([]*network.Cookie, error) {
		res, err := cdp.Call(ctx, tg, network.GetCookies, network.GetCookiesParams{URLs: []string{chat + "/"}})
		if err != nil {
			return nil, err
		}
		return res.Cookies, nil
	}))
	for _, c := range cookies {
		if c.Name != "__Host-parley_chat" {
			continue
		}
		if c.PartitionKey == nil || c.PartitionKey.TopLevelSite != site || !c.HTTPOnly || !c.Secure || c.SameSite != network.CookieSameSiteNone {
			t.Errorf("restore cookie: partition %+v, HttpOnly %v, Secure %v, SameSite %q; want partitioned by %s, HttpOnly, Secure, None",
				c.PartitionKey, c.HTTPOnly, c.Secure, c.SameSite, site)
		}
		return
	}
	var names []string
	for _, c := range cookies {
		names = append(names, c.Name)
	}
	t.Errorf("the browser holds no __Host-parley_chat for %s; it holds %q", chat, names)
}

// TestEmbedNotAllowed: the same shop on a site that is not on Parley's
// list gets a clear console error and no widget; nothing of the visitor's
// chat on the allowed shop, no WebSocket, no cookie of Parley's.
func TestEmbedNotAllowed(t *testing.T) {
	t.Parallel()
	sites, _, b := startShopAndChat(t, "-agent", apiAgentName+":"+apiAgentPassword)
	chat := *sites.chat.Load()
	p := b.newPage(t)

	// The visitor has a chat on the allowed shop.
	p.navigate(sites.origin("shop.test") + "/")
	p.clickButton("Open chat")
	p.clickButton("Start chat")
	p.fillField("First name", "Ada")
	p.fillField("Email", "ada@example.com")
	p.clickButton("Start")
	waitWidgetText(t, p, "Thanks, Ada!")

	other := sites.origin("other.test")
	for _, path := range []string{"/", "/products"} {
		p.navigate(other + path)
		if path == "/products" {
			waitUntil(t, p, "the page's own restoreChat to fail", "shop.restore.length > 0")
			if got, want := readShop(p).Restore, []string{"fail 112 origin_not_allowed"}; !cmp.Equal(got, want) {
				t.Errorf("the page's restoreChat settled %q, want %q", got, want)
			}
		}
		want := "Parley: " + other + " may not embed the chat of " + chat
		if !p.poll(func(context.Context) bool { return p.consoleHas(want) }) {
			t.Fatalf("%s%s: the console never said %q", other, path, want)
		}
		if n := hostCount(p); n != 0 {
			t.Errorf("%s%s holds %d widgets, want none", other, path, n)
		}
		if n := p.count(widgetRole, widgetName) + p.count("button", "Open chat"); n != 0 {
			t.Errorf("%s%s shows the widget", other, path)
		}
		if st := readShop(p); st.Sockets != 0 {
			t.Errorf("%s%s opened %d WebSockets, want none", other, path, st.Sockets)
		}
		checkNoViolations(t, p, other+path)
	}
	// Back on the allowed shop, the chat is there as it was.
	p.navigate(sites.origin("shop.test") + "/")
	waitWidgetText(t, p, "Thanks, Ada!")
}

// TestEmbedPageStylesLeaveTheWidgetAlone: a shop whose stylesheet unsets
// everything, everywhere, with !important (and aims at Parley by name)
// shows the widget exactly as a plain shop does, and the widget keeps its
// accessible names and its keyboard use.
func TestEmbedPageStylesLeaveTheWidgetAlone(t *testing.T) {
	t.Parallel()
	sites, _, b := startShopAndChat(t)
	shop := sites.origin("shop.test")
	p := b.newPage(t)

	look := func(path string) (launcher, panel, start styledBox) {
		p.navigate(shop + path)
		p.waitFor("button", "Open chat")
		launcher = evalOn[styledBox](p, "button", "Open chat", boxOf)
		p.clickButton("Open chat")
		p.waitFor("button", "Start chat")
		panel = evalOn[styledBox](p, widgetRole, widgetName, boxOf)
		start = evalOn[styledBox](p, "button", "Start chat", boxOf)
		p.clickButton("Minimize chat")
		p.waitFor("button", "Open chat")
		return launcher, panel, start
	}
	plainLauncher, plainPanel, plainStart := look("/")
	if plainPanel.Width < 300 || plainLauncher.Background == "rgba(0, 0, 0, 0)" {
		t.Fatalf("the widget on the plain shop looks wrong: panel %+v, launcher %+v", plainPanel, plainLauncher)
	}
	launcher, panel, start := look("/reset")
	if !cmp.Equal(launcher, plainLauncher) || !cmp.Equal(panel, plainPanel) || !cmp.Equal(start, plainStart) {
		t.Errorf("the page's styles changed the widget:\n launcher %+v\n    plain %+v\n panel %+v\n    plain %+v\n start %+v\n    plain %+v",
			launcher, plainLauncher, panel, plainPanel, start, plainStart)
	}
	if !evalJS[bool](p, `getComputedStyle(document.body).fontStyle === "italic"`) {
		t.Fatal("the reset stylesheet did not apply to the shop's page; the comparison shows nothing")
	}

	// The keyboard: Tab reaches the launcher, Enter opens, focus goes in,
	// Escape minimizes and focus comes back.
	reached := false
	for range 20 {
		p.do("press Tab", chromedp.KeyEvent(kb.Tab))
		if reached = hasFocus(p, "button", "Open chat"); reached {
			break
		}
	}
	if !reached {
		t.Fatal("Tab never reached the launcher")
	}
	p.do("press Enter", chromedp.KeyEvent(kb.Enter))
	p.waitFor("button", "Minimize chat")
	if !hasFocus(p, "button", "Start chat") {
		t.Error("opening with the keyboard left focus outside the widget's panel")
	}
	p.do("press Escape", chromedp.KeyEvent(kb.Escape))
	p.waitFor("button", "Open chat")
	if !hasFocus(p, "button", "Open chat") {
		t.Error("Escape minimized the widget but focus did not return to the launcher")
	}
	checkNoViolations(t, p, "/reset")
}

// TestEmbedLongPollAndOptions: the script tag's data- attributes are the
// options of the chat the embed restores, here long-polling only (as where
// a proxy refuses WebSockets), a title and the left side; the chat runs
// both ways over it, from another site, with its cookies partitioned.
func TestEmbedLongPollAndOptions(t *testing.T) {
	t.Parallel()
	sites, srv, b := startShopAndChat(t, "-agent", apiAgentName+":"+apiAgentPassword)
	shop := sites.origin("shop.test")
	agent := signInAgent(t, srv)
	p := b.newPage(t)

	p.navigate(shop + "/poll")
	p.clickButton("Open chat")
	p.waitFor("heading", "Tent help")
	if x := evalOn[styledBox](p, widgetRole, widgetName, boxOf).X; x > 100 {
		t.Errorf("the widget is at x = %v, want it on the left (data-position)", x)
	}
	p.clickButton("Start chat")
	p.fillField("First name", "Lin")
	p.fillField("Email", "lin@example.com")
	p.clickButton("Start")
	waitWidgetText(t, p, "Thanks, Lin!")
	chatID := embedWidgetAttr(p, "data-chat-id")
	agent.accept(chatID)
	waitEmbedLine(t, p, apiAgentName+" joined the chat.")
	p.fillField("Message", "Sent over a long-poll")
	p.pressEnter("Message")
	agent.waitPane(chatID, "the visitor's message", func(c chatPane) bool {
		return strings.Contains(strings.Join(c.Lines, "\n"), "Sent over a long-poll")
	})
	agent.send(chatID, "Received over a long-poll")
	waitEmbedLine(t, p, "Received over a long-poll")
	p.reload()
	waitEmbedLine(t, p, "Received over a long-poll")
	agent.send(chatID, "And after a reload")
	waitEmbedLine(t, p, "And after a reload")
	if n := readShop(p).Sockets; n != 0 {
		t.Errorf("the page opened %d WebSockets, want none (data-disable-websockets)", n)
	}
	checkNoViolations(t, p, "/poll")
}

// consoleHas reports whether the page wrote text to its console.
func (p *page) consoleHas(text string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, m := range p.console {
		if strings.Contains(m.Text, text) {
			return true
		}
	}
	return false
}
