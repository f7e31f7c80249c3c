package handlers_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/PuerkitoBio/goquery"
	"github.com/google/go-cmp/cmp"

	"github.com/parley/parley/chatstate"
)

// TestRegisterInvalid: a registration with bad fields comes back in place,
// localized, with everything typed kept.
func TestRegisterInvalid(t *testing.T) {
	t.Parallel()
	fields := []string{"first_name", "last_name", "email", "subject"}
	tests := []struct {
		name string
		lang string
		form url.Values
		// wantErrs maps a field to its error's key and arguments.
		wantErrs map[string][]string
		wantLang string
		wantDir  string
		// wantValues are the values shown where they differ from the form's.
		wantValues map[string]string
	}{
		{
			name:     "empty",
			form:     url.Values{"first_name": {""}, "last_name": {""}, "email": {""}, "subject": {""}},
			wantErrs: map[string][]string{"first_name": {"registration.error.required"}, "email": {"registration.error.required"}},
			wantLang: "en", wantDir: "ltr",
		},
		{
			name:     "blank",
			form:     url.Values{"first_name": {"   "}, "last_name": {"Lovelace"}, "email": {" \t "}, "subject": {"Boots"}},
			wantErrs: map[string][]string{"first_name": {"registration.error.required"}, "email": {"registration.error.required"}},
			wantLang: "en", wantDir: "ltr",
		},
		{
			name:     "bad email",
			form:     url.Values{"first_name": {"Ada"}, "last_name": {""}, "email": {"ada@example"}, "subject": {""}},
			wantErrs: map[string][]string{"email": {"registration.error.email"}},
			wantLang: "en", wantDir: "ltr",
		},
		{
			name:     "email with a display name",
			form:     url.Values{"first_name": {"Ada"}, "last_name": {""}, "email": {"Ada <ada@example.com>"}, "subject": {""}},
			wantErrs: map[string][]string{"email": {"registration.error.email"}},
			wantLang: "en", wantDir: "ltr",
		},
		{
			name:     "too long",
			form:     url.Values{"first_name": {strings.Repeat("é", 101)}, "last_name": {""}, "email": {"ada@example.com"}, "subject": {""}},
			wantErrs: map[string][]string{"first_name": {"registration.error.too_long", "max", "100"}},
			wantLang: "en", wantDir: "ltr",
		},
		{
			name:     "invalid UTF-8",
			form:     url.Values{"first_name": {"Ada\xff"}, "last_name": {"\xfeLovelace"}, "email": {"ada@\xff"}, "subject": {""}},
			wantErrs: map[string][]string{"email": {"registration.error.email"}},
			wantLang: "en", wantDir: "ltr",
			wantValues: map[string]string{"first_name": "Ada", "last_name": "Lovelace", "email": "ada@"},
		},
		{
			name:     "German",
			lang:     "de-DE,de;q=0.9,en;q=0.5",
			form:     url.Values{"first_name": {""}, "last_name": {"Lovelace"}, "email": {"ada@"}, "subject": {""}},
			wantErrs: map[string][]string{"first_name": {"registration.error.required"}, "email": {"registration.error.email"}},
			wantLang: "de", wantDir: "ltr",
		},
		{
			name:     "Arabic",
			lang:     "ar",
			form:     url.Values{"first_name": {""}, "last_name": {""}, "email": {""}, "subject": {"خيمة"}},
			wantErrs: map[string][]string{"first_name": {"registration.error.required"}, "email": {"registration.error.required"}},
			wantLang: "ar", wantDir: "rtl",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			en := newEnv(t)
			v := en.visitor(en.server())
			v.lang = tt.lang
			id := v.startChat("/products").AttrOr("data-chat-id", "")
			cat := en.catalog(tt.wantLang)

			form := url.Values{"return_to": {"/products"}}
			for k, vs := range tt.form {
				form[k] = vs
			}
			res := v.post("/chat/register", form)
			res.wantStatus(http.StatusUnprocessableEntity)
			if !utf8.Valid(res.body) {
				t.Error("response is not valid UTF-8")
			}
			w := res.wantPage()
			if got := w.AttrOr("lang", ""); got != tt.wantLang {
				t.Errorf("widget lang = %q, want %q", got, tt.wantLang)
			}
			if got := w.AttrOr("dir", ""); got != tt.wantDir {
				t.Errorf("widget dir = %q, want %q", got, tt.wantDir)
			}
			if got := w.AttrOr("data-state", ""); got != "registration" {
				t.Errorf("data-state = %q, want registration", got)
			}
			if got, want := strings.TrimSpace(w.Find(`form.parley-registration p.parley-error[role="alert"]`).Text()), cat.T("registration.error.summary"); got != want {
				t.Errorf("summary = %q, want %q", got, want)
			}
			for _, name := range fields {
				input := w.Find(`input[name="` + name + `"]`)
				want, ok := tt.wantValues[name]
				if !ok {
					want = tt.form.Get(name)
				}
				if got := input.AttrOr("value", "<missing>"); got != want {
					t.Errorf("%s value = %q, want %q as typed", name, got, want)
				}
				errLine := w.Find("#parley-" + name + "-error")
				wantErr, bad := tt.wantErrs[name]
				if !bad {
					if input.AttrOr("aria-invalid", "") != "" || errLine.Length() != 0 {
						t.Errorf("%s is marked invalid (%q), want valid", name, errLine.Text())
					}
					continue
				}
				if got := input.AttrOr("aria-invalid", ""); got != "true" {
					t.Errorf("%s aria-invalid = %q, want true", name, got)
				}
				if got := input.AttrOr("aria-describedby", ""); got != "parley-"+name+"-error" {
					t.Errorf("%s aria-describedby = %q, want its error line", name, got)
				}
				if got, want := strings.TrimSpace(errLine.Text()), cat.T(wantErr[0], wantErr[1:]...); got != want {
					t.Errorf("%s error = %q, want %q", name, got, want)
				}
				// The error sits next to its field, inside the field's box.
				if !errLine.Parent().Is("div.parley-field") || errLine.Parent().Find(`input[name="`+name+`"]`).Length() != 1 {
					t.Errorf("%s error line is not beside its field", name)
				}
			}

			c := en.chat(id)
			if c.Phase != chatstate.PhaseRegistration {
				t.Errorf("phase = %s, want registration", c.Phase)
			}
			if c.Locale != tt.wantLang {
				t.Errorf("chat locale = %q, want %q", c.Locale, tt.wantLang)
			}
			// What was typed is the draft now, so a reload keeps it too.
			reload := v.get("/products").widget()
			if got, want := reload.Find(`input[name="subject"]`).AttrOr("value", ""), strings.TrimSpace(tt.form.Get("subject")); got != want {
				t.Errorf("reloaded subject = %q, want %q", got, want)
			}
		})
	}
}

