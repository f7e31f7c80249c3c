package widget

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/parley/parley/chatstate"
	"github.com/parley/parley/handlers/web"
	"github.com/parley/parley/views"
)

// startForm is the start button's post; chat.js adds the options.
type startForm struct {
	ReturnTo     string `form:"return_to"`
	Localization string `form:"localization"`
	// MaxOffline is the maxOfflineDuration option, in seconds.
	MaxOffline string `form:"max_offline"`
}

// registrationForm is the registration form's post, also used for drafts.
type registrationForm struct {
	ReturnTo  string `form:"return_to"`
	FirstName string `form:"first_name"`
	LastName  string `form:"last_name"`
	Email     string `form:"email"`
	Subject   string `form:"subject"`
	UserData  string `form:"user_data"`
	// Message is the text of a message left while chat is closed.
	Message string `form:"message"`
}

// registration maps the form to the domain's registration. userData comes
// from a site's own registration function as a JSON object of strings.
func (f registrationForm) registration() (chatstate.Registration, error) {
	r := chatstate.Registration{FirstName: f.FirstName, LastName: f.LastName, Email: f.Email, Subject: f.Subject, Message: f.Message}
	if f.UserData != "" {
		if err := json.Unmarshal([]byte(f.UserData), &r.UserData); err != nil {
			return chatstate.Registration{}, web.ErrInvalidOptions()
		}
	}
	return r, nil
}

// messageForm is the compose box's post.
type messageForm struct {
	ReturnTo string `form:"return_to"`
	ClientID string `form:"client_id"`
	Text     string `form:"text"`
}

// StartChat creates a chat in the registration phase and gives the visitor
// its restore cookie. A visitor whose cookie already holds a live chat gets
// that chat back instead of a second one.
func (vw *Widget) StartChat(c echo.Context) error {
	var f startForm
	if err := c.Bind(&f); err != nil {
		return web.ErrInvalidOptions()
	}
	returnTo := SafeReturnTo(f.ReturnTo)
	if r := vw.restore(c); r.found && r.chat.Phase != chatstate.PhaseEnded {
		return vw.afterPost(c, r.chat, returnTo)
	}
	if !vw.startLimit.Allow(vw.ClientKey(c.Request())) {
		return web.ErrRateLimited()
	}
	params := chatstate.StartParams{Page: pageSeen(c, returnTo)}
	// While chat is closed, the start is of a message to leave.
	open, _ := vw.ChatOpen(c.Request().Context())
	params.LeaveMessage = !open
	if f.Localization != "" {
		if _, err := vw.Catalogs.Resolve(f.Localization); err != nil {
			return web.ErrLocalizationNotAllowed()
		}
	}
	v := vw.ViewerOf(c, returnTo)
	v.Localization = f.Localization
	params.Locale = vw.Translator(v.Viewer, nil).Name()
	if f.MaxOffline != "" {
		seconds, err := strconv.Atoi(f.MaxOffline)
		if err != nil || seconds <= 0 {
			return web.ErrInvalidOptions()
		}
		params.MaxOffline = time.Duration(seconds) * time.Second
	}
	user, signedIn := vw.identify(c)
	if signedIn {
		params.UserID = user.ID
		params.Draft = chatstate.Registration{FirstName: user.FirstName, LastName: user.LastName, Email: user.Email, UserData: user.Data}
	}
	ctx := c.Request().Context()
	chat, token, err := vw.chats.Start(ctx, params)
	if err != nil {
		return err
	}
	if params.UserID == "" {
		if err := vw.jar.Set(c.Response(), c.Request(), token, time.Now()); err != nil {
			return err
		}
	}
	if signedIn && user.FirstName != "" && user.Email != "" && !params.LeaveMessage {
		// The site knows who this is: no form to fill in. Should the site's
		// data not pass, the form shows it, filled in, to correct.
		registered, err := vw.chats.Register(ctx, chat.ID, params.Draft)
		var verr *chatstate.ValidationError
		switch {
		case err == nil:
			chat = registered
		case errors.As(err, &verr):
			if chat, err = vw.chats.Chat(ctx, chat.ID); err != nil {
				return err
			}
		default:
			return err
		}
	}
	return vw.afterPost(c, chat, returnTo)
}

