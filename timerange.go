package kido

import (
	"errors"
	"fmt"
	"time"
)

// The times kido accepts: event windows, admissions, key validity, server
// times. Outside them a time is a typo or an attack, and the gate's
// replica, which stores Unix nanoseconds in an int64 (good from 1678 to
// 2262), would wrap.
var (
	MinTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	MaxTime = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
)

// ErrTimeRange is the verdict on a time outside [MinTime, MaxTime).
var ErrTimeRange = errors.New("kido: time out of range")

// CheckTime returns an error wrapping ErrTimeRange, naming what, when t is
// set but outside the years 2000 to 2199. The zero time passes: whether a
// time is required is the caller's rule.
func CheckTime(what string, t time.Time) error {
	if t.IsZero() || (!t.Before(MinTime) && t.Before(MaxTime)) {
		return nil
	}
	return fmt.Errorf("%w: %s %s is outside the years 2000 to 2199", ErrTimeRange, what, t.Format(time.RFC3339))
}

// ClampTime returns t held within [MinTime, MaxTime - 1 ns], for a time
// kido measures itself rather than accepts: a device clock reset to 1970
// or run away to 2300 still yields a record every part of kido accepts.
func ClampTime(t time.Time) time.Time {
	switch {
	case t.Before(MinTime):
		return MinTime
	case !t.Before(MaxTime):
		return MaxTime.Add(-time.Nanosecond)
	}
	return t
}

// CheckTimes checks the event's window with CheckTime.
func (e Event) CheckTimes() error {
	return errors.Join(CheckTime("event start", e.Start), CheckTime("event end", e.End))
}

// CheckTimes checks the key's validity window with CheckTime.
func (k Key) CheckTimes() error {
	var nb, na time.Time
	if k.NotBefore != nil {
		nb = *k.NotBefore
	}
	if k.NotAfter != nil {
		na = *k.NotAfter
	}
	return errors.Join(CheckTime("key not_before", nb), CheckTime("key not_after", na), CheckTime("key created", k.Created))
}

// CheckTimes checks the admission's times with CheckTime.
func (a Admission) CheckTimes() error {
	return errors.Join(CheckTime("admission at", a.At), CheckTime("admission corrected", a.Corrected))
}

// CheckTimes checks the void's times with CheckTime.
func (v Void) CheckTimes() error {
	return errors.Join(CheckTime("void from", v.From), CheckTime("void created", v.Created))
}
