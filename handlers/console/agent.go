package console

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/parley/parley/agents"
	"github.com/parley/parley/chatstate"
	"github.com/parley/parley/handlers/web"
	"github.com/parley/parley/views"
)

// agentContextKey is where requireAgent leaves the signed-in agent.
const agentContextKey = "parley.agent"

// showHeader tells the console's script which chat to put on screen after
// an enhanced form; empty means the queue.
const showHeader = "X-Parley-Show"

// loginForm is the sign-in form's post.
type loginForm struct {
	Name     string `form:"name"`
	Password string `form:"password"`
}

// agentMessageForm is the reply box's post.
type agentMessageForm struct {
	ClientID string `form:"client_id"`
	Text     string `form:"text"`
}

// RequireAgent lets only a signed-in agent through. A page load is sent to
// the sign-in form; anything else (a form post, a script's request, a
// transport) is refused with 401.
func (a *Console) RequireAgent(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		name, ok, err := a.signedIn(c.Request())
		if err != nil {
			return err
		}
		if !ok {
			r := c.Request()
			if r.Method == http.MethodGet && !web.IsPartial(c) && !web.WantsJSON(c) && r.Header.Get("Upgrade") == "" {
				return c.Redirect(http.StatusSeeOther, a.Paths.ConsoleURL("/login"))
			}
			return web.ErrAgentAuth()
		}
		c.Set(agentContextKey, chatstate.AgentParty(name, a.accounts.DisplayName(name)))
		a.chats.Availability().Seen(name)
		return next(c)
	}
}

// signedIn returns the agent signed in on r: a session in the store, of an
// agent still configured, with the password it was started with (a new
// password ends every session of the old one). err is the store's.
func (a *Console) signedIn(r *http.Request) (name string, ok bool, err error) {
	name, version, err := a.jar.Agent(r)
	if errors.Is(err, errNoAgentSession) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	current := a.accounts.Version(name)
	if !a.accounts.Exists(name) || subtle.ConstantTimeCompare([]byte(version), []byte(current)) != 1 {
		return "", false, nil
	}
	return name, true, nil
}

// agentOf is the signed-in agent's sign-in name, which decides whose
// chat is whose.
func agentOf(c echo.Context) string { return agentParty(c).ID }

// agentParty is the signed-in agent as the author of what they send: shown
// to visitors by display name.
func agentParty(c echo.Context) chatstate.Party {
	party, _ := c.Get(agentContextKey).(chatstate.Party)
	return party
}

// LoginPage shows the sign-in form, or the console to a signed-in agent.
func (a *Console) LoginPage(c echo.Context) error {
	if _, ok, err := a.signedIn(c.Request()); err == nil && ok {
		return c.Redirect(http.StatusSeeOther, a.Paths.Console)
	}
	return a.Render(c, http.StatusOK, views.AgentLoginPage(views.AgentLogin{CSRF: a.CSRFToken(c)}))
}

// Login checks a name and password. Attempts are limited per address and
// per name, and a wrong name costs the same bcrypt work as a wrong
// password, so neither guessing nor timing finds accounts.
func (a *Console) Login(c echo.Context) error {
	var f loginForm
	if err := c.Bind(&f); err != nil {
		return web.ErrInvalidOptions()
	}
	name := strings.TrimSpace(f.Name)
	view := views.AgentLogin{CSRF: a.CSRFToken(c), Name: name}
	nameKey := strings.ToLower(name)
	if len(nameKey) > agents.MaxNameBytes {
		nameKey = nameKey[:agents.MaxNameBytes]
	}
	// Every attempt spends the address's bucket, and a wrong guess the
	// name's. A name whose bucket is empty is under attack: from then on
	// only the browsers it signed in from before may try it, however many
	// addresses the guessers spread over, until the bucket refills. The
	// agent, at a browser of theirs, is not locked out.
	ip := a.ClientKey(c.Request())
	underAttack := !a.loginNameLimit.Ready(nameKey)
	known := a.jar.KnownDevice(c.Request(), nameKey)
	if !a.loginIPLimit.Allow(ip) || underAttack && !known {
		view.Error = "Too many sign-in attempts. Please wait a few minutes and try again."
		return a.Render(c, http.StatusTooManyRequests, views.AgentLoginPage(view))
	}
	if !a.accounts.Authenticate(name, f.Password) {
		a.loginNameLimit.Allow(nameKey)
		view.Error = "Wrong name or password."
		return a.Render(c, http.StatusUnauthorized, views.AgentLoginPage(view))
	}
	if err := a.jar.SignIn(c.Response(), c.Request(), name, a.accounts.Version(name)); err != nil {
		return err
	}
	if err := a.jar.RememberDevice(c.Response(), c.Request(), nameKey); err != nil {
		return err
	}
	a.Log.InfoContext(c.Request().Context(), "agent signed in", "agent", name)
	a.chats.Availability().Seen(name)
	return c.Redirect(http.StatusSeeOther, a.Paths.Console)
}

