// Package widget is the visitor's widget: the component a host page renders
// (restored from the visitor's cookie or the signed-in user's chat, with the
// form's draft or the conversation, server-side), the widget's own routes
// and forms (start, draft, register, send, end, open or collapse, earlier
// lines, the popup), the restore-token cookie, the latest lines of recently
// restored chats, the page trail, and the script-tag embed (embed.js, CORS
// and partitioned cookies for the sites that embed it).
//
// It is part of Parley's internals, imported by handlers and the live
// transports only: a host site imports github.com/parley/parley/parley.
package widget

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/parley/parley/chatstate"
	"github.com/parley/parley/handlers/web"
	"github.com/parley/parley/views"
)

// Widget renders the widget and answers its forms.
type Widget struct {
	*web.Surface
	chats      *chatstate.Service
	jar        *tokenJar
	startLimit *web.RateLimiter
	draftLimit *web.RateLimiter
	// leaveLimit bounds the messages left for one email address: the
	// answers go there, so a script must not fill an inbox through it.
	leaveLimit   *web.RateLimiter
	messageLimit *web.RateLimiter
	pageLimit    *web.RateLimiter
	metrics      *web.Metrics
	// pages are the latest lines of the chats restored lately, rendered.
	pages *recentPages
}

// Deps are what the widget is built from.
type Deps struct {
	Surface *web.Surface
	Chats   *chatstate.Service
	// SessionSecrets sign and encrypt the restore cookie, newest first.
	SessionSecrets [][]byte
	// SharedLimits, when set, holds the bucket of chat starts, so that it
	// holds across instances.
	SharedLimits web.SharedLimits
	// MessageLimit is the visitor's messages' limit, which the live
	// transports spend from too.
	MessageLimit *web.RateLimiter
	Metrics      *web.Metrics
}

// New builds the widget.
func New(d Deps) *Widget {
	return &Widget{
		Surface: d.Surface,
		chats:   d.Chats,
		jar:     newTokenJar(d.SessionSecrets, d.Surface.Cookies.Chat, d.Surface.ViaTLS),
		// A person starts a chat now and then; a script starts hundreds.
		startLimit: web.ShareLimit(web.NewRateLimiter(0.2, 5), d.SharedLimits, "start"),
		draftLimit: web.NewRateLimiter(10, 20),
		// A person writes a few messages a day; a burst allows fixing one.
		leaveLimit:   web.ShareLimit(web.NewRateLimiter(1.0/600, 5), d.SharedLimits, "leave-email"),
		messageLimit: d.MessageLimit,
		// People move through a few pages quickly, then read; each page
		// event reaches every agent's queue.
		pageLimit: web.NewRateLimiter(0.5, 10),
		metrics:   d.Metrics,
		pages:     newRecentPages(recentPagesBytes),
	}
}

// identify is the host site's signed-in user of c, if the site says.
func (vw *Widget) identify(c echo.Context) (web.Visitor, bool) {
	if vw.Visitor == nil {
		return web.Visitor{}, false
	}
	return vw.Visitor(c)
}

// Viewer is what rendering the widget needs to know of the person looking,
// taken once from a request, so that a transport can keep rendering for its
// visitor after the upgrade.
type Viewer struct {
	web.Viewer
	// ui is how the visitor left the widget: open or collapsed.
	ui uiState
	// uiCookie is what chat.js calls the cookie that remembers it.
	uiCookie string
	// transcriptBefore, when set, shows the page of lines before that seq
	// rather than the latest page (the transcript pages of a browser
	// without JavaScript).
	transcriptBefore int64
}

// ViewerOf is the person looking at the widget on the page returnTo.
func (vw *Widget) ViewerOf(c echo.Context, returnTo string) Viewer {
	r := c.Request()
	return Viewer{Viewer: vw.Surface.ViewerOf(c, returnTo), ui: vw.readUIState(r), uiCookie: web.CookieName(vw.Cookies.UI, vw.ViaTLS(r))}
}

// pageRecordedKey marks a request whose page is already in the trail, so
// that TrackPages and Widget together record it once.
const pageRecordedKey = "parley.page_recorded"

// Widget is the chat widget for a host site's page, restored from the
// request's cookie (or the signed-in user's chat): the start button, the
// form with its draft, or the conversation. It also records the page in the
// chat's page trail. All of it happens now, before the page is written,
// since restoring may renew the cookie.
func (vw *Widget) Widget(c echo.Context) templ.Component {
	start := time.Now()
	ctx := c.Request().Context()
	if c.Response().Committed {
		vw.Log.ErrorContext(ctx, "parley: Widget called after the page started; call it before rendering, or its cookies are lost",
			"path", c.Request().URL.Path)
	}
	r := vw.recordPage(c, vw.restore(c))
	w := vw.widgetView(ctx, vw.ViewerOf(c, SafeReturnTo(c.Request().URL.Path)), r)
	vw.shown(c, r)
	panel := vw.Mounted(views.WidgetPanel(w))
	if !r.found {
		return panel
	}
	return vw.timeRestore(panel, time.Since(start))
}

