package chatstate

import (
	"net/mail"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Field limits of the registration form, in characters.
const (
	maxNameRunes    = 100
	maxEmailRunes   = 254
	maxSubjectRunes = 200
	// A draft may hold more than a valid registration, so the visitor can
	// see and shorten what was too long, but not without bound.
	maxDraftRunes    = 1000
	maxUserDataKeys  = 20
	maxUserDataRunes = 500
)

// Registration field names, as used in ValidationError.Fields.
const (
	FieldFirstName = "first_name"
	FieldLastName  = "last_name"
	FieldEmail     = "email"
	FieldSubject   = "subject"
)

func normalizeRegistration(r Registration) Registration {
	r.FirstName = cleanLine(r.FirstName)
	r.LastName = cleanLine(r.LastName)
	// An address needs no invisible characters at all. Trimmed again: one
	// can stand before a space that cleanLine left inside.
	r.Email = strings.TrimSpace(strings.Map(func(r rune) rune {
		if unicode.Is(unicode.Cf, r) {
			return -1
		}
		return r
	}, cleanLine(r.Email)))
	r.Subject = cleanLine(r.Subject)
	if len(r.UserData) > 0 {
		data := make(map[string]string, len(r.UserData))
		for k, v := range r.UserData {
			if len(data) == maxUserDataKeys {
				break
			}
			// Trimmed again: a cut can end on a space.
			data[strings.TrimSpace(truncate(cleanLine(k), 64))] = strings.TrimSpace(truncate(cleanLine(v), maxUserDataRunes))
		}
		r.UserData = data
	}
	return r
}

// validateRegistration requires a first name and a valid email; last name
// and subject are optional, as on most support forms.
func validateRegistration(r Registration) *ValidationError {
	fields := map[string]FieldError{}
	check := func(name, value string, required bool, maxRunes int) {
		switch n := utf8.RuneCountInString(value); {
		case required && n == 0:
			fields[name] = FieldError{Key: "registration.error.required"}
		case n > maxRunes:
			fields[name] = FieldError{Key: "registration.error.too_long", Args: []string{"max", strconv.Itoa(maxRunes)}}
		}
	}
	check(FieldFirstName, r.FirstName, true, maxNameRunes)
	check(FieldLastName, r.LastName, false, maxNameRunes)
	check(FieldEmail, r.Email, true, maxEmailRunes)
	check(FieldSubject, r.Subject, false, maxSubjectRunes)
	if _, bad := fields[FieldEmail]; !bad && !validEmail(r.Email) {
		fields[FieldEmail] = FieldError{Key: "registration.error.email"}
	}
	if len(fields) == 0 {
		return nil
	}
	return &ValidationError{Fields: fields}
}

// validEmail accepts a bare address with a dotted domain, the shape a
// person types, and nothing that mail.ParseAddress would rewrite.
func validEmail(s string) bool {
	addr, err := mail.ParseAddress(s)
	if err != nil || addr.Address != s || addr.Name != "" {
		return false
	}
	at := strings.LastIndexByte(s, '@')
	return at > 0 && strings.Contains(s[at+1:], ".")
}

func clampDraft(r Registration) Registration {
	r = normalizeRegistration(r)
	r.FirstName = truncate(r.FirstName, maxDraftRunes)
	r.LastName = truncate(r.LastName, maxDraftRunes)
	r.Email = truncate(r.Email, maxDraftRunes)
	r.Subject = truncate(r.Subject, maxDraftRunes)
	r.Message = clampMessage(r.Message)
	return r
}

// cleanMessage trims a message and rejects one that is empty, too long or
// not text.
func cleanMessage(text string) (string, error) {
	if !utf8.ValidString(text) {
		return "", ErrMessageInvalid
	}
	text = strings.Map(func(r rune) rune {
		if r != '\n' && r != '\t' && unicode.IsControl(r) || reorders(r) {
			return -1
		}
		return r
	}, text)
	text = strings.TrimSpace(text)
	switch n := utf8.RuneCountInString(text); {
	case n == 0:
		return "", ErrMessageEmpty
	case n > MaxMessageRunes:
		return "", ErrMessageTooLong
	}
	return text, nil
}

// cleanLine drops control characters, invalid UTF-8 and characters that
// reorder or hide text from a one-line field and trims it.
func cleanLine(s string) string {
	s = strings.ToValidUTF8(s, "")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || reorders(r) {
			return -1
		}
		return r
	}, s)
	return strings.TrimSpace(s)
}

// reorders reports the invisible characters that make text read other than
// it is: bidi embeddings, overrides and isolates (which can turn a name or
// a link around in the agent's console) and zero-width spaces and joiners
// of words (which hide what is there). The joiners that scripts and emoji
// need (U+200C, U+200D) and the direction marks stay.
func reorders(r rune) bool {
	switch {
	case r >= '\u202A' && r <= '\u202E', r >= '\u2066' && r <= '\u2069':
		return true
	case r == '\u200B', r == '\u2060', r == '\uFEFF':
		return true
	}
	return false
}

func truncate(s string, maxRunes int) string {
	if utf8.RuneCountInString(s) <= maxRunes {
		return s
	}
	return string([]rune(s)[:maxRunes])
}

func validClientID(id string) bool {
	if len(id) > maxClientIDBytes {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}
