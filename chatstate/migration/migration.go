// Package migration reads a store's schema migrations: one numbered SQL
// file per version, NNNN_name.sql bringing the database from version
// NNNN-1 to NNNN. Files are only ever added, never edited once released.
// Each backend applies them its own way (chatstate/sqlite, chatstate/postgres).
package migration

import (
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// Step is one schema step.
type Step struct {
	Version int
	Name    string
	SQL     string
}

// Load reads the files of fsys matching pattern in version order, and
// checks that versions run 1, 2, 3… with no gap.
func Load(fsys fs.FS, pattern string) ([]Step, error) {
	names, err := fs.Glob(fsys, pattern)
	if err != nil {
		return nil, err
	}
	var steps []Step
	for _, name := range names {
		base := path.Base(name)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration %s: name must start with its version", base)
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		steps = append(steps, Step{Version: v, Name: base, SQL: string(b)})
	}
	sort.Slice(steps, func(i, j int) bool { return steps[i].Version < steps[j].Version })
	for i, s := range steps {
		if s.Version != i+1 {
			return nil, fmt.Errorf("migration %s: want version %d", s.Name, i+1)
		}
	}
	return steps, nil
}
