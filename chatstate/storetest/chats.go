package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/parley/parley/chatstate"
)

func testCreateRoundTrip(t *testing.T, s chatstate.Store) {
	tests := []struct {
		name string
		chat func(id string) chatstate.Chat
	}{
		{"every field", fullChat},
		{"zero values", func(id string) chatstate.Chat {
			return chatstate.Chat{ID: id, Phase: chatstate.PhaseRegistration}
		}},
		{"draft only", func(id string) chatstate.Chat {
			return chatstate.Chat{
				ID:        id,
				Phase:     chatstate.PhaseRegistration,
				Draft:     chatstate.Registration{FirstName: "Émile", UserData: map[string]string{}},
				Locale:    "fr",
				CreatedAt: baseTime(),
				UpdatedAt: baseTime(),
			}
		}},
		{"ended, offline", func(id string) chatstate.Chat {
			c := fullChat(id)
			c.Phase = chatstate.PhaseEnded
			c.EndReason = chatstate.ReasonOffline
			c.EndSeen = false
			c.MaxOffline = 10*time.Minute + 250*time.Millisecond
			return c
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := tt.chat(newID(t))
			h := mustCreate(t, s, want)

			got, err := s.ChatByToken(t.Context(), h)
			if err != nil {
				t.Fatalf("ChatByToken() = %v, want nil", err)
			}
			if diff := cmp.Diff(want, got, stored()); diff != "" {
				t.Errorf("ChatByToken() mismatch (-want +got):\n%s", diff)
			}
			if got.LastSeq != 0 {
				t.Errorf("ChatByToken().LastSeq = %d, want 0 for a new chat", got.LastSeq)
			}

			byID := mustChat(t, s, want.ID)
			if diff := cmp.Diff(got, byID, exact()); diff != "" {
				t.Errorf("Chat() differs from ChatByToken() (-byToken +byID):\n%s", diff)
			}
		})
	}
}

// testChatByUser checks that a user's newest chat is found, that a change
// of UserID by Update moves the chat to its new user, and that other users'
// and anonymous chats are not.
func testChatByUser(t *testing.T, s chatstate.Store) {
	user := "user-" + newID(t)
	if _, err := s.ChatByUser(t.Context(), user); !errors.Is(err, chatstate.ErrNotFound) {
		t.Fatalf("ChatByUser(no chats) = %v, want ErrNotFound", err)
	}
	if _, err := s.ChatByUser(t.Context(), ""); !errors.Is(err, chatstate.ErrNotFound) {
		t.Errorf("ChatByUser(\"\") = %v, want ErrNotFound", err)
	}
	older := chatstate.Chat{ID: newID(t), Phase: chatstate.PhaseEnded, UserID: user, CreatedAt: baseTime()}
	newer := chatstate.Chat{ID: newID(t), Phase: chatstate.PhaseQueued, UserID: user, CreatedAt: baseTime().Add(time.Minute)}
	other := chatstate.Chat{ID: newID(t), Phase: chatstate.PhaseQueued, UserID: user + "-other", CreatedAt: baseTime().Add(2 * time.Minute)}
	anonymous := chatstate.Chat{ID: newID(t), Phase: chatstate.PhaseQueued, CreatedAt: baseTime().Add(3 * time.Minute)}
	for _, c := range []chatstate.Chat{older, newer, other, anonymous} {
		mustCreate(t, s, c)
	}
	got, err := s.ChatByUser(t.Context(), user)
	if err != nil || got.ID != newer.ID {
		t.Fatalf("ChatByUser() = %s, %v; want the newest chat %s", got.ID, err, newer.ID)
	}
	// A chat claimed by the user later is still older than newer.
	if _, _, err := s.Update(t.Context(), anonymous.ID, func(c *chatstate.Chat) ([]chatstate.Event, error) {
		c.UserID = user
		return nil, nil
	}); err != nil {
		t.Fatalf("Update(set UserID) = %v", err)
	}
	got, err = s.ChatByUser(t.Context(), user)
	if err != nil || got.ID != anonymous.ID || got.UserID != user {
		t.Errorf("after claiming, ChatByUser() = %s (user %q), %v; want the claimed chat %s, created last", got.ID, got.UserID, err, anonymous.ID)
	}
}

func testCreateDuplicate(t *testing.T, s chatstate.Store) {
	first := fullChat(newID(t))
	h := mustCreate(t, s, first)

	tests := []struct {
		name string
		chat chatstate.Chat
		hash []byte
	}{
		{"same id", func() chatstate.Chat { c := fullChat(first.ID); c.Locale = "de"; return c }(), tokenHash("other token")},
		{"same token hash", fullChat(newID(t)), h},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.CreateChat(t.Context(), tt.chat, tt.hash); err == nil {
				t.Errorf("CreateChat() = nil, want an error")
			}
			got, err := s.ChatByToken(t.Context(), h)
			if err != nil {
				t.Fatalf("ChatByToken() = %v, want nil", err)
			}
			if diff := cmp.Diff(first, got, stored()); diff != "" {
				t.Errorf("first chat changed (-want +got):\n%s", diff)
			}
		})
	}
}

