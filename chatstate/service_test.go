package chatstate_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/parley/parley/chatstate"
	"github.com/parley/parley/chatstate/sqlite"
	"github.com/parley/parley/chatstate/storetest"
)

// clock is a settable time source.
type clock = storetest.Clock

// newService returns a Service over a real SQLite store in t.TempDir, with
// cfg's limits and a clock the test moves.
func newService(t *testing.T, cfg chatstate.Config) (*chatstate.Service, *clock) {
	t.Helper()
	store, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "parley.db"))
	if err != nil {
		t.Fatalf("sqlite.Open() = %v", err)
	}
	t.Cleanup(func() { store.Close() })
	clk := storetest.NewClock(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	cfg.Store, cfg.Now = store, clk.Now
	return chatstate.NewService(cfg), clk
}

var (
	visitor = chatstate.Party{Type: chatstate.PartyVisitor}
	alice   = chatstate.AgentParty("alice", "")
	bob     = chatstate.AgentParty("bob", "")
	ada     = chatstate.Registration{FirstName: "Ada", LastName: "Lovelace", Email: "ada@example.com", Subject: "Tents"}
)

func start(t *testing.T, s *chatstate.Service) (chatstate.Chat, string) {
	t.Helper()
	c, token, err := s.Start(context.Background(), chatstate.StartParams{Locale: "en", Page: "/"})
	if err != nil {
		t.Fatalf("Start() = %v", err)
	}
	return c, token
}

// queued returns a registered chat waiting for an agent.
func queued(t *testing.T, s *chatstate.Service) chatstate.Chat {
	t.Helper()
	c, _ := start(t, s)
	c, err := s.Register(context.Background(), c.ID, ada)
	if err != nil {
		t.Fatalf("Register() = %v", err)
	}
	return c
}

// connected returns a chat alice holds.
func connected(t *testing.T, s *chatstate.Service) chatstate.Chat {
	t.Helper()
	c := queued(t, s)
	c, err := s.Accept(context.Background(), c.ID, alice)
	if err != nil {
		t.Fatalf("Accept() = %v", err)
	}
	return c
}

func ended(t *testing.T, s *chatstate.Service) chatstate.Chat {
	t.Helper()
	c := connected(t, s)
	c, err := s.End(context.Background(), c.ID, alice, chatstate.ReasonAgent)
	if err != nil {
		t.Fatalf("End() = %v", err)
	}
	return c
}

func kinds(t *testing.T, s *chatstate.Service, id string) []chatstate.EventKind {
	t.Helper()
	evs, err := s.Transcript(context.Background(), id)
	if err != nil {
		t.Fatalf("Transcript() = %v", err)
	}
	var out []chatstate.EventKind
	var prev int64
	for _, ev := range evs {
		if ev.Seq != prev+1 {
			t.Errorf("seq %d after %d, want %d", ev.Seq, prev, prev+1)
		}
		prev = ev.Seq
		out = append(out, ev.Kind)
	}
	return out
}

