package mail_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/parley/parley/chatstate"
	"github.com/parley/parley/mail"
)

func TestParseAddress(t *testing.T) {
	tests := []struct {
		in   string
		want string // the address; empty: refused
	}{
		{"ada@example.com", "ada@example.com"},
		{"Ada Lovelace <ada@example.com>", "ada@example.com"},
		{`"Doe, John" <john@example.com>`, "john@example.com"},
		{"Émile <emile@example.fr>", "emile@example.fr"},
		{"", ""},
		{"not an address", ""},
		{"ada@example.com, eve@example.com", ""},
		{"ada@example.com; eve@example.com", ""},
		{"ada@example.com eve@example.com", ""},
		{"ada@example.com\r\nBcc: eve@example.com", ""},
		{"ada@example.com\nBcc: eve@example.com", ""},
		{"ada@example.com\rBcc: eve@example.com", ""},
		{"Ada\r\n <ada@example.com>", ""},
		{"ada@example.com\x00", ""},
		{"friends: ada@example.com, eve@example.com;", ""},
		{"undisclosed-recipients:;", ""},
		{"<ada@example.com>, <eve@example.com>", ""},
	}
	for _, tt := range tests {
		got, err := mail.ParseAddress(tt.in)
		switch {
		case tt.want == "" && err == nil:
			t.Errorf("ParseAddress(%q) = %v, want an error", tt.in, got)
		case tt.want != "" && err != nil:
			t.Errorf("ParseAddress(%q) = %v, want %s", tt.in, err, tt.want)
		case tt.want != "" && got.Address != tt.want:
			t.Errorf("ParseAddress(%q) = %s, want %s", tt.in, got.Address, tt.want)
		}
	}
}

// FuzzParseAddress checks that whatever ParseAddress accepts is one
// address that cannot break a header's line.
func FuzzParseAddress(f *testing.F) {
	for _, s := range []string{"ada@example.com", "Ada <ada@example.com>", "a@b, c@d", "a@b\r\nBcc: c@d", `"x\"y" <a@b>`, "g: a@b;"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := mail.ParseAddress(s)
		if err != nil {
			return
		}
		out := a.String()
		if strings.ContainsAny(out, "\r\n") {
			t.Fatalf("ParseAddress(%q) gives %q, with a line break", s, out)
		}
		again, err := mail.ParseAddress(out)
		if err != nil || again.Address != a.Address {
			t.Fatalf("ParseAddress(%q) gives %q, which reads back as %v, %v", s, out, again, err)
		}
	})
}

func validMessage() mail.Message {
	return mail.Message{To: "Ada <ada@example.com>", Subject: "Your chat", Text: "Hello", HTML: "<p>Hello</p>"}
}

func TestMessageValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*mail.Message)
		ok     bool
	}{
		{"valid", func(*mail.Message) {}, true},
		{"text only", func(m *mail.Message) { m.HTML = "" }, true},
		{"two recipients", func(m *mail.Message) { m.To = "ada@example.com, eve@example.com" }, false},
		{"header in To", func(m *mail.Message) { m.To = "ada@example.com\r\nBcc: eve@example.com" }, false},
		{"header in Subject", func(m *mail.Message) { m.Subject = "Hi\r\nBcc: eve@example.com" }, false},
		{"line feed in Subject", func(m *mail.Message) { m.Subject = "Hi\nthere" }, false},
		{"empty Subject", func(m *mail.Message) { m.Subject = "" }, false},
		{"long Subject", func(m *mail.Message) { m.Subject = strings.Repeat("x", mail.MaxSubjectBytes+1) }, false},
		{"no Text", func(m *mail.Message) { m.Text = "" }, false},
		{"huge HTML", func(m *mail.Message) { m.HTML = strings.Repeat("x", mail.MaxBodyBytes+1) }, false},
	}
	for _, tt := range tests {
		m := validMessage()
		tt.change(&m)
		if err := m.Validate(); (err == nil) != tt.ok {
			t.Errorf("%s: Validate() = %v, want ok %v", tt.name, err, tt.ok)
		}
		if _, err := m.Outgoing("k"); (err == nil) != tt.ok {
			t.Errorf("%s: Outgoing() = %v, want ok %v", tt.name, err, tt.ok)
		}
	}
}

