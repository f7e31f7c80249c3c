//go:build race

package soak

// raceEnabled reports whether the tests run with -race.
const raceEnabled = true
