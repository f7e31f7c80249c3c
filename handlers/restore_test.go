package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/google/go-cmp/cmp"

	"github.com/parley/parley/chatstate"
)

// surfaces are the two ways the widget is rendered from the cookie: inside
// a page, and alone for a swap.
var surfaces = []struct {
	name string
	load func(v *visitor) (*response, *goquery.Selection)
}{
	{"page", func(v *visitor) (*response, *goquery.Selection) {
		res := v.get("/contact")
		res.wantStatus(http.StatusOK)
		return res, res.wantPage()
	}},
	{"widget", func(v *visitor) (*response, *goquery.Selection) {
		res := v.get("/chat/widget?return_to=/contact")
		res.wantStatus(http.StatusOK)
		return res, res.wantFragment()
	}},
}

// agent is the agent side of a chat, driven through the Service.
const agentName = "alice"

func agentParty() chatstate.Party {
	return chatstate.AgentParty(agentName, "")
}

// TestRestore renders every row of DESIGN §3's table, on a page and on
// GET /chat/widget.
func TestRestore(t *testing.T) {
	t.Parallel()
	type state struct {
		v      *visitor
		chatID string
	}
	ctx := context.Background()
	connected := func(t *testing.T, en *env, v *visitor) string {
		id := v.register("/contact", "Ada")
		v.say("/contact", "Do you ship to Norway?")
		if _, err := en.chats.Accept(ctx, id, chatstate.AgentParty(agentName, "")); err != nil {
			t.Fatalf("Accept() = %v", err)
		}
		if _, err := en.chats.SendMessage(ctx, id, agentParty(), "", "We do, in 3 days."); err != nil {
			t.Fatalf("agent SendMessage() = %v", err)
		}
		v.say("/contact", "Great, thanks!")
		if _, err := en.chats.SendMessage(ctx, id, agentParty(), "", "Anything else?"); err != nil {
			t.Fatalf("agent SendMessage() = %v", err)
		}
		return id
	}
	connectedLines := func(en *env) []line {
		return []line{
			{Kind: "message", From: "visitor", Author: en.en("conversation.you"), Text: "Do you ship to Norway?"},
			{Kind: "notice", From: "agent", Text: en.en("conversation.agent_joined", "name", agentName)},
			{Kind: "message", From: "agent", Author: agentName, Text: "We do, in 3 days."},
			{Kind: "message", From: "visitor", Author: en.en("conversation.you"), Text: "Great, thanks!"},
			{Kind: "message", From: "agent", Author: agentName, Text: "Anything else?"},
		}
	}

	tests := []struct {
		name  string
		setup func(t *testing.T, en *env, v *visitor) string
		check func(t *testing.T, en *env, id string, res *response, w *goquery.Selection)
		// next, when set, checks the load after the first one.
		next func(t *testing.T, en *env, id string, res *response, w *goquery.Selection)
	}{
		{
			name:  "no cookie",
			setup: func(*testing.T, *env, *visitor) string { return "" },
			check: func(t *testing.T, en *env, _ string, res *response, w *goquery.Selection) {
				wantStart(t, en, w)
				wantError(t, w, "", "")
				if c := res.cookie(chatCookie); c != nil {
					t.Errorf("Set-Cookie %v, want no restore cookie", c)
				}
			},
		},
		{
			name: "registration with draft",
			setup: func(t *testing.T, en *env, v *visitor) string {
				w := v.startChat("/contact")
				res := v.post("/chat/draft", url.Values{
					"first_name": {"Ada"}, "last_name": {"Lovelace"}, "email": {"ada@exa"}, "subject": {"Tent poles"},
				})
				res.wantStatus(http.StatusNoContent)
				return w.AttrOr("data-chat-id", "")
			},
			check: func(t *testing.T, en *env, id string, res *response, w *goquery.Selection) {
				if got := w.AttrOr("data-state", ""); got != "registration" {
					t.Errorf("data-state = %q, want registration", got)
				}
				if got := w.AttrOr("data-chat-id", ""); got != id || id == "" {
					t.Errorf("data-chat-id = %q, want %q", got, id)
				}
				form := w.Find(`form.parley-registration[method="post"][action="/chat/register"]`)
				if form.Length() != 1 {
					t.Fatalf("registration forms = %d, want 1", form.Length())
				}
				got := map[string]string{}
				for _, name := range []string{"first_name", "last_name", "email", "subject"} {
					got[name] = form.Find(`input[name="`+name+`"]`).AttrOr("value", "<missing>")
				}
				want := map[string]string{"first_name": "Ada", "last_name": "Lovelace", "email": "ada@exa", "subject": "Tent poles"}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("draft values (-want +got):\n%s", diff)
				}
				if n := w.Find("[aria-invalid]").Length(); n != 0 {
					t.Errorf("a restored draft shows %d invalid fields, want 0", n)
				}
				wantError(t, w, "", "")
				// Written minutes ago: the browser keeps it as it is.
				if c := res.cookie(chatCookie); c != nil {
					t.Errorf("restore cookie = %v, want the fresh one left alone", c)
				}
			},
		},
		{
			name: "queued",
			setup: func(t *testing.T, en *env, v *visitor) string {
				id := v.register("/contact", "Ada")
				v.say("/contact", "Hello?")
				v.say("/contact", "Anyone there?")
				return id
			},
			check: func(t *testing.T, en *env, id string, res *response, w *goquery.Selection) {
				wantConversation(t, en, id, w, chatstate.PhaseQueued, []line{
					{Kind: "message", From: "visitor", Author: en.en("conversation.you"), Text: "Hello?"},
					{Kind: "message", From: "visitor", Author: en.en("conversation.you"), Text: "Anyone there?"},
				})
				if got, want := strings.TrimSpace(w.Find(`p.parley-status[role="status"]`).Text()), en.en("conversation.waiting", "name", "Ada"); got != want {
					t.Errorf("status line = %q, want %q", got, want)
				}
			},
		},
		{
			name:  "connected",
			setup: connected,
			check: func(t *testing.T, en *env, id string, res *response, w *goquery.Selection) {
				wantConversation(t, en, id, w, chatstate.PhaseConnected, connectedLines(en))
			},
		},
		{
			name: "ended by the agent while away",
			setup: func(t *testing.T, en *env, v *visitor) string {
				id := connected(t, en, v)
				if _, err := en.chats.End(ctx, id, agentParty(), chatstate.ReasonAgent); err != nil {
					t.Fatalf("End() = %v", err)
				}
				return id
			},
			check: func(t *testing.T, en *env, id string, res *response, w *goquery.Selection) {
				lines := append(connectedLines(en), line{Kind: "notice", From: "agent", Text: en.en("conversation.ended.agent", "name", agentName)})
				wantEnded(t, en, id, w, chatstate.ReasonAgent, lines)
			},
			next: wantGone,
		},
		{
			name: "ended offline while away",
			setup: func(t *testing.T, en *env, v *visitor) string {
				id := v.register("/contact", "Ada")
				v.say("/contact", "Hello?")
				if _, err := en.chats.End(ctx, id, chatstate.Party{Type: chatstate.PartySystem}, chatstate.ReasonOffline); err != nil {
					t.Fatalf("End() = %v", err)
				}
				return id
			},
			check: func(t *testing.T, en *env, id string, res *response, w *goquery.Selection) {
				wantEnded(t, en, id, w, chatstate.ReasonOffline, []line{
					{Kind: "message", From: "visitor", Author: en.en("conversation.you"), Text: "Hello?"},
					{Kind: "notice", From: "system", Text: en.en("conversation.ended.offline")},
				})
			},
			next: wantGone,
		},
		{
			name: "tampered cookie",
			setup: func(t *testing.T, en *env, v *visitor) string {
				id := v.register("/contact", "Ada")
				c := v.cookies[chatCookie]
				c.Value = flipMiddle(c.Value)
				return id
			},
			check: func(t *testing.T, en *env, id string, res *response, w *goquery.Selection) {
				wantStart(t, en, w)
				wantError(t, w, "invalid_token", en.en("error.invalid_token"))
				wantCleared(t, res, true)
				if got := en.chat(id).Phase; got != chatstate.PhaseQueued {
					t.Errorf("chat phase after a tampered restore = %s, want queued (untouched)", got)
				}
			},
			next: func(t *testing.T, en *env, _ string, res *response, w *goquery.Selection) {
				// The cookie is gone, so the next load is a plain new visitor.
				wantStart(t, en, w)
				wantError(t, w, "", "")
			},
		},
		{
			name: "store fails",
			setup: func(t *testing.T, en *env, v *visitor) string {
				id := v.register("/contact", "Ada")
				en.store.failRestore.Store(true)
				return id
			},
			check: wantServerError,
		},
		{
			name: "store closed",
			setup: func(t *testing.T, en *env, v *visitor) string {
				id := v.register("/contact", "Ada")
				if err := en.store.Close(); err != nil {
					t.Fatalf("Close() = %v", err)
				}
				return id
			},
			check: wantServerError,
		},
	}
	for _, tt := range tests {
		for _, s := range surfaces {
			t.Run(tt.name+"/"+s.name, func(t *testing.T) {
				t.Parallel()
				en := newEnv(t)
				v := en.visitor(en.server())
				id := tt.setup(t, en, v)
				res, w := s.load(v)
				tt.check(t, en, id, res, w)
				if tt.next != nil {
					res, w := s.load(v)
					tt.next(t, en, id, res, w)
				}
			})
		}
	}
}

