package console

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/parley/parley/chatstate"
	"github.com/parley/parley/handlers/web"
	"github.com/parley/parley/views"
)

// messagesLimit bounds the waiting messages the console lists.
const messagesLimit = 200

// excerptRunes is how much of a message its row shows.
const excerptRunes = 100

// messageRows are the messages left while chat was closed that wait for an
// answer, oldest first.
func (a *Console) messageRows(ctx context.Context) ([]views.MessageRow, error) {
	chats, err := a.chats.ListChats(ctx, chatstate.ChatFilter{Phases: []chatstate.Phase{chatstate.PhaseWaitingReply}, OldestFirst: true, Limit: messagesLimit})
	if err != nil {
		return nil, err
	}
	now := a.now()
	rows := make([]views.MessageRow, 0, len(chats))
	for _, c := range chats {
		row := views.MessageRow{ChatID: c.ID, Name: visitorName(c), Email: c.Visitor.Email, Since: c.UpdatedAt, Now: now}
		last, _, err := a.chats.RecentEvents(ctx, c.ID, c.LastSeq, []chatstate.EventKind{chatstate.EventLeftMessage}, 1)
		if err != nil {
			return nil, err
		}
		if len(last) == 1 {
			row.Excerpt = excerpt(last[0].Text)
		}
		rows = append(rows, row)
	}
	return rows, nil
}

func excerpt(text string) string {
	text = strings.Join(strings.Fields(text), " ")
	if utf8.RuneCountInString(text) <= excerptRunes {
		return text
	}
	return string([]rune(text)[:excerptRunes-1]) + "…"
}

// leftMessage is the chat of a message left while chat was closed, which
// any agent may read and answer.
func (a *Console) leftMessage(c echo.Context) (chatstate.Chat, error) {
	chat, err := a.chats.Chat(c.Request().Context(), c.Param("id"))
	if err != nil {
		return chatstate.Chat{}, err
	}
	if chat.Phase != chatstate.PhaseWaitingReply && chat.Phase != chatstate.PhaseReplied {
		return chatstate.Chat{}, web.ErrNoChat()
	}
	return chat, nil
}

// MessagePage shows a left message, its exchange, and the reply form.
func (a *Console) MessagePage(c echo.Context) error {
	chat, err := a.leftMessage(c)
	if err != nil {
		return err
	}
	return a.renderMessage(c, http.StatusOK, chat, func(*views.AgentMessage) {})
}

func (a *Console) renderMessage(c echo.Context, status int, chat chatstate.Chat, edit func(*views.AgentMessage)) error {
	csrf := a.CSRFToken(c)
	cv, err := a.chatView(c.Request().Context(), chat, csrf)
	if err != nil {
		return err
	}
	v := views.AgentMessage{Shell: views.AgentShell{Agent: agentOf(c), CSRF: csrf}, Chat: cv, Waiting: chat.Phase == chatstate.PhaseWaitingReply}
	edit(&v)
	return a.Render(c, status, views.AgentMessagePage(v))
}

// ReplyToMessage answers a left message: into the chat's log, which the
// visitor's widget shows on the next visit. A refused reply comes back with
// what was typed and why.
func (a *Console) ReplyToMessage(c echo.Context) error {
	chat, err := a.leftMessage(c)
	if err != nil {
		return err
	}
	agent := agentParty(c)
	if !a.messageLimit.Allow(chat.ID) {
		err = web.ErrRateLimited()
	} else {
		_, err = a.chats.Reply(c.Request().Context(), chat.ID, agent, c.FormValue("client_id"), c.FormValue("text"))
	}
	if err != nil {
		apiErr := web.APIErrorOf(err)
		if apiErr.Internal() || errors.Is(err, chatstate.ErrWrongPhase) {
			return err
		}
		return a.renderMessage(c, apiErr.Status, chat, func(v *views.AgentMessage) {
			v.Error, v.Draft = agentErrorLine(err), strings.ToValidUTF8(c.FormValue("text"), "")
			v.Chat.ClientID = c.FormValue("client_id")
		})
	}
	if chat, err = a.chats.Chat(c.Request().Context(), chat.ID); err != nil {
		return err
	}
	return a.renderMessage(c, http.StatusOK, chat, func(v *views.AgentMessage) { v.Sent = true })
}
