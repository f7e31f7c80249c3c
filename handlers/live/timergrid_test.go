package live

import (
	"testing"
	"time"
)

// TestTimersShareTheirWakeups starts the timers of sockets opened at
// scattered instants: each must fire no later than its period and at most
// one grid step early, and all those opened within one step must fire
// together, so that thousands of idle sockets wake the process once a step
// rather than once each.
func TestTimersShareTheirWakeups(t *testing.T) {
	start := time.Date(2026, 12, 4, 10, 0, 0, 123_456_789, time.UTC)
	for _, period := range []time.Duration{pingPeriod, 30 * time.Second, 1500 * time.Millisecond} {
		grid := timerGrid
		fires := map[time.Time]int{}
		for i := range 1000 {
			now := start.Add(time.Duration(i) * grid / 1000)
			wait := onTimerGrid(now, period)
			if wait > period || wait <= period-grid {
				t.Fatalf("period %v from %v: waits %v, want within (%v, %v]", period, now, wait, period-grid, period)
			}
			fires[now.Add(wait)]++
		}
		// Opened over one grid step, which may straddle a boundary.
		if len(fires) > 2 {
			t.Errorf("period %v: 1,000 sockets opened within %v fire at %d instants, want at most 2", period, grid, len(fires))
		}
	}
}
