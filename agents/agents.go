// Package agents owns the agent accounts: who may sign in to the console,
// and the check of a password. Passwords are kept only as bcrypt hashes,
// computed once at start; the plain passwords are not kept.
package agents

import (
	"cmp"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/crypto/scrypt"
)

// maxPasswordBytes is the most bcrypt reads of a password; a longer one
// would be silently cut, so it is refused instead.
const maxPasswordBytes = 72

// MaxNameBytes bounds an agent's sign-in name and display name.
const MaxNameBytes = 64

// Credential is one configured agent: a sign-in name, a plain password and
// the name visitors see (the sign-in name when empty).
type Credential struct {
	Name        string
	Password    string
	DisplayName string
}

// Accounts are the agents who may sign in. Safe for concurrent use: it is
// never written after New.
type Accounts struct {
	hashes  map[string][]byte
	display map[string]string
	// versions change when a password does (see Version).
	versions map[string]string
	// dummy is checked against when the name is unknown, so a wrong name
	// costs the same bcrypt work as a wrong password and timing does not
	// tell which names exist.
	dummy []byte
}

// New hashes each credential's password with bcrypt at cost (0 means
// bcrypt.DefaultCost; tests pass bcrypt.MinCost). Names must be unique,
// non-empty and at most MaxNameBytes.
func New(creds []Credential, cost int) (*Accounts, error) {
	if cost == 0 {
		cost = bcrypt.DefaultCost
	}
	a := &Accounts{hashes: make(map[string][]byte, len(creds)), display: make(map[string]string, len(creds)),
		versions: make(map[string]string, len(creds))}
	for _, c := range creds {
		switch {
		case strings.TrimSpace(c.Name) == "" || c.Name != strings.TrimSpace(c.Name):
			return nil, fmt.Errorf("agent %q: the name must be non-empty, without leading or trailing spaces", c.Name)
		case len(c.Name) > MaxNameBytes:
			return nil, fmt.Errorf("agent %q: the name is longer than %d bytes", c.Name, MaxNameBytes)
		case c.Password == "":
			return nil, fmt.Errorf("agent %q: empty password", c.Name)
		case len(c.Password) > maxPasswordBytes:
			return nil, fmt.Errorf("agent %q: the password is longer than %d bytes", c.Name, maxPasswordBytes)
		case c.DisplayName != strings.TrimSpace(c.DisplayName) || len(c.DisplayName) > MaxNameBytes:
			return nil, fmt.Errorf("agent %q: the display name must be at most %d bytes, without leading or trailing spaces", c.Name, MaxNameBytes)
		case strings.IndexFunc(c.Name+c.DisplayName, invisible) >= 0:
			return nil, fmt.Errorf("agent %q: control or format characters (such as bidi overrides) in the name or display name", c.Name)
		}
		if _, dup := a.hashes[c.Name]; dup {
			return nil, fmt.Errorf("agent %q: configured twice", c.Name)
		}
		hash, err := bcrypt.GenerateFromPassword([]byte(c.Password), cost)
		if err != nil {
			return nil, fmt.Errorf("agent %q: %w", c.Name, err)
		}
		a.hashes[c.Name] = hash
		a.display[c.Name] = cmp.Or(c.DisplayName, c.Name)
		v, err := version(c, cost)
		if err != nil {
			return nil, fmt.Errorf("agent %q: %w", c.Name, err)
		}
		a.versions[c.Name] = v
	}
	dummy, err := bcrypt.GenerateFromPassword([]byte(NewPassword()), cost)
	if err != nil {
		return nil, err
	}
	a.dummy = dummy
	return a, nil
}

// invisible matches what would hide or reorder a name on screen: control
// characters, and format ones such as bidi overrides and zero-width spaces.
func invisible(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) }

// Authenticate reports whether password is name's. It always runs one
// bcrypt comparison, whether or not the name exists.
func (a *Accounts) Authenticate(name, password string) bool {
	hash, known := a.hashes[name]
	if !known || len(password) > maxPasswordBytes {
		hash = a.dummy
	}
	ok := bcrypt.CompareHashAndPassword(hash, []byte(password)) == nil
	return ok && known && len(password) <= maxPasswordBytes
}

// Exists reports whether name is a configured agent, so that a session of
// an agent removed from the configuration stops working.
func (a *Accounts) Exists(name string) bool {
	_, ok := a.hashes[name]
	return ok
}

// Version names the credentials name signs in with now: a session started
// under one version ends when the agent's password changes, on every
// instance configured alike. It goes only into the console's signed and
// encrypted cookie.
func (a *Accounts) Version(name string) string { return a.versions[name] }

// version derives a credential's version: the same on every instance and
// across restarts for the same name and password, and as slow to guess a
// password from as the password's own hash is (scrypt, salted by the name),
// should a cookie's key ever leak. A cost below bcrypt's default (tests')
// makes it cheap too.
func version(c Credential, cost int) (string, error) {
	n := 1 << 15
	if cost < bcrypt.DefaultCost {
		n = 1 << 10
	}
	key, err := scrypt.Key([]byte(c.Password), []byte("parley agent credential\x00"+c.Name), n, 8, 1, 16)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(key), nil
}

// DisplayName is the name visitors see of the agent signed in as name.
func (a *Accounts) DisplayName(name string) string { return a.display[name] }

// Names returns the agents' sign-in names, sorted.
func (a *Accounts) Names() []string { return slices.Sorted(maps.Keys(a.hashes)) }

// Len is the number of agents.
func (a *Accounts) Len() int { return len(a.hashes) }

// NewPassword returns a random password of 128 bits, URL-safe, for the demo
// agent that is created when none is configured.
func NewPassword() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return base64.RawURLEncoding.EncodeToString(b)
}
