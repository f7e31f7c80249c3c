package chatstate

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

// FuzzRegistration: no registration panics normalizeRegistration or
// validateRegistration; normalizing yields valid UTF-8 one-line fields with
// nothing that reorders text, and normalizing again changes nothing; and a
// normalized registration fails validation only on the four fields, with
// the form's three error keys.
func FuzzRegistration(f *testing.F) {
	f.Add("Ada", "Lovelace", "ada@example.com", "Billing", "plan", "pro", "", "")
	f.Add("  Ada\t", "", " ada@example.com\r\n", "", "", "", "", "")
	f.Add("\u202Eada\u202C", "\u2067x\u2069", "\u200Bada@example.com\uFEFF", "a\u200Cb", "k\x00", "v\x7f", "k", "v2")
	f.Add("\xff\xfeA\xc3", "\xe2\x82", "ada@\xffexample.com", "\xed\xa0\x80", "\xff", "\xff", "", "")
	// A format character that is not a space standing before one: the
	// email drops it and must trim what it leaves.
	f.Add("Ada", "", "\u200E ada@example.com", "", "", "", "", "")
	f.Add("Ada", "", "\u00ADada@example.com\u00AD", "", "", "", "", "")
	// Truncation to 64 runes that ends on a space.
	f.Add("Ada", "", "ada@example.com", "", strings.Repeat("k", 63)+" tail", strings.Repeat("v", 499)+" tail", "k", "")
	f.Add(strings.Repeat("é", maxNameRunes+1), strings.Repeat("x", maxNameRunes), strings.Repeat("a", 250)+"@b.co", strings.Repeat("s", maxSubjectRunes+1), "", "", "", "")
	f.Add("", "", "Ada <ada@example.com>", "", "", "", "", "")
	f.Add("A", "", "ada@localhost", "", "", "", "", "")
	f.Add("A", "", `"a b"@example.com`, "", "", "", "", "")
	f.Add("A", "", "ada@example.com.", "", "", "", "", "")
	f.Add("\u3000Ada\u0085", "\u2028", "\u00A0ada@example.com\u00A0", "\u200D", "", "", "", "")
	f.Fuzz(func(t *testing.T, first, last, email, subject, k1, v1, k2, v2 string) {
		in := Registration{FirstName: first, LastName: last, Email: email, Subject: subject}
		if k1 != "" || v1 != "" || k2 != "" || v2 != "" {
			in.UserData = map[string]string{k1: v1, k2: v2}
		}
		n := normalizeRegistration(in)

		lines := []string{n.FirstName, n.LastName, n.Email, n.Subject}
		for k, v := range n.UserData {
			lines = append(lines, k, v)
			if c := utf8.RuneCountInString(k); c > 64 {
				t.Errorf("user data key %q: %d runes, want at most 64", k, c)
			}
			if c := utf8.RuneCountInString(v); c > maxUserDataRunes {
				t.Errorf("user data value %q: %d runes, want at most %d", v, c, maxUserDataRunes)
			}
		}
		for _, s := range lines {
			checkLine(t, s)
		}
		for _, r := range n.Email {
			if unicode.Is(unicode.Cf, r) {
				t.Errorf("email %q keeps format character %U", n.Email, r)
			}
		}
		if len(n.UserData) > maxUserDataKeys {
			t.Errorf("%d user data keys, want at most %d", len(n.UserData), maxUserDataKeys)
		}
		if again := normalizeRegistration(n); !cmp.Equal(again, n) {
			t.Errorf("normalizing %q twice differs from once (-once +twice):\n%s", in, cmp.Diff(n, again))
		}

		verr := validateRegistration(n)
		if verr == nil {
			if !validEmail(n.Email) || n.FirstName == "" {
				t.Errorf("validateRegistration(%q) = nil, want an error", n)
			}
			return
		}
		if len(verr.Fields) == 0 {
			t.Errorf("validateRegistration(%q) = an error with no fields", n)
		}
		for field, fe := range verr.Fields {
			if !slices.Contains([]string{FieldFirstName, FieldLastName, FieldEmail, FieldSubject}, field) {
				t.Errorf("error on unknown field %q", field)
			}
			switch fe.Key {
			case "registration.error.required", "registration.error.email":
				if len(fe.Args) != 0 {
					t.Errorf("%s: %s with args %q", field, fe.Key, fe.Args)
				}
			case "registration.error.too_long":
				if len(fe.Args) != 2 || fe.Args[0] != "max" {
					t.Errorf("%s: %s with args %q, want max and a number", field, fe.Key, fe.Args)
				} else if _, err := strconv.Atoi(fe.Args[1]); err != nil {
					t.Errorf("%s: %s with max %q: %v", field, fe.Key, fe.Args[1], err)
				}
			default:
				t.Errorf("%s: unknown error key %q", field, fe.Key)
			}
		}

		d := clampDraft(in)
		for _, s := range []string{d.FirstName, d.LastName, d.Email, d.Subject} {
			if !utf8.ValidString(s) || utf8.RuneCountInString(s) > maxDraftRunes {
				t.Errorf("clampDraft field %q: valid UTF-8 %v, %d runes; want valid and at most %d",
					s, utf8.ValidString(s), utf8.RuneCountInString(s), maxDraftRunes)
			}
		}
	})
}