func testNotFound(t *testing.T, s chatstate.Store) {
	known := fullChat(newID(t))
	mustCreate(t, s, known)

	tests := []struct {
		name string
		call func(t *testing.T) error
	}{
		{"ChatByToken unknown", func(t *testing.T) error {
			_, err := s.ChatByToken(t.Context(), tokenHash("never issued"))
			return err
		}},
		{"ChatByToken empty", func(t *testing.T) error {
			_, err := s.ChatByToken(t.Context(), nil)
			return err
		}},
		{"Chat unknown", func(t *testing.T) error {
			_, err := s.Chat(t.Context(), "no-such-chat")
			return err
		}},
		{"Chat empty id", func(t *testing.T) error {
			_, err := s.Chat(t.Context(), "")
			return err
		}},
		{"Update unknown", func(t *testing.T) error {
			called := false
			_, _, err := s.Update(t.Context(), "no-such-chat", func(*chatstate.Chat) ([]chatstate.Event, error) {
				called = true
				return []chatstate.Event{message("m1", "hello")}, nil
			})
			if called {
				t.Errorf("Update() called change for a missing chat")
			}
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(t); !errors.Is(err, chatstate.ErrNotFound) {
				t.Errorf("got error %v, want ErrNotFound", err)
			}
		})
	}
	t.Run("Events unknown", func(t *testing.T) {
		evs, err := s.Events(t.Context(), "no-such-chat", 0, 10)
		if !errNotFoundOrEmpty(evs, err) {
			t.Errorf("Events() = %v, %v; want ErrNotFound or no events", evs, err)
		}
	})
	t.Run("Update unknown writes nothing", func(t *testing.T) {
		if evs := mustEvents(t, s, known.ID, 0, 10); len(evs) != 0 {
			t.Errorf("Events(known) = %v, want none", evs)
		}
	})
}

// listFixture is a set of chats for ListChats, each updated at its own time.
type listFixture struct {
	ids   map[string]string // fixture name → chat id
	order []string          // fixture names, most recently updated first
}

func newListFixture(t *testing.T, s chatstate.Store) listFixture {
	t.Helper()
	type spec struct {
		name     string
		phase    chatstate.Phase
		agent    string
		visitor  chatstate.Registration
		draft    chatstate.Registration
		messages []string
		other    []chatstate.Event // events that are not messages
	}
	specs := []spec{ // oldest update first
		{name: "registering", phase: chatstate.PhaseRegistration,
			draft: chatstate.Registration{FirstName: "Drafty", Email: "drafty@drafts.test"}},
		{name: "ada", phase: chatstate.PhaseQueued,
			visitor: chatstate.Registration{FirstName: "Ada", LastName: "Lovelace", Email: "ada@analytical.example", Subject: "Engine trouble"}},
		{name: "grace", phase: chatstate.PhaseConnected, agent: "alice",
			visitor:  chatstate.Registration{FirstName: "Grace", LastName: "Hopper", Email: "grace@navy.example", Subject: "Compiler"},
			messages: []string{"Found a MOTH in the relay", "another moth!"}},
		{name: "emile", phase: chatstate.PhaseConnected, agent: "bob",
			visitor: chatstate.Registration{FirstName: "Émile", LastName: "Zola", Email: "emile@example.fr", Subject: "J'accuse"}},
		{name: "percent", phase: chatstate.PhaseEnded, agent: "alice",
			visitor:  chatstate.Registration{FirstName: "Sal", LastName: "Es", Email: "sales@example.com", Subject: "100% off?"},
			messages: []string{"Is the discount real?"}},
		{name: "alan", phase: chatstate.PhaseQueued,
			visitor: chatstate.Registration{FirstName: "Alan", LastName: "Turing", Email: "alan@bletchley.example", Subject: "Enigma"},
			// A page is not a message: its name must not match a query.
			other: []chatstate.Event{{Kind: chatstate.EventPage, Page: "/moth-pricing",
				From: chatstate.Party{Type: chatstate.PartySystem}}}},
	}
	f := listFixture{ids: map[string]string{}}
	for i, sp := range specs {
		c := chatstate.Chat{
			ID:        newID(t),
			Phase:     sp.phase,
			Draft:     sp.draft,
			Visitor:   sp.visitor,
			AgentName: sp.agent,
			CreatedAt: baseTime(),
			UpdatedAt: baseTime().Add(time.Duration(i) * time.Minute),
		}
		mustCreate(t, s, c)
		var evs []chatstate.Event
		for j, text := range sp.messages {
			evs = append(evs, message(fmt.Sprint("m", j), text))
		}
		evs = append(evs, sp.other...)
		if len(evs) > 0 {
			mustUpdate(t, s, c.ID, appendEvents(evs...))
		}
		f.ids[sp.name] = c.ID
		f.order = append([]string{sp.name}, f.order...)
	}
	return f
}

