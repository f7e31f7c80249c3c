// Package hours is a support team's opening hours: a weekly schedule in a
// named time zone, with closed dates, that says whether chat is open at an
// instant and when it opens or closes next.
//
// Times are read off the zone's wall clock, so "09:00-17:00" opens at nine
// local time in summer and in winter. Where daylight saving time changes
// the clock, a span holds every instant from the first time the clock
// reads its start to the last time it reads its end: on the day the clock
// springs forward a span over the missing hour is an hour shorter (and one
// that starts inside it opens as the clock jumps past it), and on the day
// it falls back a span over the repeated hour is an hour longer.
package hours

import (
	"math"
	"time"

	// Zone data goes into every program that reads a schedule: a Go binary
	// is often run where /usr/share/zoneinfo is missing (scratch and
	// distroless images), and there a schedule in Europe/Berlin would fail
	// to load. LoadLocation still prefers the system's copy, which the
	// system keeps up to date; the embedded one is the fallback.
	_ "time/tzdata"
)

// Schedule is a weekly schedule in one time zone, plus closed dates.
// Parse builds one; it does not change afterwards, so it is safe for
// concurrent use. A nil Schedule, or the zero one, is always open: no hours
// are configured.
type Schedule struct {
	loc *time.Location
	// week holds each day's spans, by time.Weekday, sorted, neither
	// overlapping nor touching.
	week [7][]span
	// closed holds the closed dates, sorted, neither overlapping nor
	// touching.
	closed []dateRange
}

// span is a stretch of a day's wall clock, [start, end) in minutes since
// midnight; end may be 24*60.
type span struct{ start, end int }

// civilDay is a date of the calendar, counted in days from 1970-01-01.
type civilDay int64

// dateRange is a run of closed dates, from and to included.
type dateRange struct{ from, to civilDay }

const secondsPerDay = 24 * 60 * 60

// searchDays bounds how far NextOpen and NextClose look: a schedule that
// stays shut (or open) for a year is as good as never changing.
const searchDays = 367

func dayOfDate(y int, m time.Month, d int) civilDay {
	return civilDay(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / secondsPerDay)
}

func (d civilDay) weekday() time.Weekday {
	// 1970-01-01 was a Thursday.
	return time.Weekday(((int64(d)+4)%7 + 7) % 7)
}

func (d civilDay) String() string {
	return time.Unix(int64(d)*secondsPerDay, 0).UTC().Format(time.DateOnly)
}

// Open reports whether t is within the schedule's hours.
func (s *Schedule) Open(t time.Time) bool {
	if s.alwaysOpen() {
		return true
	}
	_, ok := s.openUntil(t)
	return ok
}

// NextOpen returns the first instant at or after t when the schedule is
// open (t itself when it is open at t), in the schedule's zone; false when
// it stays shut for the next year. A nil Schedule, having no zone, returns t
// as it is.
func (s *Schedule) NextOpen(t time.Time) (time.Time, bool) {
	if s.alwaysOpen() {
		return t, true
	}
	if s.Open(t) {
		return t.In(s.loc), true
	}
	today := s.dayOf(t)
	var best time.Time
	for day := today - 1; day <= today+searchDays; day++ {
		// Days' spans come in order, but near a clock change at midnight
		// the next day's may start before this day's last ends: look one
		// day past the first found.
		if !best.IsZero() && day > s.dayOf(best)+1 {
			break
		}
		if s.closedOn(day) {
			continue
		}
		for _, sp := range s.week[day.weekday()] {
			from, to := s.interval(day, sp)
			if from.After(t) && from.Before(to) && (best.IsZero() || from.Before(best)) {
				best = from
			}
		}
	}
	if best.IsZero() {
		return time.Time{}, false
	}
	return best.In(s.loc), true
}

