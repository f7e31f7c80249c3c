package handlers_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
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
// give every line once and in order; and without JavaScript the same link
// opens the transcript a page at a time, back to the start.
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

	// Without JavaScript: the widget's link opens the page of lines before
	// the ones shown, each page links to the one before it, and every page
	// is one page, however long the chat.
	var noJS []line
	href := link.AttrOr("href", "")
	for pages := 0; href != ""; pages++ {
		if pages > 10 {
			t.Fatal("transcript pages without JavaScript never end")
		}
		res := v.get(href)
		res.wantStatus(http.StatusOK)
		if size := len(res.body); size > 25<<10 {
			t.Errorf("the transcript page %s is %d bytes, want at most 25 KB", href, size)
		}
		doc := res.doc()
		lines := transcript(doc.Find("#parley-widget"))
		if len(lines) == 0 || len(lines) > 50 {
			t.Fatalf("the transcript page %s shows %d lines, want 1 to 50", href, len(lines))
		}
		noJS = append(lines, noJS...)
		if back := doc.Find(`a[href="/pricing"]`).Length(); back != 1 {
			t.Errorf("the transcript page %s has %d links back to /pricing, want 1", href, back)
		}
		href = doc.Find("#parley-widget .parley-earlier a").AttrOr("href", "")
	}
	if got, want := len(noJS)+len(shown), len(all); got != want {
		t.Fatalf("the pages without JavaScript and the widget show %d lines together, want all %d", got, want)
	}
	for i, l := range append(noJS, shown...) {
		if l.Seq != all[i].Seq || l.Text != all[i].Text {
			t.Fatalf("without JavaScript, line %d is %+v, want %+v (every line once, in order)", i, l, all[i])
		}
	}
	latest := v.get("/chat/transcript?return_to=%2Fpricing")
	latest.wantStatus(http.StatusOK)
	if got := transcript(latest.doc().Find("#parley-widget")); len(got) != len(shown) || got[len(got)-1].Seq != shown[len(shown)-1].Seq {
		t.Errorf("the transcript page without a seq shows %d lines, want the widget's latest %d", len(got), len(shown))
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

// TestConsoleTranscriptIsPaged: the agent's pane of a 300-message chat
// shows its latest page and a way to the earlier lines; agent.js's pages,
// followed back to the start, give every line once and in order, as do the
// pages a browser without JavaScript follows; another agent reads the chat
// only once it has ended, as the history does.
func TestConsoleTranscriptIsPaged(t *testing.T) {
	t.Parallel()
	en := newEnv(t)
	srv := en.consoleServer()
	v := en.visitor(srv)
	id := longChat(t, en, v, 300)
	alice := agentBrowser(t, en, srv, "alice")

	pane := alice.get("/agent/chats/" + id)
	pane.wantStatus(http.StatusOK)
	shown := agentTranscript(pane.doc().Find("#agent-chat-" + id))
	if len(shown) != 100 || shown[len(shown)-1] != "message number 299" {
		t.Fatalf("the pane shows %d lines ending %q, want the latest 100", len(shown), shown[len(shown)-1])
	}
	href := pane.doc().Find("#agent-chat-"+id+" .agent-earlier a").AttrOr("href", "")
	if href == "" {
		t.Fatal("the pane of a 300-message chat offers no earlier lines")
	}
	wantAll := []string{"Ada is waiting for an agent.", "alice accepted the chat."}
	for i := range 300 {
		wantAll = append(wantAll, fmt.Sprintf("message number %d", i))
	}

	// followPages walks the earlier links from href back to the start and
	// returns the lines before the pane's, oldest first.
	followPages := func(a *visitor, href string, headers ...reqOpt) []string {
		t.Helper()
		var lines []string
		for pages := 0; href != ""; pages++ {
			if pages > 10 {
				t.Fatal("earlier pages never end")
			}
			res := a.get(href, headers...)
			res.wantStatus(http.StatusOK)
			page := res.doc().Find(".agent-earlier-page")
			got := agentTranscript(page)
			if len(got) == 0 || len(got) > 100 {
				t.Fatalf("the page %s has %d lines, want 1 to 100", href, len(got))
			}
			lines = append(got, lines...)
			href = page.Find(".agent-earlier a").AttrOr("href", "")
		}
		return lines
	}
	for _, way := range []struct {
		name    string
		headers []reqOpt
	}{{"agent.js", []reqOpt{hx}}, {"without JavaScript", nil}} {
		all := append(followPages(alice, href, way.headers...), shown...)
		if !slices.Equal(all, wantAll) {
			t.Errorf("%s: paging back gave %d lines, want every one of %d once, in order", way.name, len(all), len(wantAll))
		}
	}
	page := alice.get(href)
	if back := page.doc().Find(`a[href="/agent/chats/` + id + `"]`).Length(); back != 1 {
		t.Errorf("the page without JavaScript has %d links back to the chat, want 1", back)
	}

	bob := agentBrowser(t, en, srv, "bob")
	if res := bob.get(href, hx); res.status != http.StatusForbidden {
		t.Errorf("another agent reading a live chat's earlier lines: status %d, want 403", res.status)
	}
	if res := alice.get("/agent/chats/"+id+"/transcript?before=x", hx); res.status != http.StatusBadRequest {
		t.Errorf("earlier lines before a malformed seq: status %d, want 400", res.status)
	}
	if _, err := en.chats.End(context.Background(), id, chatstate.AgentParty(agentName, ""), chatstate.ReasonAgent); err != nil {
		t.Fatal(err)
	}
	history := bob.get("/agent/history/" + id)
	history.wantStatus(http.StatusOK)
	ended := agentTranscript(history.doc().Find("#agent-chat-" + id))
	if len(ended) != 100 || !strings.HasSuffix(ended[len(ended)-1], " ended the chat.") {
		t.Fatalf("the history shows %d lines ending %q, want the latest 100 and the ending", len(ended), ended[len(ended)-1])
	}
	more := history.doc().Find("#agent-chat-"+id+" .agent-earlier a").AttrOr("href", "")
	if all := append(followPages(bob, more, hx), ended...); len(all) != len(wantAll)+1 || !slices.Equal(all[:len(wantAll)], wantAll) {
		t.Errorf("the history's earlier pages gave %d lines, want the %d of the chat and its ending", len(all), len(wantAll)+1)
	}
}

// agentTranscript is the text of each line a console pane or page shows.
func agentTranscript(s *goquery.Selection) []string {
	var lines []string
	s.Find("ol.agent-log > li").Each(func(_ int, li *goquery.Selection) {
		text := strings.TrimSpace(li.Find(".agent-text").Text())
		lines = append(lines, text)
	})
	return lines
}
