package menus

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// schedule is a compiled ScheduleConfig.
type schedule struct {
	name     string
	loc      *time.Location
	week     [7][]span // by time.Weekday
	holidays map[date]bool
}

// span is an open period in seconds since midnight, [from, to).
type span struct{ from, to int }

type date struct {
	y int
	m time.Month
	d int
}

// open reports whether the schedule is open at t. The zero time (a caller
// that does not know the time) counts as open.
func (s *schedule) open(t time.Time) bool {
	if t.IsZero() {
		return true
	}
	t = t.In(s.loc)
	y, m, d := t.Date()
	if s.holidays[date{y, m, d}] {
		return false
	}
	sec := t.Hour()*3600 + t.Minute()*60 + t.Second()
	for _, sp := range s.week[t.Weekday()] {
		if sec >= sp.from && sec < sp.to {
			return true
		}
	}
	return false
}

var dayNames = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
	"sunday": time.Sunday, "monday": time.Monday, "tuesday": time.Tuesday, "wednesday": time.Wednesday,
	"thursday": time.Thursday, "friday": time.Friday, "saturday": time.Saturday,
}

// parseDays reads "mon", "monday" or a range "mon-fri" (which may wrap:
// "sat-sun", "fri-mon").
func parseDays(s string) ([]time.Weekday, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	from, to, isRange := strings.Cut(s, "-")
	a, ok := dayNames[from]
	if !ok {
		return nil, fmt.Errorf("unknown day %q (want mon, tue, wed, thu, fri, sat, sun or a range such as mon-fri)", s)
	}
	if !isRange {
		return []time.Weekday{a}, nil
	}
	b, ok := dayNames[to]
	if !ok {
		return nil, fmt.Errorf("unknown day %q (want mon, tue, wed, thu, fri, sat, sun or a range such as mon-fri)", s)
	}
	days := []time.Weekday{a}
	for d := a; d != b; {
		d = (d + 1) % 7
		days = append(days, d)
	}
	return days, nil
}

// parseSpan reads "09:00-17:30"; the end may be "24:00".
func parseSpan(s string) (span, error) {
	from, to, ok := strings.Cut(strings.TrimSpace(s), "-")
	if !ok {
		return span{}, fmt.Errorf("period %q: want HH:MM-HH:MM", s)
	}
	f, err := parseClock(from)
	if err != nil {
		return span{}, fmt.Errorf("period %q: %w", s, err)
	}
	t, err := parseClock(to)
	if err != nil {
		return span{}, fmt.Errorf("period %q: %w", s, err)
	}
	if f >= 24*3600 {
		return span{}, fmt.Errorf("period %q: starts at 24:00", s)
	}
	if t <= f {
		return span{}, fmt.Errorf("period %q: ends before it starts (split a period past midnight across two days)", s)
	}
	return span{f, t}, nil
}

func parseClock(s string) (int, error) {
	s = strings.TrimSpace(s)
	h, m, ok := strings.Cut(s, ":")
	if !ok || len(h) == 0 || len(h) > 2 || len(m) != 2 {
		return 0, fmt.Errorf("bad time %q (want HH:MM)", s)
	}
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil || hh < 0 || mm < 0 || mm > 59 || hh > 24 || (hh == 24 && mm != 0) {
		return 0, fmt.Errorf("bad time %q (want HH:MM, 00:00 to 24:00)", s)
	}
	return hh*3600 + mm*60, nil
}
