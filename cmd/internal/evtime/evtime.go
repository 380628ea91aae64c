// Package evtime writes an event's times as kidoctl and kido-gate show them
// to people: in the event's time zone, with the zone named, so that a time
// read on a laptop in another zone, or on a gate whose device clock is set
// to UTC, is the wall-clock time at the venue. It is the one place that
// decides which zone an output uses; machine outputs (JSON) keep RFC 3339
// with the offset.
package evtime

import (
	"time"

	"kido.dev/kido"
)

// Zone is where an event's times are shown.
type Zone struct {
	Loc   *time.Location
	Label string // the zone's name, e.g. "Asia/Tokyo", or its offset, "UTC+09:00"
}

// Of is the zone of e's times: its time zone when it names one this machine
// knows, else fallback, labelled with its offset at the event's start.
// kidoctl passes the location of the event's start as the server gave it
// (the venue's offset); kido-gate, whose replica keeps instants only, the
// device's zone.
func Of(e kido.Event, fallback *time.Location) Zone {
	if l := e.Location(nil); l != nil {
		return Zone{l, e.TimeZone}
	}
	return Zone{fallback, Offset(e.Start.In(fallback))}
}

// Offset writes t's offset from UTC: "UTC", "UTC+09:00", "UTC-05:00".
func Offset(t time.Time) string {
	if _, off := t.Zone(); off == 0 {
		return "UTC"
	}
	return "UTC" + t.Format("-07:00")
}

// Layout is how a time is written in a table whose header names the zone
// (Header).
const Layout = "2006-01-02 15:04:05"

// Time writes t in the zone, without the zone's name: for a column whose
// header is Header.
func (z Zone) Time(t time.Time) string { return t.In(z.Loc).Format(Layout) }

// Millis is Time with milliseconds, for passages a moment apart.
func (z Zone) Millis(t time.Time) string { return t.In(z.Loc).Format(Layout + ".000") }

// Clock writes only t's time of day in the zone, for a time of today.
func (z Zone) Clock(t time.Time) string { return t.In(z.Loc).Format("15:04:05") }

// Stamp writes t in the zone with the zone named, for a time in a sentence.
func (z Zone) Stamp(t time.Time) string { return z.Time(t) + " " + z.Label }

// Header names a column of times in the zone: "TIME (Asia/Tokyo)".
func (z Zone) Header(name string) string { return name + " (" + z.Label + ")" }
