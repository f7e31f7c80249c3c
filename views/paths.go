package views

import (
	"context"
	"net/url"
	"strconv"
)

// Paths are where Parley's routes are mounted, as the browser sees them.
// A host site chooses them (and may mount under a prefix of its own), so
// no component writes a Parley URL without them.
type Paths struct {
	// Chat is the visitor routes' prefix, like "/chat"; Parley's scripts
	// and styles are served under Chat + "/static/".
	Chat string
	// Console is the agent console's prefix, like "/agent".
	Console string
}

// DefaultPaths returns the paths of a Parley mounted at a site's root.
func DefaultPaths() Paths { return Paths{Chat: "/chat", Console: "/agent"} }

// ChatURL is a visitor route: ChatURL("/start") is "/chat/start".
func (p Paths) ChatURL(rest string) string { return p.Chat + rest }

// ConsoleURL is a console route: ConsoleURL("/login") is "/agent/login".
func (p Paths) ConsoleURL(rest string) string { return p.Console + rest }

// Asset is the URL of one of Parley's static files, like "chat.js".
func (p Paths) Asset(name string) string { return p.Chat + "/static/" + name }

type pathsKey struct{}

// WithPaths returns ctx carrying p, for the components rendered with it.
func WithPaths(ctx context.Context, p Paths) context.Context {
	return context.WithValue(ctx, pathsKey{}, p)
}

// pathsOf returns the paths a component is rendered with; without any, the
// defaults.
func pathsOf(ctx context.Context) Paths {
	if p, ok := ctx.Value(pathsKey{}).(Paths); ok {
		return p
	}
	return DefaultPaths()
}

// earlierPath is the transcript page of the lines before the first of
// lines, for a browser without JavaScript, with the way back to returnTo.
func earlierPath(returnTo string, lines []Line) string {
	q := url.Values{}
	if len(lines) > 0 {
		q.Set("before", strconv.FormatInt(lines[0].Seq, 10))
	}
	if returnTo != "" {
		q.Set("return_to", returnTo)
	}
	return "/transcript?" + q.Encode()
}
