package handlers_test

import (
	"context"
	"io"
	"net/http"
	"net/netip"
	"strings"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/parley/parley/handlers"
)

// sitePaths are the pages of the host site the handler tests mount Parley
// on, as any adopting site would.
var sitePaths = []string{"/", "/products", "/pricing", "/contact"}

// newSite is a small host site with Parley mounted at its default paths:
// each page renders the widget restored for its request.
func newSite(d handlers.Deps) http.Handler {
	// The tests of live chat do not keep an agent online: chat stays open
	// without one. The tests of leaving a message build their site with
	// siteAsConfigured.
	d.Options.QueueWithoutAgents = true
	return siteAsConfigured(d)
}

// siteAsConfigured is the test site over d as given.
func siteAsConfigured(d handlers.Deps) http.Handler {
	h := handlers.New(d)
	e := echo.New()
	// No IPExtractor: Echo's default believes X-Forwarded-For from anyone,
	// as many sites leave it; Parley's limits must not.
	e.HideBanner, e.HidePort = true, true
	for _, path := range sitePaths {
		e.GET(path, func(c echo.Context) error {
			widget := h.Widget(c)
			return templ.ComponentFunc(func(ctx context.Context, w io.Writer) error {
				if _, err := io.WriteString(w, "<!DOCTYPE html><html><head><title>Test site</title></head><body><main>"+path+"</main>"); err != nil {
					return err
				}
				if err := widget.Render(ctx, w); err != nil {
					return err
				}
				_, err := io.WriteString(w, "</body></html>")
				return err
			}).Render(c.Request().Context(), c.Response())
		})
	}
	h.Mount(e, "/chat", "/agent")
	e.GET("/healthz", h.Health)
	e.GET("/metrics", h.Metrics)
	return e
}

// prefixes parses a CIDR, or none for "".
// prefixes parses a comma-separated list of CIDRs.
func prefixes(cidrs string) []netip.Prefix {
	var ps []netip.Prefix
	for cidr := range strings.SplitSeq(cidrs, ",") {
		if cidr != "" {
			ps = append(ps, netip.MustParsePrefix(cidr))
		}
	}
	return ps
}
