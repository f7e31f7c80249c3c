package web

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestErrorCodesUnique checks that no code or name is published twice.
func TestErrorCodesUnique(t *testing.T) {
	codes := map[int]string{}
	names := map[string]int{}
	for _, c := range errorCodes() {
		if other, ok := codes[c.code]; ok {
			t.Errorf("code %d names both %s and %s", c.code, other, c.name)
		}
		if other, ok := names[c.name]; ok {
			t.Errorf("name %s has both codes %d and %d", c.name, other, c.code)
		}
		codes[c.code], names[c.name] = c.name, c.code
		if !c.browser && (c.status == 0 || c.key == "") {
			t.Errorf("%d %s: status %d, key %q; want a status and a key for a server-raised code", c.code, c.name, c.status, c.key)
		}
	}
}

// TestErrorConstructors checks that every way the server raises an error
// carries a code and name from the table, with a status and a key.
func TestErrorConstructors(t *testing.T) {
	byCode := map[int]errorCode{}
	for _, c := range errorCodes() {
		byCode[c.code] = c
	}
	tests := []struct {
		name string
		err  *APIError
	}{
		{"ErrInvalidOptions", ErrInvalidOptions()},
		{"ErrInvalidToken", ErrInvalidToken()},
		{"ErrRegistrationInvalid", ErrRegistrationInvalid()},
		{"ErrLocalizationNotAllowed", ErrLocalizationNotAllowed()},
		{"ErrMessageTooLong", ErrMessageTooLong()},
		{"ErrRateLimited", ErrRateLimited()},
		{"ErrChatEnded", ErrChatEnded()},
		{"ErrServer", ErrServer()},
		{"ErrMessageEmpty", ErrMessageEmpty()},
		{"ErrMessageInvalid", ErrMessageInvalid()},
		{"ErrNoChat", ErrNoChat()},
		{"ErrCSRF", ErrCSRF()},
		{"ErrOriginNotAllowed", ErrOriginNotAllowed()},
		{"ErrAgentAuth", ErrAgentAuth()},
		{"ErrAlreadyAccepted", ErrAlreadyAccepted()},
		{"ErrNotYourChat", ErrNotYourChat()},
		{"ErrServerClosing", ErrServerClosing()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, ok := byCode[tt.err.Code]
			switch {
			case !ok:
				t.Fatalf("code %d %s is not in errorCodes", tt.err.Code, tt.err.Name)
			case c.browser:
				t.Errorf("code %d %s is raised by the server; errorCodes marks it browser-only", tt.err.Code, tt.err.Name)
			}
			if tt.err.Name != c.name {
				t.Errorf("code %d is named %s; errorCodes names it %s", tt.err.Code, tt.err.Name, c.name)
			}
			if tt.err.Status == 0 || tt.err.Key == "" || tt.err.Description == "" {
				t.Errorf("status %d, key %q, description %q; want all three set", tt.err.Status, tt.err.Key, tt.err.Description)
			}
		})
	}
}

// TestChatJSErrors holds chat.js's ERRORS copy to errorCodes: every entry
// has the table's code and description, whichever side raises it; every
// code the browser raises is there; and every failure(name) call names an
// entry.
func TestChatJSErrors(t *testing.T) {
	src, err := os.ReadFile("../../static/chat.js")
	if err != nil {
		t.Fatal(err)
	}
	entries := chatJSErrors(t, string(src))

	byName := map[string]errorCode{}
	for _, c := range errorCodes() {
		byName[c.name] = c
	}
	for name, e := range entries {
		c, ok := byName[name]
		if !ok {
			t.Errorf("chat.js ERRORS has %s (%d); errorCodes has no such name", name, e.code)
			continue
		}
		if diff := cmp.Diff(chatJSError{c.code, c.description}, e, cmp.AllowUnexported(chatJSError{})); diff != "" {
			t.Errorf("chat.js ERRORS.%s differs from errorCodes (-table +chat.js):\n%s", name, diff)
		}
	}
	for _, c := range errorCodes() {
		if _, ok := entries[c.name]; c.browser && !ok {
			t.Errorf("chat.js ERRORS lacks %s (%d), which the browser raises", c.name, c.code)
		}
	}

	// failure falls back to server_error's code for a name ERRORS lacks,
	// which would publish a name with the wrong code.
	for _, m := range regexp.MustCompile(`failure\("(\w+)"`).FindAllStringSubmatch(string(src), -1) {
		if _, ok := entries[m[1]]; !ok {
			t.Errorf("chat.js calls failure(%q); ERRORS has no such entry", m[1])
		}
	}
}

type chatJSError struct {
	code        int
	description string
}

// chatJSErrors parses chat.js's `var ERRORS = { name: [code, "description"], … };`.
func chatJSErrors(t *testing.T, src string) map[string]chatJSError {
	t.Helper()
	block := regexp.MustCompile(`(?s)var ERRORS = \{\n(.*?)\n\s*\};`).FindStringSubmatch(src)
	if block == nil {
		t.Fatal("chat.js has no `var ERRORS = { … };` block")
	}
	entry := regexp.MustCompile(`^\s*(\w+): \[(\d+), "((?:[^"\\]|\\.)*)"\],?$`)
	entries := map[string]chatJSError{}
	for _, line := range strings.Split(block[1], "\n") {
		m := entry.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("chat.js ERRORS line %q: want `name: [code, \"description\"],`", line)
		}
		if _, dup := entries[m[1]]; dup {
			t.Errorf("chat.js ERRORS has %s twice", m[1])
		}
		code, _ := strconv.Atoi(m[2])
		desc, err := strconv.Unquote(`"` + m[3] + `"`)
		if err != nil {
			t.Fatalf("chat.js ERRORS.%s description %q: %v", m[1], m[3], err)
		}
		entries[m[1]] = chatJSError{code, desc}
	}
	return entries
}

// TestPublishedErrorCodes holds docs/browser-api.md's "Error codes" table to errorCodes:
// the same codes, with the same names, in the same order.
func TestPublishedErrorCodes(t *testing.T) {
	src, err := os.ReadFile("../../docs/browser-api.md")
	if err != nil {
		t.Fatal(err)
	}
	got := readmeErrorCodes(t, string(src))
	var want []string
	for _, c := range errorCodes() {
		want = append(want, strconv.Itoa(c.code)+" "+c.name)
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("docs/browser-api.md error codes (-got +want):\n%s", diff)
	}
}

// readmeErrorCodes returns the "Error codes" table's rows as "code name".
func readmeErrorCodes(t *testing.T, src string) []string {
	t.Helper()
	_, section, ok := strings.Cut(src, "\n### Error codes\n")
	if !ok {
		t.Fatal("docs/browser-api.md has no \"### Error codes\" section")
	}
	row := regexp.MustCompile("^\\| (\\d+) \\| `(\\w+)` \\|")
	var rows []string
	inTable := false
	for _, line := range strings.Split(section, "\n") {
		if !strings.HasPrefix(line, "|") {
			if inTable {
				break
			}
			continue
		}
		inTable = true
		if strings.HasPrefix(line, "| code ") || strings.HasPrefix(line, "|---") {
			continue
		}
		m := row.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("docs/browser-api.md error code row %q: want \"| code | `name` | when |\"", line)
		}
		rows = append(rows, m[1]+" "+m[2])
	}
	if len(rows) == 0 {
		t.Fatal("docs/browser-api.md's \"Error codes\" section has no table")
	}
	return rows
}