// timeRestore records in parley_restore_render_seconds the time Widget
// took to restore a chat (decided) plus the time its component takes to
// render, which the host's page does later; the host's own work in between
// is not Parley's.
func (vw *Widget) timeRestore(panel templ.Component, decided time.Duration) templ.Component {
	return templ.ComponentFunc(func(ctx context.Context, w io.Writer) error {
		start := time.Now()
		if err := panel.Render(ctx, w); err != nil {
			return err
		}
		vw.metrics.RestoreRender.Observe((decided + time.Since(start)).Seconds())
		return nil
	})
}

// Assets links the widget's styles and script for a host page's <head>;
// with restore, chat.js calls chat.restoreChat({embedded: true}) itself.
func (vw *Widget) Assets(restore bool) templ.Component {
	return vw.Mounted(views.Assets(restore))
}

// TrackPages records each page a visitor with a live chat loads in the
// chat's page trail, for pages that do not render the widget (a partial
// swap of the main content, say); Widget records its own page.
func (vw *Widget) TrackPages(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if c.Request().Method != http.MethodGet || vw.Owns(c) {
			return next(c)
		}
		// Restore now: it may renew the cookie, which must precede the page.
		r := vw.restore(c)
		err := next(c)
		if err == nil && c.Response().Status < http.StatusBadRequest {
			vw.recordPage(c, r)
		}
		return err
	}
}

// recordPage tells a live chat which page its visitor is on now (the
// request's own), once per request, and returns r with the chat as that
// left it.
func (vw *Widget) recordPage(c echo.Context, r restored) restored {
	return vw.recordVisit(c, r, SafeReturnTo(c.Request().URL.Path))
}

