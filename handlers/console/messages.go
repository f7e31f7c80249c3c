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
	"github.com/parley/parley/handlers/widget"
	"github.com/parley/parley/mail"
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
		// The latest thing the visitor wrote: a left message, or a line
		// written while waiting in the queue.
		last, _, err := a.chats.RecentEvents(ctx, c.ID, c.LastSeq, []chatstate.EventKind{chatstate.EventLeftMessage, chatstate.EventMessage}, 5)
		if err != nil {
			return nil, err
		}
		for i := len(last) - 1; i >= 0; i-- {
			if last[i].From.Type == chatstate.PartyVisitor && last[i].Text != "" {
				row.Excerpt = excerpt(last[i].Text)
				break
			}
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
	ctx := c.Request().Context()
	clientID, text := c.FormValue("client_id"), c.FormValue("text")
	var outbox []chatstate.Outgoing
	if !a.messageLimit.Allow(chat.ID) {
		err = web.ErrRateLimited()
	} else if outbox, err = a.replyMail(ctx, chat, agent, clientID, text); err == nil {
		_, err = a.chats.Reply(ctx, chat.ID, agent, clientID, text, outbox...)
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

// replyMail is the mail that takes agent's answer to the visitor who left
// the message, in the chat's language, to go out with the answer: none
// while mail is off. A resent answer (the same clientID) makes the same
// mail, which the outbox keeps once.
func (a *Console) replyMail(ctx context.Context, chat chatstate.Chat, agent chatstate.Party, clientID, text string) ([]chatstate.Outgoing, error) {
	answer := strings.TrimSpace(text)
	if !a.Mail || answer == "" {
		return nil, nil // an empty answer is refused by Reply
	}
	if clientID == "" {
		clientID = widget.NewClientID()
	}
	tr := a.Translator(web.Viewer{}, &chat)
	m := views.ReplyMail{T: tr, Agent: agent.Name, Answer: answer, Link: a.pageLink(chat.Page)}
	m.Subject = tr.T("mail.reply.subject", "name", agent.Name)
	html, err := a.RenderString(ctx, views.MailReply(m))
	if err != nil {
		return nil, err
	}
	body := tr.T("mail.reply.intro", "name", agent.Name) + "\n\n" + answer + "\n"
	if m.Link != "" {
		body += "\n" + tr.T("mail.reply.link") + ": " + m.Link + "\n"
	}
	body += "\n-- \n" + tr.T("mail.reply.footer") + "\n"
	o, err := mail.Message{To: chat.Visitor.Email, Subject: m.Subject, Text: body, HTML: html}.Outgoing("reply:" + chat.ID + ":" + clientID)
	if err != nil {
		return nil, err
	}
	return []chatstate.Outgoing{o}, nil
}

// pageLink is the address of page, where a visitor left a message: pages
// of a script-tag site come with their origin; the site's own pages are
// paths on Config.SiteURL, when it is set.
func (a *Console) pageLink(page string) string {
	switch {
	case strings.HasPrefix(page, "https://") || strings.HasPrefix(page, "http://"):
		return page
	case a.SiteURL != "" && strings.HasPrefix(page, "/"):
		return a.SiteURL + page
	}
	return ""
}
