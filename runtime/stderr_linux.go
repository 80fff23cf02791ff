package runtime

import (
	"fmt"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

type relayMode int

const (
	relayHold    relayMode = iota // runc has not finished: keep what arrives
	relayForward                  // the container runs: forward everything
	relayDrop                     // the start failed: discard everything
)

// stderrRelay stands between a container's stderr and the file the caller
// gave for it. In detached mode runc hands its own stderr to the container and
// prints its errors there too; the relay holds the bytes back until runc has
// succeeded, so runc's error text never reaches the caller's file.
type stderrRelay struct {
	pipe *os.File // read end; the container holds the write end
	dst  *os.File // our own descriptor for the caller's file
	done chan struct{}

	mu   sync.Mutex
	mode relayMode
	held []byte
	eof  bool
}

// newStderrRelay returns a relay to dst and the write end to give to runc.
func newStderrRelay(dst *os.File) (*stderrRelay, *os.File, error) {
	rc, err := dst.SyscallConn()
	if err != nil {
		return nil, nil, fmt.Errorf("stderr: %w", err)
	}
	fd := -1
	if cerr := rc.Control(func(f uintptr) { fd, err = unix.FcntlInt(f, unix.F_DUPFD_CLOEXEC, 0) }); cerr != nil {
		err = cerr
	}
	if err != nil {
		return nil, nil, fmt.Errorf("duplicate stderr: %w", err)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		unix.Close(fd)
		return nil, nil, fmt.Errorf("stderr pipe: %w", err)
	}
	s := &stderrRelay{pipe: pr, dst: os.NewFile(uintptr(fd), dst.Name()), done: make(chan struct{})}
	go s.run()
	return s, pw, nil
}

func (s *stderrRelay) run() {
	buf := make([]byte, 32<<10)
	for {
		n, err := s.pipe.Read(buf)
		s.mu.Lock()
		if n > 0 {
			switch s.mode {
			case relayHold:
				s.held = append(s.held, buf[:n]...)
			case relayForward:
				s.write(buf[:n])
			}
		}
		if err != nil {
			s.eof = true
			if s.mode != relayHold {
				s.finish()
			}
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
	}
}

// write forwards p; after a write error (the reader went away) the rest is
// discarded, so the container never blocks on a dead stream.
func (s *stderrRelay) write(p []byte) {
	if _, err := s.dst.Write(p); err != nil {
		s.mode = relayDrop
	}
}

func (s *stderrRelay) finish() {
	s.pipe.Close()
	s.dst.Close()
	close(s.done)
}

// release forwards what was held and everything after it, and registers the
// relay so that Wait(pid) waits until the stream ends.
func (s *stderrRelay) release(r *Runc, pid int) {
	if s == nil {
		return
	}
	r.mu.Lock()
	r.streams[pid] = s
	r.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mode = relayForward
	s.write(s.held)
	s.held = nil
	if s.eof {
		s.finish()
	}
}

// drop discards what was held and everything after it.
func (s *stderrRelay) drop() {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mode, s.held = relayDrop, nil
	if s.eof {
		s.finish()
	}
}