func TestRegisterValid(t *testing.T) {
	t.Parallel()
	en := newEnv(t)
	v := en.visitor(en.server())
	id := v.startChat("/").AttrOr("data-chat-id", "")
	res := v.post("/chat/register", url.Values{
		"return_to":  {"/pricing"},
		"first_name": {"  Ada "},
		"last_name":  {"Lovelace"},
		"email":      {"ada@example.com"},
		"subject":    {"Tent sizes"},
	})
	res.wantRedirect("/pricing")

	w := v.get("/pricing").widget()
	wantConversation(t, en, id, w, chatstate.PhaseQueued, nil)
	if got, want := strings.TrimSpace(w.Find(`p.parley-status`).Text()), en.en("conversation.waiting", "name", "Ada"); got != want {
		t.Errorf("status = %q, want %q", got, want)
	}
	if got, want := w.Find(`form.parley-compose label[for="parley-message"]`).Text(), en.en("conversation.message"); got != want {
		t.Errorf("message label = %q, want %q", got, want)
	}
	want := chatstate.Registration{FirstName: "Ada", LastName: "Lovelace", Email: "ada@example.com", Subject: "Tent sizes"}
	if diff := cmp.Diff(want, en.chat(id).Visitor); diff != "" {
		t.Errorf("stored registration (-want +got):\n%s", diff)
	}
	if got := len(en.events(id, chatstate.EventRegistered)); got != 1 {
		t.Errorf("registered events = %d, want 1", got)
	}

	// The same form posted again, from a stale tab, changes nothing.
	res = v.post("/chat/register", url.Values{"return_to": {"/pricing"}, "first_name": {"Eve"}, "email": {"eve@example.com"}})
	res.wantRedirect("/pricing")
	if got := en.chat(id).Visitor.FirstName; got != "Ada" {
		t.Errorf("first name after a second registration = %q, want Ada", got)
	}
}

