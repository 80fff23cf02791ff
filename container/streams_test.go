package container

import (
	"bytes"
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

	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 2*subscriberQueue; i++ {
			s.Publish("stdout", []byte("x\n"))
			if i%16 == 15 { // at a pace the reading client keeps up with
				for fast.len() < 2*(i+1) {
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
	if got := fast.b.String(); got != strings.Repeat("x\n", 2*subscriberQueue) {
		t.Errorf("the reading client got %d bytes, want %d", len(got), 4*subscriberQueue)
	}
	go unsubStuck() // returns once the stuck writer is released
}
