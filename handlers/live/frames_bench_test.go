package live

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/parley/parley/chatstate"
	"github.com/parley/parley/handlers/live/wire"
)

// BenchmarkDecodeFrame measures reading a client's message frame, as every
// send over either transport does.
func BenchmarkDecodeFrame(b *testing.B) {
	data := []byte(`{"type":"message","clientId":"c-0123456789","text":"Hello, I have a question about my invoice from last month."}`)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := decodeFrame(data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodeEventFrame measures writing one live event's frame (the
// event and its rendered line), as every delivery does.
func BenchmarkEncodeEventFrame(b *testing.B) {
	ev := chatstate.Event{ChatID: "chat", Seq: 42, Kind: chatstate.EventMessage, Time: time.Now(),
		From: chatstate.Party{Type: chatstate.PartyAgent, Name: "Alice"}, Text: "Yes, they come in size 46.", ClientID: "c-1"}
	f := wire.Server{Type: "event", Event: wire.EventOf(ev),
		HTML: `<li id="parley-seq-42" class="parley-line parley-message parley-from-agent" data-seq="42"><span class="parley-author" dir="auto">Alice</span><span class="parley-text" dir="auto">Yes, they come in size 46.</span><time datetime="2026-11-25T15:04:05Z">15:04</time></li>`}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(f); err != nil {
			b.Fatal(err)
		}
	}
}