// composeClientID is the client_id the compose form carries.
func composeClientID(w *goquery.Selection) string {
	return w.Find(`form.parley-compose input[name="client_id"]`).AttrOr("value", "")
}

func TestSendMessage(t *testing.T) {
	t.Parallel()
	en := newEnv(t)
	v := en.visitor(en.server())
	id := v.register("/", "Ada")

	cid := composeClientID(v.get("/").widget())
	if cid == "" {
		t.Fatal("compose form has no client_id")
	}
	form := url.Values{"return_to": {"/"}, "client_id": {cid}, "text": {"  Hello there \n"}}
	v.post("/chat/messages", form).wantRedirect("/")
	// The browser resubmits the same form (a retry, a double click).
	v.post("/chat/messages", form).wantRedirect("/")

	msgs := en.events(id, chatstate.EventMessage)
	if len(msgs) != 1 {
		t.Fatalf("stored messages = %d, want 1", len(msgs))
	}
	if msgs[0].Text != "Hello there" || msgs[0].ClientID != cid || msgs[0].From.Type != chatstate.PartyVisitor {
		t.Errorf("stored message = %+v, want visitor's %q with client id %q", msgs[0], "Hello there", cid)
	}
	w := v.get("/").widget()
	wantConversation(t, en, id, w, chatstate.PhaseQueued, []line{
		{Kind: "message", From: "visitor", Author: en.en("conversation.you"), Text: "Hello there"},
	})
	if next := composeClientID(w); next == cid || next == "" {
		t.Errorf("next compose client_id = %q, want a new one (was %q)", next, cid)
	}
	// chat.js reads the chat's rules from the widget, not from copies.
	if got, want := w.Find("#parley-message").AttrOr("maxlength", ""), strconv.Itoa(chatstate.MaxMessageRunes); got != want {
		t.Errorf("message box maxlength = %q, want %s", got, want)
	}
	if got, want := w.Find(".parley-typing").AttrOr("data-shown-ms", ""), strconv.FormatInt(chatstate.TypingShown.Milliseconds(), 10); got != want {
		t.Errorf("typing line data-shown-ms = %q, want %s", got, want)
	}
}

// TestSendMessageRefused: a refused message comes back in the compose box
// with the reason, and nothing is stored.
func TestSendMessageRefused(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("ä", chatstate.MaxMessageRunes) + "!"
	tests := []struct {
		name       string
		body       func(csrf, cid string) string
		wantStatus int
		wantKey    []string
		wantDraft  string
	}{
		{
			name: "too long",
			body: func(csrf, cid string) string {
				return url.Values{"parley_csrf": {csrf}, "return_to": {"/"}, "client_id": {cid}, "text": {long}}.Encode()
			},
			wantStatus: http.StatusUnprocessableEntity,
			wantKey:    []string{"error.message_too_long", "max", "2000"},
			wantDraft:  long,
		},
		{
			name: "blank",
			body: func(csrf, cid string) string {
				return url.Values{"parley_csrf": {csrf}, "return_to": {"/"}, "client_id": {cid}, "text": {" \n\t "}}.Encode()
			},
			wantStatus: http.StatusUnprocessableEntity,
			wantKey:    []string{"error.message_empty"},
			wantDraft:  " \n\t ",
		},
		{
			name: "invalid UTF-8",
			body: func(csrf, cid string) string {
				return url.Values{"parley_csrf": {csrf}, "return_to": {"/"}, "client_id": {cid}}.Encode() + "&text=hi%FF%FEthere"
			},
			wantStatus: http.StatusUnprocessableEntity,
			wantKey:    []string{"error.message_invalid"},
			wantDraft:  "hithere",
		},
	}
	for _, tt := range tests {
		bothWays(t, tt.name, func(t *testing.T, partial bool) {
			en := newEnv(t)
			v := en.visitor(en.server())
			id := v.register("/", "Ada")
			cid := composeClientID(v.get("/").widget())

			var opts []reqOpt
			if partial {
				opts = append(opts, hx)
			}
			res := v.postRaw("/chat/messages", tt.body(v.csrf, cid), opts...)
			res.wantStatus(tt.wantStatus)
			if !utf8.Valid(res.body) {
				t.Error("response is not valid UTF-8")
			}
			var w *goquery.Selection
			if partial {
				w = res.wantFragment()
			} else {
				w = res.wantPage()
			}
			textarea := w.Find("form.parley-compose textarea#parley-message")
			if got := textarea.Text(); got != tt.wantDraft {
				t.Errorf("textarea keeps %q (%d runes), want %q (%d runes)", got, utf8.RuneCountInString(got), tt.wantDraft, utf8.RuneCountInString(tt.wantDraft))
			}
			if got := textarea.AttrOr("aria-invalid", ""); got != "true" {
				t.Errorf("textarea aria-invalid = %q, want true", got)
			}
			if got, want := strings.TrimSpace(w.Find(`#parley-message-error[role="alert"]`).Text()), en.en(tt.wantKey[0], tt.wantKey[1:]...); got != want {
				t.Errorf("message error = %q, want %q", got, want)
			}
			if got := composeClientID(w); got != cid {
				t.Errorf("client_id = %q, want the refused form's %q, so a fixed resend is still one message", got, cid)
			}
			if n := len(en.events(id, chatstate.EventMessage)); n != 0 {
				t.Errorf("stored messages = %d, want 0", n)
			}
		})
	}
}

