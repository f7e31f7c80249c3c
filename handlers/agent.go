package handlers

import (
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/parley/parley/agents"
	"github.com/parley/parley/chatstate"
	"github.com/parley/parley/views"
)

// agentContextKey is where requireAgent leaves the signed-in agent's name.
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

// requireAgent lets only a signed-in agent through. A page load is sent to
// the sign-in form; anything else (a form post, a script's request, a
// transport) is refused with 401.
func (h *Handler) requireAgent(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		name, err := h.agentJar.Agent(c.Request())
		if err != nil || !h.accounts.Exists(name) {
			r := c.Request()
			if r.Method == http.MethodGet && !isPartial(c) && !wantsJSON(c) && r.Header.Get("Upgrade") == "" {
				return c.Redirect(http.StatusSeeOther, h.paths.ConsoleURL("/login"))
			}
			return errAgentAuth()
		}
		c.Set(agentContextKey, name)
		return next(c)
	}
}

func agentOf(c echo.Context) string {
	name, _ := c.Get(agentContextKey).(string)
	return name
}

func agentParty(c echo.Context) chatstate.Party {
	return chatstate.Party{Type: chatstate.PartyAgent, Name: agentOf(c)}
}

// loginPage shows the sign-in form, or the console to a signed-in agent.
func (h *Handler) loginPage(c echo.Context) error {
	if name, err := h.agentJar.Agent(c.Request()); err == nil && h.accounts.Exists(name) {
		return c.Redirect(http.StatusSeeOther, h.paths.Console)
	}
	return h.render(c, http.StatusOK, views.AgentLoginPage(views.AgentLogin{CSRF: h.csrfToken(c)}))
}

// login checks a name and password. Attempts are limited per address and
// per name, and a wrong name costs the same bcrypt work as a wrong
// password, so neither guessing nor timing finds accounts.
func (h *Handler) login(c echo.Context) error {
	var f loginForm
	if err := c.Bind(&f); err != nil {
		return errInvalidOptions()
	}
	name := strings.TrimSpace(f.Name)
	view := views.AgentLogin{CSRF: h.csrfToken(c), Name: name}
	nameKey := strings.ToLower(name)
	if len(nameKey) > agents.MaxNameBytes {
		nameKey = nameKey[:agents.MaxNameBytes]
	}
	// Both buckets are spent, so a blocked address still counts against
	// the name it guesses.
	ipOK := h.loginIPLimit.Allow(c.RealIP())
	nameOK := h.loginNameLimit.Allow(nameKey)
	if !ipOK || !nameOK {
		view.Error = "Too many sign-in attempts. Please wait a few minutes and try again."
		return h.render(c, http.StatusTooManyRequests, views.AgentLoginPage(view))
	}
	if !h.accounts.Authenticate(name, f.Password) {
		view.Error = "Wrong name or password."
		return h.render(c, http.StatusUnauthorized, views.AgentLoginPage(view))
	}
	if err := h.agentJar.SignIn(c.Response(), c.Request(), name); err != nil {
		return err
	}
	h.log.InfoContext(c.Request().Context(), "agent signed in", "agent", name)
	return c.Redirect(http.StatusSeeOther, h.paths.Console)
}

// logout ends the agent's session.
func (h *Handler) logout(c echo.Context) error {
	h.agentJar.SignOut(c.Response(), c.Request())
	return c.Redirect(http.StatusSeeOther, h.paths.ConsoleURL("/login"))
}

// console serves the console with no chat on screen.
func (h *Handler) console(c echo.Context) error {
	return h.renderConsole(c, http.StatusOK, "", "", nil)
}

// consoleChat serves the console with one of the agent's chats on screen:
// a live one it holds, or one it held that has ended since.
func (h *Handler) consoleChat(c echo.Context) error {
	id := c.Param("id")
	chat, err := h.agentChats.Chat(c.Request().Context(), id)
	if err != nil {
		return err
	}
	if chat.AgentName != agentOf(c) || chat.Phase == chatstate.PhaseQueued || chat.Phase == chatstate.PhaseRegistration {
		if chat.Phase == chatstate.PhaseQueued {
			return c.Redirect(http.StatusSeeOther, h.paths.Console)
		}
		return errNotYourChat()
	}
	return h.renderConsole(c, http.StatusOK, id, "", nil)
}

