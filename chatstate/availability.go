package chatstate

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// AgentStatus is an agent's availability: what the agent chose, and what
// the team and the widget see.
type AgentStatus string

// The statuses. An agent who chose online or away and has had no console
// open for AvailabilityConfig.OfflineAfter is offline; a console coming
// back brings the choice back.
const (
	AgentOnline  AgentStatus = "online"
	AgentAway    AgentStatus = "away"
	AgentOffline AgentStatus = "offline"
)

// ParseAgentStatus reads a status an agent chose.
func ParseAgentStatus(s string) (AgentStatus, error) {
	switch st := AgentStatus(s); st {
	case AgentOnline, AgentAway, AgentOffline:
		return st, nil
	}
	return "", fmt.Errorf("%w: %q", ErrNoSuchStatus, s)
}

// AgentPresence is what a store keeps of an agent's availability, for
// every instance to read: the status the agent chose (empty: never chose,
// which is online) and when a console of theirs was last open on any
// instance.
type AgentPresence struct {
	Agent         string
	Chosen        AgentStatus
	ConsoleSeenAt time.Time
}

// AgentPresences is the store's part of availability.
type AgentPresences interface {
	// SetAgentChoice records the status agent chose.
	SetAgentChoice(ctx context.Context, agent string, chosen AgentStatus) error
	// MarkConsolesSeen records that the agents had a console open at at;
	// a later time already recorded is kept.
	MarkConsolesSeen(ctx context.Context, agents []string, at time.Time) error
	// AgentPresences returns every agent the store knows of, by name.
	AgentPresences(ctx context.Context) ([]AgentPresence, error)
}

// AvailabilityConfig builds an Availability.
type AvailabilityConfig struct {
	Store AgentPresences
	// OfflineAfter is how long an agent's consoles may all be gone before
	// the agent is offline; 0 means DefaultOfflineAfter.
	OfflineAfter time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// ReadEvery is how long what was read of the team serves; 0 means 2
	// seconds: the widget asks on every page it renders, and a few seconds
	// late is right. A negative one reads the store every time.
	ReadEvery time.Duration
}

// DefaultOfflineAfter is how long an agent's consoles may all be gone, by
// default, before the agent is offline: long enough for a reload, a
// network change or a console's reconnect backoff, short enough that a
// visitor is not told somebody is there when nobody is.
const DefaultOfflineAfter = 2 * time.Minute

// AgentState is an agent as the team sees them.
type AgentState struct {
	Agent string
	// Status is what the team and the widget go by; Chosen is what the
	// agent picked, which their own switch shows.
	Status, Chosen AgentStatus
}

// Availability knows which agents are online, away or offline, across the
// instances sharing its store. Consoles open here count at once; other
// instances' are read from the store, which Run keeps told.
type Availability struct {
	store        AgentPresences
	offlineAfter time.Duration
	readEvery    time.Duration
	now          func() time.Time

	mu sync.Mutex
	// open counts the consoles open here, by agent; seen is when an agent
	// last used the console here otherwise (a page, a form), which Run
	// tells the store of.
	open map[string]int
	seen map[string]time.Time
	// read is the team as last read, at readAt.
	read   []AgentPresence
	readAt time.Time
	// wake asks Run to tell the store now (a console opened).
	wake chan struct{}
}

// NewAvailability returns an Availability over cfg.Store.
func NewAvailability(cfg AvailabilityConfig) *Availability {
	a := &Availability{store: cfg.Store, offlineAfter: cfg.OfflineAfter, readEvery: cfg.ReadEvery, now: cfg.Now,
		open: map[string]int{}, seen: map[string]time.Time{}, wake: make(chan struct{}, 1)}
	if a.offlineAfter <= 0 {
		a.offlineAfter = DefaultOfflineAfter
	}
	if a.now == nil {
		a.now = time.Now
	}
	if a.readEvery == 0 {
		a.readEvery = 2 * time.Second
	}
	return a
}

// ConsoleOpened records that a console of agent's is open here from now
// until the returned function is called, once, when it closes.
func (a *Availability) ConsoleOpened(agent string) (closed func()) {
	a.mu.Lock()
	a.open[agent]++
	first := a.open[agent] == 1
	a.mu.Unlock()
	if first {
		a.poke()
	}
	return sync.OnceFunc(func() {
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.open[agent]--; a.open[agent] <= 0 {
			delete(a.open, agent)
		}
		// The store was told within the last tellEvery: the agent stays
		// online for OfflineAfter from then, on every instance.
	})
}

// Seen records that agent used the console here now (loaded a page of it,
// sent a form): present, as with a console open, for OfflineAfter.
func (a *Availability) Seen(agent string) {
	now := a.now().UTC()
	a.mu.Lock()
	news := now.Sub(a.seen[agent]) > a.tellEvery()
	a.seen[agent] = now
	a.mu.Unlock()
	if news {
		a.poke()
	}
}