func TestSendMessageLongest(t *testing.T) {
	t.Parallel()
	en := newEnv(t)
	v := en.visitor(en.server())
	id := v.register("/", "Ada")
	text := strings.Repeat("ä", chatstate.MaxMessageRunes)
	v.say("/", text)
	msgs := en.events(id, chatstate.EventMessage)
	if len(msgs) != 1 || msgs[0].Text != text {
		t.Fatalf("stored %d messages, want the one of %d runes", len(msgs), chatstate.MaxMessageRunes)
	}
}

func TestSendMessageRateLimited(t *testing.T) {
	t.Parallel()
	en := newEnv(t)
	v := en.visitor(en.server())
	v.lang = "de"
	chatID := v.register("/", "Ada")
	var sent int
	var limited *response
	for i := 0; i < 40 && limited == nil; i++ {
		res := v.post("/chat/messages", url.Values{"return_to": {"/"}, "client_id": {fmt.Sprintf("m%d", i)}, "text": {"flood"}})
		switch res.status {
		case http.StatusSeeOther:
			sent++
		case http.StatusTooManyRequests:
			limited = res
		default:
			res.wantStatus(http.StatusSeeOther)
		}
	}
	if limited == nil {
		t.Fatalf("40 messages in a burst were all accepted, want 429 after a few")
	}
	w := limited.wantPage()
	if got, want := strings.TrimSpace(w.Find("#parley-message-error").Text()), en.catalog("de").T("error.rate_limited"); got != want {
		t.Errorf("rate limit line = %q, want %q", got, want)
	}
	if got := w.Find("textarea#parley-message").Text(); got != "flood" {
		t.Errorf("textarea keeps %q, want the refused text", got)
	}
	if n := len(en.events(chatID, chatstate.EventMessage)); n != sent {
		t.Errorf("stored messages = %d, want the %d accepted", n, sent)
	}
}

