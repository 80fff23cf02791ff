package api

import (
	"encoding/binary"
	"io"
	"sync"

	"github.com/moby/moby/api/pkg/stdcopy"
)

// frameWriter writes each Write as one frame of the multiplexed stdout/stderr
// stream that stdcopy.StdCopy reads: byte 0 the stream, bytes 4..7 the
// payload length (big endian), then the payload. Writers sharing mu may be
// used concurrently.
type frameWriter struct {
	mu     *sync.Mutex
	w      io.Writer
	stream stdcopy.StdType
}

func (f *frameWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	var hdr [8]byte
	hdr[0] = byte(f.stream)
	binary.BigEndian.PutUint32(hdr[4:], uint32(len(p)))
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.w.Write(append(hdr[:], p...)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// lockedWriter serializes writes of the raw (TTY) stream.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
