package api

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gantry/gantry/events"
)

// EventsBackend gives the event stream of GET /events.
type EventsBackend interface {
	// SubscribeEvents returns the recorded events published at or after
	// since (none for the zero time), oldest first, and a subscription to
	// the next ones, which the caller closes.
	SubscribeEvents(since time.Time) ([]events.Message, *events.Subscription)
}

// events answers GET /events?since=&until=&filters= with 200 and one JSON
// message per event, each flushed as it comes: the recorded ones since
// `since`, then the new ones until `until` (forever without it), as
// dockerd.
func (s *Server) events(w http.ResponseWriter, r *http.Request, _ string) {
	q := r.URL.Query()
	now := time.Now()
	since, err := eventTime(q.Get("since"), now)
	if err != nil {
		writeError(w, err)
		return
	}
	until, err := eventTime(q.Get("until"), now)
	if err != nil {
		writeError(w, err)
		return
	}
	if !since.IsZero() && !until.IsZero() && since.After(until) {
		writeError(w, invalidf("`since` time (%s) cannot be after `until` time (%s)", q.Get("since"), q.Get("until")))
		return
	}
	f, err := decodeFilters(q.Get("filters"))
	if err != nil {
		writeError(w, err)
		return
	}
	filter := events.Filter(f)
	if err := filter.Check(); err != nil {
		writeError(w, err)
		return
	}
	from := since
	if from.IsZero() && !until.IsZero() {
		from = time.Unix(0, 1) // as dockerd: `until` alone replays the whole history up to it
	}
	past, sub := s.b.SubscribeEvents(from)
	defer sub.Close()

	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	enc := json.NewEncoder(w)
	// send writes m if it passes; false once past until or the client left.
	send := func(m events.Message) bool {
		if !until.IsZero() && m.TimeNano > until.UnixNano() {
			return false
		}
		if !filter.Include(m) {
			return true
		}
		if enc.Encode(m) != nil {
			return false
		}
		return rc.Flush() == nil
	}
	for _, m := range past {
		if !send(m) {
			return
		}
	}
	var end <-chan time.Time
	if !until.IsZero() {
		t := time.NewTimer(time.Until(until))
		defer t.Stop()
		end = t.C
	}
	for {
		select {
		case m, ok := <-sub.C():
			if !ok || !send(m) {
				return
			}
		case <-end:
			return
		case <-r.Context().Done():
			return
		case <-s.stopping:
			return
		}
	}
}

// eventTime reads a `since` or `until` value as dockerd's timestamps:
// Unix seconds with optional fraction ("1700000000.000000001", what the
// docker CLI sends), an RFC 3339 time or date, or a duration before now
// ("10m"). "" is the zero time.
func eventTime(v string, now time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if sec, frac, _ := strings.Cut(v, "."); sec != "" {
		if s, err := strconv.ParseInt(sec, 10, 64); err == nil {
			var ns int64
			if frac != "" {
				frac = (frac + "000000000")[:9]
				if ns, err = strconv.ParseInt(frac, 10, 64); err != nil {
					return time.Time{}, invalidf("failed to parse value as time or duration: %q", v)
				}
			}
			return time.Unix(s, ns), nil
		}
	}
	if d, err := time.ParseDuration(v); err == nil {
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, nil
		}
	}
	return time.Time{}, invalidf("failed to parse value as time or duration: %q", v)
}