// TestCSRF: a widget post without the form's token is refused with the
// localized line, and changes nothing.
func TestCSRF(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		lang    string
		partial bool
		// token is the form's parley_csrf; opts change the request.
		token string
		opts  []reqOpt
		fresh bool // the visitor never loaded a page: no CSRF cookie
	}{
		{name: "no token"},
		{name: "wrong token", token: "not-the-token"},
		{name: "no cookie", token: "made-up", fresh: true},
		{name: "German", lang: "de"},
		{name: "partial", partial: true},
		{name: "cross-site fetch", opts: []reqOpt{header("Sec-Fetch-Site", "cross-site"), header("Origin", "https://evil.example")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			en := newEnv(t)
			v := en.visitor(en.server())
			v.lang = tt.lang
			if !tt.fresh {
				v.get("/")
			}
			opts := tt.opts
			if tt.partial {
				opts = append(opts, hx)
			}
			form := url.Values{"return_to": {"/"}}
			if tt.token != "" {
				form.Set("parley_csrf", tt.token)
			}
			res := v.postRaw("/chat/start", form.Encode(), opts...)
			res.wantStatus(http.StatusForbidden)
			cat := en.catalog("en")
			if tt.lang != "" {
				cat = en.catalog(tt.lang)
			}
			var got string
			if tt.partial {
				top := res.doc().Find("body").Children()
				if top.Length() != 1 || !top.Is(`p.parley-error[role="alert"]`) {
					t.Fatalf("partial CSRF error is not one alert line:\n%s", res.body)
				}
				got = top.Text()
			} else {
				got = res.doc().Find("main p").First().Text()
			}
			if want := cat.T("error.csrf"); strings.TrimSpace(got) != want {
				t.Errorf("CSRF line = %q, want %q", got, want)
			}
			if c := res.cookie(chatCookie); c != nil {
				t.Errorf("Set-Cookie %v, want no restore cookie", c)
			}
			if n := en.chatCount(); n != 0 {
				t.Errorf("chats = %d, want 0", n)
			}
		})
	}

	t.Run("message", func(t *testing.T) {
		t.Parallel()
		en := newEnv(t)
		v := en.visitor(en.server())
		id := v.register("/", "Ada")
		res := v.post("/chat/messages", url.Values{"parley_csrf": {""}, "return_to": {"/"}, "text": {"sneaky"}})
		res.wantStatus(http.StatusForbidden)
		if n := len(en.events(id, chatstate.EventMessage)); n != 0 {
			t.Errorf("stored messages = %d, want 0", n)
		}
	})
}