func TestMessageOutgoing(t *testing.T) {
	m := validMessage()
	m.To = "  Ada   <ada@example.com>"
	o, err := m.Outgoing("reply:chat-1:7")
	if err != nil {
		t.Fatalf("Outgoing() = %v", err)
	}
	if o.Kind != chatstate.OutboxMail || o.Key != "reply:chat-1:7" {
		t.Errorf("Outgoing() = %s %q, want a mail under the key given", o.Kind, o.Key)
	}
	var got mail.Message
	if err := json.Unmarshal(o.Payload, &got); err != nil {
		t.Fatalf("payload: %v", err)
	}
	want := validMessage()
	want.To = `"Ada" <ada@example.com>` // as net/mail writes it back
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("payload mismatch (-want +got):\n%s", diff)
	}
	if _, err := m.Outgoing(""); err == nil {
		t.Errorf("Outgoing(no key) = nil, want an error")
	}
}

func TestMessageID(t *testing.T) {
	a := mail.MessageID("reply:chat-1:7", "shop.example")
	if a != mail.MessageID("reply:chat-1:7", "shop.example") {
		t.Errorf("MessageID() differs between calls")
	}
	if a == mail.MessageID("reply:chat-1:8", "shop.example") {
		t.Errorf("MessageID() is the same for two keys")
	}
	if !strings.HasSuffix(a, "@shop.example") || strings.ContainsAny(a, "<> \r\n") {
		t.Errorf("MessageID() = %q, want id-left@shop.example", a)
	}
}

func TestParseURL(t *testing.T) {
	tests := []struct {
		in      string
		want    mail.Server
		wantErr bool
	}{
		{in: "smtp://mail.example.com", want: mail.Server{Host: "mail.example.com", Port: 587}},
		{in: "smtp://user:secret@mail.example.com:2525", want: mail.Server{Host: "mail.example.com", Port: 2525, Username: "user", Password: "secret"}},
		{in: "smtp://ada%40example.com:p%3Ass%40w@mail.example.com", want: mail.Server{Host: "mail.example.com", Port: 587, Username: "ada@example.com", Password: "p:ss@w"}},
		{in: "smtps://user:secret@mail.example.com", want: mail.Server{Host: "mail.example.com", Port: 465, ImplicitTLS: true, Username: "user", Password: "secret"}},
		{in: "smtp://127.0.0.1:1025/", want: mail.Server{Host: "127.0.0.1", Port: 1025}},
		{in: "smtp://[::1]:1025", want: mail.Server{Host: "::1", Port: 1025}},
		{in: "http://user:secret@mail.example.com", wantErr: true},
		{in: "mail.example.com:587", wantErr: true},
		{in: "smtp://user:secret@", wantErr: true},
		{in: "smtp://user:secret@mail.example.com:0", wantErr: true},
		{in: "smtp://user:secret@mail.example.com:99999", wantErr: true},
		{in: "smtp://user:secret@mail.example.com/path", wantErr: true},
		{in: "smtp://user:secret@mail.example.com?tls=no", wantErr: true},
		{in: "smtp://:secret@mail.example.com", wantErr: true},
		{in: "smtp://user:secret@mail example.com", wantErr: true},
	}
	for _, tt := range tests {
		got, err := mail.ParseURL(tt.in)
		if tt.wantErr {
			if err == nil {
				t.Errorf("ParseURL(%q) = %+v, want an error", tt.in, got)
			} else if strings.Contains(err.Error(), "secret") {
				t.Errorf("ParseURL(%q) = %v: the error shows the password", tt.in, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseURL(%q) = %v, want %+v", tt.in, err, tt.want)
			continue
		}
		if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(mail.Server{})); diff != "" {
			t.Errorf("ParseURL(%q) mismatch (-want +got):\n%s", tt.in, diff)
		}
	}
}

func TestLoopback(t *testing.T) {
	for host, want := range map[string]bool{"localhost": true, "127.0.0.1": true, "127.1.2.3": true, "::1": true,
		"mail.example.com": false, "10.0.0.1": false, "localhost.example.com": false} {
		if got := (mail.Server{Host: host}).Loopback(); got != want {
			t.Errorf("Server{Host: %q}.Loopback() = %v, want %v", host, got, want)
		}
	}
}

func TestBackoff(t *testing.T) {
	const lo, hi = time.Second, time.Minute
	for n, want := range map[int]time.Duration{0: lo, 1: lo, 2: 2 * lo, 3: 4 * lo, 6: 32 * lo, 7: hi, 100: hi} {
		for range 50 {
			got := mail.Backoff(n, lo, hi)
			if got < want/2 || got > want {
				t.Fatalf("Backoff(%d) = %v, want %v less up to half", n, got, want)
			}
		}
	}
}
