package localization

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestResolve checks that only configured names and exact configured URLs
// resolve, and that neither New nor Resolve nor Negotiate sends a request.
func TestResolve(t *testing.T) {
	f := &fakeSource{handler: body(catalogJSON(t, "fr", "ltr", frenchMessages), "")}
	srv := serve(t, f)
	frURL := srv.URL + "/fr.json"
	cs := newCatalogs(t, "fr", srv, Config{})

	tests := []struct {
		option   string
		wantName string // "" means ErrNotAllowed
	}{
		{"fr", "fr"},
		{frURL, "fr"},
		{"en", "en"},
		{"de", "de"},
		{"ar", "ar"},
		{"", ""},
		{"FR", ""},
		{"fr-CA", ""},
		{" fr", ""},
		{"it", ""},
		{srv.URL + "/FR.json", ""},
		{srv.URL + "/fr.json?", ""},
		{srv.URL + "/fr.json#x", ""},
		{srv.URL + "/de.json", ""},
		{srv.URL + "/", ""},
		{strings.Replace(frURL, "http://", "https://", 1), ""},
		{"https://evil.example/fr.json", ""},
		{"//" + strings.TrimPrefix(frURL, "http://"), ""},
		{strings.Repeat("x", 10000), ""},
	}
	for _, tt := range tests {
		name := tt.option
		if len(name) > 40 {
			name = name[:40]
		}
		t.Run(name, func(t *testing.T) {
			cat, err := cs.Resolve(tt.option)
			if tt.wantName == "" {
				if !errors.Is(err, ErrNotAllowed) || cat != nil {
					t.Errorf("Resolve(%q) = %v, %v; want nil, ErrNotAllowed", tt.option, cat, err)
				}
				if _, err := cs.Negotiate(tt.option+"x", "fr"); !errors.Is(err, ErrNotAllowed) {
					t.Errorf("Negotiate(%q) error = %v, want ErrNotAllowed", tt.option+"x", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Resolve(%q): %v", tt.option, err)
			}
			if got := cat.Name(); got != tt.wantName {
				t.Errorf("Resolve(%q).Name() = %q, want %q", tt.option, got, tt.wantName)
			}
		})
	}
	if got := f.ifNoneMatch(); len(got) != 0 {
		t.Errorf("server saw %d requests, want none", len(got))
	}
}

func TestNegotiate(t *testing.T) {
	f := &fakeSource{handler: body(catalogJSON(t, "fr", "ltr", frenchMessages), "")}
	srv := serve(t, f)
	cs, err := New(Config{
		Sources: map[string]string{
			"fr":      srv.URL + "/fr.json",
			"support": srv.URL + "/support.json", // not a language tag: never negotiated
		},
		Logger: testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	cs.Refresh(t.Context())

	tests := []struct {
		name, option, header string
		wantName, wantDir    string
		wantErr              error
	}{
		{"arabic first", "", "ar,en;q=0.5", "ar", "rtl", nil},
		{"regional German", "", "de-CH", "de", "ltr", nil},
		{"unknown language", "", "xx", "en", "ltr", nil},
		{"no header", "", "", "en", "ltr", nil},
		{"q-values beat order", "", "de;q=0.5, ar;q=0.9", "ar", "rtl", nil},
		{"highest q wins", "", "ar;q=0.1, de;q=0.8, en;q=0.5", "de", "ltr", nil},
		{"missing q is 1", "", "en;q=0.9, de", "de", "ltr", nil},
		{"q=0 is not acceptable", "", "de;q=0", "en", "ltr", nil},
		{"unknown tag skipped", "", "xx, de;q=0.5", "de", "ltr", nil},
		{"bad q skipped", "", "ar;q=2, de;q=0.5", "de", "ltr", nil},
		{"unsupported language", "", "pt-BR, ja", "en", "ltr", nil},
		{"wildcard", "", "*", "en", "ltr", nil},
		{"garbage", "", ";;q=,,=", "en", "ltr", nil},
		{"configured source", "", "fr-CA, de;q=0.5", "fr", "ltr", nil},
		{"option beats header", "de", "ar", "de", "ltr", nil},
		{"option is a configured URL", srv.URL + "/fr.json", "ar", "fr", "ltr", nil},
		{"option not a tag", "support", "de", "support", "ltr", nil},
		{"option not allowed", "https://evil.example/x.json", "ar", "ar", "rtl", ErrNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cat, err := cs.Negotiate(tt.option, tt.header)
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("Negotiate(%q, %q) error = %v, want %v", tt.option, tt.header, err, tt.wantErr)
			}
			if got, want := [2]string{cat.Name(), cat.Dir()}, [2]string{tt.wantName, tt.wantDir}; got != want {
				t.Errorf("Negotiate(%q, %q) name, dir = %q, want %q", tt.option, tt.header, got, want)
			}
		})
	}
}

func TestParseAcceptLanguage(t *testing.T) {
	tests := []struct {
		header string
		want   []string
	}{
		{"", nil},
		{"de", []string{"de"}},
		{"ar,en;q=0.5", []string{"ar", "en"}},
		{"en;q=0.5, ar", []string{"ar", "en"}},
		{"de;q=0.5, fr;q=0.5, ar;q=0.9", []string{"ar", "de", "fr"}},
		{" de-CH ; Q=0.8 , en-US;q=0.7", []string{"de-CH", "en-US"}},
		{"xx, de;q=0", nil},
		{"de;q=NaN, fr;q=-1, it;q=1.5, es;q=x, en;q=1", []string{"en"}},
		{"*, de;q=0.1", []string{"de"}},
	}
	for _, tt := range tests {
		t.Run(tt.header, func(t *testing.T) {
			var got []string
			for _, tag := range parseAcceptLanguage(tt.header) {
				got = append(got, tag.String())
			}
			if diff := cmp.Diff(got, tt.want); diff != "" {
				t.Errorf("parseAcceptLanguage(%q) (-got +want):\n%s", tt.header, diff)
			}
		})
	}
	long := strings.Repeat("de,", 10000)
	if got := len(parseAcceptLanguage(long)); got > maxPreferences {
		t.Errorf("parseAcceptLanguage kept %d tags, want at most %d", got, maxPreferences)
	}
}

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr bool
	}{
		{"zero", Config{}, false},
		{"http and https", Config{Sources: map[string]string{
			"fr": "https://cdn.example/fr.json", "it": "http://127.0.0.1:8081/it.json?v=2",
		}}, false},
		{"configured name hides embedded", Config{Sources: map[string]string{"de": "https://cdn.example/de.json"}}, false},
		{"empty name", Config{Sources: map[string]string{"": "https://cdn.example/fr.json"}}, true},
		{"relative URL", Config{Sources: map[string]string{"fr": "/fr.json"}}, true},
		{"no scheme", Config{Sources: map[string]string{"fr": "cdn.example/fr.json"}}, true},
		{"ftp", Config{Sources: map[string]string{"fr": "ftp://cdn.example/fr.json"}}, true},
		{"file", Config{Sources: map[string]string{"fr": "file:///etc/fr.json"}}, true},
		{"no host", Config{Sources: map[string]string{"fr": "https:///fr.json"}}, true},
		{"port only", Config{Sources: map[string]string{"fr": "http://:8080/fr.json"}}, true},
		{"unparsable", Config{Sources: map[string]string{"fr": "http://cdn example/%zz"}}, true},
		{"empty URL", Config{Sources: map[string]string{"fr": ""}}, true},
		{"same URL twice", Config{Sources: map[string]string{
			"fr": "https://cdn.example/fr.json", "fr-FR": "https://cdn.example/fr.json",
		}}, true},
		{"negative timeout", Config{FetchTimeout: -1}, true},
		{"negative size", Config{MaxBytes: -1}, true},
		{"negative refresh", Config{RefreshEvery: -1}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs, err := New(tt.cfg)
			if gotErr := err != nil; gotErr != tt.wantErr {
				t.Fatalf("New(%+v) error = %v, want error %v", tt.cfg, err, tt.wantErr)
			}
			if err == nil && cs.Default().Name() != "en" {
				t.Errorf("Default().Name() = %q, want en", cs.Default().Name())
			}
		})
	}
}
