package hours_test

import (
	"strings"
	"testing"

	"github.com/parley/parley/chatstate/hours"
)

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		text string
		want string // String() of the result
	}{
		{"one rule", "Europe/Berlin; Mon-Fri 09:00-17:00", "Europe/Berlin; Mon-Fri 09:00-17:00"},
		{"several spans", "Europe/Berlin; Sat 10:00-14:00, 15:00-18:00", "Europe/Berlin; Sat 10:00-14:00, 15:00-18:00"},
		{"spans without commas", "UTC; Sat 10:00-14:00 15:00-18:00", "UTC; Sat 10:00-14:00, 15:00-18:00"},
		{"spans sorted", "UTC; Sat 15:00-18:00, 10:00-14:00", "UTC; Sat 10:00-14:00, 15:00-18:00"},
		{"touching spans joined", "UTC; Mon 09:00-12:00, 12:00-14:00", "UTC; Mon 09:00-14:00"},
		{"touching spans of two rules joined", "UTC; Mon-Fri 09:00-12:00; Fri 12:00-13:00", "UTC; Mon-Thu 09:00-12:00; Fri 09:00-13:00"},
		{"wrapping range", "UTC; Fri-Mon 10:00-12:00", "UTC; Mon 10:00-12:00; Fri-Sun 10:00-12:00"},
		{"day range to itself", "UTC; Wed-Wed 10:00-12:00", "UTC; Wed 10:00-12:00"},
		{"day lists", "UTC; Mon,Wed-Thu 10:00-12:00", "UTC; Mon 10:00-12:00; Wed-Thu 10:00-12:00"},
		{"day list with spaces", "UTC; Mon, Wed 10:00-12:00", "UTC; Mon 10:00-12:00; Wed 10:00-12:00"},
		{"days in any case", "UTC; MON-fri 9:00-17:30", "UTC; Mon-Fri 09:00-17:30"},
		{"whole days", "UTC; Mon-Sun 00:00-24:00", "UTC; Mon-Sun 00:00-24:00"},
		{"overnight as two spans", "UTC; Fri 22:00-24:00; Sat 00:00-02:00", "UTC; Fri 22:00-24:00; Sat 00:00-02:00"},
		{"closed dates", "UTC; Mon 09:00-17:00; closed 2026-12-24 2027-01-01", "UTC; Mon 09:00-17:00; closed 2026-12-24 2027-01-01"},
		{"closed dates with commas", "UTC; Mon 09:00-17:00; CLOSED 2026-12-24, 2027-01-01", "UTC; Mon 09:00-17:00; closed 2026-12-24 2027-01-01"},
		{"closed range", "UTC; Mon 09:00-17:00; closed 2026-12-24..2026-12-26", "UTC; Mon 09:00-17:00; closed 2026-12-24..2026-12-26"},
		{"closed dates merged", "UTC; Mon 09:00-17:00; closed 2026-12-26 2026-12-24..2026-12-25; closed 2026-12-25..2026-12-31 2026-12-24", "UTC; Mon 09:00-17:00; closed 2026-12-24..2026-12-31"},
		{"closed before hours", "UTC; closed 2026-12-24; Mon 09:00-17:00", "UTC; Mon 09:00-17:00; closed 2026-12-24"},
		{
			name: "file form",
			text: "# Support hours\r\nEurope/Berlin\r\n\r\nMon-Fri 09:00-17:00   # weekdays\r\nSat 10:00-14:00; Sun 10:00-12:00\r\nclosed 2026-12-24..2026-12-26\r\n",
			want: "Europe/Berlin; Mon-Fri 09:00-17:00; Sat 10:00-14:00; Sun 10:00-12:00; closed 2026-12-24..2026-12-26",
		},
		{"empty rules skipped", ";; UTC ;; Mon 09:00-10:00 ;", "UTC; Mon 09:00-10:00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := hours.Parse(tt.text)
			if err != nil {
				t.Fatalf("Parse(%q) = %v", tt.text, err)
			}
			if got := s.String(); got != tt.want {
				t.Errorf("Parse(%q).String() = %q, want %q", tt.text, got, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		text string
		want []string // each in the error
	}{
		{"empty", "", []string{"no rules"}},
		{"only comments", "# nothing\n ; \n", []string{"no rules"}},
		{"no zone", "Mon-Fri 09:00-17:00", []string{`"Mon-Fri 09:00-17:00"`, "time zone first"}},
		{"unknown zone", "Europe/Berln; Mon 09:00-17:00", []string{`"Europe/Berln"`, "unknown time zone"}},
		{"local zone", "Local; Mon 09:00-17:00", []string{"not Local"}},
		{"zone as a path", "/etc/localtime; Mon 09:00-17:00", []string{"not a file"}},
		{"zone climbing out", "../../etc/passwd; Mon 09:00-17:00", []string{"an IANA name"}},
		{"only a zone", "Europe/Berlin", []string{"no opening times"}},
		{"only closed dates", "Europe/Berlin; closed 2026-12-24", []string{"no opening times"}},
		{"unknown day", "UTC; Mon-Fir 09:00-17:00", []string{`"Mon-Fir 09:00-17:00"`, `unknown day "Fir"`}},
		{"full day name", "UTC; Monday 09:00-17:00", []string{`unknown day "Monday"`}},
		{"a rule of commas", "UTC\n,", []string{"no opening times"}},
		{"days without times", "UTC; Mon-Fri", []string{`"Mon-Fri"`, "no opening times"}},
		{"times without days", "UTC; 09:00-17:00", []string{"days first"}},
		{"day after times", "UTC; Mon 09:00-17:00 Tue", []string{`day "Tue" after the times`}},
		{"hours only", "UTC; Mon 9-17", []string{`"9-17"`, "09:00"}},
		{"not a span", "UTC; Mon 09:00", []string{`"09:00": want a span`}},
		{"hour too big", "UTC; Mon 09:00-25:00", []string{`"25:00"`}},
		{"minutes too big", "UTC; Mon 09:60-12:00", []string{`"09:60"`}},
		{"past 24:00", "UTC; Mon 09:00-24:01", []string{`"24:01"`}},
		{"signed hour", "UTC; Mon +9:00-12:00", []string{`unknown day "+9:00"`}},
		{"empty span", "UTC; Mon 09:00-09:00", []string{"end must come after the start"}},
		{"overnight span", "UTC; Fri 22:00-02:00", []string{"end must come after the start", "Fri 22:00-24:00; Sat 00:00-02:00"}},
		{"start at 24:00", "UTC; Fri 24:00-24:00", []string{"end must come after the start"}},
		{"overlap in one rule", "UTC; Mon 09:00-12:00, 11:00-13:00", []string{"Mon 11:00-13:00 overlaps 09:00-12:00"}},
		{"overlap of two rules", "UTC; Mon-Fri 09:00-17:00; Fri 16:00-20:00", []string{`"Fri 16:00-20:00": Fri 16:00-20:00 overlaps 09:00-17:00 from "Mon-Fri 09:00-17:00"`}},
		{"a day twice", "UTC; Mon-Fri, Wed 09:00-17:00", []string{"Wed 09:00-17:00 overlaps 09:00-17:00"}},
		{"closed without dates", "UTC; Mon 09:00-17:00; closed", []string{"no dates"}},
		{"closed bad date", "UTC; Mon 09:00-17:00; closed 2026-02-30", []string{`date "2026-02-30"`}},
		{"closed short date", "UTC; Mon 09:00-17:00; closed 2026-2-3", []string{`date "2026-2-3"`}},
		{"closed backwards range", "UTC; Mon 09:00-17:00; closed 2026-12-26..2026-12-24", []string{"last date comes before the first"}},
		{"line numbers in the file form", "UTC\nMon 09:00-17:00\n\nTue 9:00\n", []string{`line 4: "Tue 9:00"`}},
		{"comment ends the flag's rules", "UTC # Mon 09:00-17:00", []string{"no opening times"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := hours.Parse(tt.text)
			if err == nil {
				t.Fatalf("Parse(%q) = %q, nil; want an error", tt.text, s)
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Parse(%q) = %v, want an error mentioning %q", tt.text, err, want)
				}
			}
		})
	}
}

// FuzzParse: no text panics Parse, and what it accepts prints a canonical
// form that parses back to the same schedule.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"Europe/Berlin; Mon-Fri 09:00-17:00",
		"America/New_York\nSat 10:00-14:00, 15:00-18:00 # weekend\nclosed 2026-12-24..2026-12-26 2027-01-01",
		"UTC; Fri-Mon 00:00-24:00; Tue 9:00-9:30,9:30-10:00",
		"Asia/Kolkata; sun 22:00-24:00; MON 00:00-02:00; closed 0000-01-01..9999-12-31",
		"UTC; Mon 09:00-12:00, 11:00-13:00",
		"Local; Mon 09:00-17:00",
		";;#\n\r\t",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, text string) {
		s, err := hours.Parse(text)
		if err != nil {
			if s != nil {
				t.Errorf("Parse(%q) = %v and a schedule, want nil with the error", text, err)
			}
			return
		}
		canonical := s.String()
		again, err := hours.Parse(canonical)
		if err != nil {
			t.Fatalf("Parse(%q) = %v; it is the String() of Parse(%q)", canonical, err, text)
		}
		if got := again.String(); got != canonical {
			t.Errorf("Parse(%q).String() = %q, want it unchanged", canonical, got)
		}
	})
}
