package console

import (
	"context"
	"net/http"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/parley/parley/chatstate"
	"github.com/parley/parley/handlers/web"
	"github.com/parley/parley/views"
)

// teamChatsLimit bounds the live chats read to count each agent's.
const teamChatsLimit = 1000

// teamView is every agent's availability and chats, as agent sees them.
func (a *Console) teamView(ctx context.Context, agent, csrf string) (views.AgentTeam, error) {
	names := a.accounts.Names()
	team, err := a.chats.Availability().Team(ctx, names)
	if err != nil {
		return views.AgentTeam{}, err
	}
	live, err := a.chats.ListChats(ctx, chatstate.ChatFilter{Phases: []chatstate.Phase{chatstate.PhaseConnected}, Limit: teamChatsLimit})
	if err != nil {
		return views.AgentTeam{}, err
	}
	held := map[string]int{}
	for _, c := range live {
		held[c.AgentName]++
	}
	v := views.AgentTeam{CSRF: csrf, Chosen: string(chatstate.AgentOnline)}
	for _, st := range team {
		m := views.TeamMember{Name: a.accounts.DisplayName(st.Agent), Status: string(st.Status), Chats: held[st.Agent], Me: st.Agent == agent}
		if m.Me {
			v.Chosen = string(st.Chosen)
			v.Members = append([]views.TeamMember{m}, v.Members...)
			continue
		}
		v.Members = append(v.Members, m)
	}
	return v, nil
}

// Team answers the console's refresh of what changes without a chat's
// event: the team's list, and the messages waiting for an answer.
func (a *Console) Team(c echo.Context) error {
	ctx := c.Request().Context()
	v, err := a.teamView(ctx, agentOf(c), a.CSRFToken(c))
	if err != nil {
		return err
	}
	messages, err := a.messageRows(ctx)
	if err != nil {
		return err
	}
	return a.Render(c, http.StatusOK, templ.Join(views.AgentTeamList(v), views.AgentMessageList(messages)))
}

// SetStatus records the status the agent chose: the team's list for the
// enhanced form, the console again for a plain one.
func (a *Console) SetStatus(c echo.Context) error {
	status, err := chatstate.ParseAgentStatus(c.FormValue("status"))
	if err != nil {
		return web.ErrInvalidOptions()
	}
	ctx := c.Request().Context()
	if err := a.chats.Availability().Choose(ctx, agentOf(c), status); err != nil {
		return err
	}
	if !web.IsPartial(c) {
		return c.Redirect(http.StatusSeeOther, a.Paths.Console)
	}
	return a.Team(c)
}
