package container

import (
	"io"
	"os"
	"sync"
	"time"
)

// Streams connects a container's stdio with the clients attached to it:
// output is copied to every subscriber as it comes (and to the log), input
// from clients goes into a pipe that the process reads. The pipe exists
// before the process does, so stdin sent between attach and start is kept.
type Streams struct {
	openStdin, closeOnEOF bool

	mu     sync.Mutex
	subs   map[*subscriber]struct{}
	stdinR *os.File
	stdinW *os.File
}

// subscriber is an attached client. Its output waits in a bounded queue
// that a goroutine of its own writes out, so that a client that does not
// read never holds back the container's output (nor the other clients);
// one that falls subscriberQueue bytes behind is dropped.
type subscriber struct {
	stdout, stderr io.Writer
	q              *OutputQueue
	done           chan struct{} // closed once the writer has finished
	dropped        chan struct{} // closed when the client fell behind
}

// subscriberQueue is how many bytes of output a client may fall behind.
const subscriberQueue = 4 << 20

// newStreams returns the streams of a container; with closeOnEOF (StdinOnce
// without a TTY) the end of a client's input closes the process's stdin.
func newStreams(openStdin, closeOnEOF bool) *Streams {
	return &Streams{openStdin: openStdin, closeOnEOF: closeOnEOF, subs: map[*subscriber]struct{}{}}
}

// Subscribe copies the container's output to stdout and stderr (either may
// be nil) until unsubscribe is called, which returns once what was
// published before has been written (or the writer failed). A subscriber
// whose writer fails gets nothing more; one that falls behind is dropped
// and dropped is closed.
func (s *Streams) Subscribe(stdout, stderr io.Writer) (unsubscribe func(), dropped <-chan struct{}) {
	sub := &subscriber{stdout: stdout, stderr: stderr, q: NewOutputQueue(subscriberQueue), done: make(chan struct{}), dropped: make(chan struct{})}
	go sub.write()
	s.mu.Lock()
	s.subs[sub] = struct{}{}
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		if _, ok := s.subs[sub]; ok {
			delete(s.subs, sub)
			sub.q.Close()
		}
		s.mu.Unlock()
		<-sub.done
	}, sub.dropped
}

func (sub *subscriber) write() {
	defer close(sub.done)
	failed := false
	for {
		chunks := sub.q.Take()
		if chunks == nil {
			return
		}
		for _, c := range chunks {
			w := sub.stdout
			if c.Stream == streamStderr {
				w = sub.stderr
			}
			if failed || w == nil {
				continue
			}
			if _, err := w.Write(c.P); err != nil {
				failed = true
			}
		}
	}
}

const (
	streamStdout byte = iota
	streamStderr
)

// Publish sends a chunk of one output stream to the attached clients; it
// never waits for them.
func (s *Streams) Publish(stream string, p []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := streamStdout
	if stream == "stderr" {
		st = streamStderr
	}
	for sub := range s.subs {
		if !sub.q.Put(st, p) {
			delete(s.subs, sub)
			sub.q.Close()
			close(sub.dropped)
		}
	}
}

// DropAll drops every attached client, as if each had fallen behind: the
// output they were sent lost a part (gantryd's own connection to the
// container's monitor fell behind), so they are told and let go rather than
// given output with a hole in it. Clients that attach later get what comes.
func (s *Streams) DropAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for sub := range s.subs {
		delete(s.subs, sub)
		sub.q.Close()
		close(sub.dropped)
	}
}

// StdinReader returns the read end of the stdin pipe, for the process, or
// nil when the container does not keep stdin open.
func (s *Streams) StdinReader() (*os.File, error) {
	if !s.openStdin {
		return nil, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.ensurePipeLocked(); err != nil {
		return nil, err
	}
	return s.stdinR, nil
}

// ensurePipeLocked makes the stdin pipe of the next run. Its write end may
// already be closed (the client sent its input and EOF before start).
func (s *Streams) ensurePipeLocked() error {
	if s.stdinR != nil {
		return nil
	}
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	s.stdinR, s.stdinW = r, w
	return nil
}

// CopyStdin copies a client's input into the process's stdin until src
// ends. When the container was created with StdinOnce and has no TTY, the
// end of src closes the process's stdin, as Docker does; with a TTY the
// stdin stays open for the next client to attach (a client that detached
// with the detach keys has not ended the input).
func (s *Streams) CopyStdin(src io.Reader) error {
	if !s.openStdin {
		_, err := io.Copy(io.Discard, src)
		return err
	}
	s.mu.Lock()
	err := s.ensurePipeLocked()
	w := s.stdinW
	s.mu.Unlock()
	if err != nil {
		return err
	}
	if w == nil {
		_, err := io.Copy(io.Discard, src) // stdin was closed already (StdinOnce)
		return err
	}
	_, err = io.Copy(w, src)
	if s.closeOnEOF {
		s.mu.Lock()
		if s.stdinW == w {
			s.stdinW.Close()
			s.stdinW = nil
			// The read end stays with the process until CloseStdin.
		}
		s.mu.Unlock()
	}
	return err
}

// CloseStdin closes both ends of the stdin pipe after the process exited;
// the next start gets a fresh pipe.
func (s *Streams) CloseStdin() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stdinW != nil {
		s.stdinW.Close()
	}
	if s.stdinR != nil {
		s.stdinR.Close()
	}
	s.stdinR, s.stdinW = nil, nil
}

// lineWriter cuts output into log lines; a line longer than maxLine is
// logged in pieces, as Docker's json-file driver does.
type lineWriter struct {
	log    *Log
	stream string
	buf    []byte
}

const maxLine = 16 * 1024

func (w *lineWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := indexNewline(p)
		if i < 0 {
			w.buf = append(w.buf, p...)
			if len(w.buf) >= maxLine {
				w.Flush()
			}
			return n, nil
		}
		w.buf = append(w.buf, p[:i+1]...)
		w.Flush()
		p = p[i+1:]
	}
	return n, nil
}

// Close logs what is buffered.
func (w *lineWriter) Close() error {
	w.Flush()
	return nil
}

// Flush logs what is buffered, a partial line included.
func (w *lineWriter) Flush() {
	if len(w.buf) == 0 {
		return
	}
	w.log.Write(w.stream, w.buf, time.Now())
	w.buf = w.buf[:0]
}

func indexNewline(p []byte) int {
	for i, b := range p {
		if b == '\n' {
			return i
		}
	}
	return -1
}
