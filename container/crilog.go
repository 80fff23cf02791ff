package container

import (
	"bytes"
	"os"
	"time"
)

// The CRI's log format, as the kubelet reads it (k8s.io/cri-api's
// LogTag, the kubelet's pkg/kubelet/kuberuntime/logs):
//
//	<RFC3339Nano time> <stdout|stderr> <F|P> <content>\n
//
// F ends a line; P is a piece of a line longer than the writer's buffer,
// or a last line without its newline, continued by the next entry.

// OpenCRILog returns the log at path written in the CRI's format, for the
// monitor of a container made through the CRI (the path is the
// kubelet's). Nothing is opened until the first write.
func OpenCRILog(path string) *Log {
	l := newLog(path)
	l.cri = true
	return l
}

// encodeCRI is one entry of line (its newline, if any, included).
func encodeCRI(stream string, line []byte, t time.Time) []byte {
	tag := byte('P')
	if n := len(line); n > 0 && line[n-1] == '\n' {
		tag = 'F'
		line = line[:n-1]
	}
	b := make([]byte, 0, len(line)+48)
	b = t.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, ' ')
	b = append(b, stream...)
	b = append(b, ' ', tag, ' ')
	b = append(b, line...)
	return append(b, '\n')
}

// decodeCRI decodes one entry of the CRI format; ok is false for a line
// that is not one. A full line gets its newline back.
func decodeCRI(line []byte) (m Message, ok bool) {
	line = bytes.TrimSuffix(line, []byte{'\n'})
	ts, rest, found := bytes.Cut(line, []byte{' '})
	if !found {
		return Message{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, string(ts))
	if err != nil {
		return Message{}, false
	}
	stream, rest, found := bytes.Cut(rest, []byte{' '})
	if !found || string(stream) != "stdout" && string(stream) != "stderr" {
		return Message{}, false
	}
	tag, content, _ := bytes.Cut(rest, []byte{' '})
	out := append([]byte(nil), content...)
	switch string(tag) {
	case "F":
		out = append(out, '\n')
	case "P":
	default:
		return Message{}, false
	}
	return Message{Stream: string(stream), Time: t, Line: out}, true
}

// Reopen closes the log's file and creates it anew at its path, for a
// log rotated by someone else (the kubelet renames the file, then asks
// for ReopenContainerLog): the next lines go to the new file.
func (l *Log) Reopen() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f != nil {
		l.f.Close()
		l.f = nil
	}
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	l.f, l.size = f, 0
	if fi, err := f.Stat(); err == nil {
		l.size = fi.Size()
	}
	return nil
}
