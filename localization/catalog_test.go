package localization

import (
	"encoding/json"
	"io/fs"
	"maps"
	"path"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/text/language"
)

// english returns the embedded English catalog.
func english(t testing.TB) *Catalog {
	t.Helper()
	en, err := readEmbedded(defaultName, nil)
	if err != nil {
		t.Fatal(err)
	}
	return en
}

// catalogJSON encodes a catalog file.
func catalogJSON(t testing.TB, lang, dir string, messages map[string]string) []byte {
	t.Helper()
	data, err := json.Marshal(catalogFile{Language: lang, Direction: dir, Messages: messages})
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// frenchMessages is a partial French catalog: the keys it lacks come from English.
var frenchMessages = map[string]string{
	"widget.title":           "Discutez avec nous",
	"widget.start":           "Démarrer le chat",
	"conversation.waiting":   "Merci, {name} ! Un conseiller va vous répondre.",
	"error.message_too_long": "Votre message est trop long : {max} caractères au maximum.",
}

func TestT(t *testing.T) {
	en := english(t)
	custom := &Catalog{name: "x", tag: language.English, dir: dirLTR, messages: map[string]string{
		"two":    "{a} and {b}",
		"braces": "{} { a} {a-b} {a",
	}}
	tests := []struct {
		name string
		cat  *Catalog
		key  string
		args []string
		want string
	}{
		{"plain", en, "widget.start", nil, "Start chat"},
		{"placeholder", en, "error.message_too_long", []string{"max", "2000"},
			"Your message is too long: please keep it under 2000 characters."},
		{"unknown key", en, "no.such.key", []string{"max", "1"}, "no.such.key"},
		{"no args leaves placeholder", en, "conversation.agent_joined", nil, "{name} joined the chat."},
		{"other arg leaves placeholder", en, "conversation.agent_joined", []string{"max", "1"},
			"{name} joined the chat."},
		{"unpaired arg ignored", en, "conversation.agent_joined", []string{"name"}, "{name} joined the chat."},
		{"value not expanded again", custom, "two", []string{"a", "{b}", "b", "x"}, "{b} and x"},
		{"non-placeholder braces literal", custom, "braces", []string{"a", "x"}, "{} { a} {a-b} {a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.cat.T(tt.key, tt.args...); got != tt.want {
				t.Errorf("T(%q, %q) = %q, want %q", tt.key, tt.args, got, tt.want)
			}
		})
	}
}

// TestEmbeddedCatalogsMatchEnglish holds every embedded file to exactly
// en.json's keys, with the same placeholders per key.
func TestEmbeddedCatalogsMatchEnglish(t *testing.T) {
	read := func(t *testing.T, file string) catalogFile {
		t.Helper()
		data, err := fs.ReadFile(embedded, file)
		if err != nil {
			t.Fatal(err)
		}
		var f catalogFile
		if err := json.Unmarshal(data, &f); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		return f
	}
	en := read(t, "locales/en.json")
	files, err := fs.Glob(embedded, "locales/*.json")
	if err != nil {
		t.Fatal(err)
	}
	wantDir := map[string]string{"en": "ltr", "de": "ltr", "ar": "rtl"}
	var names []string
	for _, file := range files {
		name := strings.TrimSuffix(path.Base(file), ".json")
		names = append(names, name)
		t.Run(name, func(t *testing.T) {
			f := read(t, file)
			if diff := cmp.Diff(slices.Sorted(maps.Keys(f.Messages)), slices.Sorted(maps.Keys(en.Messages))); diff != "" {
				t.Errorf("keys differ from en.json (-%s +en):\n%s", name, diff)
			}
			for key, text := range f.Messages {
				if diff := cmp.Diff(placeholders(text), placeholders(en.Messages[key])); diff != "" {
					t.Errorf("%s: placeholders differ from en.json (-%s +en):\n%s", key, name, diff)
				}
				if strings.TrimSpace(text) == "" {
					t.Errorf("%s: blank", key)
				}
			}
			if tag, err := language.Parse(f.Language); err != nil || tag.String() != name {
				t.Errorf("language = %q (%v), want %q", f.Language, err, name)
			}
			if got, want := f.Direction, wantDir[name]; got != want {
				t.Errorf("direction = %q, want %q", got, want)
			}
		})
	}
	if diff := cmp.Diff(names, []string{"ar", "de", "en"}); diff != "" {
		t.Errorf("embedded catalogs (-got +want):\n%s", diff)
	}
}

