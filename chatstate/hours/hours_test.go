package hours_test

import (
	"strings"
	"testing"
	"time"

	"github.com/parley/parley/chatstate/hours"
)

// utc reads an instant written in UTC, so that no test depends on the
// conversions it checks.
func utc(t *testing.T, s string) time.Time {
	t.Helper()
	at, err := time.Parse("2006-01-02 15:04:05Z", s)
	if err != nil {
		t.Fatal(err)
	}
	return at
}

func mustParse(t *testing.T, text string) *hours.Schedule {
	t.Helper()
	s, err := hours.Parse(text)
	if err != nil {
		t.Fatalf("Parse(%q) = %v", text, err)
	}
	return s
}

// TestDaylightSaving: a span is every instant from the first time the
// wall clock reads its start to the last time it reads its end, on both
// changes of the clock, in Europe and in the US.
func TestDaylightSaving(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		schedule  string
		from      string // UTC, before the opening
		wantOpen  string // UTC
		wantClose string // UTC
	}{
		// Berlin springs forward on 2026-03-29 at 01:00 UTC: 02:00 CET
		// becomes 03:00 CEST.
		{"Berlin spring, normal day before", "Europe/Berlin; Sat 01:00-04:00", "2026-03-27 12:00:00Z", "2026-03-28 00:00:00Z", "2026-03-28 03:00:00Z"},
		{"Berlin spring, span over the missing hour is shorter", "Europe/Berlin; Sun 01:00-04:00", "2026-03-28 12:00:00Z", "2026-03-29 00:00:00Z", "2026-03-29 02:00:00Z"},
		{"Berlin spring, span from inside the gap opens after it", "Europe/Berlin; Sun 02:30-05:00", "2026-03-28 12:00:00Z", "2026-03-29 01:00:00Z", "2026-03-29 03:00:00Z"},
		{"Berlin spring, span ending inside the gap closes at it", "Europe/Berlin; Sun 00:00-02:30", "2026-03-28 12:00:00Z", "2026-03-28 23:00:00Z", "2026-03-29 01:00:00Z"},
		{"Berlin spring, span after the change", "Europe/Berlin; Sun 09:00-17:00", "2026-03-28 12:00:00Z", "2026-03-29 07:00:00Z", "2026-03-29 15:00:00Z"},
		// Berlin falls back on 2026-10-25 at 01:00 UTC: 03:00 CEST becomes
		// 02:00 CET, so 02:00-03:00 comes twice.
		{"Berlin fall, span over the repeated hour is longer", "Europe/Berlin; Sun 01:00-04:00", "2026-10-24 12:00:00Z", "2026-10-24 23:00:00Z", "2026-10-25 03:00:00Z"},
		{"Berlin fall, span from inside the repeated hour opens the first time", "Europe/Berlin; Sun 02:30-05:00", "2026-10-24 12:00:00Z", "2026-10-25 00:30:00Z", "2026-10-25 04:00:00Z"},
		{"Berlin fall, span ending inside the repeated hour closes the second time", "Europe/Berlin; Sun 00:00-02:30", "2026-10-24 12:00:00Z", "2026-10-24 22:00:00Z", "2026-10-25 01:30:00Z"},
		{"Berlin fall, span before the repeated hour", "Europe/Berlin; Sun 00:00-02:00", "2026-10-24 12:00:00Z", "2026-10-24 22:00:00Z", "2026-10-25 00:00:00Z"},
		{"Berlin fall, span after the change", "Europe/Berlin; Sun 09:00-17:00", "2026-10-24 12:00:00Z", "2026-10-25 08:00:00Z", "2026-10-25 16:00:00Z"},
		// New York springs forward on 2026-03-08 at 07:00 UTC: 02:00 EST
		// becomes 03:00 EDT.
		{"New York spring, span over the missing hour is shorter", "America/New_York; Sun 01:00-04:00", "2026-03-07 12:00:00Z", "2026-03-08 06:00:00Z", "2026-03-08 08:00:00Z"},
		{"New York spring, span from inside the gap opens after it", "America/New_York; Sun 02:30-05:00", "2026-03-07 12:00:00Z", "2026-03-08 07:00:00Z", "2026-03-08 09:00:00Z"},
		{"New York spring, span inside the gap never opens that day", "America/New_York; Sun 02:10-02:40", "2026-03-07 12:00:00Z", "2026-03-15 06:10:00Z", "2026-03-15 06:40:00Z"},
		// New York falls back on 2026-11-01 at 06:00 UTC: 02:00 EDT becomes
		// 01:00 EST, so 01:00-02:00 comes twice.
		{"New York fall, span over the repeated hour is longer", "America/New_York; Sun 01:00-04:00", "2026-10-31 12:00:00Z", "2026-11-01 05:00:00Z", "2026-11-01 09:00:00Z"},
		{"New York fall, span from inside the repeated hour opens the first time", "America/New_York; Sun 01:30-03:00", "2026-10-31 12:00:00Z", "2026-11-01 05:30:00Z", "2026-11-01 08:00:00Z"},
		{"New York fall, span ending inside the repeated hour closes the second time", "America/New_York; Sun 00:30-01:30", "2026-10-31 12:00:00Z", "2026-11-01 04:30:00Z", "2026-11-01 06:30:00Z"},
		{"New York fall, normal day after", "America/New_York; Mon 09:00-17:00", "2026-11-01 12:00:00Z", "2026-11-02 14:00:00Z", "2026-11-02 22:00:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := mustParse(t, tt.schedule)
			from, wantOpen, wantClose := utc(t, tt.from), utc(t, tt.wantOpen), utc(t, tt.wantClose)
			open, ok := s.NextOpen(from)
			if !ok || !open.Equal(wantOpen) {
				t.Errorf("NextOpen(%v) = %v, %v; want %v, true", from, open.UTC(), ok, wantOpen)
			}
			closing, ok := s.NextClose(wantOpen)
			if !ok || !closing.Equal(wantClose) {
				t.Errorf("NextClose(%v) = %v, %v; want %v, true", wantOpen, closing.UTC(), ok, wantClose)
			}
			// Open agrees at the edges and a second inside them.
			for _, c := range []struct {
				at   time.Time
				want bool
			}{
				{wantOpen.Add(-time.Second), false},
				{wantOpen, true},
				{wantClose.Add(-time.Second), true},
				{wantClose, false},
			} {
				if got := s.Open(c.at); got != c.want {
					t.Errorf("Open(%v) = %v, want %v", c.at, got, c.want)
				}
			}
		})
	}
}

