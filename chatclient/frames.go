package chatclient

import (
	"encoding/json"

	"github.com/parley/parley/handlers/live/wire"
)

// decodeFrames reads a long-poll's answer, {"frames":[...]}.
func decodeFrames(body []byte) ([]wire.Server, error) {
	var a wire.Poll
	if err := json.Unmarshal(body, &a); err != nil {
		return nil, err
	}
	return a.Frames, nil
}