func testListChatsFilter(t *testing.T, s chatstate.Store) {
	f := newListFixture(t, s)
	tests := []struct {
		name   string
		filter chatstate.ChatFilter
		want   []string // fixture names in order
	}{
		{"all", chatstate.ChatFilter{}, f.order},
		{"queued", chatstate.ChatFilter{Phases: []chatstate.Phase{chatstate.PhaseQueued}}, []string{"alan", "ada"}},
		{"live", chatstate.ChatFilter{Phases: []chatstate.Phase{chatstate.PhaseQueued, chatstate.PhaseConnected}},
			[]string{"alan", "emile", "grace", "ada"}},
		{"registration", chatstate.ChatFilter{Phases: []chatstate.Phase{chatstate.PhaseRegistration}}, []string{"registering"}},
		{"phase with no chats", chatstate.ChatFilter{Phases: []chatstate.Phase{"archived"}}, nil},
		{"first name, other case", chatstate.ChatFilter{Query: "gRACE"}, []string{"grace"}},
		{"last name substring", chatstate.ChatFilter{Query: "LOVEL"}, []string{"ada"}},
		{"email", chatstate.ChatFilter{Query: "@Bletchley."}, []string{"alan"}},
		{"subject", chatstate.ChatFilter{Query: "enigma"}, []string{"alan"}},
		{"message text, once per chat", chatstate.ChatFilter{Query: "moth"}, []string{"grace"}},
		{"message text only", chatstate.ChatFilter{Query: "discount REAL"}, []string{"percent"}},
		{"non-ASCII case folding", chatstate.ChatFilter{Query: "ÉMILE"}, []string{"emile"}},
		{"percent is literal", chatstate.ChatFilter{Query: "0% OFF"}, []string{"percent"}},
		{"percent is no wildcard", chatstate.ChatFilter{Query: "a%e"}, nil},
		{"underscore is literal", chatstate.ChatFilter{Query: "a_a"}, nil},
		{"no match", chatstate.ChatFilter{Query: "zebra"}, nil},
		{"shared text", chatstate.ChatFilter{Query: "example.com"}, []string{"percent"}},
		{"query and phase", chatstate.ChatFilter{Query: "e", Phases: []chatstate.Phase{chatstate.PhaseQueued}},
			[]string{"alan", "ada"}},
		{"agent", chatstate.ChatFilter{Agent: "alice"}, []string{"percent", "grace"}},
		{"agent and phase", chatstate.ChatFilter{Agent: "alice", Phases: []chatstate.Phase{chatstate.PhaseConnected}}, []string{"grace"}},
		{"agent with none", chatstate.ChatFilter{Agent: "carol"}, nil},
		{"limit", chatstate.ChatFilter{Limit: 2}, f.order[:2]},
		{"limit with phase", chatstate.ChatFilter{Limit: 1, Phases: []chatstate.Phase{chatstate.PhaseConnected}}, []string{"emile"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := listIDs(t, s, tt.filter)
			want := make([]string, len(tt.want))
			for i, name := range tt.want {
				want[i] = f.ids[name]
			}
			if diff := cmp.Diff(want, got, exact()); diff != "" {
				t.Errorf("ListChats(%+v) ids mismatch (-want +got):\n%s\n(fixture ids: %v)", tt.filter, diff, f.ids)
			}
		})
	}
	t.Run("whole chats", func(t *testing.T) {
		chats, err := s.ListChats(t.Context(), chatstate.ChatFilter{})
		if err != nil {
			t.Fatalf("ListChats() = %v, want nil", err)
		}
		for _, got := range chats {
			want := mustChat(t, s, got.ID)
			if diff := cmp.Diff(want, got, exact()); diff != "" {
				t.Errorf("ListChats() chat %s differs from Chat() (-want +got):\n%s", got.ID, diff)
			}
		}
	})
}

func testListChatsDefaultLimit(t *testing.T, s chatstate.Store) {
	const n = 105
	var newestFirst []string
	for i := range n {
		c := chatstate.Chat{
			ID:        fmt.Sprintf("chat-%03d-%s", i, newID(t)),
			Phase:     chatstate.PhaseQueued,
			CreatedAt: baseTime(),
			UpdatedAt: baseTime().Add(time.Duration(i) * time.Second),
		}
		mustCreate(t, s, c)
		newestFirst = append([]string{c.ID}, newestFirst...)
	}
	got := listIDs(t, s, chatstate.ChatFilter{})
	if diff := cmp.Diff(newestFirst[:100], got); diff != "" {
		t.Errorf("ListChats(Limit: 0) mismatch, want the 100 newest (-want +got):\n%s", diff)
	}
}

