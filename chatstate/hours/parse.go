package hours

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
)

// dayNames are the names a rule gives days by, indexed by time.Weekday.
var dayNames = [7]string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}

// weekOrder is the order String prints days in: a week starts on Monday
// in the rules people write ("Mon-Fri"), not on Go's Sunday.
var weekOrder = [7]time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday, time.Saturday, time.Sunday}

// rule is one rule of the text, with where it came from for errors.
type rule struct {
	text string
	line int
}

// where names a rule in an error: its text, and its line when the text
// has several (the file form).
func (r rule) where(multiline bool) string {
	if multiline {
		return fmt.Sprintf("line %d: %q", r.line, r.text)
	}
	return fmt.Sprintf("%q", r.text)
}

// Parse reads a schedule: rules separated by semicolons or new lines, the
// first of them the time zone, then opening times and closed dates.
//
//	Europe/Berlin
//	Mon-Fri 09:00-17:00          # a range of days; Fri-Mon wraps over Sunday
//	Sat 10:00-14:00, 15:00-18:00 # several spans a day
//	Fri 22:00-24:00; Sat 00:00-02:00 # overnight: one span each side of midnight
//	closed 2026-12-24..2026-12-26 2027-01-01
//
// Times are the zone's wall clock, [start, end) in minutes; 24:00 ends a
// day. A # starts a comment that runs to the end of its line. Day names
// and "closed" take any case. Spans of one day must not overlap; spans
// that touch are joined. The text needs a zone and at least one span.
// Errors name the rule (and its line) and what is wrong with it.
func Parse(text string) (*Schedule, error) {
	rules := splitRules(text)
	if len(rules) == 0 {
		return nil, errors.New(`hours: no rules: want a time zone and opening times, like "Europe/Berlin; Mon-Fri 09:00-17:00"`)
	}
	multiline := strings.Contains(strings.TrimSpace(text), "\n")

	loc, err := parseZone(rules[0].text)
	if err != nil {
		return nil, fmt.Errorf("hours: %s: %w", rules[0].where(multiline), err)
	}
	s := &Schedule{loc: loc}
	var week [7][]ruleSpan
	for _, r := range rules[1:] {
		fields := strings.FieldsFunc(r.text, func(c rune) bool { return c == ',' || unicode.IsSpace(c) })
		if len(fields) > 0 && asciiLower(fields[0]) == "closed" {
			dates, err := parseClosed(fields[1:])
			if err != nil {
				return nil, fmt.Errorf("hours: %s: %w", r.where(multiline), err)
			}
			s.closed = append(s.closed, dates...)
			continue
		}
		days, spans, err := parseDays(fields)
		if err != nil {
			return nil, fmt.Errorf("hours: %s: %w", r.where(multiline), err)
		}
		for _, d := range days {
			for _, sp := range spans {
				week[d] = append(week[d], ruleSpan{span: sp, rule: r})
			}
		}
	}

	anyOpen := false
	for d := range week {
		spans := week[d]
		slices.SortStableFunc(spans, func(a, b ruleSpan) int { return a.start - b.start })
		for i := 1; i < len(spans); i++ {
			if prev, cur := spans[i-1], spans[i]; cur.start < prev.end {
				return nil, fmt.Errorf("hours: %s: %s %s overlaps %s from %s",
					cur.rule.where(multiline), dayNames[d], cur.span, prev.span, prev.rule.where(multiline))
			}
		}
		for _, sp := range spans {
			// Spans that touch are one opening: NextClose must not stop
			// at 12:00 in "09:00-12:00, 12:00-14:00".
			if n := len(s.week[d]); n > 0 && s.week[d][n-1].end == sp.start {
				s.week[d][n-1].end = sp.end
				continue
			}
			s.week[d] = append(s.week[d], sp.span)
		}
		anyOpen = anyOpen || len(s.week[d]) > 0
	}
	if !anyOpen {
		return nil, errors.New(`hours: no opening times: add a rule like "Mon-Fri 09:00-17:00"`)
	}
	s.closed = mergeDates(s.closed)
	return s, nil
}

