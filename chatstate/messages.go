package chatstate

import (
	"context"
	"strconv"
	"time"
	"unicode/utf8"
)

// Messages left while chat is closed: the visitor writes a message with a
// name and an email (leave_message), it waits for an agent (waiting_reply),
// an agent answers, by email too (replied), and the visitor may write
// again (waiting_reply). The chat keeps one log throughout, so the visitor
// sees the whole exchange on the next visit and an agent sees its history.

// FieldMessage names the message field in a ValidationError.
const FieldMessage = "message"

// LeaveMessage validates a message left while chat was closed and puts it
// among the messages agents answer. From leave_message the form carries a
// name and an email; later (waiting for an answer, or answered) only the
// message counts: the visitor writes again. An invalid form is kept as the
// draft, so nothing typed is lost, and a *ValidationError says what to
// correct.
func (s *Service) LeaveMessage(ctx context.Context, id string, r Registration) (Chat, error) {
	c, err := s.store.Chat(ctx, id)
	if err != nil {
		return Chat{}, err
	}
	if c.Phase != PhaseLeaveMessage && c.Phase != PhaseWaitingReply && c.Phase != PhaseReplied {
		return Chat{}, ErrWrongPhase
	}
	r = normalizeRegistration(r)
	if c.Phase != PhaseLeaveMessage {
		// Who wrote is known; the form asks for the message only.
		message := r.Message
		r = c.Visitor
		r.Message = message
	}
	text, verr := validateLeftMessage(r)
	if verr != nil {
		if _, err := s.SaveDraft(ctx, id, r); err != nil {
			return Chat{}, err
		}
		return Chat{}, verr
	}
	c, _, err = s.update(ctx, id, func(c *Chat) ([]Event, error) {
		if c.Phase != PhaseLeaveMessage && c.Phase != PhaseWaitingReply && c.Phase != PhaseReplied {
			return nil, ErrWrongPhase
		}
		r.Message = ""
		c.Draft, c.Visitor = Registration{}, r
		c.Phase = PhaseWaitingReply
		c.VisitorSeenAt = time.Time{} // see Phase.Attended
		return []Event{{Kind: EventLeftMessage, From: visitorParty(r), Text: text}}, nil
	})
	return c, err
}

// validateLeftMessage checks a left message's form: a first name and an
// email as the registration asks them, and a message.
func validateLeftMessage(r Registration) (string, *ValidationError) {
	verr := validateRegistration(r)
	if verr == nil {
		verr = &ValidationError{Fields: map[string]FieldError{}}
	}
	text, err := cleanMessage(r.Message)
	switch err {
	case nil:
	case ErrMessageTooLong:
		verr.Fields[FieldMessage] = FieldError{Key: "registration.error.too_long", Args: []string{"max", strconv.Itoa(MaxMessageRunes)}}
	default:
		verr.Fields[FieldMessage] = FieldError{Key: "registration.error.required"}
	}
	if len(verr.Fields) == 0 {
		return text, nil
	}
	return "", verr
}

// QueuedToMessage turns a chat waiting in the queue into a message left for
// later, when nobody is there to take it and the visitor chooses to: what
// the visitor wrote while waiting is the message, and the answer goes to
// the email of the registration. The event names no text of its own.
func (s *Service) QueuedToMessage(ctx context.Context, id string) (Chat, error) {
	c, _, err := s.update(ctx, id, func(c *Chat) ([]Event, error) {
		if c.Phase != PhaseQueued {
			return nil, ErrWrongPhase
		}
		c.Phase = PhaseWaitingReply
		c.VisitorSeenAt = time.Time{} // see Phase.Attended
		return []Event{{Kind: EventLeftMessage, From: visitorParty(c.Visitor)}}, nil
	})
	return c, err
}

// Reply answers a left message: the agent's message goes into the chat's
// log, and the chat is replied until the visitor writes again. clientID
// makes a resent reply count once, as a message's does. outbox (the mail
// that takes the answer to the visitor) is written with the reply, in one
// transaction, or not at all.
func (s *Service) Reply(ctx context.Context, id string, agent Party, clientID, text string, outbox ...Outgoing) (Event, error) {
	text, err := cleanMessage(text)
	if err != nil {
		return Event{}, err
	}
	_, stored, err := s.update(ctx, id, func(c *Chat) ([]Event, error) {
		if c.Phase != PhaseWaitingReply && c.Phase != PhaseReplied {
			return nil, ErrWrongPhase
		}
		c.Phase = PhaseReplied
		if c.AgentName == "" {
			c.AgentName = agent.ID
		}
		return []Event{{Kind: EventMessage, From: agent, Text: text, ClientID: clientID, Outbox: outbox}}, nil
	})
	if err != nil {
		return Event{}, err
	}
	return stored[0], nil
}

// leftMessageRunes is how long a draft's message may grow: what a sent
// message may be, with room to see that it is too long.
const leftMessageRunes = MaxMessageRunes + 100

func clampMessage(text string) string {
	if utf8.RuneCountInString(text) <= leftMessageRunes {
		return text
	}
	return truncate(text, leftMessageRunes)
}
