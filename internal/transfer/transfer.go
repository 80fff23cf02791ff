// Package transfer paces the layer transfers of pulls and pushes as dockerd
// does: a reader that reports its progress at most every Interval, and a
// bound on how many transfers run at once that says when one waits.
package transfer

import (
	"context"
	"io"
	"time"
)

// Interval is how often a transfer reports its bytes, as dockerd.
const Interval = 100 * time.Millisecond

// Meter counts the bytes read through it and reports the count: on the
// first read, then at most every Interval, and at the end of the stream
// (a read that fails, io.EOF included) unless the last report had it.
// Flush reports a count not reported yet. A Meter is for one goroutine.
type Meter struct {
	r        io.Reader
	report   func(n int64)
	n        int64
	last     time.Time
	reported int64 // the count last reported, -1 before the first report
}

// NewMeter returns a Meter of r that calls report with the bytes read so
// far.
func NewMeter(r io.Reader, report func(n int64)) *Meter {
	return &Meter{r: r, report: report, reported: -1}
}

func (m *Meter) Read(p []byte) (int, error) {
	n, err := m.r.Read(p)
	m.n += int64(n)
	if err != nil {
		m.Flush()
	} else if now := time.Now(); now.Sub(m.last) >= Interval {
		m.last = now
		m.send()
	}
	return n, err
}

// Flush reports the count unless the last report had it: for a consumer
// that stops at the expected length, before the read that would end the
// stream.
func (m *Meter) Flush() {
	if m.n != m.reported {
		m.send()
	}
}

func (m *Meter) send() {
	m.reported = m.n
	m.report(m.n)
}

// Slots bounds how many transfers run at once: each holds a slot from
// Acquire to Release.
type Slots chan struct{}

// NewSlots returns n free slots.
func NewSlots(n int) Slots { return make(Slots, n) }

// Acquire takes a slot. When none is free it first calls waiting (unless
// nil), then blocks until one is, or until ctx is done, when it returns
// ctx's error and holds no slot.
func (s Slots) Acquire(ctx context.Context, waiting func()) error {
	select {
	case s <- struct{}{}:
		return nil
	default:
	}
	if waiting != nil {
		waiting()
	}
	select {
	case s <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Release frees a slot Acquire took.
func (s Slots) Release() { <-s }