// Logout ends the agent's session.
func (a *Console) Logout(c echo.Context) error {
	if err := a.jar.SignOut(c.Response(), c.Request()); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, a.Paths.ConsoleURL("/login"))
}

// Home serves the console with no chat on screen.
func (a *Console) Home(c echo.Context) error {
	return a.renderConsole(c, http.StatusOK, "", "", nil)
}

// ShowChat serves the console with one of the agent's chats on screen:
// a live one it holds, or one it held that has ended since.
func (a *Console) ShowChat(c echo.Context) error {
	id := c.Param("id")
	chat, err := a.chats.Chat(c.Request().Context(), id)
	if err != nil {
		return err
	}
	if chat.AgentName != agentOf(c) || chat.Phase == chatstate.PhaseQueued || chat.Phase == chatstate.PhaseRegistration {
		if chat.Phase == chatstate.PhaseQueued {
			return c.Redirect(http.StatusSeeOther, a.Paths.Console)
		}
		return web.ErrNotYourChat()
	}
	return a.renderConsole(c, http.StatusOK, id, "", nil)
}

// renderConsole renders the whole console with chat shown on screen, alert
// as its one-off message, and edit applied to the shown chat's view (a
// refused reply keeps its draft and says why).
func (a *Console) renderConsole(c echo.Context, status int, shown, alert string, edit func(*views.AgentChat)) error {
	ctx := c.Request().Context()
	agent, csrf := agentOf(c), a.CSRFToken(c)
	queue, err := a.queueView(ctx, csrf)
	if err != nil {
		return err
	}
	held, err := a.heldChats(ctx, agent)
	if err != nil {
		return err
	}
	if shown != "" && !slices.ContainsFunc(held, func(c chatstate.Chat) bool { return c.ID == shown }) {
		// An ended chat of the agent's is shown until the agent moves on.
		chat, err := a.chats.Chat(ctx, shown)
		if err != nil {
			return err
		}
		if chat.AgentName == agent && chat.Phase == chatstate.PhaseEnded {
			held = append(held, chat)
		} else {
			shown = ""
		}
	}
	v := views.AgentConsole{
		Shell:   views.AgentShell{Agent: agent, CSRF: csrf, Section: "console"},
		Queue:   queue,
		ShownID: shown,
		Alert:   alert,
		Unread:  len(queue.Rows),
	}
	if v.Team, err = a.teamView(ctx, agent, csrf); err != nil {
		return err
	}
	if v.Messages, err = a.messageRows(ctx); err != nil {
		return err
	}
	for _, chat := range held {
		cv, err := a.chatView(ctx, chat, csrf)
		if err != nil {
			return err
		}
		cv.Shown = chat.ID == shown
		if cv.Shown && edit != nil {
			edit(&cv)
		}
		v.Chats = append(v.Chats, cv)
	}
	return a.Render(c, status, views.AgentConsolePage(v))
}

// Accept takes a waiting chat. When two agents accept at once, chatstate
// lets exactly one win; the other is told that the chat is taken.
func (a *Console) Accept(c echo.Context) error {
	ctx := c.Request().Context()
	id, agent := c.Param("id"), agentOf(c)
	chat, err := a.chats.Accept(ctx, id, agentParty(c))
	if errors.Is(err, chatstate.ErrAlreadyAccepted) {
		// A double click, or a second tab of the same agent, is no loss.
		if current, cerr := a.chats.Chat(ctx, id); cerr == nil && current.AgentName == agent && current.Phase == chatstate.PhaseConnected {
			chat, err = current, nil
		}
	}
	if err != nil {
		return a.refuseInQueue(c, err)
	}
	a.Log.InfoContext(ctx, "chat accepted", "chat", id, "agent", agent)
	if !web.IsPartial(c) {
		return c.Redirect(http.StatusSeeOther, a.Paths.ConsoleURL("/chats/"+id))
	}
	queue, err := a.queueView(ctx, a.CSRFToken(c))
	if err != nil {
		return err
	}
	cv, err := a.chatView(ctx, chat, a.CSRFToken(c))
	if err != nil {
		return err
	}
	cv.Shown = true
	c.Response().Header().Set(showHeader, id)
	return a.Render(c, http.StatusOK, templ.Join(views.AgentAlert(""), views.AgentQueueList(queue), views.AgentNavItem(cv), views.AgentPane(cv)))
}