// recordVisit records the page at path as the one the visitor is on now,
// once per request: the request's own, or for the script-tag embed the
// page of another site the request comes from, which the trail shows with
// that site's origin (pageSeen). A prefetch (Turbo's on hover, the
// browser's speculation rules) is not a visit: the visitor may never see
// that page.
func (vw *Widget) recordVisit(c echo.Context, r restored, path string) restored {
	if c.Get(pageRecordedKey) != nil || isPrefetch(c.Request()) {
		return r
	}
	page := pageSeen(c, path)
	c.Set(pageRecordedKey, true)
	if !r.found || r.chat.Phase == chatstate.PhaseEnded {
		return r
	}
	ctx := c.Request().Context()
	var err error
	switch {
	case page == r.chat.Page:
		// A reload: the visitor is here, and that needs no write.
		err = vw.chats.Seen(ctx, r.chat.ID)
	case vw.pageLimit.Allow(r.chat.ID):
		var chat chatstate.Chat
		if chat, err = vw.chats.Visit(ctx, r.chat.ID, page); err == nil {
			// The page's own event is in the log now: the page starts
			// after it.
			r.chat = chat
			c.Set(restoredKey, r)
		}
	default:
		// Pages flipped faster than anyone reads them: the visitor is
		// there, but the trail does not grow.
		err = vw.chats.Seen(ctx, r.chat.ID)
	}
	if err != nil {
		vw.Log.ErrorContext(ctx, "record visit", "chat", r.chat.ID, "err", err)
	}
	return r
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
func (vw *Widget) shown(c echo.Context, r restored) {
	if r.found && !isPrefetch(c.Request()) {
		vw.MarkEndShown(c.Request().Context(), r.chat)
	}
}

// MarkEndShown records that the visitor has been shown chat's ending, if
// it has ended.
func (vw *Widget) MarkEndShown(ctx context.Context, chat chatstate.Chat) {
	if chat.Phase != chatstate.PhaseEnded || chat.EndSeen {
		return
	}
	if err := vw.chats.MarkEndSeen(ctx, chat.ID); err != nil {
		vw.Log.ErrorContext(ctx, "mark end seen", "chat", chat.ID, "err", err)
	}
}

// Panel serves the widget alone, for a swap after a partial navigation or
// a re-render requested by chat.js, in the language of the `localization`
// option when one is given and allowed. With visit, it is the script-tag
// embed's widget for a page load of another site: that page (return_to)
// goes into the chat's page trail.
func (vw *Widget) Panel(c echo.Context) error {
	v := vw.ViewerOf(c, SafeReturnTo(c.QueryParam("return_to")))
	if option := c.QueryParam("localization"); option != "" {
		if _, err := vw.Catalogs.Resolve(option); err != nil {
			return web.ErrLocalizationNotAllowed()
		}
		v.Localization = option
	}
	r := vw.restore(c)
	if c.QueryParam("visit") != "" {
		r = vw.recordVisit(c, r, v.ReturnTo)
	}
	w := vw.widgetView(c.Request().Context(), v, r)
	vw.shown(c, r)
	return vw.Render(c, http.StatusOK, views.WidgetPanel(w))
}

// Earlier answers "Show earlier messages". chat.js asks for the page of
// lines before a seq and puts them in place; a browser without JavaScript
// gets the same page of lines in the widget on a page of Parley's own, with
// the link to the page before it and a way back.
func (vw *Widget) Earlier(c echo.Context) error {
	r := vw.restore(c)
	if r.err != nil {
		return r.err
	}
	if !r.found || r.chat.Phase == chatstate.PhaseRegistration {
		return web.ErrNoChat()
	}
	before, err := strconv.ParseInt(c.QueryParam("before"), 10, 64)
	if c.QueryParam("before") == "" && !web.IsPartial(c) {
		// The latest page, as the widget shows it.
		before, err = r.chat.LastSeq+1, nil
	}
	if err != nil || before < 1 {
		return web.ErrInvalidOptions()
	}
	v := vw.ViewerOf(c, SafeReturnTo(c.QueryParam("return_to")))
	if !web.IsPartial(c) {
		v.transcriptBefore = before
		w := vw.widgetView(c.Request().Context(), v, r)
		w.Standalone = true
		return vw.Render(c, http.StatusOK, views.WidgetPage(w))
	}
	ctx := c.Request().Context()
	events, more, err := vw.chats.RecentLines(ctx, r.chat.ID, min(before-1, r.chat.LastSeq), transcriptPageLines)
	if err != nil {
		return err
	}
	tr := vw.Translator(v.Viewer, &r.chat)
	return vw.Render(c, http.StatusOK, views.EarlierLines(linesOf(tr, events), more, tr.T("conversation.earlier")))
}

// Popup serves the chat in a window of its own, for startChat without
// `embedded`; it restores itself on reload like the embedded widget.
func (vw *Widget) Popup(c echo.Context) error {
	v := vw.ViewerOf(c, vw.Paths.ChatURL("/popup"))
	if option := c.QueryParam("localization"); option != "" {
		if _, err := vw.Catalogs.Resolve(option); err == nil {
			v.Localization = option
		}
	}
	r := vw.restore(c)
	w := vw.widgetView(c.Request().Context(), v, r)
	vw.shown(c, r)
	w.Standalone = true
	return vw.Render(c, http.StatusOK, views.PopupPage(v.CSRF, w))
}

// respondWidget answers a widget form: the fragment for a swap, or for a
// plain HTML form a page of Parley's own with the widget, since Parley
// cannot render the site's page the form came from.
func (vw *Widget) respondWidget(c echo.Context, status int, w views.Widget) error {
	if web.IsPartial(c) {
		return vw.Render(c, status, views.WidgetPanel(w))
	}
	w.Standalone = true
	return vw.Render(c, status, views.WidgetPage(w))
}

// afterPost ends a successful widget form: the new widget for a swap, or a
// redirect back to the page for a plain form (post/redirect/get, so a reload
// does not post again).
func (vw *Widget) afterPost(c echo.Context, chat chatstate.Chat, returnTo string) error {
	if !web.IsPartial(c) {
		return c.Redirect(http.StatusSeeOther, returnTo)
	}
	r := restored{chat: chat, found: true}
	w := vw.widgetView(c.Request().Context(), vw.ViewerOf(c, returnTo), r)
	vw.shown(c, r)
	return vw.Render(c, http.StatusOK, views.WidgetPanel(w))
}

// SafeReturnTo keeps redirects on this site: only a local absolute path is
// accepted, anything else means the home page.
func SafeReturnTo(path string) string {
	// Browsers drop tabs and newlines from a URL, so "/\t/x" would be "//x".
	if !strings.HasPrefix(path, "/") || strings.HasPrefix(path, "//") || strings.ContainsAny(path, "\\\t\r\n") {
		return "/"
	}
	// The path goes into the page trail: a control character or a byte
	// that is not UTF-8 (a request for "/%00" or "/%ff") is no page anybody
	// should see, and PostgreSQL would refuse to store it.
	if !utf8.ValidString(path) || strings.IndexFunc(path, unicode.IsControl) >= 0 {
		return "/"
	}
	return path
}