// TestLifecycle walks a chat through every phase.
func TestLifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newService(t, chatstate.Config{})

	c, token := start(t, s)
	if c.Phase != chatstate.PhaseRegistration || c.ID == "" || len(token) < 22 {
		t.Fatalf("Start() = phase %s, id %q, token %q; want registration, an id and a token of at least 128 bits", c.Phase, c.ID, token)
	}
	if got, err := s.Restore(ctx, token); err != nil || got.ID != c.ID {
		t.Fatalf("Restore(token) = %q, %v; want %q", got.ID, err, c.ID)
	}
	for _, bad := range []string{"", token + "x", strings.ToUpper(token)} {
		if _, err := s.Restore(ctx, bad); !errors.Is(err, chatstate.ErrNotFound) {
			t.Errorf("Restore(%q) = %v, want ErrNotFound", bad, err)
		}
	}

	steps := []struct {
		name  string
		do    func() (chatstate.Chat, error)
		phase chatstate.Phase
		agent string
	}{
		{"register", func() (chatstate.Chat, error) { return s.Register(ctx, c.ID, ada) }, chatstate.PhaseQueued, ""},
		{"accept", func() (chatstate.Chat, error) { return s.Accept(ctx, c.ID, chatstate.AgentParty("alice", "")) }, chatstate.PhaseConnected, "alice"},
		{"release", func() (chatstate.Chat, error) { return s.Chat(ctx, c.ID) }, chatstate.PhaseQueued, ""},
		{"accept again", func() (chatstate.Chat, error) { return s.Accept(ctx, c.ID, chatstate.AgentParty("bob", "")) }, chatstate.PhaseConnected, "bob"},
		{"end", func() (chatstate.Chat, error) { return s.End(ctx, c.ID, visitor, chatstate.ReasonVisitor) }, chatstate.PhaseEnded, "bob"},
	}
	for _, step := range steps {
		if step.name == "release" {
			if err := s.Release(ctx, c.ID, chatstate.AgentParty("alice", "")); err != nil {
				t.Fatalf("Release() = %v", err)
			}
		}
		got, err := step.do()
		if err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if got.Phase != step.phase || got.AgentName != step.agent {
			t.Errorf("after %s: phase %s, agent %q; want %s, %q", step.name, got.Phase, got.AgentName, step.phase, step.agent)
		}
	}
	final, err := s.Chat(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if final.EndReason != chatstate.ReasonVisitor || !final.EndSeen {
		t.Errorf("ended by the visitor: reason %q, seen %v; want visitor, true", final.EndReason, final.EndSeen)
	}
	if diff := cmp.Diff(ada, final.Visitor); diff != "" {
		t.Errorf("visitor (-want +got):\n%s", diff)
	}
	want := []chatstate.EventKind{chatstate.EventRegistered, chatstate.EventAgentJoined, chatstate.EventAgentLeft,
		chatstate.EventAgentJoined, chatstate.EventEnded}
	if diff := cmp.Diff(want, kinds(t, s, c.ID)); diff != "" {
		t.Errorf("log (-want +got):\n%s", diff)
	}
	if final.LastSeq != int64(len(want)) {
		t.Errorf("LastSeq = %d, want %d", final.LastSeq, len(want))
	}
}

// TestPhaseRules: what each phase refuses, and that a refusal writes
// nothing.
func TestPhaseRules(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	type action func(s *chatstate.Service, id string) error
	send := func(from chatstate.Party) action {
		return func(s *chatstate.Service, id string) error {
			_, err := s.SendMessage(ctx, id, from, "", "hello")
			return err
		}
	}
	typing := func(s *chatstate.Service, id string) error { return s.Typing(ctx, id, visitor) }
	accept := func(agent string) action {
		return func(s *chatstate.Service, id string) error {
			_, err := s.Accept(ctx, id, chatstate.AgentParty(agent, ""))
			return err
		}
	}
	release := func(agent string) action {
		return func(s *chatstate.Service, id string) error {
			return s.Release(ctx, id, chatstate.AgentParty(agent, ""))
		}
	}
	register := func(s *chatstate.Service, id string) error { _, err := s.Register(ctx, id, ada); return err }
	draft := func(s *chatstate.Service, id string) error { _, err := s.SaveDraft(ctx, id, ada); return err }
	markSeen := func(s *chatstate.Service, id string) error { return s.MarkEndSeen(ctx, id) }
	endAgain := func(s *chatstate.Service, id string) error {
		_, err := s.End(ctx, id, visitor, chatstate.ReasonVisitor)
		return err
	}
	registration := func(t *testing.T, s *chatstate.Service) chatstate.Chat { c, _ := start(t, s); return c }

	tests := []struct {
		name    string
		setup   func(*testing.T, *chatstate.Service) chatstate.Chat
		do      action
		wantErr error
	}{
		{"registration/visitor message", registration, send(visitor), chatstate.ErrWrongPhase},
		{"registration/typing", registration, typing, chatstate.ErrWrongPhase},
		{"registration/accept", registration, accept("alice"), chatstate.ErrWrongPhase},
		{"registration/release", registration, release("alice"), chatstate.ErrWrongPhase},
		{"registration/mark end seen", registration, markSeen, chatstate.ErrWrongPhase},
		{"queued/register again", queued, register, chatstate.ErrWrongPhase},
		{"queued/draft", queued, draft, chatstate.ErrWrongPhase},
		{"queued/release", queued, release("alice"), chatstate.ErrWrongPhase},
		{"queued/visitor message", queued, send(visitor), nil},
		{"queued/agent message", queued, send(alice), chatstate.ErrNotYourChat},
		{"connected/accept again", connected, accept("bob"), chatstate.ErrAlreadyAccepted},
		{"connected/release by another agent", connected, release("bob"), chatstate.ErrNotYourChat},
		{"connected/message from another agent", connected, send(bob), chatstate.ErrNotYourChat},
		{"connected/agent message", connected, send(alice), nil},
		{"ended/visitor message", ended, send(visitor), chatstate.ErrChatEnded},
		{"ended/agent message", ended, send(alice), chatstate.ErrChatEnded},
		{"ended/typing", ended, typing, chatstate.ErrChatEnded},
		{"ended/accept", ended, accept("bob"), chatstate.ErrChatEnded},
		{"ended/register", ended, register, chatstate.ErrWrongPhase},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, _ := newService(t, chatstate.Config{})
			c := tt.setup(t, s)
			err := tt.do(s, c.ID)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("got %v, want %v", err, tt.wantErr)
			}
			after, err := s.Chat(ctx, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantErr != nil {
				if diff := cmp.Diff(c, after, cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("a refused action changed the chat (-before +after):\n%s", diff)
				}
			}
		})
	}

	// Ending twice and marking an ended chat seen are harmless.
	t.Run("ended/end again", func(t *testing.T) {
		t.Parallel()
		s, _ := newService(t, chatstate.Config{})
		c := ended(t, s)
		if err := endAgain(s, c.ID); err != nil {
			t.Fatalf("End() again = %v, want nil", err)
		}
		after, _ := s.Chat(ctx, c.ID)
		if after.LastSeq != c.LastSeq || after.EndReason != chatstate.ReasonAgent {
			t.Errorf("End() again: LastSeq %d→%d, reason %q; want nothing appended, reason agent", c.LastSeq, after.LastSeq, after.EndReason)
		}
		if c.EndSeen {
			t.Error("ended by the agent: EndSeen = true, want false until the visitor is shown")
		}
		if err := markSeen(s, c.ID); err != nil {
			t.Fatalf("MarkEndSeen() = %v", err)
		}
		if after, _ := s.Chat(ctx, c.ID); !after.EndSeen {
			t.Error("EndSeen = false after MarkEndSeen")
		}
	})

	t.Run("missing chat", func(t *testing.T) {
		t.Parallel()
		s, _ := newService(t, chatstate.Config{})
		for name, do := range map[string]action{"send": send(visitor), "accept": accept("alice"), "draft": draft} {
			if err := do(s, "no-such-chat"); !errors.Is(err, chatstate.ErrNotFound) {
				t.Errorf("%s on a missing chat = %v, want ErrNotFound", name, err)
			}
		}
	})
}

