package console

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gorilla/sessions"

	"github.com/parley/parley/chatstate"
	"github.com/parley/parley/handlers/web"
)

const (
	// knownDeviceMaxAge is how long a browser that signed in stays known.
	knownDeviceMaxAge = 90 * 24 * 60 * 60
	// knownDeviceNames bounds the names one browser remembers.
	knownDeviceNames = 8
	agentNamesKey    = "names"
	agentTokenKey    = "token"
	// agentVersionKey holds the version of the credentials the agent signed
	// in with (agents.Accounts.Version): a new password ends the session.
	agentVersionKey = "version"
	// agentSessionMaxAge is one working day: an agent signs in each morning.
	agentSessionMaxAge = 12 * 60 * 60
)

var errNoAgentSession = errors.New("no agent session")

// agentJar carries the agent's session token in its own gorilla/sessions
// cookie: signed and encrypted with keys derived from the same secrets as
// the visitor's restore cookie but for another purpose, so that neither
// cookie can be passed off as the other; HttpOnly and SameSite=Strict, since
// only the console's own pages ever need it (over TLS it is a __Host-
// cookie, which browsers take only for the whole host). The session itself is in the
// store, so that a sign-out voids the cookie wherever it was copied.
type agentJar struct {
	store *sessions.CookieStore
	name  string
	// devices remembers, in a cookie of its own that outlives sign-out, the
	// names that signed in from this browser: while a name is under attack
	// only its known browsers may try it (see Console.Login).
	devices *sessions.CookieStore
	viaTLS  func(*http.Request) bool
	// sessions keeps who is signed in where: in the store, so that a
	// sign-out holds on every instance and across restarts.
	sessions *chatstate.Service
}

func newAgentJar(secrets [][]byte, name string, viaTLS func(*http.Request) bool, s *chatstate.Service) *agentJar {
	store := web.NewCookieStore(secrets, "parley agent session", agentSessionMaxAge, "/agent", http.SameSiteStrictMode)
	devices := web.NewCookieStore(secrets, "parley agent device", knownDeviceMaxAge, "/agent", http.SameSiteStrictMode)
	return &agentJar{store: store, devices: devices, name: name, viaTLS: viaTLS, sessions: s}
}

// deviceCookie is the name of the cookie that remembers the names signed
// in from a browser.
func (j *agentJar) deviceCookie() string { return j.name + "_device" }

// knownNames are the names (lower case) that signed in from r's browser.
func (j *agentJar) knownNames(r *http.Request) []string {
	values, _, err := web.ReadCookie(j.devices, r, j.deviceCookie(), j.viaTLS(r))
	if err != nil {
		return nil
	}
	names, _ := values[agentNamesKey].(string)
	if names == "" {
		return nil
	}
	// Names hold no control characters (agents.New refuses them).
	return strings.Split(names, "\n")
}

// KnownDevice reports whether nameKey signed in from r's browser before.
func (j *agentJar) KnownDevice(r *http.Request, nameKey string) bool {
	return slices.Contains(j.knownNames(r), nameKey)
}

// RememberDevice records that nameKey signed in from r's browser.
func (j *agentJar) RememberDevice(w http.ResponseWriter, r *http.Request, nameKey string) error {
	names := slices.DeleteFunc(j.knownNames(r), func(n string) bool { return n == nameKey })
	names = append([]string{nameKey}, names...)
	names = names[:min(len(names), knownDeviceNames)]
	return web.SaveCookie(j.devices, w, r, j.deviceCookie(), map[any]any{agentNamesKey: strings.Join(names, "\n")}, j.viaTLS(r))
}

// setPath keeps the cookie on the console's own requests, off every
// visitor-facing one; Mount calls it with the console's path.
func (j *agentJar) setPath(path string) {
	j.store.Options.Path = path
	j.devices.Options.Path = path
}

// cookie is the session token of r's cookie and the version of the
// credentials it was signed in with, or "".
func (j *agentJar) cookie(r *http.Request) (token, version string) {
	values, _, err := web.ReadCookie(j.store, r, j.name, j.viaTLS(r))
	if err != nil {
		return "", ""
	}
	token, _ = values[agentTokenKey].(string)
	version, _ = values[agentVersionKey].(string)
	return token, version
}

// Agent returns the name of the agent signed in on r and the version of
// the credentials the session was started with, or errNoAgentSession.
// Another error is the store's, and not the agent's fault.
func (j *agentJar) Agent(r *http.Request) (name, version string, err error) {
	token, version := j.cookie(r)
	name, err = j.sessions.AgentOfSession(r.Context(), token)
	if errors.Is(err, chatstate.ErrNoAgentSession) {
		return "", "", errNoAgentSession
	}
	return name, version, err
}

// SignIn starts a session for name, signed in with the credentials of
// version, and writes its cookie with the newest key.
func (j *agentJar) SignIn(w http.ResponseWriter, r *http.Request, name, version string) error {
	token, err := j.sessions.StartAgentSession(r.Context(), name, agentSessionMaxAge*time.Second)
	if err != nil {
		return err
	}
	return web.SaveCookie(j.store, w, r, j.name, map[any]any{agentTokenKey: token, agentVersionKey: version}, j.viaTLS(r))
}

// SignOut ends the session and deletes the cookie.
func (j *agentJar) SignOut(w http.ResponseWriter, r *http.Request) error {
	token, _ := j.cookie(r)
	if err := j.sessions.EndAgentSession(r.Context(), token); err != nil {
		return err
	}
	web.ExpireCookie(j.store, w, j.name, j.viaTLS(r))
	return nil
}