func wantConversation(t *testing.T, en *env, id string, w *goquery.Selection, phase chatstate.Phase, want []line) {
	t.Helper()
	if got := w.AttrOr("data-state", ""); got != "conversation" {
		t.Errorf("data-state = %q, want conversation", got)
	}
	if got := w.AttrOr("data-phase", ""); got != string(phase) {
		t.Errorf("data-phase = %q, want %s", got, phase)
	}
	if got := w.AttrOr("data-chat-id", ""); got != id {
		t.Errorf("data-chat-id = %q, want %q", got, id)
	}
	if got, want := w.AttrOr("data-last-seq", ""), strconv.FormatInt(en.chat(id).LastSeq, 10); got != want {
		t.Errorf("data-last-seq = %s, want %s", got, want)
	}
	lines := transcript(w)
	var prev int64
	for i, l := range lines {
		seq, err := strconv.ParseInt(l.Seq, 10, 64)
		if err != nil || seq <= prev {
			t.Errorf("line %d data-seq = %q after %d, want strictly increasing", i, l.Seq, prev)
		}
		prev = seq
		lines[i].Seq = ""
	}
	if diff := cmp.Diff(want, lines); diff != "" {
		t.Errorf("transcript (-want +got):\n%s", diff)
	}
	wantError(t, w, "", "")
}