// refuseInQueue answers a refused accept: the reason in the console's alert
// line and the queue as it is now, without the chat that was taken.
func (a *Console) refuseInQueue(c echo.Context, err error) error {
	apiErr := web.APIErrorOf(err)
	if apiErr.Internal() {
		return err
	}
	line := agentErrorLine(err)
	if !web.IsPartial(c) {
		return a.renderConsole(c, apiErr.Status, "", line, nil)
	}
	queue, qerr := a.queueView(c.Request().Context(), a.CSRFToken(c))
	if qerr != nil {
		return qerr
	}
	return a.Render(c, apiErr.Status, templ.Join(views.AgentAlert(line), views.AgentQueueList(queue)))
}

// heldChat is the chat a reply, typing, end or release acts on: one the
// agent holds (or held, once it has ended).
func (a *Console) heldChat(c echo.Context) (chatstate.Chat, error) {
	chat, err := a.chats.Chat(c.Request().Context(), c.Param("id"))
	if err != nil {
		return chatstate.Chat{}, err
	}
	if chat.AgentName != agentOf(c) {
		return chatstate.Chat{}, web.ErrNotYourChat()
	}
	return chat, nil
}

// Send posts the agent's reply. Its client id makes a retried send
// stored once, as the visitor's are.
func (a *Console) Send(c echo.Context) error {
	var f agentMessageForm
	if err := c.Bind(&f); err != nil {
		return web.ErrInvalidOptions()
	}
	ctx := c.Request().Context()
	id := c.Param("id")
	var ev chatstate.Event
	var err error
	if !a.messageLimit.Allow("agent:" + agentOf(c)) {
		err = web.ErrRateLimited()
	} else {
		ev, err = a.chats.SendMessage(ctx, id, agentParty(c), f.ClientID, f.Text)
	}
	if err != nil {
		apiErr := web.APIErrorOf(err)
		if apiErr.Internal() {
			return err
		}
		line := agentErrorLine(err)
		if web.IsPartial(c) {
			return a.Render(c, apiErr.Status, views.AgentPaneError(id, line))
		}
		if apiErr.Code == web.ErrNotYourChat().Code || apiErr.Code == web.ErrNoChat().Code {
			return a.renderConsole(c, apiErr.Status, "", line, nil)
		}
		return a.renderConsole(c, apiErr.Status, id, "", func(v *views.AgentChat) {
			v.Draft, v.ClientID, v.Error = f.Text, f.ClientID, line
		})
	}
	if !web.IsPartial(c) {
		return c.Redirect(http.StatusSeeOther, a.Paths.ConsoleURL("/chats/"+id))
	}
	line, _ := agentLine(ev)
	return a.Render(c, http.StatusOK, templ.Join(views.AgentPaneError(id, ""), views.AgentLineItem(line)))
}

// Typing tells the visitor that the agent is typing.
func (a *Console) Typing(c echo.Context) error {
	id := c.Param("id")
	if a.typingLimit.Allow("agent:" + agentOf(c) + ":" + id) {
		if err := a.chats.Typing(c.Request().Context(), id, agentParty(c)); err != nil {
			return err
		}
	}
	return c.NoContent(http.StatusNoContent)
}

// End ends the chat from the agent's side; the visitor's widget is
// told by the ended event.
func (a *Console) End(c echo.Context) error {
	chat, err := a.heldChat(c)
	if err != nil {
		return a.refusePane(c, err)
	}
	ended, err := a.chats.End(c.Request().Context(), chat.ID, agentParty(c), chatstate.ReasonAgent)
	if err != nil {
		return a.refusePane(c, err)
	}
	if !web.IsPartial(c) {
		return c.Redirect(http.StatusSeeOther, a.Paths.ConsoleURL("/chats/"+chat.ID))
	}
	cv, err := a.chatView(c.Request().Context(), ended, a.CSRFToken(c))
	if err != nil {
		return err
	}
	cv.Shown = true
	c.Response().Header().Set(showHeader, chat.ID)
	return a.Render(c, http.StatusOK, templ.Join(views.AgentNavItem(cv), views.AgentPane(cv)))
}

