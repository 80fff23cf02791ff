package ctxsync

import (
	"bufio"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"sync"

	"github.com/containerd/errdefs"
	"github.com/tonistiigi/fsutil/types"
)

// Limits of what a peer may send.
const (
	// maxFrame bounds one packet: fsutil's data packets are 32 KiB, a stat
	// is a path, a link target and a few numbers.
	maxFrame = 1 << 20
	// MaxEntries bounds the entries (files, directories, links) of one
	// context, so that a context's records in memory stay bounded.
	MaxEntries = 1 << 20
)

// stream carries fsutil's packets over a byte stream (a hijacked HTTP
// connection): each packet is a 4-byte big-endian header, one more than
// the length of the packet's protobuf encoding (which is empty for the
// stat that ends a listing), and that encoding; a zero header ends the
// sender's side (io.EOF for the reader). It implements fsutil.Stream. Packets from the peer are
// checked (their size, their paths, the number of entries) as they are
// read.
type stream struct {
	ctx context.Context
	r   *bufio.Reader

	wmu sync.Mutex
	w   *bufio.Writer

	maxEntries int // 0: MaxEntries

	// What was read (entries listed, content bytes) and asked for.
	entries  int
	received int64
	requests int
	buf      []byte
}

func newStream(ctx context.Context, r *bufio.Reader, w io.Writer) *stream {
	return &stream{ctx: ctx, r: r, w: bufio.NewWriterSize(w, 256<<10)}
}

func (s *stream) Context() context.Context { return s.ctx }

// SendMsg writes the packet m. Stat packets are buffered (a context's
// listing goes in large writes); any other packet, and the stat that ends
// the listing, is flushed at once, as the peer waits for it.
func (s *stream) SendMsg(m any) error {
	p, ok := m.(*types.Packet)
	if !ok {
		return fmt.Errorf("context sync: cannot send a %T", m)
	}
	n := p.SizeVT()
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if cap(s.buf) < 4+n {
		s.buf = make([]byte, 4+n)
	}
	b := s.buf[:4+n]
	binary.BigEndian.PutUint32(b, uint32(n)+1)
	if _, err := p.MarshalToSizedBufferVT(b[4:]); err != nil {
		return err
	}
	if _, err := s.w.Write(b); err != nil {
		return err
	}
	if p.Type == types.PACKET_REQ {
		s.requests++
	}
	if p.Type == types.PACKET_STAT && p.Stat != nil && s.w.Buffered() < 128<<10 {
		return nil
	}
	return s.w.Flush()
}

// closeSend ends this side of the stream: the peer reads io.EOF.
func (s *stream) closeSend() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if _, err := s.w.Write([]byte{0, 0, 0, 0}); err != nil {
		return err
	}
	return s.w.Flush()
}

// RecvMsg reads the next packet into m (a *types.Packet). A frame over
// maxFrame, an undecodable packet, a stat whose path or hard-link target
// is not a clean relative path, and more than MaxEntries stats are
// invalid-argument errors.
func (s *stream) RecvMsg(m any) error {
	p, ok := m.(*types.Packet)
	if !ok {
		return fmt.Errorf("context sync: cannot receive a %T", m)
	}
	var hdr [4]byte
	if _, err := io.ReadFull(s.r, hdr[:]); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF // the peer left without ending its side
		}
		return fmt.Errorf("context sync: %w", err)
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n == 0 {
		return io.EOF
	}
	n--
	if n > maxFrame {
		return invalid("a packet of %d bytes (the limit is %d)", n, maxFrame)
	}
	data := make([]byte, n)
	if _, err := io.ReadFull(s.r, data); err != nil {
		return fmt.Errorf("context sync: %w", err)
	}
	if err := p.UnmarshalVT(data); err != nil {
		return invalid("undecodable packet: %v", err)
	}
	switch p.Type {
	case types.PACKET_STAT:
		if p.Stat == nil {
			break
		}
		s.entries++
		if limit := cmp.Or(s.maxEntries, MaxEntries); s.entries > limit {
			return invalid("more than %d entries", limit)
		}
		if err := checkPath(p.Stat.Path); err != nil {
			return err
		}
		if isRegular(p.Stat.Mode) && p.Stat.Linkname != "" {
			if err := checkPath(p.Stat.Linkname); err != nil {
				return fmt.Errorf("hard link %q: %w", p.Stat.Path, err)
			}
		}
	case types.PACKET_DATA:
		s.received += int64(len(p.Data))
	}
	return nil
}

// isRegular reports whether a stat's mode (Go's os.FileMode bits, as
// fsutil sends them) is a regular file's.
func isRegular(mode uint32) bool {
	const typeBits = 1<<31 | 1<<30 | 1<<27 | 1<<26 | 1<<25 | 1<<24 | 1<<21 | 1<<19
	return mode&typeBits == 0
}

// checkPath refuses a context path that is empty, absolute, unclean or
// climbs out with "..".
func checkPath(p string) error {
	switch {
	case p == "" || p == ".":
		return invalid("an entry without a name")
	case strings.HasPrefix(p, "/"):
		return invalid("entry %q is an absolute path", p)
	case strings.ContainsRune(p, 0):
		return invalid("entry %q has a NUL byte", p)
	case path.Clean(p) != p:
		return invalid("entry %q is not a clean path", p)
	case p == ".." || strings.HasPrefix(p, "../"):
		return invalid("entry %q leaves the build context", p)
	}
	return nil
}

func invalid(format string, args ...any) error {
	return errdefs.ErrInvalidArgument.WithMessage("invalid build context: " + fmt.Sprintf(format, args...))
}

func newReader(r io.Reader) *bufio.Reader { return bufio.NewReaderSize(r, 256<<10) }
