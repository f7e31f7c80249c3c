package handlers

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"strings"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/parley/parley/chatstate"
	"github.com/parley/parley/views"
)

// pageRecordedKey marks a request whose page is already in the trail, so
// that TrackPages and Widget together record it once.
const pageRecordedKey = "parley.page_recorded"

// Widget is the chat widget for a host site's page, restored from the
// request's cookie (or the signed-in user's chat): the start button, the
// form with its draft, or the conversation. It also records the page in the
// chat's page trail. All of it happens now, before the page is written,
// since restoring may renew the cookie.
func (h *Handler) Widget(c echo.Context) templ.Component {
	ctx := c.Request().Context()
	if c.Response().Committed {
		h.log.ErrorContext(ctx, "parley: Widget called after the page started; call it before rendering, or its cookies are lost",
			"path", c.Request().URL.Path)
	}
	r := h.restore(c)
	h.recordPage(c, r)
	w := h.widgetView(ctx, h.viewerOf(c, safeReturnTo(c.Request().URL.Path)), r)
	h.shown(c, r)
	return h.mounted(views.WidgetPanel(w))
}

// Assets links the widget's styles and script for a host page's <head>;
// with restore, chat.js calls chat.restoreChat({embedded: true}) itself.
func (h *Handler) Assets(restore bool) templ.Component {
	return h.mounted(views.Assets(restore))
}

// TrackPages records each page a visitor with a live chat loads in the
// chat's page trail, for pages that do not render the widget (a partial
// swap of the main content, say); Widget records its own page.
func (h *Handler) TrackPages(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if c.Request().Method != http.MethodGet || h.Owns(c) {
			return next(c)
		}
		// Restore now: it may renew the cookie, which must precede the page.
		r := h.restore(c)
		err := next(c)
		if err == nil && c.Response().Status < http.StatusBadRequest {
			h.recordPage(c, r)
		}
		return err
	}
}

// recordPage tells a live chat which page its visitor is on now, once per
// request. A prefetch (Turbo's on hover, the browser's speculation rules) is
// not a visit: the visitor may never see that page.
func (h *Handler) recordPage(c echo.Context, r restored) {
	if c.Get(pageRecordedKey) != nil || isPrefetch(c.Request()) {
		return
	}
	c.Set(pageRecordedKey, true)
	if !r.found || r.chat.Phase == chatstate.PhaseEnded {
		return
	}
	ctx := c.Request().Context()
	if err := h.chats.Visit(ctx, r.chat.ID, safeReturnTo(c.Request().URL.Path)); err != nil {
		h.log.ErrorContext(ctx, "record visit", "chat", r.chat.ID, "err", err)
	}
}

// isPrefetch reports whether the browser or a script fetches the page
// ahead of a visit that may not come.
func isPrefetch(r *http.Request) bool {
	for _, name := range []string{"Sec-Purpose", "X-Sec-Purpose", "Purpose", "X-Purpose", "X-Moz"} {
		if strings.Contains(strings.ToLower(r.Header.Get(name)), "prefetch") {
			return true
		}
	}
	return false
}

// shown records that the visitor has been shown an ended chat's ending, so
// the next page offers a new chat.
func (h *Handler) shown(c echo.Context, r restored) {
	if r.found && !isPrefetch(c.Request()) {
		h.markEndShown(c.Request().Context(), r.chat)
	}
}

// markEndShown records that the visitor has been shown chat's ending, if
// it has ended.
func (h *Handler) markEndShown(ctx context.Context, chat chatstate.Chat) {
	if chat.Phase != chatstate.PhaseEnded || chat.EndSeen {
		return
	}
	if err := h.chats.MarkEndSeen(ctx, chat.ID); err != nil {
		h.log.ErrorContext(ctx, "mark end seen", "chat", chat.ID, "err", err)
	}
}

// widget serves the widget alone, for a swap after a partial navigation or
// a re-render requested by chat.js, in the language of the `localization`
// option when one is given and allowed.
func (h *Handler) widget(c echo.Context) error {
	v := h.viewerOf(c, safeReturnTo(c.QueryParam("return_to")))
	if option := c.QueryParam("localization"); option != "" {
		if _, err := h.catalogs.Resolve(option); err != nil {
			return errLocalizationNotAllowed()
		}
		v.localization = option
	}
	r := h.restore(c)
	w := h.widgetView(c.Request().Context(), v, r)
	h.shown(c, r)
	return h.render(c, http.StatusOK, views.WidgetPanel(w))
}

