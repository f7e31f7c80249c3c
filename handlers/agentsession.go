package handlers

import (
	"errors"
	"net/http"
	"time"

	"github.com/gorilla/sessions"
)

const (
	agentCookieName = "parley_agent"
	agentNameKey    = "agent"
	agentSinceKey   = "since"
	// agentSessionMaxAge is one working day: an agent signs in each morning.
	agentSessionMaxAge = 12 * 60 * 60
	// agentCookiePath keeps the cookie off every visitor-facing request.
	agentCookiePath = "/agent"
)

var errNoAgentSession = errors.New("no agent session")

// agentJar keeps the signed-in agent's name in its own gorilla/sessions
// cookie: signed and encrypted with keys derived from the same secrets as
// the visitor's restore cookie but for another purpose, so that neither
// cookie can be passed off as the other; HttpOnly and SameSite=Strict, since
// only the console's own pages ever need it.
type agentJar struct {
	store *sessions.CookieStore
	now   func() time.Time
}

func newAgentJar(secrets [][]byte) *agentJar {
	store := newCookieStore(secrets, "parley agent session", agentSessionMaxAge, agentCookiePath, http.SameSiteStrictMode)
	return &agentJar{store: store, now: time.Now}
}

// Agent returns the name of the agent signed in on r, or errNoAgentSession.
// The cookie's own signed timestamp bounds its age as well as the browser's
// expiry does.
func (j *agentJar) Agent(r *http.Request) (string, error) {
	if _, err := r.Cookie(agentCookieName); err != nil {
		return "", errNoAgentSession
	}
	session, err := j.store.New(r, agentCookieName)
	if err != nil {
		return "", errNoAgentSession
	}
	name, _ := session.Values[agentNameKey].(string)
	since, _ := session.Values[agentSinceKey].(int64)
	if name == "" || j.now().Sub(time.Unix(since, 0)) > agentSessionMaxAge*time.Second {
		return "", errNoAgentSession
	}
	return name, nil
}

// SignIn writes a fresh session for name with the newest key.
func (j *agentJar) SignIn(w http.ResponseWriter, r *http.Request, name string) error {
	return saveCookie(j.store, w, r, agentCookieName, map[any]any{agentNameKey: name, agentSinceKey: j.now().Unix()})
}

// SignOut deletes the cookie.
func (j *agentJar) SignOut(w http.ResponseWriter, r *http.Request) {
	expireCookie(j.store, w, r, agentCookieName)
}
