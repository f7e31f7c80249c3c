package handlers_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/parley/parley/chatstate"
)

// longChat registers a visitor whose chat holds n agent messages, each
// followed by the visitor typing, as a long conversation's log does.
func longChat(t testing.TB, en *env, v *visitor, n int) string {
	t.Helper()
	id := v.register("/", "Ada")
	ctx := context.Background()
	if _, err := en.chats.Accept(ctx, id, chatstate.AgentParty(agentName, "")); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := en.chats.SendMessage(ctx, id, agentParty(), fmt.Sprintf("m%d", i), fmt.Sprintf("message number %d", i)); err != nil {
			t.Fatal(err)
		}
		if err := en.chats.Typing(ctx, id, chatstate.Party{Type: chatstate.PartyVisitor}); err != nil {
			t.Fatal(err)
		}
	}
	return id
}

// TestLongTranscriptIsPaged: a page restoring a chat of 300 messages shows
// its latest lines and a way to the earlier ones, in well under DESIGN §8's
// 25 KB; chat.js's requests for earlier pages, followed back to the start,
// give every line once and in order; and without JavaScript the link opens
// the whole transcript.
func TestLongTranscriptIsPaged(t *testing.T) {
	en := newEnv(t)
	srv := en.server()
	v := en.visitor(srv)
	longChat(t, en, v, 300)

	page := v.get("/pricing")
	page.wantStatus(http.StatusOK)
	if size := len(page.body); size > 25<<10 {
		t.Errorf("the page restoring 300 messages is %d bytes, want at most 25 KB", size)
	}
	w := page.widget()
	shown := transcript(w)
	if len(shown) != 50 || shown[len(shown)-1].Text != "message number 299" {
		t.Fatalf("the page shows %d lines ending %+v, want the latest 50", len(shown), shown[len(shown)-1])
	}
	link := w.Find(".parley-earlier a")
	if link.Length() != 1 || strings.TrimSpace(link.Text()) != en.en("conversation.earlier") {
		t.Fatalf("the page offers %d links to earlier lines (%q), want one", link.Length(), link.Text())
	}

	// chat.js, page by page back to the start.
	all := shown
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("earlier pages never end")
		}
		res := v.get("/chat/transcript?before="+all[0].Seq, hx)
		res.wantStatus(http.StatusOK)
		doc := res.doc()
		var earlier []line
		doc.Find(".parley-earlier-page li").Each(func(_ int, li *goquery.Selection) {
			earlier = append(earlier, line{Seq: li.AttrOr("data-seq", ""), Text: li.Find(".parley-text").Text()})
		})
		if len(earlier) == 0 {
			t.Fatalf("a page of earlier lines before seq %s is empty", all[0].Seq)
		}
		all = append(earlier, all...)
		if doc.Find(".parley-earlier-page .parley-earlier").Length() == 0 {
			break
		}
	}
	var messages []string
	for _, l := range all {
		if strings.HasPrefix(l.Text, "message number ") {
			messages = append(messages, l.Text)
		}
	}
	if len(messages) != 300 {
		t.Fatalf("paging back gave %d messages, want 300", len(messages))
	}
	for i, m := range messages {
		if m != fmt.Sprintf("message number %d", i) {
			t.Fatalf("paging back: line %d is %q, want message number %d (every line once, in order)", i, m, i)
		}
	}

	// Without JavaScript: the whole transcript on a page of its own.
	whole := v.get("/chat/transcript?return_to=%2Fpricing")
	whole.wantStatus(http.StatusOK)
	if n := len(transcript(whole.doc().Find("#parley-widget"))); n != len(all) {
		t.Errorf("the no-JavaScript transcript page shows %d lines, want all %d", n, len(all))
	}
	if back := whole.doc().Find(`a[href="/pricing"]`).Length(); back != 1 {
		t.Errorf("the transcript page has %d links back to /pricing, want 1", back)
	}
}

// TestEarlierNeedsAChat: earlier lines come only from the cookie's own chat.
func TestEarlierNeedsAChat(t *testing.T) {
	en := newEnv(t)
	srv := en.server()
	stranger := en.visitor(srv)
	stranger.get("/").wantStatus(http.StatusOK)
	res := stranger.get("/chat/transcript?before=5", hx)
	if res.status != http.StatusNotFound {
		t.Errorf("earlier lines without a chat: status %d, want 404", res.status)
	}
	v := en.visitor(srv)
	longChat(t, en, v, 3)
	if res := v.get("/chat/transcript?before=x", hx); res.status != http.StatusBadRequest {
		t.Errorf("earlier lines before a malformed seq: status %d, want 400", res.status)
	}
}

// TestReloadShowsWhatWasLoggedSince: a reload after lines were logged
// elsewhere (the live transport, another instance) shows the latest page
// exactly as a server that never rendered the chat before shows it, line
// for line and byte for byte, the earlier ones on demand.
func TestReloadShowsWhatWasLoggedSince(t *testing.T) {
	en := newEnv(t)
	srv := en.server()
	v := en.visitor(srv)
	id := longChat(t, en, v, 60)
	logShown := func(v *visitor) string {
		t.Helper()
		html, err := v.get("/pricing").widget().Find("ol.parley-log").Html()
		if err != nil {
			t.Fatal(err)
		}
		return html
	}
	first := logShown(v)

	ctx := context.Background()
	you := chatstate.Party{Type: chatstate.PartyVisitor, Name: "Ada"}
	for i, say := range []struct {
		from chatstate.Party
		text string
	}{{agentParty(), "one <b>more</b>"}, {you, "and mine"}, {agentParty(), "the last"}} {
		if _, err := en.chats.SendMessage(ctx, id, say.from, fmt.Sprint("late", i), say.text); err != nil {
			t.Fatal(err)
		}
		if err := en.chats.Typing(ctx, id, say.from); err != nil {
			t.Fatal(err)
		}
	}
	again := logShown(v)
	if again == first {
		t.Fatal("the reload shows the same lines as before the new ones")
	}
	shown := transcript(v.get("/pricing").widget())
	if len(shown) != 50 || shown[len(shown)-1].Text != "the last" || shown[len(shown)-2].Author != en.en("conversation.you") ||
		shown[len(shown)-3].Text != "one <b>more</b>" {
		t.Fatalf("after three more messages the page shows %d lines ending %+v, want the latest 50", len(shown), shown[len(shown)-3:])
	}

	fresh := *v
	fresh.srv = en.server()
	if cold := logShown(&fresh); cold != again {
		t.Errorf("the reload differs from a first render of the same chat:\nreload: %s\nfirst:  %s", again, cold)
	}
}
