package localization

import (
	"encoding/json"
	"io/fs"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/language"
)

// FuzzParseReferenceCatalog parses files as the reference catalog (en nil),
// the path FuzzParseCatalog does not take: no input panics it; an accepted
// catalog has messages, a usable language and direction, and T keeps its
// promises for every key.
func FuzzParseReferenceCatalog(f *testing.F) {
	data, err := fs.ReadFile(embedded, "locales/en.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add("en", data)
	f.Add("x-private", []byte(`{"language": "en-GB", "direction": "Ltr", "messages": {"a": "{a}{a}{b}", "b": "{{a}} {a {} }"}}`))
	f.Add("he", []byte(`{"direction": "rtl", "messages": {"\u202e": "\ud800 \u0000 {x_1}"}}`))
	f.Add("en", []byte(`{"messages": {}}`))
	f.Add("en", []byte("{\"messages\": {\"k\": \"raw \xff bytes {n}\"}}"))
	f.Add("en", []byte(`{"messages": {"k": "v"}, "messages": null}`))
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		cat := parsedCatalog(t, name, data, nil)
		if cat == nil {
			return
		}
		if len(cat.messages) == 0 {
			t.Error("reference catalog accepted with no messages")
		}
		checkDirLang(t, cat)
		checkT(t, cat)
	})
}

// FuzzParseCatalogReport parses files against English and holds the result
// to the report, as the fetch logs it: a key is Missing when the file lacks
// it or leaves it blank, Mismatched when its placeholders differ from
// English's, and English fills both; every other key is the file's string.
// T keeps its promises for every key.
func FuzzParseCatalogReport(f *testing.F) {
	for _, name := range []string{"de", "ar"} {
		data, err := fs.ReadFile(embedded, "locales/"+name+".json")
		if err != nil {
			f.Fatal(err)
		}
		f.Add(name, data)
	}
	f.Add("fr", catalogJSON(f, "fr", "ltr", frenchMessages))
	f.Add("fr", []byte(`{"messages": {"widget.start": " \t", "conversation.agent_joined": "{name}{name} {nom}",
		"error.message_too_long": "{max", "conversation.waiting": "{Name}", "unknown.key": "x"}}`))
	f.Add("fr", []byte(`{"messages": {"conversation.agent_joined": "{name} {name}", "error.message_too_long": "{ {max}} {max}"}}`))
	f.Add("fr", []byte(`{"messages": {"conversation.agent_joined": "\u00a0", "widget.start": "\u200b"}}`))
	f.Add("fr", []byte("{\"messages\": {\"widget.start\": \"\xff\"}}"))

	en := english(f)
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		cat, rep, err := parseCatalog(name, data, en)
		if err != nil {
			return // FuzzParseCatalog checks refusals
		}
		var file catalogFile
		if err := json.Unmarshal(data, &file); err != nil {
			t.Fatalf("parseCatalog accepted what json.Unmarshal refuses: %v", err)
		}
		for what, keys := range map[string][]string{"Missing": rep.Missing, "Mismatched": rep.Mismatched} {
			if !slices.IsSorted(keys) {
				t.Errorf("report %s = %q, not sorted", what, keys)
			}
		}
		if len(cat.messages) != len(en.messages) {
			t.Errorf("%d keys, want English's %d", len(cat.messages), len(en.messages))
		}
		for key, english := range en.messages {
			given, ok := file.Messages[key]
			missing := !ok || strings.TrimSpace(given) == ""
			mismatched := !missing && !slices.Equal(placeholders(given), placeholders(english))
			if got := slices.Contains(rep.Missing, key); got != missing {
				t.Errorf("%s: reported missing %v, want %v (file has %q)", key, got, missing, given)
			}
			if got := slices.Contains(rep.Mismatched, key); got != mismatched {
				t.Errorf("%s: reported mismatched %v, want %v (%q against %q)", key, got, mismatched, given, english)
			}
			want := given
			if missing || mismatched {
				want = english
			}
			if got := cat.T(key); got != want {
				t.Errorf("T(%q) = %q, want %q", key, got, want)
			}
		}
		checkDirLang(t, cat)
		checkT(t, cat)
	})
}

func checkDirLang(t *testing.T, cat *Catalog) {
	t.Helper()
	if d := cat.Dir(); d != dirLTR && d != dirRTL {
		t.Errorf("Dir() = %q, want ltr or rtl", d)
	}
	if _, err := language.Parse(cat.Lang()); err != nil {
		t.Errorf("Lang() = %q: %v", cat.Lang(), err)
	}
}

// checkT holds T to its doc comment for every key of cat: valid UTF-8; the
// string itself without args; each {placeholder} replaced once, never
// expanded again, a trailing unpaired arg ignored; an unknown key returned
// as it is.
func checkT(t *testing.T, cat *Catalog) {
	t.Helper()
	for key, s := range cat.messages {
		if got := cat.T(key); got != s || !utf8.ValidString(got) {
			t.Errorf("T(%q) = %q, want %q, valid UTF-8", key, got, s)
		}
		names := placeholders(s)
		var same, marked []string
		for _, name := range names {
			same = append(same, name, "{"+name+"}")
			marked = append(marked, name, "<"+name+">")
		}
		// A value that is its own placeholder leaves the string as it was,
		// and is not expanded again.
		if got := cat.T(key, same...); got != s {
			t.Errorf("T(%q, %q) = %q, want %q unchanged", key, same, got, s)
		}
		got := cat.T(key, marked...)
		if !utf8.ValidString(got) {
			t.Errorf("T(%q, %q) = %q, not valid UTF-8", key, marked, got)
		}
		if left := placeholders(got); len(left) > 0 {
			t.Errorf("T(%q, %q) = %q keeps placeholders %q", key, marked, got, left)
		}
		for _, name := range names {
			if !strings.Contains(got, "<"+name+">") {
				t.Errorf("T(%q, %q) = %q lacks the value of {%s}", key, marked, got, name)
			}
		}
		if odd := cat.T(key, append(marked, "dangling")...); odd != got {
			t.Errorf("T(%q) with a trailing unpaired arg = %q, want %q", key, odd, got)
		}
	}
	unknown := "no such key"
	for {
		if _, ok := cat.messages[unknown]; !ok {
			break
		}
		unknown += "!"
	}
	if got := cat.T(unknown, "a", "b"); got != unknown {
		t.Errorf("T(%q), an unknown key, = %q, want the key", unknown, got)
	}
}

// parsedCatalog parses data as catalog name over en: the catalog, or nil
// when it was refused, which must then come without one.
func parsedCatalog(t *testing.T, name string, data []byte, en *Catalog) *Catalog {
	t.Helper()
	cat, _, err := parseCatalog(name, data, en)
	if err != nil {
		if cat != nil {
			t.Errorf("parseCatalog returned a catalog with error %v", err)
		}
		return nil
	}
	if cat.Name() != name {
		t.Errorf("Name() = %q, want %q", cat.Name(), name)
	}
	return cat
}