// checkLine fails unless s is what a one-line field may hold.
func checkLine(t *testing.T, s string) {
	t.Helper()
	if !utf8.ValidString(s) {
		t.Errorf("%q is not valid UTF-8", s)
	}
	if s != strings.TrimSpace(s) {
		t.Errorf("%q is not trimmed", s)
	}
	for _, r := range s {
		if unicode.IsControl(r) || reorders(r) {
			t.Errorf("%q keeps %U", s, r)
		}
	}
}

// FuzzCleanMessage: no text panics cleanMessage; it refuses with one of its
// three errors or returns valid, trimmed UTF-8 of at most MaxMessageRunes
// runes with no control characters but newline and tab and nothing that
// reorders text, which cleaning again leaves as it is.
func FuzzCleanMessage(f *testing.F) {
	for _, s := range []string{
		"Hello", "  two\nlines\t ", "\x00\x01\x1b[31mred", "pay to \u202Egnp.exe\u202C now",
		"\u2067abc\u2069", "\u200B\u2060\uFEFF", "می\u200Cخواهم 👩\u200D💻", "hi\xffthere", "\r\n", "\u0085x\u2028",
		strings.Repeat("€", MaxMessageRunes), " " + strings.Repeat("x", MaxMessageRunes) + "\u200B",
		strings.Repeat("x", MaxMessageRunes+1), "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		got, err := cleanMessage(text)
		if err != nil {
			if !errors.Is(err, ErrMessageEmpty) && !errors.Is(err, ErrMessageTooLong) && !errors.Is(err, ErrMessageInvalid) {
				t.Fatalf("cleanMessage(%q) error = %v, want one of its three", text, err)
			}
			if got != "" {
				t.Fatalf("cleanMessage(%q) = %q with error %v, want no text", text, got, err)
			}
			if errors.Is(err, ErrMessageInvalid) != !utf8.ValidString(text) {
				t.Fatalf("cleanMessage(%q) error = %v; valid UTF-8 %v", text, err, utf8.ValidString(text))
			}
			return
		}
		if !utf8.ValidString(got) {
			t.Fatalf("cleanMessage(%q) = %q, not valid UTF-8", text, got)
		}
		if n := utf8.RuneCountInString(got); n == 0 || n > MaxMessageRunes {
			t.Fatalf("cleanMessage(%q): %d runes, want 1 to %d", text, n, MaxMessageRunes)
		}
		if got != strings.TrimSpace(got) {
			t.Fatalf("cleanMessage(%q) = %q, not trimmed", text, got)
		}
		for _, r := range got {
			if r != '\n' && r != '\t' && unicode.IsControl(r) || reorders(r) {
				t.Fatalf("cleanMessage(%q) = %q keeps %U", text, got, r)
			}
		}
		if again, err := cleanMessage(got); err != nil || again != got {
			t.Fatalf("cleanMessage(%q) = %q, %v; want it unchanged", got, again, err)
		}
	})
}