// TestOpenThroughRepeatedHour: falling back, a span that starts inside
// the repeated hour stays open while the clock reads the hour again,
// rather than closing until the clock reaches its start a second time.
func TestOpenThroughRepeatedHour(t *testing.T) {
	t.Parallel()
	s := mustParse(t, "Europe/Berlin; Sun 02:30-05:00")
	for at := utc(t, "2026-10-25 00:30:00Z"); at.Before(utc(t, "2026-10-25 04:00:00Z")); at = at.Add(5 * time.Minute) {
		if !s.Open(at) {
			t.Errorf("Open(%v) = false (%v), want true", at, at.In(mustZone(t, "Europe/Berlin")))
		}
	}
}

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestOpen(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		schedule string
		at       string
		want     bool
	}{
		{"inside", "Europe/Berlin; Mon-Fri 09:00-17:00", "2026-06-03 10:00:00Z", true}, // Wed 12:00 CEST
		{"at the start", "Europe/Berlin; Mon-Fri 09:00-17:00", "2026-06-03 07:00:00Z", true},
		{"at the end", "Europe/Berlin; Mon-Fri 09:00-17:00", "2026-06-03 15:00:00Z", false},
		{"a second before the start", "Europe/Berlin; Mon-Fri 09:00-17:00", "2026-06-03 06:59:59Z", false},
		{"weekend", "Europe/Berlin; Mon-Fri 09:00-17:00", "2026-06-06 10:00:00Z", false},
		{"winter offset", "Europe/Berlin; Mon-Fri 09:00-17:00", "2026-01-07 08:00:00Z", true}, // Wed 09:00 CET
		{"between two spans", "Europe/Berlin; Sat 10:00-14:00, 15:00-18:00", "2026-06-06 12:30:00Z", false},
		{"second span", "Europe/Berlin; Sat 10:00-14:00, 15:00-18:00", "2026-06-06 13:00:00Z", true},
		{"wrapping range", "UTC; Fri-Mon 10:00-12:00", "2026-06-07 11:00:00Z", true}, // Sunday
		{"outside wrapping range", "UTC; Fri-Mon 10:00-12:00", "2026-06-03 11:00:00Z", false},
		{"24:00 includes the last second", "UTC; Mon 22:00-24:00", "2026-06-01 23:59:59Z", true},
		{"24:00 is the next day", "UTC; Mon 22:00-24:00", "2026-06-02 00:00:00Z", false},
		{"from midnight", "UTC; Tue 00:00-02:00", "2026-06-02 00:00:00Z", true},
		{"local date, not UTC's", "Asia/Tokyo; Tue 08:00-09:00", "2026-06-01 23:30:00Z", true}, // Tue 08:30 JST, Mon in UTC
		{"closed date", "Europe/Berlin; Mon-Fri 09:00-17:00; closed 2026-12-24", "2026-12-24 10:00:00Z", false},
		{"day after a closed date", "Europe/Berlin; Mon-Fri 09:00-17:00; closed 2026-12-24", "2026-12-23 10:00:00Z", true},
		{"closed range", "Europe/Berlin; Mon-Sun 09:00-17:00; closed 2026-12-24..2026-12-26", "2026-12-26 10:00:00Z", false},
		{"after a closed range", "Europe/Berlin; Mon-Sun 09:00-17:00; closed 2026-12-24..2026-12-26", "2026-12-27 10:00:00Z", true},
		// A closed date is a date of the schedule's zone: 23:30 UTC on the
		// 23rd is already the 24th in Berlin.
		{"closed date in the zone's calendar", "Europe/Berlin; Mon-Sun 00:00-24:00; closed 2026-12-24", "2026-12-23 23:30:00Z", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			at := utc(t, tt.at)
			if got := mustParse(t, tt.schedule).Open(at); got != tt.want {
				t.Errorf("Open(%v) = %v, want %v", at, got, tt.want)
			}
		})
	}
}

