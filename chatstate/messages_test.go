package chatstate_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/parley/parley/chatstate"
)

// TestLeftMessageAndReplies follows a message left while chat was closed:
// the form's draft, its errors (nothing typed lost), the message waiting,
// an agent's reply (once, however often it is sent), the visitor writing
// again with the message alone, and no offline sweep ending any of it.
func TestLeftMessageAndReplies(t *testing.T) {
	t.Parallel()
	s, clk := newService(t, chatstate.Config{})
	ctx := context.Background()
	c, _, err := s.Start(ctx, chatstate.StartParams{Locale: "en", Page: "/", LeaveMessage: true})
	if err != nil {
		t.Fatal(err)
	}
	if c.Phase != chatstate.PhaseLeaveMessage {
		t.Fatalf("a chat started to leave a message is %s", c.Phase)
	}
	if _, err := s.SaveDraft(ctx, c.ID, chatstate.Registration{FirstName: "Ada", Message: "Do you ship"}); err != nil {
		t.Fatalf("SaveDraft() = %v", err)
	}
	if _, err := s.Register(ctx, c.ID, ada); !errors.Is(err, chatstate.ErrWrongPhase) {
		t.Errorf("Register() of a message to leave = %v, want ErrWrongPhase", err)
	}

	// No email, no message: both said, and what was typed kept.
	_, err = s.LeaveMessage(ctx, c.ID, chatstate.Registration{FirstName: "Ada", Message: "  \n "})
	var verr *chatstate.ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("LeaveMessage(no email, blank message) = %v, want a ValidationError", err)
	}
	if diff := cmp.Diff(map[string]chatstate.FieldError{
		chatstate.FieldEmail:   {Key: "registration.error.required"},
		chatstate.FieldMessage: {Key: "registration.error.required"},
	}, verr.Fields); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
	_, err = s.LeaveMessage(ctx, c.ID, chatstate.Registration{FirstName: "Ada", Email: "ada@example.com", Message: strings.Repeat("x", chatstate.MaxMessageRunes+1)})
	if !errors.As(err, &verr) || verr.Fields[chatstate.FieldMessage].Key != "registration.error.too_long" {
		t.Errorf("LeaveMessage(too long) = %v, want the message too long", err)
	}
	if got := mustChat(t, s, c.ID).Draft; got.Email != "ada@example.com" || len(got.Message) <= chatstate.MaxMessageRunes {
		t.Errorf("after a refused message the draft is %+v, want what was typed", got)
	}

	left, err := s.LeaveMessage(ctx, c.ID, chatstate.Registration{FirstName: " Ada ", Email: "ada@example.com", Message: " Do you ship to Norway? "})
	if err != nil {
		t.Fatalf("LeaveMessage() = %v", err)
	}
	if left.Phase != chatstate.PhaseWaitingReply || left.Visitor.FirstName != "Ada" || left.Visitor.Email != "ada@example.com" || left.Draft.Message != "" || left.Draft.Email != "" {
		t.Errorf("the left message's chat = %+v", left)
	}
	if !left.VisitorSeenAt.IsZero() {
		t.Errorf("a waiting message keeps VisitorSeenAt %v, want none: nobody needs its visitor here", left.VisitorSeenAt)
	}

	// A day passes: the sweep ends nothing, and a page load changes nothing.
	clk.Advance(24 * time.Hour)
	if n, err := s.ExpireOffline(ctx); err != nil || n != 0 {
		t.Errorf("ExpireOffline() a day later = %d, %v; want nothing ended", n, err)
	}
	if got, err := s.Visit(ctx, c.ID, "/pricing"); err != nil || !got.VisitorSeenAt.IsZero() {
		t.Errorf("Visit() of a waiting message = %v, seen %v; want nothing recorded", err, got.VisitorSeenAt)
	}
	if _, err := s.SendMessage(ctx, c.ID, visitor, "", "hello?"); err == nil {
		t.Error("SendMessage() to a waiting message went through, want it refused: nobody is there")
	}

	for range 2 {
		if _, err := s.Reply(ctx, c.ID, alice, "r1", "We do, in three days."); err != nil {
			t.Fatalf("Reply() = %v", err)
		}
	}
	replied := mustChat(t, s, c.ID)
	if replied.Phase != chatstate.PhaseReplied || replied.AgentName != "alice" {
		t.Errorf("after the reply the chat is %s, held by %q", replied.Phase, replied.AgentName)
	}

	// The visitor writes again: the message alone counts.
	again, err := s.LeaveMessage(ctx, c.ID, chatstate.Registration{FirstName: "Mallory", Email: "evil@example.com", Message: "And to Sweden?"})
	if err != nil {
		t.Fatalf("LeaveMessage(again) = %v", err)
	}
	if again.Phase != chatstate.PhaseWaitingReply || again.Visitor.Email != "ada@example.com" || again.Visitor.FirstName != "Ada" {
		t.Errorf("writing again: %s from %+v, want waiting_reply from Ada at ada@example.com", again.Phase, again.Visitor)
	}

	evs, err := s.Transcript(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, ev := range evs {
		lines = append(lines, string(ev.Kind)+" "+string(ev.From.Type)+": "+ev.Text)
	}
	if diff := cmp.Diff([]string{
		"left_message visitor: Do you ship to Norway?",
		"message agent: We do, in three days.",
		"left_message visitor: And to Sweden?",
	}, lines); diff != "" {
		t.Errorf("the log (-want +got):\n%s", diff)
	}

	if _, err := s.Reply(ctx, queued(t, s).ID, alice, "", "hello"); !errors.Is(err, chatstate.ErrWrongPhase) {
		t.Errorf("Reply() to a queued chat = %v, want ErrWrongPhase", err)
	}
	if _, err := s.Reply(ctx, c.ID, alice, "", " "); !errors.Is(err, chatstate.ErrMessageEmpty) {
		t.Errorf("Reply() blank = %v, want ErrMessageEmpty", err)
	}
}

func mustChat(t *testing.T, s *chatstate.Service, id string) chatstate.Chat {
	t.Helper()
	c, err := s.Chat(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