// ruleSpan is a span with the rule that gave it, for overlap errors.
type ruleSpan struct {
	span
	rule rule
}

// splitRules cuts text into its rules, comments dropped.
func splitRules(text string) []rule {
	var rules []rule
	for i, line := range strings.Split(text, "\n") {
		line, _, _ = strings.Cut(line, "#")
		for part := range strings.SplitSeq(line, ";") {
			if part = strings.TrimSpace(part); part != "" {
				rules = append(rules, rule{text: part, line: i + 1})
			}
		}
	}
	return rules
}

// parseZone loads the zone a schedule is written in. Only IANA names are
// taken: "Local" would make the hours depend on the machine Parley runs
// on, and the character set keeps odd names away from the file system.
func parseZone(name string) (*time.Location, error) {
	if name == "Local" {
		return nil, errors.New("want an IANA time zone name like Europe/Berlin, not Local")
	}
	for _, c := range name {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.ContainsRune("/_+-", c)) {
			return nil, errors.New("want the time zone first, an IANA name like Europe/Berlin")
		}
	}
	if strings.HasPrefix(name, "/") {
		return nil, errors.New("want an IANA time zone name like Europe/Berlin, not a file")
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone: want an IANA name like Europe/Berlin")
	}
	return loc, nil
}

// parseDays reads "Mon-Fri,Sun 09:00-12:00, 13:00-17:00", already cut
// into fields: days first, then spans.
func parseDays(fields []string) ([]time.Weekday, []span, error) {
	var days []time.Weekday
	var spans []span
	for _, f := range fields {
		if f[0] >= '0' && f[0] <= '9' {
			if len(days) == 0 {
				return nil, nil, errors.New(`want the days first, like "Mon-Fri 09:00-17:00"`)
			}
			sp, err := parseSpan(f)
			if err != nil {
				return nil, nil, err
			}
			spans = append(spans, sp)
			continue
		}
		if len(spans) > 0 {
			return nil, nil, fmt.Errorf("day %q after the times: want the days first, like \"Mon-Fri 09:00-17:00\"", f)
		}
		ds, err := parseDayRange(f)
		if err != nil {
			return nil, nil, err
		}
		days = append(days, ds...)
	}
	if len(spans) == 0 {
		return nil, nil, errors.New(`no opening times: want days and times, like "Mon-Fri 09:00-17:00"`)
	}
	return days, spans, nil
}

// parseDayRange reads "Mon" or "Fri-Mon", a range that may wrap over the
// end of the week.
func parseDayRange(f string) ([]time.Weekday, error) {
	from, to, isRange := strings.Cut(f, "-")
	first, err := parseDay(from)
	if err != nil {
		return nil, err
	}
	if !isRange {
		return []time.Weekday{first}, nil
	}
	last, err := parseDay(to)
	if err != nil {
		return nil, err
	}
	days := []time.Weekday{first}
	for d := first; d != last; {
		d = (d + 1) % 7
		days = append(days, d)
	}
	return days, nil
}

func parseDay(name string) (time.Weekday, error) {
	for d, n := range dayNames {
		if asciiLower(name) == strings.ToLower(n) {
			return time.Weekday(d), nil
		}
	}
	return 0, fmt.Errorf("unknown day %q: want Mon, Tue, Wed, Thu, Fri, Sat or Sun, or a range like Mon-Fri", name)
}

// parseSpan reads "09:00-17:00".
func parseSpan(f string) (span, error) {
	from, to, ok := strings.Cut(f, "-")
	if !ok {
		return span{}, fmt.Errorf("%q: want a span of time like 09:00-17:00", f)
	}
	start, err := parseClock(from)
	if err != nil {
		return span{}, fmt.Errorf("%q: %w", f, err)
	}
	end, err := parseClock(to)
	if err != nil {
		return span{}, fmt.Errorf("%q: %w", f, err)
	}
	if start >= end {
		return span{}, fmt.Errorf("%q: the end must come after the start on the same day (overnight, write two spans: Fri 22:00-24:00; Sat 00:00-02:00)", f)
	}
	return span{start: start, end: end}, nil
}

