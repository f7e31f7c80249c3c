package config_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/parley/parley/config"
	"github.com/parley/parley/parley"
)

const (
	key1 = "0123456789abcdef0123456789abcdef-one"
	key2 = "0123456789abcdef0123456789abcdef-two"
	key3 = "0123456789abcdef0123456789abcdef-three"
)

// env returns a getenv over vars.
func env(vars map[string]string) func(string) string {
	return func(name string) string { return vars[name] }
}

func parse(t *testing.T, args []string, vars map[string]string) (config.Config, error) {
	t.Helper()
	var stderr bytes.Buffer
	return config.Parse(args, env(vars), &stderr)
}

// hoursFile writes opening hours in the file form into a test's directory.
func hoursFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "hours")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func mustHours(t *testing.T, text string) *parley.Schedule {
	t.Helper()
	s, err := parley.ParseHours(text)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// sameHours compares schedules by their canonical text, which holds all
// of them.
var sameHours = cmp.Comparer(func(a, b *parley.Schedule) bool { return a.String() == b.String() })

func TestParse(t *testing.T) {
	t.Parallel()
	weekdays := mustHours(t, "Europe/Berlin; Mon-Fri 09:00-17:00")
	fromFile := mustHours(t, "America/New_York; Mon-Fri 08:00-12:00, 13:00-17:00; closed 2026-12-25")
	file := hoursFile(t, "# Support\nAmerica/New_York\nMon-Fri 08:00-12:00, 13:00-17:00\nclosed 2026-12-25 # Christmas\n")
	defaults := config.Config{
		Chat: parley.Config{
			SQLitePath:    filepath.Join("data", "parley.db"),
			IPv6Prefix:    64,
			Localization:  map[string]string{},
			MaxOffline:    10 * time.Minute,
			MaxOfflineCap: time.Hour,
		},
		Addr:         "127.0.0.1:8080",
		DataDir:      "data",
		ReadTimeout:  30 * time.Second,
		WriteTimeout: time.Minute,
		IdleTimeout:  2 * time.Minute,
		HSTSMaxAge:   365 * 24 * time.Hour,

		MaxOpenPerAddress:     1024,
		MaxRequestsPerAddress: 320,
	}
	with := func(change func(*config.Config)) config.Config {
		c := defaults
		c.Chat.Localization = map[string]string{}
		change(&c)
		return c
	}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want config.Config
	}{
		{"defaults", nil, nil, defaults},
		{
			name: "environment",
			env: map[string]string{
				"PARLEY_ADDR":                "0.0.0.0:9000",
				"PARLEY_DATA":                "/var/lib/parley",
				"PARLEY_DATABASE_URL":        "postgres://db/parley",
				"PARLEY_SESSION_KEYS":        key1 + ", " + key2,
				"PARLEY_ALLOWED_ORIGINS":     "https://a.example,https://b.example",
				"PARLEY_LOCALIZATION_URLS":   "fr=https://l.example/fr.json",
				"PARLEY_AGENTS":              "alice:pw, bob:secret ,,carol:x:y",
				"PARLEY_MAX_OFFLINE":         "90s",
				"PARLEY_AGENT_OFFLINE_AFTER": "5m",
				"PARLEY_TRUSTED_PROXIES":     "127.0.0.1, 10.0.0.0/8",
				"PARLEY_METRICS_TOKEN":       "scrape-me",
			},
			want: with(func(c *config.Config) {
				c.Addr, c.DataDir, c.Chat.DatabaseURL, c.Chat.SQLitePath = "0.0.0.0:9000", "/var/lib/parley", "postgres://db/parley", ""
				c.Chat.TrustedProxies = []string{"127.0.0.1", "10.0.0.0/8"}
				c.Chat.MetricsToken = "scrape-me"
				c.SessionKeys = []string{key1, key2}
				c.Chat.AllowedOrigins = []string{"https://a.example", "https://b.example"}
				c.Chat.Localization = map[string]string{"fr": "https://l.example/fr.json"}
				c.Chat.Agents = []parley.Agent{{Name: "alice", Password: "pw"}, {Name: "bob", Password: "secret"}, {Name: "carol", Password: "x:y"}}
				c.Chat.MaxOffline = 90 * time.Second
				c.Chat.AgentOfflineAfter = 5 * time.Minute
			}),
		},
		{
			name: "flags win over the environment",
			args: []string{"-addr", ":8081", "-data", "d2", "-database-url", "postgres://flag/db",
				"-session-key", key3, "-allowed-origin", "https://c.example", "-localization-url", "de=https://l.example/de.json",
				"-agent", "dave:pw", "-max-offline", "2m", "-agent-offline-after", "30s"},
			env: map[string]string{
				"PARLEY_ADDR":                "0.0.0.0:9000",
				"PARLEY_DATA":                "/var/lib/parley",
				"PARLEY_DATABASE_URL":        "postgres://env/db",
				"PARLEY_SESSION_KEYS":        key1 + "," + key2,
				"PARLEY_ALLOWED_ORIGINS":     "https://a.example",
				"PARLEY_LOCALIZATION_URLS":   "fr=https://l.example/fr.json",
				"PARLEY_AGENTS":              "alice:pw",
				"PARLEY_MAX_OFFLINE":         "90s",
				"PARLEY_AGENT_OFFLINE_AFTER": "5m",
			},
			want: with(func(c *config.Config) {
				c.Addr, c.DataDir, c.Chat.DatabaseURL, c.Chat.SQLitePath = ":8081", "d2", "postgres://flag/db", ""
				// A list flag replaces the variable's list, it does not add to it.
				c.SessionKeys = []string{key3}
				c.Chat.AllowedOrigins = []string{"https://c.example"}
				c.Chat.Localization = map[string]string{"de": "https://l.example/de.json"}
				c.Chat.Agents = []parley.Agent{{Name: "dave", Password: "pw"}}
				c.Chat.MaxOffline = 2 * time.Minute
				c.Chat.AgentOfflineAfter = 30 * time.Second
				c.SecretFlags = map[string]string{"-agent": "PARLEY_AGENTS", "-session-key": "PARLEY_SESSION_KEYS"}
			}),
		},
		{
			name: "repeatable flags, in order",
			args: []string{"-session-key", key2, "-session-key", key1,
				"-allowed-origin", "https://a.example", "-allowed-origin", "https://b.example",
				"-localization-url", "fr=https://l.example/fr.json", "-localization-url", "x-custom=https://l.example/c.json?v=2&lang=x",
				"-agent", "alice=Alice M.:pw", "-agent", "bob:p:w,x"},
			want: with(func(c *config.Config) {
				c.SessionKeys = []string{key2, key1}
				c.Chat.AllowedOrigins = []string{"https://a.example", "https://b.example"}
				c.Chat.Localization = map[string]string{"fr": "https://l.example/fr.json", "x-custom": "https://l.example/c.json?v=2&lang=x"}
				c.Chat.Agents = []parley.Agent{{Name: "alice", Password: "pw", DisplayName: "Alice M."}, {Name: "bob", Password: "p:w,x"}}
				c.SecretFlags = map[string]string{"-agent": "PARLEY_AGENTS", "-session-key": "PARLEY_SESSION_KEYS"}
			}),
		},
		{
			name: "connection limits",
			args: []string{"-max-conns-per-chat", "4", "-max-conns-per-address", "40", "-max-parked-polls", "400", "-read-timeout", "45s", "-idle-timeout", "1m"},
			want: with(func(c *config.Config) {
				c.Chat.Limits = parley.Limits{PerChat: 4, PerAddress: 40, ParkedPolls: 400}
				c.ReadTimeout, c.IdleTimeout = 45*time.Second, time.Minute
			}),
		},
		{
			name: "profiler, by flag over its variable",
			args: []string{"-pprof-addr", "127.0.0.1:6060"},
			env:  map[string]string{"PARLEY_PPROF_ADDR": "127.0.0.1:7070"},
			want: with(func(c *config.Config) { c.PprofAddr = "127.0.0.1:6060" }),
		},
		{
			name: "profiler by its variable",
			env:  map[string]string{"PARLEY_PPROF_ADDR": "127.0.0.1:7070"},
			want: with(func(c *config.Config) { c.PprofAddr = "127.0.0.1:7070" }),
		},
		{
			name: "trusted-proxy flags over their variable",
			args: []string{"-trusted-proxy", "192.0.2.7", "-trusted-proxy", "fd00::/8"},
			env:  map[string]string{"PARLEY_TRUSTED_PROXIES": "10.0.0.0/8"},
			want: with(func(c *config.Config) { c.Chat.TrustedProxies = []string{"192.0.2.7", "fd00::/8"} }),
		},
		{
			name: "embedding sites and TLS",
			args: []string{"-embed-origin", "https://shop.example", "-embed-origin", "https://blog.example", "-tls-cert", "/etc/parley/cert.pem", "-tls-key", "/etc/parley/key.pem"},
			env:  map[string]string{"PARLEY_EMBED_ORIGINS": "https://old.example", "PARLEY_TLS_CERT": "/env/cert.pem", "PARLEY_TLS_KEY": "/env/key.pem"},
			want: with(func(c *config.Config) {
				c.Chat.EmbedOrigins = []string{"https://shop.example", "https://blog.example"}
				c.TLSCert, c.TLSKey = "/etc/parley/cert.pem", "/etc/parley/key.pem"
			}),
		},
		{
			name: "embedding sites and TLS from the environment",
			env:  map[string]string{"PARLEY_EMBED_ORIGINS": "https://shop.example, https://blog.example", "PARLEY_TLS_CERT": "/env/cert.pem", "PARLEY_TLS_KEY": "/env/key.pem"},
			want: with(func(c *config.Config) {
				c.Chat.EmbedOrigins = []string{"https://shop.example", "https://blog.example"}
				c.TLSCert, c.TLSKey = "/env/cert.pem", "/env/key.pem"
			}),
		},
		{
			name: "hours by flag",
			args: []string{"-hours", "Europe/Berlin; Mon-Fri 09:00-17:00"},
			want: with(func(c *config.Config) { c.Chat.Hours = weekdays }),
		},
		{
			name: "hours by variable",
			env:  map[string]string{"PARLEY_HOURS": "Europe/Berlin; Mon-Fri 09:00-17:00"},
			want: with(func(c *config.Config) { c.Chat.Hours = weekdays }),
		},
		{
			name: "hours file by flag",
			args: []string{"-hours-file", file},
			want: with(func(c *config.Config) { c.Chat.Hours = fromFile }),
		},
		{
			name: "hours file by variable",
			env:  map[string]string{"PARLEY_HOURS_FILE": file},
			want: with(func(c *config.Config) { c.Chat.Hours = fromFile }),
		},
		{
			name: "an hours flag wins over both variables",
			args: []string{"-hours-file", file},
			env:  map[string]string{"PARLEY_HOURS": "Europe/Berlin; Mon-Fri 09:00-17:00", "PARLEY_HOURS_FILE": "/nonexistent"},
			want: with(func(c *config.Config) { c.Chat.Hours = fromFile }),
		},
		{
			name: "an empty hours flag is always open",
			args: []string{"-hours", ""},
			env:  map[string]string{"PARLEY_HOURS": "Europe/Berlin; Mon-Fri 09:00-17:00"},
			want: defaults,
		},
		{
			name: "mail from the environment: no warning for a password there",
			env:  map[string]string{"PARLEY_SMTP_URL": "smtp://parley:s3cret@mail.example.com:587", "PARLEY_MAIL_FROM": "Parley <chat@shop.example>"},
			want: with(func(c *config.Config) {
				c.Chat.SMTPURL, c.Chat.MailFrom = "smtp://parley:s3cret@mail.example.com:587", "Parley <chat@shop.example>"
			}),
		},
		{
			name: "mail by flags over the environment: a password in the flag is warned of",
			args: []string{"-smtp-url", "smtps://parley:s3cret@mail.example.com", "-mail-from", "chat@shop.example"},
			env:  map[string]string{"PARLEY_SMTP_URL": "smtp://127.0.0.1:1025", "PARLEY_MAIL_FROM": "old@shop.example"},
			want: with(func(c *config.Config) {
				c.Chat.SMTPURL, c.Chat.MailFrom = "smtps://parley:s3cret@mail.example.com", "chat@shop.example"
				c.SecretFlags = map[string]string{"-smtp-url": "PARLEY_SMTP_URL"}
			}),
		},
		{
			name: "mail by flag without a password",
			args: []string{"-smtp-url", "smtp://127.0.0.1:1025", "-mail-from", "chat@localhost"},
			want: with(func(c *config.Config) { c.Chat.SMTPURL, c.Chat.MailFrom = "smtp://127.0.0.1:1025", "chat@localhost" }),
		},
		{
			name: "a longer max-offline raises the cap",
			args: []string{"-max-offline", "3h"},
			want: with(func(c *config.Config) { c.Chat.MaxOffline, c.Chat.MaxOfflineCap = 3*time.Hour, 3*time.Hour }),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parse(t, tt.args, tt.env)
			if err != nil {
				t.Fatalf("Parse() = %v, want nil", err)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty(), sameHours); diff != "" {
				t.Errorf("Parse() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	goodHours := hoursFile(t, "UTC\nMon 09:00-17:00\n")
	badHours := hoursFile(t, "UTC\nMon 09:00-17:00\nTue 9-17\n")
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
	}{
		{"short session key flag", []string{"-session-key", "short"}, nil, "too short"},
		{"short session key variable", nil, map[string]string{"PARLEY_SESSION_KEYS": key1 + ",short"}, "too short"},
		{"agent without password", []string{"-agent", "alice"}, nil, ":PASSWORD"},
		{"agent with empty name", []string{"-agent", ":pw"}, nil, ":PASSWORD"},
		{"agent with empty password", []string{"-agent", "alice:"}, nil, ":PASSWORD"},
		{"agents variable", nil, map[string]string{"PARLEY_AGENTS": "alice:pw,bob"}, ":PASSWORD"},
		{"localization without name", []string{"-localization-url", "=https://l.example/fr.json"}, nil, "NAME=URL"},
		{"localization without URL", []string{"-localization-url", "fr="}, nil, "NAME=URL"},
		{"localization without =", []string{"-localization-url", "https://l.example/fr.json"}, nil, "NAME=URL"},
		{"max-offline zero", []string{"-max-offline", "0s"}, nil, "positive"},
		{"max-offline negative", []string{"-max-offline", "-1m"}, nil, "positive"},
		{"max-offline not a duration", []string{"-max-offline", "soon"}, nil, "max-offline"},
		{"max-offline variable not a duration", nil, map[string]string{"PARLEY_MAX_OFFLINE": "600"}, "PARLEY_MAX_OFFLINE"},
		{"max-offline variable zero", nil, map[string]string{"PARLEY_MAX_OFFLINE": "0s"}, "positive"},
		{"agent-offline-after negative", []string{"-agent-offline-after", "-1m"}, nil, "must not be negative"},
		{"agent-offline-after variable not a duration", nil, map[string]string{"PARLEY_AGENT_OFFLINE_AFTER": "2"}, "PARLEY_AGENT_OFFLINE_AFTER"},
		{"read-timeout shorter than a long-poll", []string{"-read-timeout", "20s"}, nil, "read-timeout"},
		{"negative limit", []string{"-max-conns-per-chat", "-1"}, nil, "must not be negative"},
		{"unknown flag", []string{"-port", "80"}, nil, "port"},
		{"certificate without key", []string{"-tls-cert", "cert.pem"}, nil, "tls-cert and tls-key go together"},
		{"key without certificate", nil, map[string]string{"PARLEY_TLS_KEY": "key.pem"}, "tls-cert and tls-key go together"},
		{"extra argument", []string{"-addr", ":80", "serve"}, nil, "unexpected arguments: serve"},
		{"hours and hours-file", []string{"-hours", "UTC; Mon 09:00-17:00", "-hours-file", goodHours}, nil, "-hours and -hours-file are one setting"},
		{"both hours variables", nil, map[string]string{"PARLEY_HOURS": "UTC; Mon 09:00-17:00", "PARLEY_HOURS_FILE": goodHours}, "PARLEY_HOURS and PARLEY_HOURS_FILE are one setting"},
		{"bad hours", []string{"-hours", "Europe/Berlin; Mon-Fir 09:00-17:00"}, nil, `-hours: hours: "Mon-Fir 09:00-17:00": unknown day "Fir"`},
		{"unknown hours zone", []string{"-hours", "Berlin; Mon 09:00-17:00"}, nil, `-hours: hours: "Berlin": unknown time zone`},
		{"bad hours variable", nil, map[string]string{"PARLEY_HOURS": "UTC; Mon 17:00-09:00"}, "PARLEY_HOURS: hours: "},
		{"bad hours file", []string{"-hours-file", badHours}, nil, "-hours-file " + badHours + `: hours: line 3: "Tue 9-17"`},
		{"bad hours file variable", nil, map[string]string{"PARLEY_HOURS_FILE": badHours}, "PARLEY_HOURS_FILE " + badHours + ": hours: line 3"},
		{"missing hours file", []string{"-hours-file", goodHours + ".missing"}, nil, "-hours-file: open "},
		{"smtp-url without mail-from", []string{"-smtp-url", "smtp://127.0.0.1:1025"}, nil, "smtp-url and mail-from go together"},
		{"mail-from without smtp-url", nil, map[string]string{"PARLEY_MAIL_FROM": "chat@shop.example"}, "smtp-url and mail-from go together"},
		{"smtp-url not smtp", []string{"-smtp-url", "https://user:pw@mail.example.com", "-mail-from", "chat@shop.example"}, nil, "smtp-url: SMTP URL"},
		{"mail-from two addresses", []string{"-smtp-url", "smtp://127.0.0.1:1025", "-mail-from", "a@shop.example, b@shop.example"}, nil, "mail-from"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := parse(t, tt.args, tt.env)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Parse() = %v, want an error mentioning %q", err, tt.wantErr)
			}
		})
	}
}

func TestSessionSecretsConfigured(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	cfg, err := parse(t, []string{"-data", dir, "-session-key", key2, "-session-key", key1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := cfg.SessionSecrets()
	if err != nil {
		t.Fatalf("SessionSecrets() = %v", err)
	}
	if diff := cmp.Diff([][]byte{[]byte(key2), []byte(key1)}, got); diff != "" {
		t.Errorf("secrets (-want +got):\n%s", diff)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("configured keys wrote to the data directory (stat: %v), want it untouched", err)
	}
}

// TestSessionSecretsGenerated: with no key configured, one is generated
// under the data directory once, kept private, and reused on every start.
func TestSessionSecretsGenerated(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "nested", "data")
	cfg, err := parse(t, []string{"-data", dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	first, err := cfg.SessionSecrets()
	if err != nil {
		t.Fatalf("SessionSecrets() = %v", err)
	}
	if len(first) != 1 || len(first[0]) < 32 {
		t.Fatalf("generated secrets = %q, want one of at least 32 characters", first)
	}
	path := filepath.Join(dir, "session.key")
	info, err := os.Stat(path)
	if err != nil {
		t.Fatalf("key file: %v", err)
	}
	if mode := info.Mode().Perm(); mode != 0o600 {
		t.Errorf("key file mode = %o, want 600", mode)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(data)) != string(first[0]) {
		t.Errorf("key file holds %q, want the returned key", data)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("data directory holds %d files, want only session.key", len(entries))
	}

	// The next start, a new Config over the same directory, reuses it.
	again, err := parse(t, nil, map[string]string{"PARLEY_DATA": dir})
	if err != nil {
		t.Fatal(err)
	}
	second, err := again.SessionSecrets()
	if err != nil {
		t.Fatalf("second SessionSecrets() = %v", err)
	}
	if diff := cmp.Diff(first, second); diff != "" {
		t.Errorf("key changed across starts (-first +second):\n%s", diff)
	}
}

func TestSessionSecretsFile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		content string
		want    string
		wantErr bool
	}{
		{"trimmed", "  " + key1 + "\n\n", key1, false},
		{"too short", "short\n", "", true},
		{"empty", "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "session.key"), []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := config.Config{DataDir: dir}.SessionSecrets()
			if tt.wantErr {
				if err == nil {
					t.Errorf("SessionSecrets() = %q, want an error", got)
				}
				return
			}
			if err != nil || len(got) != 1 || string(got[0]) != tt.want {
				t.Errorf("SessionSecrets() = %q, %v; want [%q]", got, err, tt.want)
			}
		})
	}
}

// TestSessionSecretsConcurrent: instances starting at once over one data
// directory all end up with the same key.
func TestSessionSecretsConcurrent(t *testing.T) {
	t.Parallel()
	for range 20 {
		dir := t.TempDir()
		const n = 8
		keys := make([]string, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				secrets, err := config.Config{DataDir: dir}.SessionSecrets()
				errs[i] = err
				if err == nil {
					keys[i] = string(secrets[0])
				}
			})
		}
		wg.Wait()
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("instance %d: SessionSecrets() = %v", i, errs[i])
			}
			if keys[i] != keys[0] {
				t.Fatalf("instances 0 and %d got different keys", i)
			}
		}
	}
}
