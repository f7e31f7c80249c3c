package handlers

import (
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/sessions"
)

const (
	agentNameKey = "agent"
	// agentSinceKey holds when the session began, in Unix nanoseconds.
	agentSinceKey = "since_ns"
	// agentSessionMaxAge is one working day: an agent signs in each morning.
	agentSessionMaxAge = 12 * 60 * 60
)

var errNoAgentSession = errors.New("no agent session")

// agentJar keeps the signed-in agent's name in its own gorilla/sessions
// cookie: signed and encrypted with keys derived from the same secrets as
// the visitor's restore cookie but for another purpose, so that neither
// cookie can be passed off as the other; HttpOnly and SameSite=Strict, since
// only the console's own pages ever need it.
type agentJar struct {
	store  *sessions.CookieStore
	name   string
	viaTLS func(*http.Request) bool
	now    func() time.Time

	// signedOut holds when each agent last signed out: sessions begun
	// before are void, so a copied cookie dies with the sign-out. It lives
	// in this process (a restart forgets it; the cookie's 12 hours still
	// bound it).
	mu        sync.Mutex
	signedOut map[string]int64
}

func newAgentJar(secrets [][]byte, name string, viaTLS func(*http.Request) bool) *agentJar {
	store := newCookieStore(secrets, "parley agent session", agentSessionMaxAge, "/agent", http.SameSiteStrictMode)
	return &agentJar{store: store, name: name, viaTLS: viaTLS, now: time.Now, signedOut: map[string]int64{}}
}

// setPath keeps the cookie on the console's own requests, off every
// visitor-facing one; Mount calls it with the console's path.
func (j *agentJar) setPath(path string) { j.store.Options.Path = path }

// Agent returns the name of the agent signed in on r, or errNoAgentSession.
// The cookie's own signed timestamp bounds its age as well as the browser's
// expiry does.
func (j *agentJar) Agent(r *http.Request) (string, error) {
	if _, err := r.Cookie(j.name); err != nil {
		return "", errNoAgentSession
	}
	session, err := j.store.New(r, j.name)
	if err != nil {
		return "", errNoAgentSession
	}
	name, _ := session.Values[agentNameKey].(string)
	since, _ := session.Values[agentSinceKey].(int64)
	if name == "" || j.now().Sub(time.Unix(0, since)) > agentSessionMaxAge*time.Second {
		return "", errNoAgentSession
	}
	j.mu.Lock()
	out := j.signedOut[name]
	j.mu.Unlock()
	if since <= out {
		return "", errNoAgentSession
	}
	return name, nil
}

// SignIn writes a fresh session for name with the newest key.
func (j *agentJar) SignIn(w http.ResponseWriter, r *http.Request, name string) error {
	return saveCookie(j.store, w, r, j.name, map[any]any{agentNameKey: name, agentSinceKey: j.now().UnixNano()}, j.viaTLS(r))
}

// SignOut deletes the cookie.
func (j *agentJar) SignOut(w http.ResponseWriter, r *http.Request) {
	if name, err := j.Agent(r); err == nil {
		j.mu.Lock()
		j.signedOut[name] = j.now().UnixNano()
		j.mu.Unlock()
	}
	expireCookie(j.store, w, j.name, j.viaTLS(r))
}
