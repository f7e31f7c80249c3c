package views

import (
	"strconv"

	"github.com/parley/parley/chatstate"
)

// The chat's rules as the browser needs them, written into the markup so
// that the scripts read them from the server rather than keep copies.

// maxMessageLength is the compose boxes' maxlength.
func maxMessageLength() string { return strconv.Itoa(chatstate.MaxMessageRunes) }

// typingShownMS is how long the scripts show a typing notice, in ms.
func typingShownMS() string { return strconv.FormatInt(chatstate.TypingShown.Milliseconds(), 10) }