// TestReturnTo: a form's return_to only ever leads back to this site.
func TestReturnTo(t *testing.T) {
	t.Parallel()
	en := newEnv(t)
	srv := en.server()
	tests := []struct {
		returnTo string
		want     string
	}{
		{"/pricing", "/pricing"},
		{"/products?ref=chat", "/products?ref=chat"},
		{"", "/"},
		{"//evil.example", "/"},
		{"//evil.example/pricing", "/"},
		{"https://evil.example", "/"},
		{"https://evil.example/pricing", "/"},
		{"http:evil.example", "/"},
		{"javascript:alert(1)", "/"},
		{"evil.example", "/"},
		{`/\evil.example`, "/"},
		// Browsers drop tabs and newlines from URLs, so these are //evil.example.
		{"/\t/evil.example", "/"},
		{"/\n/evil.example", "/"},
		{"/\r/evil.example", "/"},
		// Not a page: a NUL, another control character, bytes not UTF-8.
		{"/\x00", "/"},
		{"/a\x7fb", "/"},
		{"/\xff", "/"},
		{"/caf\u00e9", "/caf\u00e9"},
	}
	for _, tt := range tests {
		t.Run(tt.returnTo, func(t *testing.T) {
			v := en.visitor(srv)
			v.t = t
			v.get("/")
			v.post("/chat/start", url.Values{"return_to": {tt.returnTo}}).wantRedirect(tt.want)

			w := v.get("/chat/widget?" + url.Values{"return_to": {tt.returnTo}}.Encode()).widget()
			if got := w.Find(`input[name="return_to"]`).AttrOr("value", ""); got != tt.want {
				t.Errorf("widget return_to = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestPartial: a plain HTML form post redirects (post/redirect/get); the
// same post made by an HTMX-style swap gets the widget fragment alone.
func TestPartial(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// setup brings the visitor to where the post makes sense.
		setup      func(v *visitor)
		path       string
		form       url.Values
		wantStatus int // of the plain post; the swap gets 200 unless it is an error
		check      func(t *testing.T, en *env, w *goquery.Selection)
	}{
		{
			name:  "start",
			setup: func(v *visitor) { v.get("/pricing") },
			path:  "/chat/start",
			form:  url.Values{"return_to": {"/pricing"}},
			check: func(t *testing.T, en *env, w *goquery.Selection) {
				if got := w.AttrOr("data-state", ""); got != "registration" {
					t.Errorf("data-state = %q, want registration", got)
				}
				if got := w.Find(`input[name="return_to"]`).AttrOr("value", ""); got != "/pricing" {
					t.Errorf("return_to = %q, want /pricing", got)
				}
			},
		},
		{
			name:  "register",
			setup: func(v *visitor) { v.startChat("/pricing") },
			path:  "/chat/register",
			form:  url.Values{"return_to": {"/pricing"}, "first_name": {"Ada"}, "email": {"ada@example.com"}},
			check: func(t *testing.T, en *env, w *goquery.Selection) {
				if got := w.AttrOr("data-phase", ""); got != "queued" {
					t.Errorf("data-phase = %q, want queued", got)
				}
				if w.Find("form.parley-compose").Length() != 1 {
					t.Error("no compose form after registering")
				}
			},
		},
		{
			name:       "register invalid",
			setup:      func(v *visitor) { v.startChat("/pricing") },
			path:       "/chat/register",
			form:       url.Values{"return_to": {"/pricing"}, "first_name": {"Ada"}, "email": {"nope"}},
			wantStatus: http.StatusUnprocessableEntity,
			check: func(t *testing.T, en *env, w *goquery.Selection) {
				if got := w.Find(`input[name="email"]`).AttrOr("aria-invalid", ""); got != "true" {
					t.Errorf("email aria-invalid = %q, want true", got)
				}
			},
		},
		{
			name:  "message",
			setup: func(v *visitor) { v.register("/pricing", "Ada") },
			path:  "/chat/messages",
			form:  url.Values{"return_to": {"/pricing"}, "client_id": {"c1"}, "text": {"Hi"}},
			check: func(t *testing.T, en *env, w *goquery.Selection) {
				lines := transcript(w)
				if len(lines) != 1 || lines[0].Text != "Hi" {
					t.Errorf("transcript = %+v, want the one message", lines)
				}
				if got := w.Find("textarea").Text(); got != "" {
					t.Errorf("textarea = %q after a send, want empty", got)
				}
			},
		},
		{
			name:  "end",
			setup: func(v *visitor) { v.register("/pricing", "Ada") },
			path:  "/chat/end",
			form:  url.Values{"return_to": {"/pricing"}},
			check: func(t *testing.T, en *env, w *goquery.Selection) {
				if got := w.AttrOr("data-end-reason", ""); got != chatstate.ReasonVisitor {
					t.Errorf("data-end-reason = %q, want visitor", got)
				}
				lines := transcript(w)
				if n := len(lines); n == 0 || lines[n-1].Text != en.en("conversation.ended.visitor") {
					t.Errorf("transcript = %+v, want it to end with the visitor's ending", lines)
				}
			},
		},
	}
	for _, tt := range tests {
		bothWays(t, tt.name, func(t *testing.T, partial bool) {
			en := newEnv(t)
			v := en.visitor(en.server())
			tt.setup(v)
			form := url.Values{}
			for k, vs := range tt.form {
				form[k] = vs
			}
			if !partial {
				res := v.post(tt.path, form)
				if tt.wantStatus == 0 {
					res.wantRedirect("/pricing")
					return
				}
				res.wantStatus(tt.wantStatus)
				tt.check(t, en, res.wantPage())
				return
			}
			res := v.post(tt.path, form, hx)
			res.wantStatus(max(tt.wantStatus, http.StatusOK))
			tt.check(t, en, res.wantFragment())
		})
	}
}

// TestPageTracking: every navigation, full or boosted, tells the chat the
// visitor's page, and the log gets one page event per change.
func TestPageTracking(t *testing.T) {
	t.Parallel()
	en := newEnv(t)
	v := en.visitor(en.server())
	id := v.register("/", "Ada")

	steps := []struct {
		path     string
		opts     []reqOpt
		wantPage string
	}{
		{"/products", nil, "/products"},
		{"/products", nil, "/products"},
		{"/pricing", []reqOpt{hx, header("HX-Boosted", "true")}, "/pricing"},
		{"/pricing", []reqOpt{hx, header("HX-Boosted", "true")}, "/pricing"},
		{"/chat/widget?return_to=/contact", nil, "/pricing"},
		// Prefetched (Turbo on hover, speculation rules): not visited yet.
		{"/contact", []reqOpt{header("X-Sec-Purpose", "prefetch")}, "/pricing"},
		{"/products", []reqOpt{header("Sec-Purpose", "prefetch;prerender")}, "/pricing"},
		{"/contact", nil, "/contact"},
		{"/", []reqOpt{hx, header("HX-Boosted", "true")}, "/"},
	}
	for _, s := range steps {
		res := v.get(s.path, s.opts...)
		res.wantStatus(http.StatusOK)
		c := en.chat(id)
		if c.Page != s.wantPage {
			t.Errorf("after GET %s, chat page = %q, want %q", s.path, c.Page, s.wantPage)
		}
		// The rendered widget already counts the page event.
		if got, want := res.widget().AttrOr("data-last-seq", ""), c.LastSeq; got != itoa(want) {
			t.Errorf("after GET %s, data-last-seq = %s, want %d", s.path, got, want)
		}
	}
	var pages []string
	for _, ev := range en.events(id, chatstate.EventPage) {
		pages = append(pages, ev.Page)
	}
	if diff := cmp.Diff([]string{"/products", "/pricing", "/contact", "/"}, pages); diff != "" {
		t.Errorf("page events (-want +got):\n%s", diff)
	}
}

// TestEscaping: what people type is shown as text, never run as markup.
func TestEscaping(t *testing.T) {
	t.Parallel()
	en := newEnv(t)
	v := en.visitor(en.server())
	const script = "<script>alert(1)</script>"
	const name = `"><img src=x onerror=alert(1)>`
	v.startChat("/")
	v.post("/chat/draft", url.Values{"first_name": {name}, "subject": {script}}).wantStatus(http.StatusNoContent)
	w := v.get("/").widget()
	if got := w.Find(`input[name="first_name"]`).AttrOr("value", ""); got != name {
		t.Errorf("draft first name = %q, want %q", got, name)
	}
	if got := w.Find(`input[name="subject"]`).AttrOr("value", ""); got != script {
		t.Errorf("draft subject = %q, want %q", got, script)
	}
	if n := w.Find("script, img").Length(); n != 0 {
		t.Errorf("registration widget holds %d script or img elements, want 0", n)
	}

	v.post("/chat/register", url.Values{"return_to": {"/"}, "first_name": {name}, "email": {"x@example.com"}}).wantRedirect("/")
	v.say("/", script)
	for _, res := range []*response{v.get("/"), v.get("/chat/widget")} {
		w := res.widget()
		lines := transcript(w)
		if len(lines) != 1 || lines[0].Text != script {
			t.Errorf("transcript = %+v, want the message as text %q", lines, script)
		}
		if got, want := strings.TrimSpace(w.Find("p.parley-status").Text()), en.en("conversation.waiting", "name", name); got != want {
			t.Errorf("status = %q, want %q", got, want)
		}
		if n := w.Find("script, img").Length(); n != 0 {
			t.Errorf("widget holds %d script or img elements, want 0", n)
		}
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestPageTrailLimited: a visitor (or a script) flipping between pages as
// fast as it can does not grow the chat's log, nor every agent's queue
// updates, without limit; the agent's view shows the newest pages.
func TestPageTrailLimited(t *testing.T) {
	t.Parallel()
	en := newEnv(t)
	v := en.visitor(en.server())
	id := v.register("/", "Ada")
	for i := range 200 {
		v.get([]string{"/products", "/pricing"}[i%2]).wantStatus(http.StatusOK)
	}
	pages := en.events(id, chatstate.EventPage)
	if n := len(pages); n > 15 {
		t.Errorf("200 quick page views logged %d page events, want them limited (a burst of 10)", n)
	}
	if got := en.chat(id).VisitorSeenAt; time.Since(got) > time.Minute {
		t.Errorf("visitor last seen %v, want now: limited views still count as presence", got)
	}
}

// bothWays runs a parallel subtest of a form posted as a plain HTML form
// ("name/plain") and as a partial swap ("name/hx").
func bothWays(t *testing.T, name string, test func(t *testing.T, partial bool)) {
	t.Helper()
	for _, partial := range []bool{false, true} {
		way := "/plain"
		if partial {
			way = "/hx"
		}
		t.Run(name+way, func(t *testing.T) {
			t.Parallel()
			test(t, partial)
		})
	}
}