// TestAcceptRace: agents accepting the same chat at once; exactly one wins.
func TestAcceptRace(t *testing.T) {
	t.Parallel()
	s, _ := newService(t, chatstate.Config{})
	c := queued(t, s)
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	startLine := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-startLine
			_, errs[i] = s.Accept(context.Background(), c.ID, chatstate.AgentParty(fmt.Sprintf("agent%d", i), ""))
		}()
	}
	close(startLine)
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("agents %d and %d both accepted", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, chatstate.ErrAlreadyAccepted):
			t.Errorf("agent %d: %v, want ErrAlreadyAccepted", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no agent accepted")
	}
	got, _ := s.Chat(context.Background(), c.ID)
	if got.AgentName != fmt.Sprintf("agent%d", winner) {
		t.Errorf("chat held by %q, want agent%d", got.AgentName, winner)
	}
	if joined := strings.Count(fmt.Sprint(kinds(t, s, c.ID)), string(chatstate.EventAgentJoined)); joined != 1 {
		t.Errorf("agent_joined events = %d, want 1", joined)
	}
}

func TestRegisterValidation(t *testing.T) {
	t.Parallel()
	s, _ := newService(t, chatstate.Config{})
	ctx := context.Background()
	long := func(n int) string { return strings.Repeat("ß", n) }
	tests := []struct {
		name string
		reg  chatstate.Registration
		want map[string]chatstate.FieldError // nil: valid
	}{
		{"complete", ada, nil},
		{"only the required fields", chatstate.Registration{FirstName: "Ada", Email: "ada@example.com"}, nil},
		{"longest allowed", chatstate.Registration{FirstName: long(100), LastName: long(100), Email: "a@" + strings.Repeat("b", 248) + ".io", Subject: long(200)}, nil},
		{"unicode email", chatstate.Registration{FirstName: "Zoë", Email: "zoë@exämple.de"}, nil},
		{"empty", chatstate.Registration{}, map[string]chatstate.FieldError{
			chatstate.FieldFirstName: {Key: "registration.error.required"},
			chatstate.FieldEmail:     {Key: "registration.error.required"},
		}},
		{"blank and control characters", chatstate.Registration{FirstName: " \t\x00 ", Email: "\u0085 "}, map[string]chatstate.FieldError{
			chatstate.FieldFirstName: {Key: "registration.error.required"},
			chatstate.FieldEmail:     {Key: "registration.error.required"},
		}},
		{"too long", chatstate.Registration{FirstName: long(101), LastName: long(101), Email: "ada@example.com", Subject: long(201)}, map[string]chatstate.FieldError{
			chatstate.FieldFirstName: {Key: "registration.error.too_long", Args: []string{"max", "100"}},
			chatstate.FieldLastName:  {Key: "registration.error.too_long", Args: []string{"max", "100"}},
			chatstate.FieldSubject:   {Key: "registration.error.too_long", Args: []string{"max", "200"}},
		}},
		{"email too long", chatstate.Registration{FirstName: "Ada", Email: "a@" + strings.Repeat("b", 250) + ".io"}, map[string]chatstate.FieldError{
			chatstate.FieldEmail: {Key: "registration.error.too_long", Args: []string{"max", "254"}},
		}},
	}
	for _, email := range []string{"ada", "ada@", "@example.com", "ada@example", "Ada <ada@example.com>", "ada@example.com, bob@example.com", "ada @example.com", "<ada@example.com>"} {
		tests = append(tests, struct {
			name string
			reg  chatstate.Registration
			want map[string]chatstate.FieldError
		}{"email " + email, chatstate.Registration{FirstName: "Ada", Email: email}, map[string]chatstate.FieldError{
			chatstate.FieldEmail: {Key: "registration.error.email"},
		}})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := start(t, s)
			got, err := s.Register(ctx, c.ID, tt.reg)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Register() = %v, want nil", err)
				}
				if got.Phase != chatstate.PhaseQueued {
					t.Errorf("phase = %s, want queued", got.Phase)
				}
				return
			}
			var verr *chatstate.ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("Register() = %v, want a *ValidationError", err)
			}
			if diff := cmp.Diff(tt.want, verr.Fields); diff != "" {
				t.Errorf("fields (-want +got):\n%s", diff)
			}
			after, _ := s.Chat(ctx, c.ID)
			if after.Phase != chatstate.PhaseRegistration || after.LastSeq != 0 {
				t.Errorf("after an invalid registration: phase %s, LastSeq %d; want registration, 0", after.Phase, after.LastSeq)
			}
		})
	}
}

