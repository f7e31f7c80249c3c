package handlers_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/parley/parley/chatstate"
	"github.com/parley/parley/handlers"
)

const uiCookie = "parley_ui"

// wantOpen checks the widget is drawn open (its panel) or collapsed (its
// launcher), as the server rendered it.
func wantOpen(t *testing.T, w *goquery.Selection, open bool) {
	t.Helper()
	if got := w.AttrOr("data-open", ""); got != strconv.FormatBool(open) {
		t.Errorf("data-open = %q, want %v", got, open)
	}
	_, panelHidden := w.Find("#parley-panel").Attr("hidden")
	_, launcherHidden := w.Find(".parley-launcher").Attr("hidden")
	if panelHidden == open || launcherHidden != open {
		t.Errorf("panel hidden %v, launcher hidden %v; want the %s one shown", panelHidden, launcherHidden, map[bool]string{true: "panel", false: "launcher"}[open])
	}
}

func TestWidgetOpenOrCollapsed(t *testing.T) {
	t.Parallel()
	en := newEnv(t)
	srv := en.server()

	t.Run("a new visitor sees the launcher", func(t *testing.T) {
		v := en.visitor(srv)
		w := v.get("/").widget()
		wantOpen(t, w, false)
		if got := strings.TrimSpace(w.Find(".parley-launcher button").Text()); got != "Open chat" {
			t.Errorf("launcher = %q, want Open chat", got)
		}
	})
	t.Run("the site can start it open", func(t *testing.T) {
		v := en.visitor(newSite(handlers.Deps{Chats: en.chats, Catalogs: en.cats, SessionSecrets: [][]byte{secretNew}, Options: handlers.Options{StartOpen: true}, Logger: slog.New(slog.DiscardHandler)}))
		wantOpen(t, v.get("/").widget(), true)
	})
	t.Run("open and minimized without JavaScript", func(t *testing.T) {
		v := en.visitor(srv)
		id := v.register("/", "Ada")
		res := v.post("/chat/ui", url.Values{"open": {"true"}, "return_to": {"/pricing"}})
		res.wantRedirect("/pricing")
		c := res.cookie(uiCookie)
		if c == nil || c.Value != "open" || c.HttpOnly || c.Path != "/" {
			t.Fatalf("ui cookie = %v, want open, path /, readable by chat.js", c)
		}
		w := v.get("/pricing").widget()
		wantOpen(t, w, true)
		// chat.js writes the same cookie for as long, as the widget says.
		if got := w.AttrOr("data-ui-max-age", ""); got != strconv.Itoa(c.MaxAge) {
			t.Errorf("data-ui-max-age = %q; the server's ui cookie lives %d s", got, c.MaxAge)
		}

		res = v.post("/chat/ui", url.Values{"open": {"false"}, "return_to": {"/pricing"}})
		want := "min:" + id + ":" + strconv.FormatInt(en.chat(id).LastSeq, 10)
		if c := res.cookie(uiCookie); c == nil || c.Value != want {
			t.Fatalf("ui cookie = %v, want %q: collapsed, with what was seen", c, want)
		}
		w = v.get("/pricing").widget()
		wantOpen(t, w, false)
		if _, hidden := w.Find(".parley-unread").Attr("hidden"); !hidden {
			t.Error("unread count shown with nothing unread")
		}
	})
	t.Run("agent messages while collapsed are unread", func(t *testing.T) {
		v := en.visitor(srv)
		id := v.register("/", "Ada")
		if _, err := en.chats.Accept(context.Background(), id, chatstate.AgentParty(agentName, "")); err != nil {
			t.Fatal(err)
		}
		v.cookies[uiCookie] = &http.Cookie{Name: uiCookie, Value: "min:" + id + ":" + strconv.FormatInt(en.chat(id).LastSeq, 10)}
		for _, text := range []string{"Hello Ada", "Are you there?"} {
			if _, err := en.chats.SendMessage(context.Background(), id, agentParty(), "", text); err != nil {
				t.Fatal(err)
			}
		}
		// The visitor's own messages are not unread.
		v.say("/", "Sorry, one moment")
		w := v.get("/").widget()
		wantOpen(t, w, false)
		badge := w.Find(".parley-unread")
		if got := badge.AttrOr("data-count", ""); got != "2" || strings.TrimSpace(badge.Text()) != "2 new" {
			t.Errorf("unread badge = %q (%q), want 2 new", got, strings.TrimSpace(badge.Text()))
		}
		if got := w.Find(".parley-launcher button").AttrOr("aria-describedby", ""); got != badge.AttrOr("id", "-") {
			t.Errorf("launcher aria-describedby = %q, want the badge", got)
		}
		// A chat other than the one seen counts nothing.
		v.cookies[uiCookie].Value = "min:another-chat:1"
		if got := v.get("/").widget().Find(".parley-unread").AttrOr("data-count", ""); got != "0" {
			t.Errorf("unread with another chat's cookie = %s, want 0", got)
		}
	})
	t.Run("the popup is the chat: no launcher", func(t *testing.T) {
		v := en.visitor(srv)
		w := v.get("/chat/popup").widget()
		if w.AttrOr("data-open", "") != "true" || w.Find(".parley-launcher").Length() != 0 {
			t.Errorf("popup widget: data-open %q, %d launchers; want open with none", w.AttrOr("data-open", ""), w.Find(".parley-launcher").Length())
		}
	})
}

// TestMessagesKeepTheirOwnDirection: a message in one script shown in a
// widget of the other direction (English in the Arabic widget) is laid out
// by its own text, so its punctuation stays where it was typed.
func TestMessagesKeepTheirOwnDirection(t *testing.T) {
	t.Parallel()
	en := newEnv(t)
	v := en.visitor(en.server())
	v.lang = "ar"
	id := v.register("/", "Ada")
	v.say("/", "Do the boots come in size 46?")
	if _, err := en.chats.Accept(context.Background(), id, chatstate.AgentParty(agentName, "")); err != nil {
		t.Fatal(err)
	}
	w := v.get("/").widget()
	if got := w.AttrOr("dir", ""); got != "rtl" {
		t.Fatalf("widget dir = %q, want rtl", got)
	}
	spans := w.Find(".parley-line .parley-text, .parley-line .parley-author")
	if spans.Length() < 2 {
		t.Fatalf("found %d message spans, want the author and the text", spans.Length())
	}
	spans.Each(func(_ int, s *goquery.Selection) {
		if s.AttrOr("dir", "") != "auto" {
			t.Errorf("%q has dir %q, want auto", s.Text(), s.AttrOr("dir", ""))
		}
	})
}