// Release puts the chat back in the queue for another agent.
func (a *Console) Release(c echo.Context) error {
	chat, err := a.heldChat(c)
	if err == nil {
		err = a.chats.Release(c.Request().Context(), chat.ID, agentParty(c))
	}
	if err != nil {
		return a.refusePane(c, err)
	}
	if !web.IsPartial(c) {
		return c.Redirect(http.StatusSeeOther, a.Paths.Console)
	}
	queue, err := a.queueView(c.Request().Context(), a.CSRFToken(c))
	if err != nil {
		return err
	}
	c.Response().Header().Set(showHeader, "")
	return a.Render(c, http.StatusOK, templ.Join(views.AgentNavRemove(chat.ID), views.AgentPaneRemove(chat.ID), views.AgentQueueList(queue)))
}

// refusePane answers a refused end or release in the chat's error line.
func (a *Console) refusePane(c echo.Context, err error) error {
	apiErr := web.APIErrorOf(err)
	if apiErr.Internal() {
		return err
	}
	line := agentErrorLine(err)
	if web.IsPartial(c) {
		return a.Render(c, apiErr.Status, views.AgentPaneError(c.Param("id"), line))
	}
	return a.renderConsole(c, apiErr.Status, "", line, nil)
}

// Earlier answers "Show earlier messages" in a chat's pane: the page of
// lines before a seq, for agent.js to put in place, or on a page of its own
// for a browser without JavaScript. An agent reads the chats it holds and,
// as the history does, every ended one.
func (a *Console) Earlier(c echo.Context) error {
	ctx := c.Request().Context()
	chat, err := a.chats.Chat(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	ended := chat.Phase == chatstate.PhaseEnded
	if !ended && (chat.Phase != chatstate.PhaseConnected || chat.AgentName != agentOf(c)) {
		return web.ErrNotYourChat()
	}
	before, err := strconv.ParseInt(c.QueryParam("before"), 10, 64)
	if err != nil || before < 1 {
		return web.ErrInvalidOptions()
	}
	events, earlier, err := a.chats.RecentEvents(ctx, chat.ID, min(before-1, chat.LastSeq), agentLineKinds(), consolePageLines)
	if err != nil {
		return err
	}
	v := views.AgentEarlier{ChatID: chat.ID, Visitor: visitorName(chat), Lines: agentLines(events)}
	if earlier && len(v.Lines) > 0 {
		v.EarlierBefore = v.Lines[0].Seq
	}
	if web.IsPartial(c) {
		return a.Render(c, http.StatusOK, views.AgentEarlierLines(v))
	}
	v.Shell = views.AgentShell{Agent: agentOf(c), CSRF: a.CSRFToken(c)}
	v.Back = a.Paths.ConsoleURL("/chats/" + chat.ID)
	if ended {
		v.Back = a.Paths.ConsoleURL("/history/" + chat.ID)
	}
	return a.Render(c, http.StatusOK, views.AgentTranscriptPage(v))
}

// History searches the ended chats, with one transcript open.
func (a *Console) History(c echo.Context) error {
	ctx := c.Request().Context()
	query := strings.TrimSpace(c.QueryParam("q"))
	if len(query) > 200 {
		query = query[:200]
	}
	chats, err := a.chats.ListChats(ctx, chatstate.ChatFilter{Phases: []chatstate.Phase{chatstate.PhaseEnded}, Query: query, Limit: historyLimit})
	if err != nil {
		return err
	}
	openID := c.Param("id")
	v := views.AgentHistory{Shell: views.AgentShell{Agent: agentOf(c), CSRF: a.CSRFToken(c), Section: "history"}, Query: query}
	for _, chat := range chats {
		if chat.Visitor.Email == "" {
			continue // ended before registering: nothing was said
		}
		v.Results = append(v.Results, views.HistoryRow{
			ID: chat.ID, Visitor: visitorName(chat), Email: chat.Visitor.Email, Subject: chat.Visitor.Subject,
			Agent: chat.AgentName, Reason: endReasonText(chat.EndReason), Ended: chat.UpdatedAt, Current: chat.ID == openID,
		})
	}
	if openID != "" {
		chat, err := a.chats.Chat(ctx, openID)
		if err != nil {
			return err
		}
		if chat.Phase != chatstate.PhaseEnded {
			return web.ErrNoChat()
		}
		cv, err := a.chatView(ctx, chat, a.CSRFToken(c))
		if err != nil {
			return err
		}
		cv.Shown, cv.ReadOnly = true, true
		v.Open = &cv
	}
	return a.Render(c, http.StatusOK, views.AgentHistoryPage(v))
}