// VisitorChat is the chat a widget post acts on.
func (vw *Widget) VisitorChat(c echo.Context) (chatstate.Chat, error) {
	r := vw.restore(c)
	switch {
	case r.err != nil:
		return chatstate.Chat{}, r.err
	case !r.found:
		return chatstate.Chat{}, web.ErrNoChat()
	}
	return r.chat, nil
}

// bindVisitorPost reads a widget form into form and finds the chat it acts
// on.
func (vw *Widget) bindVisitorPost(c echo.Context, form any) (chatstate.Chat, error) {
	if err := c.Bind(form); err != nil {
		return chatstate.Chat{}, web.ErrInvalidOptions()
	}
	return vw.VisitorChat(c)
}

// SaveDraft keeps what the visitor has typed so far; chat.js posts it a
// moment after typing stops.
func (vw *Widget) SaveDraft(c echo.Context) error {
	var f registrationForm
	chat, err := vw.bindVisitorPost(c, &f)
	if err != nil {
		return err
	}
	if !vw.draftLimit.Allow(chat.ID) {
		return web.ErrRateLimited()
	}
	draft, err := f.registration()
	if err != nil {
		return err
	}
	if _, err := vw.chats.SaveDraft(c.Request().Context(), chat.ID, draft); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// Register submits the registration form. Invalid fields come back in
// place, localized, with everything the visitor typed.
func (vw *Widget) Register(c echo.Context) error {
	var f registrationForm
	chat, err := vw.bindVisitorPost(c, &f)
	if err != nil {
		return err
	}
	returnTo := SafeReturnTo(f.ReturnTo)
	if chat.Phase != chatstate.PhaseRegistration {
		// A form submitted twice, or from a stale tab: show where the chat is.
		return vw.afterPost(c, chat, returnTo)
	}
	r, err := f.registration()
	if err != nil {
		return err
	}
	updated, err := vw.chats.Register(c.Request().Context(), chat.ID, r)
	var verr *chatstate.ValidationError
	if errors.As(err, &verr) {
		w := vw.widgetView(c.Request().Context(), vw.ViewerOf(c, returnTo), restored{chat: chat, found: true})
		// What was typed comes back, minus bytes that are not text, so the
		// page stays valid UTF-8.
		w.Form = formErrors(w.T, views.RegistrationForm{
			FirstName: views.Field{Value: strings.ToValidUTF8(f.FirstName, "")},
			LastName:  views.Field{Value: strings.ToValidUTF8(f.LastName, "")},
			Email:     views.Field{Value: strings.ToValidUTF8(f.Email, "")},
			Subject:   views.Field{Value: strings.ToValidUTF8(f.Subject, "")},
		}, verr)
		return vw.respondWidget(c, http.StatusUnprocessableEntity, w)
	}
	if err != nil {
		return err
	}
	return vw.afterPost(c, updated, returnTo)
}

// LeaveMessage submits a message left while chat was closed, or the
// visitor's next one once an agent answered. Invalid fields come back in
// place, localized, with everything the visitor typed.
func (vw *Widget) LeaveMessage(c echo.Context) error {
	var f registrationForm
	chat, err := vw.bindVisitorPost(c, &f)
	if err != nil {
		return err
	}
	returnTo := SafeReturnTo(f.ReturnTo)
	if chat.Phase != chatstate.PhaseLeaveMessage && chat.Phase != chatstate.PhaseWaitingReply && chat.Phase != chatstate.PhaseReplied {
		// A form submitted twice, or from a stale tab: show where the chat is.
		return vw.afterPost(c, chat, returnTo)
	}
	if !vw.messageLimit.Allow(chat.ID) {
		return web.ErrRateLimited()
	}
	r, err := f.registration()
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	email := r.Email
	if chat.Phase != chatstate.PhaseLeaveMessage {
		email = chat.Visitor.Email // writing again: the address is the chat's
	}
	if email = strings.ToLower(strings.TrimSpace(email)); email != "" && !vw.leaveLimit.Allow("email:"+email) {
		return web.ErrRateLimited()
	}
	updated, err := vw.chats.LeaveMessage(ctx, chat.ID, r)
	var verr *chatstate.ValidationError
	if errors.As(err, &verr) {
		w := vw.widgetView(ctx, vw.ViewerOf(c, returnTo), restored{chat: chat, found: true})
		w.Form = formErrors(w.T, views.RegistrationForm{
			FirstName: views.Field{Value: strings.ToValidUTF8(f.FirstName, "")},
			Email:     views.Field{Value: strings.ToValidUTF8(f.Email, "")},
			Message:   views.Field{Value: strings.ToValidUTF8(f.Message, "")},
		}, verr)
		return vw.respondWidget(c, http.StatusUnprocessableEntity, w)
	}
	if err != nil {
		return err
	}
	return vw.afterPost(c, updated, returnTo)
}

// QueuedToMessage leaves a chat waiting in the queue as a message, when
// nobody is there to take it: what the visitor wrote is kept, and the
// answer comes by email.
func (vw *Widget) QueuedToMessage(c echo.Context) error {
	returnTo := SafeReturnTo(c.FormValue("return_to"))
	chat, err := vw.VisitorChat(c)
	if err != nil {
		return err
	}
	if chat.Phase == chatstate.PhaseQueued {
		if chat, err = vw.chats.QueuedToMessage(c.Request().Context(), chat.ID); err != nil {
			return err
		}
	}
	return vw.afterPost(c, chat, returnTo)
}

// SendMessage posts the visitor's message. A refused message comes back in
// the compose box with the reason, so nothing typed is lost.
func (vw *Widget) SendMessage(c echo.Context) error {
	var f messageForm
	chat, err := vw.bindVisitorPost(c, &f)
	if err != nil {
		return err
	}
	returnTo := SafeReturnTo(f.ReturnTo)
	ctx := c.Request().Context()
	if !vw.messageLimit.Allow(chat.ID) {
		err = web.ErrRateLimited()
	} else {
		_, err = vw.chats.SendMessage(ctx, chat.ID, chatstate.Party{Type: chatstate.PartyVisitor}, f.ClientID, f.Text)
	}
	if err != nil {
		apiErr := web.APIErrorOf(err)
		if apiErr.Internal() {
			return err
		}
		w := vw.widgetView(c.Request().Context(), vw.ViewerOf(c, returnTo), restored{chat: chat, found: true})
		w.Talk.Draft, w.Talk.ClientID = strings.ToValidUTF8(f.Text, ""), f.ClientID
		w.Talk.MessageError = w.T.T(apiErr.Key, apiErr.Args...)
		return vw.respondWidget(c, apiErr.Status, w)
	}
	updated, err := vw.chats.Chat(ctx, chat.ID)
	if err != nil {
		return err
	}
	return vw.afterPost(c, updated, returnTo)
}

// EndChat ends the chat from the visitor's side.
func (vw *Widget) EndChat(c echo.Context) error {
	returnTo := SafeReturnTo(c.FormValue("return_to"))
	chat, err := vw.VisitorChat(c)
	if err != nil {
		return err
	}
	ended, err := vw.chats.End(c.Request().Context(), chat.ID, chatstate.Party{Type: chatstate.PartyVisitor}, chatstate.ReasonVisitor)
	if err != nil {
		return err
	}
	return vw.afterPost(c, ended, returnTo)
}