// poke asks Run to tell the store now.
func (a *Availability) poke() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// Choose records the status agent chose.
func (a *Availability) Choose(ctx context.Context, agent string, chosen AgentStatus) error {
	if err := a.store.SetAgentChoice(ctx, agent, chosen); err != nil {
		return err
	}
	a.mu.Lock()
	a.readAt = time.Time{} // read again: the agent's own switch must show it
	a.mu.Unlock()
	return nil
}

// Team returns the status of each of agents, in that order.
func (a *Availability) Team(ctx context.Context, agents []string) ([]AgentState, error) {
	presences, err := a.presences(ctx)
	if err != nil {
		return nil, err
	}
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	team := make([]AgentState, 0, len(agents))
	for _, name := range agents {
		team = append(team, a.stateLocked(findPresence(presences, name), now))
	}
	return team, nil
}

// AnyOnline reports whether an agent is online now, on any instance.
func (a *Availability) AnyOnline(ctx context.Context) (bool, error) {
	presences, err := a.presences(ctx)
	if err != nil {
		return false, err
	}
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	for agent := range a.open {
		if a.stateLocked(findPresence(presences, agent), now).Status == AgentOnline {
			return true, nil
		}
	}
	for agent := range a.seen {
		if a.stateLocked(findPresence(presences, agent), now).Status == AgentOnline {
			return true, nil
		}
	}
	for _, p := range presences {
		if a.stateLocked(p, now).Status == AgentOnline {
			return true, nil
		}
	}
	return false, nil
}

// findPresence is agent's entry of presences, sorted by agent; an agent
// the store has never heard of chose nothing and had no console open.
func findPresence(presences []AgentPresence, agent string) AgentPresence {
	if i, ok := slices.BinarySearchFunc(presences, agent, func(p AgentPresence, name string) int { return strings.Compare(p.Agent, name) }); ok {
		return presences[i]
	}
	return AgentPresence{Agent: agent}
}

// stateLocked is p as the team sees it at now; a.mu is held.
func (a *Availability) stateLocked(p AgentPresence, now time.Time) AgentState {
	chosen := p.Chosen
	if chosen == "" {
		chosen = AgentOnline
	}
	st := AgentState{Agent: p.Agent, Chosen: chosen, Status: chosen}
	seen := p.ConsoleSeenAt
	if local := a.seen[p.Agent]; local.After(seen) {
		seen = local
	}
	if a.open[p.Agent] == 0 && now.Sub(seen) > a.offlineAfter {
		st.Status = AgentOffline
	}
	return st
}

// presences reads the team from the store, or from what was read in the
// last readEvery, sorted by agent.
func (a *Availability) presences(ctx context.Context) ([]AgentPresence, error) {
	now := a.now()
	a.mu.Lock()
	if a.readEvery > 0 && !a.readAt.IsZero() && now.Sub(a.readAt) < a.readEvery {
		read := a.read
		a.mu.Unlock()
		return read, nil
	}
	a.mu.Unlock()
	read, err := a.store.AgentPresences(ctx)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(read, func(x, y AgentPresence) int { return strings.Compare(x.Agent, y.Agent) })
	a.mu.Lock()
	a.read, a.readAt = read, now
	a.mu.Unlock()
	return read, nil
}

// tellEvery is how often the store hears of the consoles open here: well
// within OfflineAfter, so that an agent with a console open never looks
// offline on another instance.
func (a *Availability) tellEvery() time.Duration {
	return min(30*time.Second, max(a.offlineAfter/4, 100*time.Millisecond))
}

// Run tells the store, every tellEvery and as soon as a console opens,
// which agents have a console open here, until ctx is done. Errors go to
// report, and the telling goes on.
func (a *Availability) Run(ctx context.Context, report func(error)) {
	ticker := time.NewTicker(a.tellEvery())
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		case <-a.wake:
		}
		if err := a.tell(ctx); err != nil && ctx.Err() == nil {
			report(err)
		}
	}
}

// tell records in the store that the agents with a console open here are
// there now, and when those who used the console otherwise last did (kept
// here too until it no longer matters, so that no read of the store in
// between shows them gone).
func (a *Availability) tell(ctx context.Context) error {
	now := a.now().UTC()
	a.mu.Lock()
	agents := make([]string, 0, len(a.open))
	for agent := range a.open {
		agents = append(agents, agent)
	}
	seen := map[string]time.Time{}
	for agent, at := range a.seen {
		if now.Sub(at) > a.offlineAfter {
			delete(a.seen, agent)
			continue
		}
		seen[agent] = at
	}
	a.mu.Unlock()
	if len(agents) > 0 {
		slices.Sort(agents)
		if err := a.store.MarkConsolesSeen(ctx, agents, now); err != nil {
			return err
		}
	}
	for agent, at := range seen {
		if err := a.store.MarkConsolesSeen(ctx, []string{agent}, at); err != nil {
			return err
		}
	}
	return nil
}