// NextClose returns the first instant at or after t when the schedule is
// closed (t itself when it is closed at t), in the schedule's zone; false
// when it stays open for the next year, or always (a nil Schedule). Spans
// that meet across midnight ("Mon 22:00-24:00; Tue 00:00-02:00") are one
// opening.
func (s *Schedule) NextClose(t time.Time) (time.Time, bool) {
	if s.alwaysOpen() {
		return time.Time{}, false
	}
	limit := t.AddDate(0, 0, searchDays)
	at := t
	for at.Before(limit) {
		to, ok := s.openUntil(at)
		if !ok {
			return at.In(s.loc), true
		}
		at = to
	}
	return time.Time{}, false
}

func (s *Schedule) alwaysOpen() bool { return s == nil || s.loc == nil }

// openUntil returns the end of the span that holds t, if one does.
func (s *Schedule) openUntil(t time.Time) (time.Time, bool) {
	today := s.dayOf(t)
	// A span lies within its own day but for the odd zone that falls back
	// over midnight, where the clock shows yesterday's date again: look at
	// the days either side too.
	for day := today - 1; day <= today+1; day++ {
		if s.closedOn(day) {
			continue
		}
		for _, sp := range s.week[day.weekday()] {
			from, to := s.interval(day, sp)
			if !t.Before(from) && t.Before(to) {
				return to, true
			}
		}
	}
	return time.Time{}, false
}

// dayOf is t's date on the schedule's wall clock.
func (s *Schedule) dayOf(t time.Time) civilDay {
	return dayOfDate(t.In(s.loc).Date())
}

func (s *Schedule) closedOn(day civilDay) bool {
	for _, r := range s.closed {
		if day < r.from {
			return false
		}
		if day <= r.to {
			return true
		}
	}
	return false
}

// interval is the span sp of day as instants: from the first time the wall
// clock reads its start to the last time it reads its end. It is empty
// when the whole span falls in an hour the clock skips.
func (s *Schedule) interval(day civilDay, sp span) (from, to time.Time) {
	base := int64(day) * secondsPerDay
	first, _ := s.crossings(base + int64(sp.start)*60)
	_, last := s.crossings(base + int64(sp.end)*60)
	return time.Unix(first, 0), time.Unix(last, 0)
}

// crossings returns the first and the last instant (Unix seconds) at
// which the zone's wall clock, written as seconds since 1970-01-01 00:00
// of that clock, reaches wall from below. The clock runs at one second per
// second between the zone's transitions and jumps at them: it reaches wall
// at wall-offset inside a stretch of one offset, or at a transition that
// jumps over it (spring forward). A clock set back (fall back) reaches it
// twice.
func (s *Schedule) crossings(wall int64) (first, last int64) {
	// Every offset in the zone data lies well within a day, so every
	// instant whose clock reads wall lies within this window.
	const margin = 30 * 60 * 60
	lo, hi := wall-margin, wall+margin
	first, last = math.MaxInt64, math.MinInt64
	note := func(x int64) {
		first, last = min(first, x), max(last, x)
	}
	at := lo
	prevOffset, hasPrev := int64(0), false
	for at < hi {
		t := time.Unix(at, 0).In(s.loc)
		_, off := t.Zone()
		offset := int64(off)
		end := int64(math.MaxInt64)
		if _, e := t.ZoneBounds(); !e.IsZero() {
			end = e.Unix()
		}
		// The clock jumps at the start of this stretch: from just below
		// at+prevOffset to at+offset. Jumping forward over wall (or
		// landing on it) reaches it there.
		if hasPrev && at+prevOffset <= wall && wall <= at+offset {
			note(at)
		}
		if x := wall - offset; x > at && x < end {
			note(x)
		}
		prevOffset, hasPrev = offset, true
		at = end
	}
	if first == math.MaxInt64 {
		// Not reached with real zone data; read the clock as steady.
		_, off := time.Unix(wall, 0).In(s.loc).Zone()
		first, last = wall-int64(off), wall-int64(off)
	}
	return first, last
}