// TestRegisterNormalizes: fields are trimmed and stripped of control
// characters; an invalid registration is kept as the draft.
func TestRegisterNormalizes(t *testing.T) {
	t.Parallel()
	s, _ := newService(t, chatstate.Config{})
	ctx := context.Background()

	c, _ := start(t, s)
	_, err := s.Register(ctx, c.ID, chatstate.Registration{FirstName: "  Ada\x00 ", LastName: "Love\x1blace", Email: "not an email", Subject: "Tents\xff"})
	if err == nil {
		t.Fatal("Register() = nil, want a validation error")
	}
	got, _ := s.Chat(ctx, c.ID)
	want := chatstate.Registration{FirstName: "Ada", LastName: "Lovelace", Email: "not an email", Subject: "Tents"}
	if diff := cmp.Diff(want, got.Draft); diff != "" {
		t.Errorf("draft after an invalid registration (-want +got):\n%s", diff)
	}

	// Nothing invisible may turn a name or subject around in the agent's
	// console, nor hide in an address.
	reg, err := s.Register(ctx, c.ID, chatstate.Registration{FirstName: "\tA\u202Eda\n", LastName: "\u2066Love\u200Blace\u2069",
		Email: " ada@exa\u200Dmple.com\u200E ", Subject: "Refund \u202Ereh\u202C", UserData: map[string]string{" plan\x07 ": " pro "}})
	if err != nil {
		t.Fatalf("Register() = %v", err)
	}
	want = chatstate.Registration{FirstName: "Ada", LastName: "Lovelace", Email: "ada@example.com", Subject: "Refund reh", UserData: map[string]string{"plan": "pro"}}
	if diff := cmp.Diff(want, reg.Visitor); diff != "" {
		t.Errorf("visitor (-want +got):\n%s", diff)
	}
}

