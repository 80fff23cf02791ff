package container

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

// blockingWriter never returns from Write until released.
type blockingWriter struct{ release chan struct{} }

func (w blockingWriter) Write(p []byte) (int, error) {
	<-w.release
	return len(p), nil
}

func (l *lockedBuffer) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Len()
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// TestStreamsSlowClient: a client that does not read is dropped once it
// falls behind; publishing never waits for it, and a client that reads
// gets every chunk, written out by the time it unsubscribes.
func TestStreamsSlowClient(t *testing.T) {
	s := newStreams(false, false)
	stuck := blockingWriter{release: make(chan struct{})}
	defer close(stuck.release)
	unsubStuck, dropped := s.Subscribe(stuck, stuck)
	var fast lockedBuffer
	unsubFast, fastDropped := s.Subscribe(&fast, io.Discard)

	chunk := bytes.Repeat([]byte("x"), 32<<10)
	n := 2 * subscriberQueue / len(chunk)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < n; i++ {
			s.Publish("stdout", chunk)
			if i%16 == 15 { // at a pace the reading client keeps up with
				for fast.len() < len(chunk)*(i+1) {
					time.Sleep(time.Millisecond)
				}
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Publish waited for a client that does not read")
	}
	select {
	case <-dropped:
	default:
		t.Error("the client that does not read was not dropped")
	}
	select {
	case <-fastDropped:
		t.Error("the client that reads was dropped")
	default:
	}
	unsubFast()
	if got := fast.len(); got != n*len(chunk) {
		t.Errorf("the reading client got %d bytes, want %d", got, n*len(chunk))
	}
	go unsubStuck() // returns once the stuck writer is released
}

// TestStreamsPausedClient: a client that pauses while a process writes a
// line at a time (many chunks of a few bytes, far from the bound in bytes)
// is not dropped, and gets every line once it reads again, in order, in
// few writes. It used to be dropped after 256 chunks.
func TestStreamsPausedClient(t *testing.T) {
	s := newStreams(false, false)
	paused := blockingWriter{release: make(chan struct{})}
	var got lockedBuffer
	var writes int
	var mu sync.Mutex
	w := writerFunc(func(p []byte) (int, error) {
		paused.Write(p)
		mu.Lock()
		writes++
		mu.Unlock()
		return got.Write(p)
	})
	unsub, dropped := s.Subscribe(w, w)
	var want strings.Builder
	for i := 0; i < 20000; i++ {
		line := fmt.Sprintf("line %d\n", i)
		want.WriteString(line)
		stream := "stdout"
		if i%1000 == 999 {
			stream = "stderr"
		}
		s.Publish(stream, []byte(line))
	}
	select {
	case <-dropped:
		t.Fatal("a paused client was dropped 20,000 short lines behind")
	default:
	}
	close(paused.release)
	unsub()
	if got.b.String() != want.String() {
		t.Errorf("the paused client got %d bytes, want the %d published", got.len(), want.Len())
	}
	if writes > 100 {
		t.Errorf("%d writes for 20,000 lines queued: they were not merged", writes)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// TestOutputQueue: chunks keep their order and stream, adjacent ones of
// one stream merge up to mergeLimit, the bound is in bytes, and Close lets
// Take return what is queued, then nil.
func TestOutputQueue(t *testing.T) {
	q := NewOutputQueue(100 << 10)
	big := bytes.Repeat([]byte("b"), 40<<10)
	for _, c := range []OutputChunk{{1, []byte("a")}, {1, []byte("b")}, {2, []byte("c")}, {2, big}, {2, big}, {1, []byte("d")}} {
		if !q.Put(c.Stream, c.P) {
			t.Fatalf("Put %d bytes refused", len(c.P))
		}
	}
	if q.Put(1, big) {
		t.Error("Put past the limit accepted")
	}
	q.Close()
	if q.Put(1, []byte("e")) {
		t.Error("Put after Close accepted")
	}
	var got []string
	for _, c := range q.Take() {
		got = append(got, fmt.Sprintf("%d:%d", c.Stream, len(c.P)))
	}
	if want := []string{"1:2", "2:40961", "2:40960", "1:1"}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("chunks %v, want %v", got, want)
	}
	if c := q.Take(); c != nil {
		t.Errorf("Take after the queue was emptied and closed: %v", c)
	}
}