// renderConsole renders the whole console with chat shown on screen, alert
// as its one-off message, and edit applied to the shown chat's view (a
// refused reply keeps its draft and says why).
func (h *Handler) renderConsole(c echo.Context, status int, shown, alert string, edit func(*views.AgentChat)) error {
	ctx := c.Request().Context()
	agent, csrf := agentOf(c), h.csrfToken(c)
	queue, err := h.queueView(ctx, csrf)
	if err != nil {
		return err
	}
	held, err := h.heldChats(ctx, agent)
	if err != nil {
		return err
	}
	if shown != "" && !slices.ContainsFunc(held, func(c chatstate.Chat) bool { return c.ID == shown }) {
		// An ended chat of the agent's is shown until the agent moves on.
		chat, err := h.agentChats.Chat(ctx, shown)
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
	for _, chat := range held {
		cv, err := h.chatView(ctx, chat, csrf)
		if err != nil {
			return err
		}
		cv.Shown = chat.ID == shown
		if cv.Shown && edit != nil {
			edit(&cv)
		}
		v.Chats = append(v.Chats, cv)
	}
	return h.render(c, status, views.AgentConsolePage(v))
}

// accept takes a waiting chat. When two agents accept at once, chatstate
// lets exactly one win; the other is told that the chat is taken.
func (h *Handler) accept(c echo.Context) error {
	ctx := c.Request().Context()
	id, agent := c.Param("id"), agentOf(c)
	chat, err := h.agentChats.Accept(ctx, id, agent)
	if errors.Is(err, chatstate.ErrAlreadyAccepted) {
		// A double click, or a second tab of the same agent, is no loss.
		if current, cerr := h.agentChats.Chat(ctx, id); cerr == nil && current.AgentName == agent && current.Phase == chatstate.PhaseConnected {
			chat, err = current, nil
		}
	}
	if err != nil {
		return h.refuseInQueue(c, err)
	}
	h.log.InfoContext(ctx, "chat accepted", "chat", id, "agent", agent)
	if !isPartial(c) {
		return c.Redirect(http.StatusSeeOther, h.paths.ConsoleURL("/chats/"+id))
	}
	queue, err := h.queueView(ctx, h.csrfToken(c))
	if err != nil {
		return err
	}
	cv, err := h.chatView(ctx, chat, h.csrfToken(c))
	if err != nil {
		return err
	}
	cv.Shown = true
	c.Response().Header().Set(showHeader, id)
	return h.render(c, http.StatusOK, templ.Join(views.AgentAlert(""), views.AgentQueueList(queue), views.AgentNavItem(cv), views.AgentPane(cv)))
}

// refuseInQueue answers a refused accept: the reason in the console's alert
// line and the queue as it is now, without the chat that was taken.
func (h *Handler) refuseInQueue(c echo.Context, err error) error {
	apiErr := apiErrorOf(err)
	if apiErr.Code == errServer().Code {
		return err
	}
	line := agentErrorLine(err)
	if !isPartial(c) {
		return h.renderConsole(c, apiErr.Status, "", line, nil)
	}
	queue, qerr := h.queueView(c.Request().Context(), h.csrfToken(c))
	if qerr != nil {
		return qerr
	}
	return h.render(c, apiErr.Status, templ.Join(views.AgentAlert(line), views.AgentQueueList(queue)))
}

// heldChat is the chat a reply, typing, end or release acts on: one the
// agent holds (or held, once it has ended).
func (h *Handler) heldChat(c echo.Context) (chatstate.Chat, error) {
	chat, err := h.agentChats.Chat(c.Request().Context(), c.Param("id"))
	if err != nil {
		return chatstate.Chat{}, err
	}
	if chat.AgentName != agentOf(c) {
		return chatstate.Chat{}, errNotYourChat()
	}
	return chat, nil
}

// agentSend posts the agent's reply. Its client id makes a retried send
// stored once, as the visitor's are.
func (h *Handler) agentSend(c echo.Context) error {
	var f agentMessageForm
	if err := c.Bind(&f); err != nil {
		return errInvalidOptions()
	}
	ctx := c.Request().Context()
	id := c.Param("id")
	var ev chatstate.Event
	var err error
	if !h.messageLimit.Allow("agent:" + agentOf(c)) {
		err = errRateLimited()
	} else {
		ev, err = h.agentChats.SendMessage(ctx, id, agentParty(c), f.ClientID, f.Text)
	}
	if err != nil {
		apiErr := apiErrorOf(err)
		if apiErr.Code == errServer().Code {
			return err
		}
		line := agentErrorLine(err)
		if isPartial(c) {
			return h.render(c, apiErr.Status, views.AgentPaneError(id, line))
		}
		if apiErr.Code == errNotYourChat().Code || apiErr.Code == errNoChat().Code {
			return h.renderConsole(c, apiErr.Status, "", line, nil)
		}
		return h.renderConsole(c, apiErr.Status, id, "", func(v *views.AgentChat) {
			v.Draft, v.ClientID, v.Error = f.Text, f.ClientID, line
		})
	}
	if !isPartial(c) {
		return c.Redirect(http.StatusSeeOther, h.paths.ConsoleURL("/chats/"+id))
	}
	line, _ := agentLine(ev)
	return h.render(c, http.StatusOK, templ.Join(views.AgentPaneError(id, ""), views.AgentLineItem(line)))
}

// agentTyping tells the visitor that the agent is typing.
func (h *Handler) agentTyping(c echo.Context) error {
	id := c.Param("id")
	if h.typingLimit.Allow("agent:" + agentOf(c) + ":" + id) {
		if err := h.agentChats.Typing(c.Request().Context(), id, agentParty(c)); err != nil {
			return err
		}
	}
	return c.NoContent(http.StatusNoContent)
}

// agentEnd ends the chat from the agent's side; the visitor's widget is
// told by the ended event.
func (h *Handler) agentEnd(c echo.Context) error {
	chat, err := h.heldChat(c)
	if err != nil {
		return h.refusePane(c, err)
	}
	ended, err := h.agentChats.End(c.Request().Context(), chat.ID, agentParty(c), chatstate.ReasonAgent)
	if err != nil {
		return h.refusePane(c, err)
	}
	if !isPartial(c) {
		return c.Redirect(http.StatusSeeOther, h.paths.ConsoleURL("/chats/"+chat.ID))
	}
	cv, err := h.chatView(c.Request().Context(), ended, h.csrfToken(c))
	if err != nil {
		return err
	}
	cv.Shown = true
	c.Response().Header().Set(showHeader, chat.ID)
	return h.render(c, http.StatusOK, templ.Join(views.AgentNavItem(cv), views.AgentPane(cv)))
}

// agentRelease puts the chat back in the queue for another agent.
func (h *Handler) agentRelease(c echo.Context) error {
	chat, err := h.heldChat(c)
	if err == nil {
		err = h.agentChats.Release(c.Request().Context(), chat.ID, agentOf(c))
	}
	if err != nil {
		return h.refusePane(c, err)
	}
	if !isPartial(c) {
		return c.Redirect(http.StatusSeeOther, h.paths.Console)
	}
	queue, err := h.queueView(c.Request().Context(), h.csrfToken(c))
	if err != nil {
		return err
	}
	c.Response().Header().Set(showHeader, "")
	return h.render(c, http.StatusOK, templ.Join(views.AgentNavRemove(chat.ID), views.AgentPaneRemove(chat.ID), views.AgentQueueList(queue)))
}

// refusePane answers a refused end or release in the chat's error line.
func (h *Handler) refusePane(c echo.Context, err error) error {
	apiErr := apiErrorOf(err)
	if apiErr.Code == errServer().Code {
		return err
	}
	line := agentErrorLine(err)
	if isPartial(c) {
		return h.render(c, apiErr.Status, views.AgentPaneError(c.Param("id"), line))
	}
	return h.renderConsole(c, apiErr.Status, "", line, nil)
}

// history searches the ended chats, with one transcript open.
func (h *Handler) history(c echo.Context) error {
	ctx := c.Request().Context()
	query := strings.TrimSpace(c.QueryParam("q"))
	if len(query) > 200 {
		query = query[:200]
	}
	chats, err := h.agentChats.ListChats(ctx, chatstate.ChatFilter{Phases: []chatstate.Phase{chatstate.PhaseEnded}, Query: query, Limit: historyLimit})
	if err != nil {
		return err
	}
	openID := c.Param("id")
	v := views.AgentHistory{Shell: views.AgentShell{Agent: agentOf(c), CSRF: h.csrfToken(c), Section: "history"}, Query: query}
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
		chat, err := h.agentChats.Chat(ctx, openID)
		if err != nil {
			return err
		}
		if chat.Phase != chatstate.PhaseEnded {
			return errNoChat()
		}
		cv, err := h.chatView(ctx, chat, h.csrfToken(c))
		if err != nil {
			return err
		}
		cv.Shown, cv.ReadOnly = true, true
		v.Open = &cv
	}
	return h.render(c, http.StatusOK, views.AgentHistoryPage(v))
}