func TestSaveDraft(t *testing.T) {
	t.Parallel()
	s, _ := newService(t, chatstate.Config{})
	ctx := context.Background()
	c, token := start(t, s)
	huge := strings.Repeat("ü", 1500)
	if _, err := s.SaveDraft(ctx, c.ID, chatstate.Registration{FirstName: " Ad", Email: huge}); err != nil {
		t.Fatalf("SaveDraft() = %v", err)
	}
	got, err := s.Restore(ctx, token)
	if err != nil {
		t.Fatal(err)
	}
	if got.Draft.FirstName != "Ad" {
		t.Errorf("draft first name = %q, want Ad", got.Draft.FirstName)
	}
	if want := strings.Repeat("ü", 1000); got.Draft.Email != want {
		t.Errorf("draft email has %d runes, want it clamped to 1000", len([]rune(got.Draft.Email)))
	}
	if got.LastSeq != 0 {
		t.Errorf("a draft appended %d events, want none", got.LastSeq)
	}
}

// TestSendMessageCleaning: what a message may hold, and how it is cleaned.
func TestSendMessageCleaning(t *testing.T) {
	t.Parallel()
	s, _ := newService(t, chatstate.Config{})
	c := queued(t, s)
	ctx := context.Background()
	tests := []struct {
		name     string
		clientID string
		text     string
		want     string
		wantErr  error
	}{
		{"plain", "", "Hello", "Hello", nil},
		{"trimmed", "", "  \n Hello \t\n", "Hello", nil},
		{"inner newlines and tabs kept", "", "line 1\n\tline 2", "line 1\n\tline 2", nil},
		{"control characters dropped", "", "bell\x07 and\x00 nul\x1b", "bell and nul", nil},
		{"longest", "", strings.Repeat("€", chatstate.MaxMessageRunes), strings.Repeat("€", chatstate.MaxMessageRunes), nil},
		{"longest after trimming", "", "  " + strings.Repeat("x", chatstate.MaxMessageRunes) + "  ", strings.Repeat("x", chatstate.MaxMessageRunes), nil},
		{"too long", "", strings.Repeat("€", chatstate.MaxMessageRunes+1), "", chatstate.ErrMessageTooLong},
		{"empty", "", "", "", chatstate.ErrMessageEmpty},
		{"blank", "", " \n\t ", "", chatstate.ErrMessageEmpty},
		{"only control characters", "", "\x00\x01", "", chatstate.ErrMessageEmpty},
		{"bidi overrides dropped", "", "pay to \u202Egnp.exe\u202C now", "pay to gnp.exe now", nil},
		{"bidi isolates dropped", "", "\u2067abc\u2069 \u2066x\u2069", "abc x", nil},
		{"only zero-width characters", "", "\u200B\u2060\uFEFF", "", chatstate.ErrMessageEmpty},
		{"joiners that scripts need kept", "", "می\u200Cخواهم 👩\u200D💻", "می\u200Cخواهم 👩\u200D💻", nil},
		{"invalid UTF-8", "", "hi\xffthere", "", chatstate.ErrMessageInvalid},
		{"client id", "abc-DEF_123", "with id", "with id", nil},
		{"longest client id", strings.Repeat("a", 64), "long id", "long id", nil},
		{"client id too long", strings.Repeat("a", 65), "x", "", chatstate.ErrMessageInvalid},
		{"client id with a slash", "a/b", "x", "", chatstate.ErrMessageInvalid},
		{"client id with a space", "a b", "x", "", chatstate.ErrMessageInvalid},
		{"client id not ASCII", "é", "x", "", chatstate.ErrMessageInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, _ := s.Chat(ctx, c.ID)
			ev, err := s.SendMessage(ctx, c.ID, visitor, tt.clientID, tt.text)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("SendMessage() = %v, want %v", err, tt.wantErr)
			}
			after, _ := s.Chat(ctx, c.ID)
			if tt.wantErr != nil {
				if after.LastSeq != before.LastSeq {
					t.Errorf("a refused message appended %d events", after.LastSeq-before.LastSeq)
				}
				return
			}
			if ev.Text != tt.want {
				t.Errorf("stored text = %q, want %q", ev.Text, tt.want)
			}
			if ev.Seq != before.LastSeq+1 || ev.ChatID != c.ID || ev.Kind != chatstate.EventMessage {
				t.Errorf("event = seq %d chat %q kind %s; want seq %d of %q, message", ev.Seq, ev.ChatID, ev.Kind, before.LastSeq+1, c.ID)
			}
			if ev.From.Type != chatstate.PartyVisitor || ev.From.Name != "Ada" {
				t.Errorf("from = %+v, want the visitor Ada", ev.From)
			}
			if tt.clientID != "" && ev.ClientID != tt.clientID {
				t.Errorf("client id = %q, want %q", ev.ClientID, tt.clientID)
			}
			if tt.clientID == "" && ev.ClientID == "" {
				t.Error("a message sent without a client id got none")
			}
		})
	}
}