func wantEnded(t *testing.T, en *env, id string, w *goquery.Selection, reason string, lines []line) {
	t.Helper()
	wantConversation(t, en, id, w, chatstate.PhaseEnded, lines)
	if got := w.AttrOr("data-end-reason", ""); got != reason {
		t.Errorf("data-end-reason = %q, want %q", got, reason)
	}
	if got, want := strings.TrimSpace(w.Find(`p.parley-ended[role="status"]`).Text()), en.en("conversation.ended"); got != want {
		t.Errorf("ended line = %q, want %q", got, want)
	}
	if n := w.Find("form.parley-compose, textarea").Length(); n != 0 {
		t.Errorf("an ended chat shows %d compose controls, want 0", n)
	}
	if got, want := strings.TrimSpace(w.Find(`form[action="/chat/start"] button`).Text()), en.en("conversation.new_chat"); got != want {
		t.Errorf("new chat button = %q, want %q", got, want)
	}
}

// wantGone checks the load after an ended chat was shown: a new visitor.
func wantGone(t *testing.T, en *env, id string, res *response, w *goquery.Selection) {
	t.Helper()
	wantStart(t, en, w)
	wantError(t, w, "", "")
	wantCleared(t, res, true)
	if !en.chat(id).EndSeen {
		t.Error("chat EndSeen = false after the ending was shown, want true")
	}
}

func wantServerError(t *testing.T, en *env, _ string, res *response, w *goquery.Selection) {
	t.Helper()
	wantStart(t, en, w)
	wantError(t, w, "server_error", en.en("error.server_error"))
	// The chat may come back with the store: the cookie stays.
	wantCleared(t, res, false)
}

// flipMiddle changes one character in the middle of a cookie value to
// another of the same base64 alphabet, so it still decodes but no longer
// verifies.
func flipMiddle(s string) string {
	b := []byte(s)
	i := len(b) / 2
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}
