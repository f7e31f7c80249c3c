package migration

import (
	"testing"
	"testing/fstest"
)

func TestLoad(t *testing.T) {
	fsys := fstest.MapFS{
		"m/0002_more.sql": {Data: []byte("B")},
		"m/0001_init.sql": {Data: []byte("A")},
	}
	steps, err := Load(fsys, "m/*.sql")
	if err != nil {
		t.Fatalf("Load() = %v", err)
	}
	if len(steps) != 2 || steps[0] != (Step{1, "0001_init.sql", "A"}) || steps[1] != (Step{2, "0002_more.sql", "B"}) {
		t.Errorf("Load() = %+v, want 0001 then 0002, in order", steps)
	}
	for name, bad := range map[string]fstest.MapFS{
		"a gap":        {"m/0001_a.sql": {}, "m/0003_c.sql": {}},
		"no version":   {"m/init.sql": {}},
		"not a number": {"m/one_init.sql": {}},
		"a duplicate":  {"m/0001_a.sql": {}, "m/0001_b.sql": {}},
	} {
		if _, err := Load(bad, "m/*.sql"); err == nil {
			t.Errorf("Load(%s) = nil error, want one", name)
		}
	}
}
