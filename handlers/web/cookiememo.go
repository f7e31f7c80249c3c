package web

import (
	"maps"
	"sync"
)

// valuesMemo remembers the values of cookies read lately by their
// plaintext: a visitor sends the same cookie page after page, poll after
// poll, and gob builds a decoder for each (29 % of a restore's time in
// BenchmarkRestorePage300). The plaintext reaches Deserialize only once
// securecookie has checked its signature and age and decrypted it, so the
// memo changes what is decoded, never what is believed.
//
// It holds two generations of at most limit entries each: a lookup that
// finds an entry in the older one moves it to the newer, and when the
// newer is full the older is dropped, so that the cookies in use stay.
type valuesMemo struct {
	limit int

	mu           sync.Mutex
	newer, older map[string]map[any]any
}

func newValuesMemo(limit int) *valuesMemo {
	return &valuesMemo{limit: limit, newer: make(map[string]map[any]any, limit)}
}

// get returns a copy of the values decoded from plain, which the caller
// may change.
func (m *valuesMemo) get(plain []byte) (map[any]any, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	values, ok := m.newer[string(plain)]
	if !ok {
		if values, ok = m.older[string(plain)]; !ok {
			return nil, false
		}
		m.addLocked(string(plain), values)
	}
	return maps.Clone(values), true
}

// put remembers a copy of the values decoded from plain.
func (m *valuesMemo) put(plain []byte, values map[any]any) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.addLocked(string(plain), maps.Clone(values))
}

func (m *valuesMemo) addLocked(plain string, values map[any]any) {
	if len(m.newer) >= m.limit {
		m.older, m.newer = m.newer, make(map[string]map[any]any, m.limit)
	}
	m.newer[plain] = values
}