// TestSendMessageIdempotent: a send retried with its client id is stored
// once, and live subscribers see it once.
func TestSendMessageIdempotent(t *testing.T) {
	t.Parallel()
	s, _ := newService(t, chatstate.Config{})
	ctx := context.Background()
	c := queued(t, s)
	sub := s.Hub().Subscribe(c.ID, 16)
	defer sub.Close()

	first, err := s.SendMessage(ctx, c.ID, visitor, "m-1", "Hello")
	if err != nil {
		t.Fatal(err)
	}
	other, err := s.SendMessage(ctx, c.ID, visitor, "m-2", "Second")
	if err != nil {
		t.Fatal(err)
	}
	// The retry arrives after a later message, with the text edited.
	retry, err := s.SendMessage(ctx, c.ID, visitor, "m-1", "Hello again")
	if err != nil {
		t.Fatalf("retried SendMessage() = %v", err)
	}
	if retry.Seq != first.Seq || retry.Text != "Hello" {
		t.Errorf("retry = seq %d %q, want the stored seq %d %q", retry.Seq, retry.Text, first.Seq, "Hello")
	}
	evs, _ := s.Transcript(ctx, c.ID)
	var texts []string
	for _, ev := range evs {
		if ev.Kind == chatstate.EventMessage {
			texts = append(texts, ev.Text)
		}
	}
	if diff := cmp.Diff([]string{"Hello", "Second"}, texts); diff != "" {
		t.Errorf("stored messages (-want +got):\n%s", diff)
	}
	// What comes after the retry is published as usual.
	if _, err := s.Accept(ctx, c.ID, alice); err != nil {
		t.Fatal(err)
	}

	sub.Close()
	var seqs []int64
	for ev := range sub.Events() {
		seqs = append(seqs, ev.Seq)
	}
	if diff := cmp.Diff([]int64{first.Seq, other.Seq, other.Seq + 1}, seqs); diff != "" {
		t.Errorf("published seqs (-want +got): a retried send must not be published again:\n%s", diff)
	}
}

