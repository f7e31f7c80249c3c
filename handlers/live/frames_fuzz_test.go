package live

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/parley/parley/handlers/live/wire"
	"github.com/parley/parley/handlers/web"
)

// FuzzDecodeFrame: no input panics decodeFrame; a refused one is
// invalid_options with a zero frame; an accepted frame survives a round
// trip through its own encoding. Callers cap a frame at maxFrameBytes, but
// the decoder is fuzzed with inputs of any size.
func FuzzDecodeFrame(f *testing.F) {
	for _, s := range []string{
		`{"type":"hello","lastSeq":42}`,
		`{"type":"message","clientId":"c1","text":"Hello \u202Eworld\n"}`,
		`{"type":"typing"}`,
		`{"type":"end"}`,
		`{"type":"ping"}`,
		`{"TYPE":"Message","ClientID":"x","Text":"case-insensitive keys"}`,
		`{"type":"message","text":"a","text":"duplicate key"}`,
		`{"type":"hello","lastSeq":-1}`,
		`{"type":"hello","lastSeq":9223372036854775808}`,
		`{"type":"hello","lastSeq":1e3}`,
		`{"type":"hello","lastSeq":"1"}`,
		`{"type":1}`,
		`{"type":"message","text":"\ud800 lone surrogate"}`,
		"{\"type\":\"message\",\"text\":\"raw \xff\xfe bytes\"}",
		`{"type":"ping"} {"type":"end"}`,
		`{"type":"ping"`,
		`null`,
		`[]`,
		`""`,
		``,
		` `,
		`{"type":"message","text":"` + strings.Repeat("€", 2001) + `"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		frame, err := decodeFrame(data)
		if err != nil {
			var apiErr *web.APIError
			if !errors.As(err, &apiErr) || apiErr.Code != web.ErrInvalidOptions().Code {
				t.Fatalf("decodeFrame(%q) error = %v, want invalid_options", data, err)
			}
			if frame != (wire.Client{}) {
				t.Fatalf("decodeFrame(%q) refused it but returned %+v, want a zero frame", data, frame)
			}
			// A frame json.Unmarshal takes must not be refused.
			var whole wire.Client
			if json.Unmarshal(data, &whole) == nil {
				t.Fatalf("decodeFrame(%q) refused a frame json.Unmarshal reads as %+v", data, whole)
			}
			return
		}
		// Nor accepted one it refuses: one frame, nothing after it.
		var whole wire.Client
		if err := json.Unmarshal(data, &whole); err != nil {
			t.Fatalf("decodeFrame(%q) accepted what json.Unmarshal refuses: %v", data, err)
		}
		for name, s := range map[string]string{"type": frame.Type, "clientId": frame.ClientID, "text": frame.Text} {
			if !utf8.ValidString(s) {
				t.Errorf("decodeFrame(%q).%s = %q, not valid UTF-8", data, name, s)
			}
		}
		enc, err := json.Marshal(frame)
		if err != nil {
			t.Fatalf("json.Marshal(%+v): %v", frame, err)
		}
		again, err := decodeFrame(enc)
		if err != nil {
			t.Fatalf("decodeFrame(%s), the encoding of an accepted frame: %v", enc, err)
		}
		if again != frame {
			t.Fatalf("decodeFrame(%s) = %+v, want %+v as decoded from %q", enc, again, frame, data)
		}
	})
}