// TestEnglishLabels pins the English strings that browser tests find
// controls by.
func TestEnglishLabels(t *testing.T) {
	cs, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	en := cs.Default()
	if got, want := [3]string{en.Name(), en.Lang(), en.Dir()}, [3]string{"en", "en", "ltr"}; got != want {
		t.Errorf("Default() name, lang, dir = %q, want %q", got, want)
	}
	for key, want := range map[string]string{
		"widget.start":            "Start chat",
		"registration.first_name": "First name",
		"registration.last_name":  "Last name",
		"registration.email":      "Email",
		"registration.subject":    "Subject",
		"registration.submit":     "Start",
		"conversation.message":    "Message",
		"conversation.send":       "Send",
		"conversation.end":        "End chat",
		"conversation.typing":     "{name} is typing…",
	} {
		if got := en.T(key); got != want {
			t.Errorf("T(%q) = %q, want %q", key, got, want)
		}
	}
}

func TestParseCatalog(t *testing.T) {
	en := english(t)
	withMessages := func(change map[string]string) map[string]string {
		m := maps.Clone(frenchMessages)
		maps.Copy(m, change)
		return m
	}
	tests := []struct {
		name       string
		source     string
		data       []byte
		wantErr    bool
		wantLang   string
		wantDir    string
		wantT      map[string]string // key → T(key) with no args
		wantReport parseReport
	}{
		{
			name:     "valid, missing keys filled from English",
			source:   "fr",
			data:     catalogJSON(t, "fr", "ltr", frenchMessages),
			wantLang: "fr", wantDir: "ltr",
			wantT: map[string]string{
				"widget.start":    "Démarrer le chat",
				"widget.minimize": "Minimize chat",
			},
		},
		{
			name:     "unknown keys ignored",
			source:   "fr",
			data:     catalogJSON(t, "fr", "", withMessages(map[string]string{"no.such.key": "x"})),
			wantLang: "fr", wantDir: "ltr",
			wantT: map[string]string{"no.such.key": "no.such.key"},
		},
		{
			name:   "placeholder mismatch dropped",
			source: "fr",
			data: catalogJSON(t, "fr", "ltr", withMessages(map[string]string{
				"error.message_too_long":    "Trop long : {count} caractères au maximum.",
				"conversation.agent_joined": "Un conseiller a rejoint le chat.",
				"widget.intro":              "Des questions ? {name}",
			})),
			wantLang: "fr", wantDir: "ltr",
			wantT: map[string]string{
				"error.message_too_long":    "Your message is too long: please keep it under {max} characters.",
				"conversation.agent_joined": "{name} joined the chat.",
				"widget.intro":              "Questions? We usually answer within a few minutes.",
				"conversation.waiting":      "Merci, {name} ! Un conseiller va vous répondre.",
			},
			wantReport: parseReport{Mismatched: []string{"conversation.agent_joined", "error.message_too_long", "widget.intro"}},
		},
		{
			name:     "blank string counts as missing",
			source:   "fr",
			data:     catalogJSON(t, "fr", "ltr", withMessages(map[string]string{"widget.start": "  "})),
			wantLang: "fr", wantDir: "ltr",
			wantT: map[string]string{"widget.start": "Start chat"},
		},
		{
			name:     "language from source name",
			source:   "fr-CA",
			data:     catalogJSON(t, "", "ltr", frenchMessages),
			wantLang: "fr-CA", wantDir: "ltr",
		},
		{
			name:     "rtl, case-insensitive",
			source:   "he",
			data:     catalogJSON(t, "he", "RTL", map[string]string{"widget.start": "התחל צ'אט"}),
			wantLang: "he", wantDir: "rtl",
			wantT: map[string]string{"widget.start": "התחל צ'אט"},
		},
		{name: "no language, name not a tag", source: "support", data: catalogJSON(t, "", "ltr", frenchMessages), wantErr: true},
		{name: "invalid language", source: "fr", data: catalogJSON(t, "français", "ltr", frenchMessages), wantErr: true},
		{name: "unknown language", source: "fr", data: catalogJSON(t, "xx", "ltr", frenchMessages), wantErr: true},
		{name: "invalid direction", source: "fr", data: catalogJSON(t, "fr", "up", frenchMessages), wantErr: true},
		{name: "no messages", source: "fr", data: []byte(`{"language": "fr"}`), wantErr: true},
		{name: "null messages", source: "fr", data: []byte(`{"language": "fr", "messages": null}`), wantErr: true},
		{name: "messages not strings", source: "fr", data: []byte(`{"messages": {"widget.start": 1}}`), wantErr: true},
		{name: "array", source: "fr", data: []byte(`[]`), wantErr: true},
		{name: "null", source: "fr", data: []byte(`null`), wantErr: true},
		{name: "garbage", source: "fr", data: []byte("<html>Bad gateway</html>"), wantErr: true},
		{name: "trailing garbage", source: "fr", data: append(catalogJSON(t, "fr", "ltr", frenchMessages), "x"...), wantErr: true},
		{name: "empty", source: "fr", data: nil, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cat, rep, err := parseCatalog(tt.source, tt.data, en)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("parseCatalog(%s) = nil error, want one", tt.data)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseCatalog: %v", err)
			}
			if got, want := [3]string{cat.Name(), cat.Lang(), cat.Dir()}, [3]string{tt.source, tt.wantLang, tt.wantDir}; got != want {
				t.Errorf("name, lang, dir = %q, want %q", got, want)
			}
			for key, want := range tt.wantT {
				if got := cat.T(key); got != want {
					t.Errorf("T(%q) = %q, want %q", key, got, want)
				}
			}
			if diff := cmp.Diff(rep.Mismatched, tt.wantReport.Mismatched); diff != "" {
				t.Errorf("mismatched keys (-got +want):\n%s", diff)
			}
			checkComplete(t, cat, en)
		})
	}
}