func TestVisit(t *testing.T) {
	t.Parallel()
	s, clk := newService(t, chatstate.Config{})
	ctx := context.Background()

	// In registration the page is kept but nobody is told yet; the visit
	// still counts as the visitor being there.
	c, _ := start(t, s)
	clk.Advance(5 * time.Second)
	if _, err := s.Visit(ctx, c.ID, "/products"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Chat(ctx, c.ID); got.Page != "/products" || got.LastSeq != 0 || !got.VisitorSeenAt.Equal(clk.Now()) {
		t.Errorf("registration: page %q, LastSeq %d, seen %v; want /products, 0, %v", got.Page, got.LastSeq, got.VisitorSeenAt, clk.Now())
	}

	c = queued(t, s)
	for _, p := range []string{"/products", "/products", "/pricing", "/"} {
		if _, err := s.Visit(ctx, c.ID, p); err != nil {
			t.Fatalf("Visit(%s) = %v", p, err)
		}
	}
	evs, _ := s.Transcript(ctx, c.ID)
	var pages []string
	for _, ev := range evs {
		if ev.Kind == chatstate.EventPage {
			pages = append(pages, ev.Page)
		}
	}
	// The chat started on "/", so only the changes from there are logged.
	if diff := cmp.Diff([]string{"/products", "/pricing", "/"}, pages); diff != "" {
		t.Errorf("page events (-want +got):\n%s", diff)
	}

	c = ended(t, s)
	if _, err := s.Visit(ctx, c.ID, "/contact"); err != nil {
		t.Fatalf("Visit on an ended chat = %v, want nil", err)
	}
	if got, _ := s.Chat(ctx, c.ID); got.Page == "/contact" || got.LastSeq != c.LastSeq {
		t.Errorf("an ended chat followed the visitor to %q", got.Page)
	}
}

// TestHub: subscribers get committed events in order; a slow one is dropped.
func TestHub(t *testing.T) {
	t.Parallel()
	s, _ := newService(t, chatstate.Config{})
	ctx := context.Background()
	c := connected(t, s)
	other := queued(t, s)

	mine := s.Hub().Subscribe(c.ID, 16)
	all := s.Hub().Subscribe("", 16)
	elsewhere := s.Hub().Subscribe(other.ID, 16)
	slow := s.Hub().Subscribe(c.ID, 1)
	defer mine.Close()
	defer all.Close()
	defer elsewhere.Close()

	for _, text := range []string{"one", "two", "three"} {
		if _, err := s.SendMessage(ctx, c.ID, visitor, "", text); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.SendMessage(ctx, other.ID, visitor, "", "elsewhere"); err != nil {
		t.Fatal(err)
	}
	if err := s.Typing(ctx, c.ID, alice); err != nil {
		t.Fatal(err)
	}

	receive := func(sub *chatstate.Subscription, n int) []string {
		t.Helper()
		var got []string
		for range n {
			select {
			case ev, ok := <-sub.Events():
				if !ok {
					t.Fatalf("subscription closed after %v", got)
				}
				got = append(got, fmt.Sprintf("%s:%d:%s%s", ev.ChatID, ev.Seq, ev.Kind, ev.Text))
			case <-time.After(5 * time.Second):
				t.Fatalf("no event after %v", got)
			}
		}
		select {
		case ev := <-sub.Events():
			t.Errorf("unexpected event %+v", ev)
		default:
		}
		return got
	}
	base := c.LastSeq
	id, oid := c.ID, other.ID
	wantMine := []string{
		fmt.Sprintf("%s:%d:messageone", id, base+1),
		fmt.Sprintf("%s:%d:messagetwo", id, base+2),
		fmt.Sprintf("%s:%d:messagethree", id, base+3),
		fmt.Sprintf("%s:%d:typing", id, base+4),
	}
	if diff := cmp.Diff(wantMine, receive(mine, 4)); diff != "" {
		t.Errorf("chat subscriber (-want +got):\n%s", diff)
	}
	wantAll := append(wantMine[:3:3], fmt.Sprintf("%s:%d:messageelsewhere", oid, other.LastSeq+1), wantMine[3])
	if diff := cmp.Diff(wantAll, receive(all, 5)); diff != "" {
		t.Errorf("all-chats subscriber (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantAll[3:4], receive(elsewhere, 1)); diff != "" {
		t.Errorf("other chat's subscriber (-want +got):\n%s", diff)
	}

	if !slow.Lagged() {
		t.Error("a subscriber with a full buffer: Lagged() = false, want true")
	}
	var kept []chatstate.Event
	for ev := range slow.Events() { // closed when dropped
		kept = append(kept, *ev)
	}
	if len(kept) != 1 || kept[0].Seq != base+1 {
		t.Errorf("dropped subscriber kept %d events, want only the first it had room for", len(kept))
	}
	if mine.Lagged() || all.Lagged() {
		t.Error("subscribers that kept up were marked lagged")
	}

	mine.Close()
	mine.Close() // twice is fine
	if _, ok := <-mine.Events(); ok {
		t.Error("Events() open after Close")
	}
	if mine.Lagged() {
		t.Error("a closed subscriber is marked lagged")
	}
}

// TestMaxOffline: a chat's maxOfflineDuration is the default when unset and
// capped by the server's maximum.
func TestMaxOffline(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name string
		cfg  chatstate.Config
		ask  time.Duration
		want time.Duration
	}{
		{"server defaults", chatstate.Config{}, 0, 10 * time.Minute},
		{"server defaults cap at the default", chatstate.Config{}, time.Hour, 10 * time.Minute},
		{"default", chatstate.Config{DefaultMaxOffline: 5 * time.Minute, MaxOfflineCap: time.Hour}, 0, 5 * time.Minute},
		{"negative is the default", chatstate.Config{DefaultMaxOffline: 5 * time.Minute, MaxOfflineCap: time.Hour}, -time.Second, 5 * time.Minute},
		{"shorter", chatstate.Config{DefaultMaxOffline: 5 * time.Minute, MaxOfflineCap: time.Hour}, 30 * time.Second, 30 * time.Second},
		{"longer, within the cap", chatstate.Config{DefaultMaxOffline: 5 * time.Minute, MaxOfflineCap: time.Hour}, 45 * time.Minute, 45 * time.Minute},
		{"capped", chatstate.Config{DefaultMaxOffline: 5 * time.Minute, MaxOfflineCap: time.Hour}, 3 * time.Hour, time.Hour},
		{"cap below the default", chatstate.Config{DefaultMaxOffline: 5 * time.Minute, MaxOfflineCap: time.Minute}, time.Hour, 5 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, _ := newService(t, tt.cfg)
			c, _, err := s.Start(ctx, chatstate.StartParams{MaxOffline: tt.ask})
			if err != nil {
				t.Fatal(err)
			}
			if c.MaxOffline != tt.want {
				t.Errorf("Start() MaxOffline = %v, want %v", c.MaxOffline, tt.want)
			}
			if got, _ := s.Chat(ctx, c.ID); got.MaxOffline != tt.want {
				t.Errorf("stored MaxOffline = %v, want %v", got.MaxOffline, tt.want)
			}
		})
	}
}

// TestExpireOffline: a visitor away for longer than the chat's MaxOffline
// ends it with reason offline; one who keeps being seen does not.
func TestExpireOffline(t *testing.T) {
	t.Parallel()
	s, clk := newService(t, chatstate.Config{DefaultMaxOffline: time.Minute})
	ctx := context.Background()
	away := queued(t, s)
	present := queued(t, s)
	sub := s.Hub().Subscribe(away.ID, 4)
	defer sub.Close()

	expire := func(want int) {
		t.Helper()
		n, err := s.ExpireOffline(ctx)
		if err != nil || n != want {
			t.Fatalf("ExpireOffline() = %d, %v; want %d, nil", n, err, want)
		}
	}
	clk.Advance(59 * time.Second)
	expire(0)
	if err := s.Seen(ctx, present.ID); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Second)
	expire(1)
	expire(0)

	got, _ := s.Chat(ctx, away.ID)
	if got.Phase != chatstate.PhaseEnded || got.EndReason != chatstate.ReasonOffline || got.EndSeen {
		t.Errorf("away chat: phase %s, reason %q, seen %v; want ended, offline, not seen", got.Phase, got.EndReason, got.EndSeen)
	}
	select {
	case ev := <-sub.Events():
		if ev.Kind != chatstate.EventEnded || ev.Reason != chatstate.ReasonOffline || ev.From.Type != chatstate.PartySystem {
			t.Errorf("published %+v, want the system's offline ending", ev)
		}
	default:
		t.Error("the ending was not published")
	}
	if got, _ := s.Chat(ctx, present.ID); got.Phase != chatstate.PhaseQueued {
		t.Errorf("present chat: phase %s, want queued", got.Phase)
	}
	if err := s.Seen(ctx, away.ID); err != nil {
		t.Errorf("Seen on an ended chat = %v, want nil (it writes nothing)", err)
	}
	if got, _ := s.Chat(ctx, away.ID); got.Phase != chatstate.PhaseEnded {
		t.Errorf("a heartbeat brought an ended chat back to %s", got.Phase)
	}
}