// popup serves the chat in a window of its own, for startChat without
// `embedded`; it restores itself on reload like the embedded widget.
func (h *Handler) popup(c echo.Context) error {
	v := h.viewerOf(c, h.paths.ChatURL("/popup"))
	if option := c.QueryParam("localization"); option != "" {
		if _, err := h.catalogs.Resolve(option); err == nil {
			v.localization = option
		}
	}
	r := h.restore(c)
	w := h.widgetView(c.Request().Context(), v, r)
	h.shown(c, r)
	return h.render(c, http.StatusOK, views.PopupPage(v.csrf, w))
}

// respondWidget answers a widget form: the fragment for a swap, or for a
// plain HTML form a page of Parley's own with the widget, since Parley
// cannot render the site's page the form came from.
func (h *Handler) respondWidget(c echo.Context, status int, w views.Widget) error {
	if isPartial(c) {
		return h.render(c, status, views.WidgetPanel(w))
	}
	return h.render(c, status, views.WidgetPage(w))
}

// afterPost ends a successful widget form: the new widget for a swap, or a
// redirect back to the page for a plain form (post/redirect/get, so a reload
// does not post again).
func (h *Handler) afterPost(c echo.Context, chat chatstate.Chat, returnTo string) error {
	if !isPartial(c) {
		return c.Redirect(http.StatusSeeOther, returnTo)
	}
	r := restored{chat: chat, found: true}
	w := h.widgetView(c.Request().Context(), h.viewerOf(c, returnTo), r)
	h.shown(c, r)
	return h.render(c, http.StatusOK, views.WidgetPanel(w))
}

// safeReturnTo keeps redirects on this site: only a local absolute path is
// accepted, anything else means the home page.
func safeReturnTo(path string) string {
	// Browsers drop tabs and newlines from a URL, so "/\t/x" would be "//x".
	if !strings.HasPrefix(path, "/") || strings.HasPrefix(path, "//") || strings.ContainsAny(path, "\\\t\r\n") {
		return "/"
	}
	return path
}

// csrfContextKey is where the request's token of Parley's forms is kept; a
// name of its own, so a host's CSRF middleware keeps its "csrf".
const csrfContextKey = "parley_csrf"

// csrfCookieMaxAge keeps the token a day past its last use.
const csrfCookieMaxAge = 86400

// checkCSRF guards Parley's forms with a double-submitted token: a request
// that changes anything must carry, in the X-Parley-CSRF header or the
// parley_csrf field, the token of the visitor's CSRF cookie, which another
// site can neither read nor set.
func (h *Handler) checkCSRF(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		var want string
		if cookie, err := r.Cookie(h.cookies.CSRF); err == nil {
			want = cookie.Value
		}
		h.csrfToken(c) // issues or renews the cookie
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			return next(c)
		}
		sent := r.Header.Get("X-Parley-CSRF")
		if sent == "" {
			sent = c.FormValue("parley_csrf")
		}
		if !validCSRFToken(want) || subtle.ConstantTimeCompare([]byte(sent), []byte(want)) != 1 {
			return errCSRF()
		}
		return next(c)
	}
}

// csrfToken is the token of Parley's forms for this request: the one in
// the visitor's cookie, or a new one. Either way the cookie is (re)written,
// so it lasts a day past its last use.
func (h *Handler) csrfToken(c echo.Context) string {
	if token, _ := c.Get(csrfContextKey).(string); token != "" {
		return token
	}
	token := ""
	if cookie, err := c.Cookie(h.cookies.CSRF); err == nil && validCSRFToken(cookie.Value) {
		token = cookie.Value
	} else {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		token = hex.EncodeToString(b)
	}
	c.SetCookie(&http.Cookie{
		Name:     h.cookies.CSRF,
		Value:    token,
		Path:     "/",
		MaxAge:   csrfCookieMaxAge,
		HttpOnly: true,
		Secure:   c.Request().TLS != nil,
		SameSite: http.SameSiteLaxMode,
	})
	c.Set(csrfContextKey, token)
	return token
}

// validCSRFToken accepts what Parley issues, and what Echo's CSRF
// middleware issued before: letters and digits, of a sane length.
func validCSRFToken(s string) bool {
	if len(s) < 16 || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9') {
			return false
		}
	}
	return true
}
