package widget

import "github.com/labstack/echo/v4"

// Visitor is a signed-in user of the host site, as the site tells Parley:
// the chat is tied to ID (so it restores wherever the user signs in), and
// the names and email fill in the registration.
type Visitor struct {
	ID        string
	FirstName string
	LastName  string
	Email     string
	// Data is passed to the agent with the chat, like the browser API's
	// userData.
	Data map[string]string
}

// IdentifyVisitor tells Parley who the request's visitor is, when the site
// knows; ok is false for an anonymous visitor.
type IdentifyVisitor func(c echo.Context) (v Visitor, ok bool)
