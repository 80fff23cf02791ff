package container

import "sync"

// OutputQueue is the output waiting for one attached client: chunks of a
// container's streams, in order, bounded in bytes. The bound is in bytes,
// not chunks, because a process that writes a line at a time makes chunks
// of a few bytes: a bound of a hundred chunks was a few hundred bytes, and
// any pause of the client's dropped it. Its writer takes all that is
// queued at once, adjacent chunks of one stream merged, so that a client
// that fell behind catches up in a few writes.
type OutputQueue struct {
	mu     sync.Mutex
	chunks []OutputChunk
	size   int // bytes queued
	limit  int
	closed bool
	wake   chan struct{} // a token once chunks or closed changed
}

// OutputChunk is output of one stream (its meaning is the user's).
type OutputChunk struct {
	Stream byte
	P      []byte
}

// mergeLimit bounds the chunks Put merges: a chunk is never larger than
// that, or than the one given to Put.
const mergeLimit = 64 << 10

// NewOutputQueue returns a queue holding up to limit bytes.
func NewOutputQueue(limit int) *OutputQueue {
	return &OutputQueue{limit: limit, wake: make(chan struct{}, 1)}
}

// Put queues a copy of p; false when the queue is closed or p would take
// it past its limit: the client fell behind.
func (q *OutputQueue) Put(stream byte, p []byte) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed || q.size+len(p) > q.limit {
		return false
	}
	if n := len(q.chunks); n > 0 && q.chunks[n-1].Stream == stream && len(q.chunks[n-1].P)+len(p) <= mergeLimit {
		q.chunks[n-1].P = append(q.chunks[n-1].P, p...)
	} else {
		q.chunks = append(q.chunks, OutputChunk{Stream: stream, P: append([]byte(nil), p...)})
	}
	q.size += len(p)
	q.signal()
	return true
}

// Take waits for output and returns all that is queued, the queue then
// empty; nil once the queue is closed and empty.
func (q *OutputQueue) Take() []OutputChunk {
	for {
		q.mu.Lock()
		if len(q.chunks) > 0 {
			c := q.chunks
			q.chunks, q.size = nil, 0
			q.mu.Unlock()
			return c
		}
		closed := q.closed
		q.mu.Unlock()
		if closed {
			return nil
		}
		<-q.wake
	}
}

// Close ends the queue: Take returns what is queued, then nil; Put fails.
func (q *OutputQueue) Close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	q.signal()
}

func (q *OutputQueue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}
