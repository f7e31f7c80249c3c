package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/parley/parley/chatstate"
	"github.com/parley/parley/chatstate/sqlite"
)

// TestLongChatShowsItsLatestPage: a chat of 120 messages restores with its
// latest 50 lines; scrolling to the top brings the earlier ones in place,
// keeping the line the visitor was reading in view, and
// getTranscript({fromIndex}) gives every line once, in order.
func TestLongChatShowsItsLatestPage(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	srv := startServer(t, dataDir, "-agent", apiAgentName+":"+apiAgentPassword)
	p := openSite(t, newBrowser(t), srv, "/", siteSetup{})
	chatID := startEmbedded(t, p, "{embedded: true}", "Ada")
	signInAgent(t, srv).accept(chatID)
	waitTranscriptLine(t, p, apiAgentName+" joined the chat.")

	// The chat grew long while the visitor was away.
	srv.kill9()
	appendAgentMessages(t, filepath.Join(dataDir, "parley.db"), chatID, 120)
	srv.restart()
	p.reload()
	if c := siteRestore(t, p); c.State != "done" {
		t.Fatalf("restoreChat = %+v, want done", c)
	}
	if n := evalJS[int](p, `document.querySelectorAll("#parley-widget .parley-log > li").length`); n != 50 {
		t.Errorf("the restored page shows %d lines, want the latest 50", n)
	}
	waitTranscriptLine(t, p, "Message 120 of the long chat")

	// Scroll to the top: the page before comes in above, and the line that
	// was first stays where the visitor was reading.
	firstSeq := evalJS[string](p, `document.querySelector("#parley-widget .parley-log > li").dataset.seq`)
	evalJS[bool](p, `(document.querySelector("#parley-widget .parley-scroll").scrollTop = 0, true)`)
	waitUntil(t, p, "the earlier page in place", `document.querySelectorAll("#parley-widget .parley-log > li").length === 100`)
	shoot(t, p, "earlier-lines")
	if visible := evalJS[bool](p, fmt.Sprintf(`(() => {
		const box = document.querySelector("#parley-widget .parley-scroll").getBoundingClientRect();
		const line = document.getElementById("parley-seq-%s").getBoundingClientRect();
		return line.top >= box.top - 1 && line.top < box.bottom;
	})()`, firstSeq)); !visible {
		t.Error("after the earlier lines came in, the line the visitor was reading is out of view")
	}

	// The whole transcript, through the API.
	got := evalJS[[]string](p, `e2e.session.getTranscript({fromIndex: 0}).then(lines => lines.map(l => l.text))`)
	var messages []string
	for _, text := range got {
		if len(text) > 8 && text[:8] == "Message " {
			messages = append(messages, text)
		}
	}
	if len(messages) != 120 {
		t.Fatalf("getTranscript({fromIndex: 0}) has %d of the 120 messages: %q", len(messages), got)
	}
	for i, m := range messages {
		if want := fmt.Sprintf("Message %d of the long chat", i+1); m != want {
			t.Fatalf("getTranscript({fromIndex: 0})[%d] = %q, want %q (each line once, in order)", i, m, want)
		}
	}
	if n := evalJS[int](p, `document.querySelectorAll("#parley-widget .parley-earlier").length`); n != 0 {
		t.Errorf("with every line loaded, %d links to earlier lines remain", n)
	}
	if tail := evalJS[[]string](p, `e2e.session.getTranscript({fromIndex: 119}).then(lines => lines.map(l => l.text))`); len(tail) == 0 {
		t.Error("getTranscript({fromIndex: 119}) is empty")
	}

	// The agent's pane is paged the same way: the latest 100 lines, and
	// the link brings the rest in above, keeping the agent's place.
	console := newBrowser(t).newPage(t)
	signIn(t, console, srv, apiAgentName, apiAgentPassword)
	console.navigate(srv.URL + "/agent/chats/" + chatID)
	agentLines := `document.querySelectorAll("#agent-log-` + chatID + ` > li").length`
	waitUntil(t, console, "the pane's latest page", agentLines+` === 100`)
	firstLine := evalJS[string](console, `document.querySelector("#agent-log-`+chatID+` > li").id`)
	console.clickLink("Show earlier messages")
	waitUntil(t, console, "every line of the chat in the pane", `document.querySelector("#agent-chat-`+chatID+` .agent-earlier") === null`)
	if n := evalJS[int](console, agentLines); n != 122 {
		t.Errorf("with every line loaded the pane shows %d lines, want 122 (the wait, the join and 120 messages)", n)
	}
	if visible := evalJS[bool](console, fmt.Sprintf(`(() => {
		const box = document.querySelector("#agent-chat-%s .agent-scroll").getBoundingClientRect();
		const line = document.getElementById(%q).getBoundingClientRect();
		return line.top >= box.top - 1 && line.top < box.bottom;
	})()`, chatID, firstLine)); !visible {
		t.Error("after the earlier lines came in, the line the agent was reading is out of view")
	}
}

// appendAgentMessages writes n agent messages into the chat's log, as a
// long conversation would have, while the server is down.
func appendAgentMessages(t *testing.T, dbPath, chatID string, n int) {
	t.Helper()
	ctx := context.Background()
	store, err := sqlite.Open(ctx, dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	for i := 1; i <= n; i++ {
		_, _, err := store.Update(ctx, chatID, func(c *chatstate.Chat) ([]chatstate.Event, error) {
			return []chatstate.Event{{Kind: chatstate.EventMessage, Time: time.Now(), Text: fmt.Sprintf("Message %d of the long chat", i),
				From: chatstate.Party{Type: chatstate.PartyAgent, Name: apiAgentName}}}, nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}