// parseClock reads "9:00" or "09:00" into minutes since midnight; "24:00"
// is the end of the day.
func parseClock(s string) (int, error) {
	h, m, ok := strings.Cut(s, ":")
	if !ok || len(h) < 1 || len(h) > 2 || len(m) != 2 || !isDigits(h) || !isDigits(m) {
		return 0, fmt.Errorf("time %q: want hours and minutes like 09:00", s)
	}
	hours := atoi(h)
	minutes := atoi(m)
	if hours > 24 || minutes > 59 || hours == 24 && minutes != 0 {
		return 0, fmt.Errorf("time %q: want 00:00 to 24:00", s)
	}
	return hours*60 + minutes, nil
}

// parseClosed reads the dates of a "closed" rule: "2026-12-24" or
// "2026-12-24..2026-12-26".
func parseClosed(fields []string) ([]dateRange, error) {
	if len(fields) == 0 {
		return nil, errors.New(`no dates: want "closed 2026-12-24" or "closed 2026-12-24..2026-12-26"`)
	}
	var out []dateRange
	for _, f := range fields {
		from, to, isRange := strings.Cut(f, "..")
		first, err := parseDate(from)
		if err != nil {
			return nil, err
		}
		last := first
		if isRange {
			if last, err = parseDate(to); err != nil {
				return nil, err
			}
			if last < first {
				return nil, fmt.Errorf("%q: the last date comes before the first", f)
			}
		}
		out = append(out, dateRange{from: first, to: last})
	}
	return out, nil
}

func parseDate(s string) (civilDay, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil || len(s) != len(time.DateOnly) {
		return 0, fmt.Errorf("date %q: want a date like 2026-12-24", s)
	}
	return dayOfDate(t.Date()), nil
}

// mergeDates sorts closed ranges and joins those that overlap or touch,
// so that String has one way to print them.
func mergeDates(ranges []dateRange) []dateRange {
	slices.SortFunc(ranges, func(a, b dateRange) int { return cmp.Compare(a.from, b.from) })
	var out []dateRange
	for _, r := range ranges {
		if n := len(out); n > 0 && r.from <= out[n-1].to+1 {
			out[n-1].to = max(out[n-1].to, r.to)
			continue
		}
		out = append(out, r)
	}
	return out
}

// String is the schedule's canonical text, which Parse reads back to the
// same schedule: the zone, then days with the same spans as ranges from
// Monday on, then the closed dates; "" for a nil schedule.
func (s *Schedule) String() string {
	if s == nil || s.loc == nil {
		return ""
	}
	rules := []string{s.loc.String()}
	for i := 0; i < len(weekOrder); i++ {
		d := weekOrder[i]
		if len(s.week[d]) == 0 {
			continue
		}
		days := dayNames[d]
		j := i
		for j+1 < len(weekOrder) && slices.Equal(s.week[weekOrder[j+1]], s.week[d]) {
			j++
		}
		if j > i {
			days += "-" + dayNames[weekOrder[j]]
		}
		spans := make([]string, len(s.week[d]))
		for k, sp := range s.week[d] {
			spans[k] = sp.String()
		}
		rules = append(rules, days+" "+strings.Join(spans, ", "))
		i = j
	}
	if len(s.closed) > 0 {
		dates := make([]string, len(s.closed))
		for i, r := range s.closed {
			dates[i] = r.from.String()
			if r.to != r.from {
				dates[i] += ".." + r.to.String()
			}
		}
		rules = append(rules, "closed "+strings.Join(dates, " "))
	}
	return strings.Join(rules, "; ")
}

func (sp span) String() string {
	return fmt.Sprintf("%02d:%02d-%02d:%02d", sp.start/60, sp.start%60, sp.end/60, sp.end%60)
}

// asciiLower lowers ASCII letters only: Unicode folding would take "ſun"
// (long s) for Sun.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func isDigits(s string) bool {
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// atoi reads a string of at most two digits that isDigits has checked.
func atoi(s string) int {
	n := 0
	for _, c := range []byte(s) {
		n = n*10 + int(c-'0')
	}
	return n
}
