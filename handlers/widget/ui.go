package widget

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/parley/parley/chatstate"
	"github.com/parley/parley/handlers/web"
	"github.com/parley/parley/views"
)

// uiCookieMaxAge keeps the widget open or collapsed as the visitor left it
// for as long as a chat restores.
const uiCookieMaxAge = tokenCookieMaxAge

// uiState is whether the visitor left the widget open or collapsed, kept in
// a cookie that chat.js writes as the visitor opens and minimizes it (and
// the /ui form without JavaScript), so that the server renders the next
// page in that state. A collapsed widget remembers the last event of its
// chat the visitor had seen open: the agent's messages after it are unread.
// The cookie holds no secret: "open", "min" (collapsed before any chat),
// or "min:CHATID:SEQ".
type uiState struct {
	set    bool
	open   bool
	chatID string
	seen   int64
}

func parseUIState(value string) uiState {
	switch value {
	case "open":
		return uiState{set: true, open: true}
	case "min":
		// What setUI writes when the visitor collapses the widget before
		// starting a chat: collapsed, with nothing seen.
		return uiState{set: true}
	}
	parts := strings.Split(value, ":")
	if len(parts) != 3 || parts[0] != "min" {
		return uiState{}
	}
	seen, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil || seen < 0 {
		return uiState{set: true}
	}
	return uiState{set: true, chatID: parts[1], seen: seen}
}

// readUIState reads the request's cookie; none, or an unreadable one, is
// unset.
func (vw *Widget) readUIState(r *http.Request) uiState {
	cookie, err := r.Cookie(web.CookieName(vw.Cookies.UI, vw.ViaTLS(r)))
	if err != nil {
		return uiState{}
	}
	return parseUIState(cookie.Value)
}

// isOpen is whether the widget shows open: as the visitor left it, or the
// site's starting state.
func (vw *Widget) isOpen(ui uiState) bool {
	if ui.set {
		return ui.open
	}
	return vw.StartOpen
}

// unread counts the agent's messages after what a collapsed widget had
// seen of chat.
func unread(ui uiState, chat chatstate.Chat, lines []views.Line) int {
	if !ui.set || ui.open || ui.chatID != chat.ID {
		return 0
	}
	n := 0
	for _, l := range lines {
		if l.Seq > ui.seen && l.Kind == views.LineMessage && l.From == string(chatstate.PartyAgent) {
			n++
		}
	}
	return n
}

// SetUI opens or minimizes the widget for a visitor without JavaScript
// (chat.js does it in place): the cookie, then back to the page.
func (vw *Widget) SetUI(c echo.Context) error {
	returnTo := SafeReturnTo(c.FormValue("return_to"))
	value := "open"
	if open, _ := strconv.ParseBool(c.FormValue("open")); !open {
		value = "min"
		if r := vw.restore(c); r.found {
			value = "min:" + r.chat.ID + ":" + strconv.FormatInt(r.chat.LastSeq, 10)
		}
	}
	secure := vw.ViaTLS(c.Request())
	c.SetCookie(&http.Cookie{
		Name:     web.CookieName(vw.Cookies.UI, secure),
		Value:    value,
		Path:     "/",
		MaxAge:   uiCookieMaxAge,
		Secure:   secure,
		SameSite: http.SameSiteLaxMode,
	})
	if web.IsPartial(c) {
		return c.NoContent(http.StatusNoContent)
	}
	return c.Redirect(http.StatusSeeOther, returnTo)
}