// checkComplete fails unless cat has exactly en's keys, each with en's
// placeholders, and a usable language and direction.
func checkComplete(t *testing.T, cat, en *Catalog) {
	t.Helper()
	// Plain comparisons first: this runs for every fuzz input.
	if len(cat.messages) != len(en.messages) {
		t.Errorf("%d keys, want %d", len(cat.messages), len(en.messages))
	}
	for key, english := range en.messages {
		text, ok := cat.messages[key]
		if !ok {
			t.Errorf("%s: missing", key)
			continue
		}
		if got, want := placeholders(text), placeholders(english); !slices.Equal(got, want) {
			t.Errorf("%s: placeholders = %q, want %q", key, got, want)
		}
	}
	if d := cat.Dir(); d != "ltr" && d != "rtl" {
		t.Errorf("Dir() = %q, want ltr or rtl", d)
	}
	if _, err := language.Parse(cat.Lang()); err != nil {
		t.Errorf("Lang() = %q: %v", cat.Lang(), err)
	}
}

func FuzzParseCatalog(f *testing.F) {
	for _, name := range []string{"en", "de", "ar"} {
		data, err := fs.ReadFile(embedded, "locales/"+name+".json")
		if err != nil {
			f.Fatal(err)
		}
		f.Add(name, data)
		f.Add("fr", data)
	}
	f.Add("fr", catalogJSON(f, "fr", "ltr", frenchMessages))
	f.Add("fr", catalogJSON(f, "", "", frenchMessages))
	f.Add("support", []byte(`{"messages": {"widget.start": "{x}", "x": "{max}"}, "direction": "RTL"}`))
	f.Add("fr", []byte(`{"language": "fr-u-nu-arab", "messages": {"error.message_too_long": "{max}{max} {max"}}`))
	f.Add("fr", []byte(`null`))
	f.Add("fr", []byte(`{"messages": null}`))
	f.Add("", []byte(`<html>`))

	en := english(f)
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		cat := parsedCatalog(t, name, data, en)
		if cat == nil {
			return
		}
		checkComplete(t, cat, en)
		for key := range en.messages {
			cat.T(key, "name", "{name}", "max", "1", "page")
		}
	})
}