func TestNextOpenAndClose(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		schedule  string
		at        string
		wantOpen  string // "" for none within a year
		wantClose string
	}{
		{"open now", "Europe/Berlin; Mon-Fri 09:00-17:00", "2026-06-03 10:00:00Z", "2026-06-03 10:00:00Z", "2026-06-03 15:00:00Z"},
		{"later today", "Europe/Berlin; Mon-Fri 09:00-17:00", "2026-06-03 05:00:00Z", "2026-06-03 07:00:00Z", "2026-06-03 05:00:00Z"},
		{"over the weekend", "Europe/Berlin; Mon-Fri 09:00-17:00", "2026-06-05 16:00:00Z", "2026-06-08 07:00:00Z", "2026-06-05 16:00:00Z"},
		{"over closed dates", "Europe/Berlin; Mon-Fri 09:00-17:00; closed 2026-12-24..2026-12-26 2026-12-28", "2026-12-23 17:00:00Z", "2026-12-29 08:00:00Z", "2026-12-23 17:00:00Z"},
		{"second span", "UTC; Sat 10:00-14:00, 15:00-18:00", "2026-06-06 14:00:00Z", "2026-06-06 15:00:00Z", "2026-06-06 14:00:00Z"},
		{"touching spans are one opening", "UTC; Sat 10:00-12:00, 12:00-14:00", "2026-06-06 11:00:00Z", "2026-06-06 11:00:00Z", "2026-06-06 14:00:00Z"},
		{"overnight is one opening", "UTC; Mon 22:00-24:00; Tue 00:00-02:00", "2026-06-01 23:00:00Z", "2026-06-01 23:00:00Z", "2026-06-02 02:00:00Z"},
		{"overnight cut by a closed date", "UTC; Mon 22:00-24:00; Tue 00:00-02:00; closed 2026-06-02", "2026-06-01 23:00:00Z", "2026-06-01 23:00:00Z", "2026-06-02 00:00:00Z"},
		{"24:00 closes at midnight", "UTC; Mon 22:00-24:00", "2026-06-01 23:00:00Z", "2026-06-01 23:00:00Z", "2026-06-02 00:00:00Z"},
		{"from midnight", "UTC; Tue 00:00-02:00", "2026-06-01 23:00:00Z", "2026-06-02 00:00:00Z", "2026-06-01 23:00:00Z"},
		{"shut for over a year", "UTC; Mon 09:00-17:00; closed 2026-01-01..2027-12-31", "2026-01-01 00:00:00Z", "", "2026-01-01 00:00:00Z"},
		{"open round the clock", "UTC; Mon-Sun 00:00-24:00", "2026-06-01 12:00:00Z", "2026-06-01 12:00:00Z", ""},
		{"round the clock until a closed date", "Europe/Berlin; Mon-Sun 00:00-24:00; closed 2026-12-24", "2026-12-20 12:00:00Z", "2026-12-20 12:00:00Z", "2026-12-23 23:00:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := mustParse(t, tt.schedule)
			at := utc(t, tt.at)
			check := func(what string, got time.Time, ok bool, want string) {
				t.Helper()
				if want == "" {
					if ok {
						t.Errorf("%s(%v) = %v, true; want false", what, at, got.UTC())
					}
					return
				}
				if w := utc(t, want); !ok || !got.Equal(w) {
					t.Errorf("%s(%v) = %v, %v; want %v, true", what, at, got.UTC(), ok, w)
				}
				if zone, _, _ := strings.Cut(tt.schedule, ";"); got.Location().String() != zone {
					t.Errorf("%s(%v) is in %v, want the schedule's zone, %s", what, at, got.Location(), zone)
				}
			}
			got, ok := s.NextOpen(at)
			check("NextOpen", got, ok, tt.wantOpen)
			got, ok = s.NextClose(at)
			check("NextClose", got, ok, tt.wantClose)
		})
	}
}

