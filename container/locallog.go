package container

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

// The local log driver's format, as moby's daemon/logger/local writes it:
// each entry is a 4-byte big-endian length, a protobuf LogEntry (moby's
// api/types/plugins/logdriver: source 1, time_nano 2, line 3, partial 4),
// and the length again, so that a file can be read from either end. The
// line is kept without its newline; an entry without one is partial.
const (
	frameLen    = 4
	maxLocalMsg = 1 << 20 // moby's defaultMaxMsgLen
)

// localLogName is the local driver's file, under <container>/local-logs.
const localLogName = "container.log"

// encodeLocal frames one entry.
func encodeLocal(stream string, line []byte, t time.Time) []byte {
	partial := len(line) == 0 || line[len(line)-1] != '\n'
	if !partial {
		line = line[:len(line)-1]
	}
	var msg []byte
	msg = protowire.AppendTag(msg, 1, protowire.BytesType)
	msg = protowire.AppendString(msg, stream)
	msg = protowire.AppendTag(msg, 2, protowire.VarintType)
	msg = protowire.AppendVarint(msg, uint64(t.UnixNano()))
	msg = protowire.AppendTag(msg, 3, protowire.BytesType)
	msg = protowire.AppendBytes(msg, line)
	if partial {
		msg = protowire.AppendTag(msg, 4, protowire.VarintType)
		msg = protowire.AppendVarint(msg, 1)
	}
	out := make([]byte, 0, len(msg)+2*frameLen)
	out = binary.BigEndian.AppendUint32(out, uint32(len(msg)))
	out = append(out, msg...)
	return binary.BigEndian.AppendUint32(out, uint32(len(msg)))
}

// decodeLocalMsg decodes a LogEntry; the line gets its newline back
// unless the entry is partial.
func decodeLocalMsg(b []byte) (stream string, line []byte, t time.Time, err error) {
	partial := false
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return "", nil, t, protowire.ParseError(n)
		}
		b = b[n:]
		switch {
		case num == 1 && typ == protowire.BytesType:
			v, n := protowire.ConsumeString(b)
			if n < 0 {
				return "", nil, t, protowire.ParseError(n)
			}
			stream, b = v, b[n:]
		case num == 2 && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return "", nil, t, protowire.ParseError(n)
			}
			t, b = time.Unix(0, int64(v)).UTC(), b[n:]
		case num == 3 && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return "", nil, t, protowire.ParseError(n)
			}
			line, b = append([]byte(nil), v...), b[n:]
		case num == 4 && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return "", nil, t, protowire.ParseError(n)
			}
			partial, b = v != 0, b[n:]
		default:
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return "", nil, t, protowire.ParseError(n)
			}
			b = b[n:]
		}
	}
	if !partial {
		line = append(line, '\n')
	}
	return stream, line, t, nil
}

// selectLocal decodes a framed entry's message and applies opts as
// decodeEntry does.
func selectLocal(msg []byte, opts ReadOptions) (Message, bool) {
	stream, line, t, err := decodeLocalMsg(msg)
	if err != nil {
		return Message{}, false
	}
	return selectMessage(Message{Stream: stream, Time: t, Line: line}, opts)
}

// nextFrame takes one whole frame off the front of buf: its message and
// the rest; ok is false when buf does not hold a whole frame yet. A frame
// whose lengths disagree or are too long is an error.
func nextFrame(buf []byte) (msg, rest []byte, ok bool, err error) {
	if len(buf) < frameLen {
		return nil, buf, false, nil
	}
	n := int(binary.BigEndian.Uint32(buf))
	if n > maxLocalMsg {
		return nil, buf, false, errors.New("local log: entry too long")
	}
	if len(buf) < n+2*frameLen {
		return nil, buf, false, nil
	}
	if int(binary.BigEndian.Uint32(buf[frameLen+n:])) != n {
		return nil, buf, false, errors.New("local log: lengths of an entry disagree")
	}
	return buf[frameLen : frameLen+n], buf[n+2*frameLen:], true, nil
}

// nextLocal sends the whole entries read since the last call, keeping a
// frame being written in lr.pending.
func (lr *logReader) nextLocal(opts ReadOptions, send func(Message) bool) bool {
	var chunk [64 << 10]byte
	for {
		n, err := lr.r.Read(chunk[:])
		lr.pending = append(lr.pending, chunk[:n]...)
		buf := lr.pending
		for {
			msg, rest, ok, ferr := nextFrame(buf)
			if ferr != nil {
				lr.pending = nil // a broken file: nothing more to make of it
				return true
			}
			if !ok {
				break
			}
			buf = rest
			if m, sel := selectLocal(msg, opts); sel && !send(m) {
				return false
			}
		}
		lr.pending = append(lr.pending[:0], buf...) // the frame being written
		if err != nil {
			return true
		}
	}
}

// tailLocalFile is tailFile for the local format: the trailing lengths
// lead from the end of f back to each entry's start.
func tailLocalFile(f *os.File, end int64, opts ReadOptions, got *[]Message, done func() bool) bool {
	var lenb [frameLen]byte
	for end >= 2*frameLen {
		if _, err := f.ReadAt(lenb[:], end-frameLen); err != nil {
			return false
		}
		n := int64(binary.BigEndian.Uint32(lenb[:]))
		start := end - 2*frameLen - n
		if n > maxLocalMsg || start < 0 {
			return false
		}
		msg := make([]byte, n)
		if _, err := f.ReadAt(msg, start+frameLen); err != nil {
			return false
		}
		end = start
		if m, ok := selectLocal(msg, opts); ok {
			*got = append(*got, m)
			if done() {
				return true
			}
		} else if !m.Time.IsZero() && m.Time.Before(opts.Since) {
			return true
		}
	}
	return false
}

// forEachLocalGzip calls fn with each entry's message of a gzipped local
// file, in order.
func forEachLocalGzip(path string, fn func(msg []byte)) {
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return
	}
	br := bufio.NewReaderSize(zr, 64<<10)
	var lenb [frameLen]byte
	for {
		if _, err := io.ReadFull(br, lenb[:]); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint32(lenb[:]))
		if n > maxLocalMsg {
			return
		}
		msg := make([]byte, n+frameLen)
		if _, err := io.ReadFull(br, msg); err != nil {
			return
		}
		fn(msg[:n])
	}
}
