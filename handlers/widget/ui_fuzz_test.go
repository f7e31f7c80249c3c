package widget

import (
	"strconv"
	"strings"
	"testing"
)

// FuzzParseUIState: no parley_ui cookie value panics parseUIState; what it
// returns is one of the states the cookie can hold; a collapsed state with
// a chat is written back as "min:ID:SEQ" and reads the same; and every
// value setUI and chat.js write reads as the state they meant.
func FuzzParseUIState(f *testing.F) {
	for _, s := range []string{
		"open", "min", "min:", "min::0", "min:c1:0", "min:c1:17",
		"min:null:null", // chat.js, on a widget without a chat
		"min:c1:-1", "min:c1:+5", "min:c1:007", "min:c1:9223372036854775808",
		"min:a:b:c", "max:c1:1", "OPEN", " open", "min:\x00\xff:1", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, value string) {
		st := parseUIState(value)
		switch {
		case !st.set:
			if st != (uiState{}) {
				t.Fatalf("parseUIState(%q) = %+v: unset but not zero", value, st)
			}
		case st.open:
			if st != (uiState{set: true, open: true}) || value != "open" {
				t.Fatalf("parseUIState(%q) = %+v, want open only for \"open\"", value, st)
			}
		default:
			if st.seen < 0 {
				t.Fatalf("parseUIState(%q) = %+v: negative seq", value, st)
			}
			if !strings.HasPrefix(value, "min") {
				t.Fatalf("parseUIState(%q) = %+v: collapsed from a value that does not say min", value, st)
			}
		}
		if st.set && !st.open && st.chatID != "" {
			written := "min:" + st.chatID + ":" + strconv.FormatInt(st.seen, 10)
			if again := parseUIState(written); again != st {
				t.Fatalf("parseUIState(%q) = %+v, written back as %q reads %+v", value, st, written, again)
			}
		}

		// The writers' shapes: "open", "min" (setUI without a chat) and
		// "min:ID:SEQ" with an ID that has no colon.
		if value == "min" || strings.HasPrefix(value, "min:") && strings.Count(value, ":") == 2 {
			if !st.set || st.open {
				t.Fatalf("parseUIState(%q) = %+v, want collapsed", value, st)
			}
		}
	})
}