// A visitor filling in the form has no live connection; typing (saved as
// drafts) and submitting must count as being there, or a short
// maxOfflineDuration would end the chat under their fingers.
func TestRegistrationKeepsVisitorPresent(t *testing.T) {
	svc, clk := newService(t, chatstate.Config{})
	ctx := context.Background()
	chat, _, err := svc.Start(ctx, chatstate.StartParams{MaxOffline: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		clk.Advance(time.Second)
		if _, err := svc.SaveDraft(ctx, chat.ID, chatstate.Registration{FirstName: "Ada"}); err != nil {
			t.Fatalf("SaveDraft() = %v", err)
		}
		if n, err := svc.ExpireOffline(ctx); err != nil || n != 0 {
			t.Fatalf("ExpireOffline() while typing = %d, %v; want 0, nil", n, err)
		}
	}
	clk.Advance(time.Second)
	if _, err := svc.Register(ctx, chat.ID, ada); err != nil {
		t.Fatalf("Register() = %v", err)
	}
	clk.Advance(1500 * time.Millisecond)
	if n, _ := svc.ExpireOffline(ctx); n != 0 {
		t.Fatalf("ExpireOffline() 1.5 s after registering ended %d chats, want 0", n)
	}
	clk.Advance(time.Second)
	if n, _ := svc.ExpireOffline(ctx); n != 1 {
		t.Fatalf("ExpireOffline() 2.5 s after registering with no connection ended %d chats, want 1", n)
	}
}