// TestAlwaysOpen: no schedule, nil or zero, means no hours: always open.
func TestAlwaysOpen(t *testing.T) {
	t.Parallel()
	at := utc(t, "2026-06-06 03:00:00Z")
	for name, s := range map[string]*hours.Schedule{"nil": nil, "zero": {}} {
		if !s.Open(at) {
			t.Errorf("%s: Open() = false, want true", name)
		}
		if got, ok := s.NextOpen(at); !ok || !got.Equal(at) {
			t.Errorf("%s: NextOpen() = %v, %v; want %v, true", name, got, ok, at)
		}
		if got, ok := s.NextClose(at); ok {
			t.Errorf("%s: NextClose() = %v, true; want false", name, got)
		}
		if got := s.String(); got != "" {
			t.Errorf("%s: String() = %q, want \"\"", name, got)
		}
	}
}

// BenchmarkOpen is the cost the widget will pay on every render: a
// schedule of several spans a day, with closed dates, in a zone with
// daylight saving time.
func BenchmarkOpen(b *testing.B) {
	s, err := hours.Parse("Europe/Berlin; Mon-Fri 08:00-12:00, 13:00-18:00; Sat 10:00-14:00; closed 2026-12-24..2026-12-26 2027-01-01")
	if err != nil {
		b.Fatal(err)
	}
	at := time.Date(2026, 6, 3, 10, 30, 0, 0, time.UTC)
	for b.Loop() {
		s.Open(at)
	}
}

// BenchmarkNextOpen looks past a weekend, as "we open again at …" will.
func BenchmarkNextOpen(b *testing.B) {
	s, err := hours.Parse("Europe/Berlin; Mon-Fri 08:00-12:00, 13:00-18:00")
	if err != nil {
		b.Fatal(err)
	}
	at := time.Date(2026, 6, 5, 17, 0, 0, 0, time.UTC)
	for b.Loop() {
		s.NextOpen(at)
	}
}