func testListChatsOrderFollowsUpdate(t *testing.T, s chatstate.Store) {
	f := newListFixture(t, s)
	oldest := f.order[len(f.order)-1]
	mustUpdate(t, s, f.ids[oldest], func(c *chatstate.Chat) ([]chatstate.Event, error) {
		c.UpdatedAt = baseTime().Add(24 * time.Hour)
		return nil, nil
	})
	got := listIDs(t, s, chatstate.ChatFilter{Limit: 2})
	want := []string{f.ids[oldest], f.ids[f.order[0]]}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ListChats() after Update moved %q to newest (-want +got):\n%s", oldest, diff)
	}
}

func testListChatsOfflineAt(t *testing.T, s chatstate.Store) {
	seen := baseTime()
	chat := func(name string, maxOffline time.Duration, seenAt time.Time) chatstate.Chat {
		return chatstate.Chat{
			ID: name + "-" + newID(t), Phase: chatstate.PhaseQueued, MaxOffline: maxOffline,
			VisitorSeenAt: seenAt, CreatedAt: seen, UpdatedAt: seen,
		}
	}
	short := chat("short", time.Minute, seen)
	long := chat("long", time.Hour, seen)
	never := chat("never-seen", time.Minute, time.Time{})
	// An ended chat is never offline, however long ago its visitor left.
	ended := chat("ended", time.Minute, seen)
	ended.Phase = chatstate.PhaseEnded
	for _, c := range []chatstate.Chat{short, long, never, ended} {
		mustCreate(t, s, c)
	}
	tests := []struct {
		name string
		at   time.Time
		want []string
	}{
		{"before any deadline", seen.Add(30 * time.Second), nil},
		{"at the deadline is not past it", seen.Add(time.Minute), nil},
		{"past the short deadline", seen.Add(2 * time.Minute), []string{short.ID}},
		{"past both", seen.Add(2 * time.Hour), []string{long.ID, short.ID}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			chats, err := s.ListChats(t.Context(), chatstate.ChatFilter{OfflineAt: tt.at})
			if err != nil {
				t.Fatalf("ListChats(OfflineAt: %v) = %v, want nil", tt.at, err)
			}
			var got []string
			for _, c := range chats {
				got = append(got, c.ID)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.SortSlices(func(a, b string) bool { return a < b }), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("ListChats(OfflineAt: %v) mismatch (-want +got):\n%s", tt.at, diff)
			}
		})
	}
}

// testListChatsOldestFirst: a queue lists by creation, whatever was updated
// since, and a limit keeps the oldest.
func testListChatsOldestFirst(t *testing.T, s chatstate.Store) {
	ids := make([]string, 4)
	for i := range ids {
		ids[i] = newID(t)
		mustCreate(t, s, chatstate.Chat{ID: ids[i], Phase: chatstate.PhaseQueued,
			CreatedAt: baseTime().Add(time.Duration(i) * time.Minute), UpdatedAt: baseTime().Add(time.Duration(i) * time.Minute)})
	}
	// The oldest moves (it is now the most recently updated); the newest
	// is taken by an agent.
	mustUpdate(t, s, ids[0], func(c *chatstate.Chat) ([]chatstate.Event, error) {
		c.Page, c.UpdatedAt = "/pricing", baseTime().Add(time.Hour)
		return nil, nil
	})
	mustUpdate(t, s, ids[3], func(c *chatstate.Chat) ([]chatstate.Event, error) {
		c.Phase, c.AgentName = chatstate.PhaseConnected, "alice"
		return nil, nil
	})
	got := listIDs(t, s, chatstate.ChatFilter{Phases: []chatstate.Phase{chatstate.PhaseQueued}, OldestFirst: true, Limit: 2})
	if diff := cmp.Diff(ids[:2], got); diff != "" {
		t.Errorf("ListChats(OldestFirst, Limit: 2) mismatch, want the two created first (-want +got):\n%s", diff)
	}
}

// listIDs is the ids of the chats ListChats returns for filter, in order.
func listIDs(t *testing.T, s chatstate.Store, filter chatstate.ChatFilter) []string {
	t.Helper()
	chats, err := s.ListChats(t.Context(), filter)
	if err != nil {
		t.Fatalf("ListChats(%+v) = %v, want nil", filter, err)
	}
	ids := make([]string, len(chats))
	for i, c := range chats {
		ids[i] = c.ID
	}
	return ids
}
