package agents

import (
	"bytes"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func TestAuthenticate(t *testing.T) {
	a, err := New([]Credential{{Name: "alice", Password: "s3cret"}, {Name: "bob", Password: "hunter2"}}, bcrypt.MinCost)
	if err != nil {
		t.Fatalf("New() = %v", err)
	}
	tests := []struct {
		name, password string
		want           bool
	}{
		{"alice", "s3cret", true},
		{"bob", "hunter2", true},
		{"alice", "hunter2", false},
		{"alice", "S3cret", false},
		{"alice", "", false},
		{"Alice", "s3cret", false},
		{"carol", "s3cret", false},
		{"", "", false},
		{"alice", "s3cret" + strings.Repeat("x", 100), false},
	}
	for _, tt := range tests {
		if got := a.Authenticate(tt.name, tt.password); got != tt.want {
			t.Errorf("Authenticate(%q, %q) = %v, want %v", tt.name, tt.password, got, tt.want)
		}
	}
	if !a.Exists("alice") || a.Exists("carol") {
		t.Errorf("Exists(alice), Exists(carol) = %v, %v; want true, false", a.Exists("alice"), a.Exists("carol"))
	}
	if got := a.Len(); got != 2 {
		t.Errorf("Len() = %d, want 2", got)
	}
}

// TestDisplayName checks visitors see the display name where one is set,
// the sign-in name otherwise.
func TestDisplayName(t *testing.T) {
	a, err := New([]Credential{{Name: "alice", Password: "a", DisplayName: "Alice from Support"}, {Name: "bob", Password: "b"}}, bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"alice": "Alice from Support", "bob": "bob", "carol": ""} {
		if got := a.DisplayName(name); got != want {
			t.Errorf("DisplayName(%q) = %q, want %q", name, got, want)
		}
	}
	if got := a.Len(); got != 2 {
		t.Errorf("Len() = %d, want 2", got)
	}
}

// TestOnlyHashesKept checks the plain password is nowhere in the accounts.
func TestOnlyHashesKept(t *testing.T) {
	a, err := New([]Credential{{Name: "alice", Password: "plain-password"}}, bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	for name, hash := range a.hashes {
		if bytes.Contains(hash, []byte("plain-password")) {
			t.Errorf("%s's stored hash holds the plain password", name)
		}
		if _, err := bcrypt.Cost(hash); err != nil {
			t.Errorf("%s's stored value is not a bcrypt hash: %v", name, err)
		}
	}
}

func TestNewRefuses(t *testing.T) {
	tests := []struct {
		name  string
		creds []Credential
	}{
		{"duplicate", []Credential{{Name: "alice", Password: "a"}, {Name: "alice", Password: "b"}}},
		{"empty name", []Credential{{Name: "", Password: "a"}}},
		{"spaces around name", []Credential{{Name: " alice", Password: "a"}}},
		{"empty password", []Credential{{Name: "alice", Password: ""}}},
		{"password longer than bcrypt reads", []Credential{{Name: "alice", Password: strings.Repeat("p", 73)}}},
		{"long name", []Credential{{Name: strings.Repeat("n", MaxNameBytes+1), Password: "a"}}},
		{"long display name", []Credential{{Name: "alice", Password: "a", DisplayName: strings.Repeat("n", MaxNameBytes+1)}}},
		{"spaces around display name", []Credential{{Name: "alice", Password: "a", DisplayName: "Alice "}}},
		{"control character in display name", []Credential{{Name: "alice", Password: "a", DisplayName: "Al\u202eice"}}},
	}
	for _, tt := range tests {
		if _, err := New(tt.creds, bcrypt.MinCost); err == nil {
			t.Errorf("%s: New() = nil error, want one", tt.name)
		}
	}
}

func TestNewPassword(t *testing.T) {
	p, q := NewPassword(), NewPassword()
	if len(p) < 22 || p == q {
		t.Errorf("NewPassword() = %q, %q; want two different passwords of 128 bits", p, q)
	}
}
