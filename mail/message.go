// Package mail sends Parley's mails: a Message is made into an outbox item
// (Message.Outgoing) that a chat event carries into the store in its own
// transaction (chatstate.Event.Outbox), and a Sender drains the store's
// outbox over SMTP, with retries, so that each mail is sent once, after
// restarts and across instances alike. See docs/mail.md.
//
// It lives beside chatstate, not in it: chatstate decides and stores, and
// does no I/O of its own; this package is the SMTP side of the outbox, as
// a webhook package will be its HTTP side.
package mail

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	netmail "net/mail"
	"strings"

	"github.com/parley/parley/chatstate"
)

// Limits of a Message.
const (
	// MaxSubjectBytes keeps a subject on one line of any mail reader.
	MaxSubjectBytes = 300
	// MaxBodyBytes bounds each part of a mail.
	MaxBodyBytes = 1 << 20
)

// Message is one mail to one recipient. Its fields are all that a caller
// sets: no header of the mail is a caller's to write (From is the
// Sender's, the Message-ID is derived from the outbox key).
type Message struct {
	// To is the one recipient, an address as the person typed it, with an
	// optional display name ("Ada <ada@example.com>"). A list, a group or
	// a line break is refused.
	To string `json:"to"`
	// Subject is one line.
	Subject string `json:"subject"`
	// Text is the plain-text part, which every mail has.
	Text string `json:"text"`
	// HTML, when set, is the same content as HTML, sent as the
	// alternative part; the caller escapes what users wrote in it (the
	// templ components that render it do).
	HTML string `json:"html,omitempty"`
}

// Validate reports whether m can be sent as it is.
func (m Message) Validate() error {
	if _, err := ParseAddress(m.To); err != nil {
		return fmt.Errorf("mail: To: %w", err)
	}
	switch {
	case m.Subject == "":
		return errors.New("mail: empty Subject")
	case strings.ContainsAny(m.Subject, "\r\n\x00"):
		return errors.New("mail: Subject holds a line break")
	case len(m.Subject) > MaxSubjectBytes:
		return fmt.Errorf("mail: Subject longer than %d bytes", MaxSubjectBytes)
	case m.Text == "":
		return errors.New("mail: empty Text: every mail has a plain-text part")
	case len(m.Text) > MaxBodyBytes || len(m.HTML) > MaxBodyBytes:
		return fmt.Errorf("mail: a part is longer than %d bytes", MaxBodyBytes)
	}
	return nil
}

// Outgoing validates m and makes it the outbox item that sends it, under
// key: put it in the Outbox of the chat event that causes the mail. key
// names the decision to mail ("reply:CHAT:SEQ"), so that taking it twice
// stores one mail; the mail's Message-ID is derived from it.
func (m Message) Outgoing(key string) (chatstate.Outgoing, error) {
	if err := m.Validate(); err != nil {
		return chatstate.Outgoing{}, err
	}
	to, _ := ParseAddress(m.To)
	m.To = to.String()
	payload, err := json.Marshal(m)
	if err != nil {
		return chatstate.Outgoing{}, fmt.Errorf("mail: %w", err)
	}
	o := chatstate.Outgoing{Kind: chatstate.OutboxMail, Key: key, Payload: payload}
	if err := o.Check(); err != nil {
		return chatstate.Outgoing{}, fmt.Errorf("mail: %w", err)
	}
	return o, nil
}

// ParseAddress parses s as exactly one mail address, with an optional
// display name. A line break (which would start a header of its own), a
// list, a group or anything after the address is refused, so that a field
// a visitor filled in can name one recipient and no more.
func ParseAddress(s string) (*netmail.Address, error) {
	if strings.ContainsAny(s, "\r\n\x00") {
		return nil, errors.New("address holds a line break")
	}
	// A list parser, so that "a@x, b@y" is seen as the two it is rather
	// than as one malformed address.
	list, err := netmail.ParseAddressList(s)
	if err != nil {
		return nil, fmt.Errorf("not an address: %w", err)
	}
	if len(list) != 1 {
		return nil, fmt.Errorf("%d addresses, want one", len(list))
	}
	return list[0], nil
}

// MessageID is the Message-ID (without its angle brackets) of the mail
// under outbox key, sent from an address at domain: the same for every
// attempt, so that a mail sent twice (see docs/mail.md) reads as one to a
// receiver that deduplicates.
func MessageID(key, domain string) string {
	sum := sha256.Sum256([]byte("parley-mail\x00" + key))
	return hex.EncodeToString(sum[:16]) + "@" + domain
}

// domainOf is the domain of address a.
func domainOf(a *netmail.Address) string {
	i := strings.LastIndexByte(a.Address, '@')
	return a.Address[i+1:]
}
