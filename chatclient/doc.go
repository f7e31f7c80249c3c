// Package chatclient is a small client of Parley's own protocol, for
// Parley's tests and load tool; not for hosts. It speaks
// docs/PROTOCOL.md as chat.js and agent.js do, without a browser: a
// visitor's forms and live transports (WebSocket and long-poll,
// resumed from a seq), an agent's sign-in, forms and console feed, and a
// runner for the server process under test.
//
// The e2e, soak and loadtest harnesses share it, and its frames are the
// server's own (handlers/live/wire), so that a change of the protocol is
// made once. It reads Parley's HTML with regular
// expressions, as far as a client needs it (tokens, ids, seqs); a harness
// that checks what a page shows parses the page itself.
package chatclient
