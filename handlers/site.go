package handlers

import (
	"net/http"
	"strings"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/parley/parley/chatstate"
	"github.com/parley/parley/views"
)

// sitePage is one page of the demo site.
type sitePage struct {
	path  string
	title string
	body  templ.Component
}

func sitePages() []sitePage {
	return []sitePage{
		{"/", "Home", views.HomeBody()},
		{"/products", "Products", views.ProductsBody()},
		{"/pricing", "Pricing", views.PricingBody()},
		{"/contact", "Contact", views.ContactBody()},
	}
}

// pageAt returns the demo page at path, or the home page.
func pageAt(path string) sitePage {
	pages := sitePages()
	for _, p := range pages {
		if p.path == path {
			return p
		}
	}
	return pages[0]
}

// page serves a demo page with the widget restored from the cookie, and
// tells the chat which page the visitor is on now.
func (h *Handler) page(p sitePage) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := h.restore(c)
		if r.found && r.chat.Phase != chatstate.PhaseEnded {
			if err := h.chats.Visit(c.Request().Context(), r.chat.ID, p.path); err != nil {
				h.log.ErrorContext(c.Request().Context(), "record visit", "chat", r.chat.ID, "err", err)
			}
		}
		return h.renderPage(c, http.StatusOK, p, h.widgetView(c.Request().Context(), viewerOf(c, p.path), r))
	}
}

func (h *Handler) renderPage(c echo.Context, status int, p sitePage, w views.Widget) error {
	return render(c, status, views.Page(views.PageView{Path: p.path, Title: p.title, CSRF: csrfToken(c)}, p.body, w))
}

// widget serves the widget alone, for a swap after a partial navigation or
// a re-render requested by chat.js, in the language of the `localization`
// option when one is given and allowed.
func (h *Handler) widget(c echo.Context) error {
	v := viewerOf(c, safeReturnTo(c.QueryParam("return_to")))
	if option := c.QueryParam("localization"); option != "" {
		if _, err := h.catalogs.Resolve(option); err != nil {
			return errLocalizationNotAllowed()
		}
		v.localization = option
	}
	return render(c, http.StatusOK, views.WidgetPanel(h.widgetView(c.Request().Context(), v, h.restore(c))))
}

// popup serves the chat in a window of its own, for startChat without
// `embedded`; it restores itself on reload like the embedded widget.
func (h *Handler) popup(c echo.Context) error {
	v := viewerOf(c, "/chat/popup")
	if option := c.QueryParam("localization"); option != "" {
		if _, err := h.catalogs.Resolve(option); err == nil {
			v.localization = option
		}
	}
	return render(c, http.StatusOK, views.PopupPage(csrfToken(c), h.widgetView(c.Request().Context(), v, h.restore(c))))
}

// respondWidget answers a widget form: the fragment for a swap, or the whole
// page it was posted from for a plain HTML form.
func (h *Handler) respondWidget(c echo.Context, status int, w views.Widget) error {
	if isPartial(c) {
		return render(c, status, views.WidgetPanel(w))
	}
	return h.renderPage(c, status, pageAt(w.ReturnTo), w)
}

// afterPost ends a successful widget form: the new widget for a swap, or a
// redirect back to the page for a plain form (post/redirect/get, so a reload
// does not post again).
func (h *Handler) afterPost(c echo.Context, chat chatstate.Chat, returnTo string) error {
	if isPartial(c) {
		return render(c, http.StatusOK, views.WidgetPanel(h.widgetView(c.Request().Context(), viewerOf(c, returnTo), restored{chat: chat, found: true})))
	}
	return c.Redirect(http.StatusSeeOther, returnTo)
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

func (h *Handler) health(c echo.Context) error {
	if err := h.ready(c.Request().Context()); err != nil {
		h.log.ErrorContext(c.Request().Context(), "health check", "err", err)
		return c.String(http.StatusServiceUnavailable, "unavailable\n")
	}
	return c.String(http.StatusOK, "ok\n")
}
