package container

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Message is one log entry: a line (or piece of a long line) of output.
type Message struct {
	Stream string
	Time   time.Time
	Line   []byte
}

// entry is the json-file log format Docker writes, one object per line.
type entry struct {
	Log    string    `json:"log"`
	Stream string    `json:"stream"`
	Time   time.Time `json:"time"`
}

// Log is a container's json-file log, <dir>/<id>-json.log. Writes append
// one JSON line each; readers can follow the file as it grows.
type Log struct {
	path string

	mu   sync.Mutex
	f    *os.File
	grew chan struct{} // closed and replaced after every write
}

func logPath(dir, id string) string { return filepath.Join(dir, id+"-json.log") }

func newLog(path string) *Log { return &Log{path: path, grew: make(chan struct{})} }

// OpenLog returns the log at path, for the process that writes it (the
// container's monitor). Nothing is opened until the first write.
func OpenLog(path string) *Log { return newLog(path) }

// LineWriter returns a writer that cuts one stream's output ("stdout" or
// "stderr") into log lines as they come. Close logs a last partial line.
func (l *Log) LineWriter(stream string) io.WriteCloser {
	return &lineWriter{log: l, stream: stream}
}

// Path is where the log file lives.
func (l *Log) Path() string { return l.path }

// Write appends one entry. Errors are dropped: a full disk must not stop
// the container, as with Docker's json-file driver in non-blocking mode.
func (l *Log) Write(stream string, line []byte, t time.Time) {
	data, err := json.Marshal(entry{Log: string(line), Stream: stream, Time: t.UTC()})
	if err != nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return
		}
		l.f = f
	}
	l.f.Write(append(data, '\n'))
	close(l.grew)
	l.grew = make(chan struct{})
}

// Close closes the file; a later Write reopens it.
func (l *Log) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f != nil {
		l.f.Close()
		l.f = nil
	}
}

func (l *Log) grewChan() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.grew
}

// followPoll is how often a follower looks for lines written by another
// process.
const followPoll = 100 * time.Millisecond

// ReadOptions select what Read returns.
type ReadOptions struct {
	Stdout, Stderr bool
	Tail           int // last N entries; negative for all
	Since, Until   time.Time
	// Follow, when not nil, keeps reading new entries until it yields (the
	// container stopped) and the file has been read to its end.
	Follow <-chan State
}

// Read sends the selected entries on the returned channel, which is closed
// at the end of the backlog, or when following ends, or when ctx is done.
func (l *Log) Read(ctx context.Context, opts ReadOptions) <-chan Message {
	out := make(chan Message, 64)
	go func() {
		defer close(out)
		var lr logReader
		defer lr.close()
		send := func(msgs []Message) bool {
			for _, m := range msgs {
				select {
				case out <- m:
				case <-ctx.Done():
					return false
				}
			}
			return true
		}
		backlog := lr.next(l.path, opts)
		if opts.Tail >= 0 && len(backlog) > opts.Tail {
			backlog = backlog[len(backlog)-opts.Tail:]
		}
		if !send(backlog) || opts.Follow == nil {
			return
		}
		stopped := opts.Follow
		for {
			grew := l.grewChan()
			if !send(lr.next(l.path, opts)) {
				return
			}
			if stopped == nil {
				return // the container stopped and the file was read to its end since
			}
			// The writer may be another process (the monitor): the file is
			// also looked at on a tick.
			select {
			case <-grew:
			case <-time.After(followPoll):
			case <-stopped:
				stopped = nil
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

// logReader reads a log file incrementally, keeping a line being written
// for the next round.
type logReader struct {
	f       *os.File
	r       *bufio.Reader
	pending []byte
}

func (lr *logReader) close() {
	if lr.f != nil {
		lr.f.Close()
	}
}

// next decodes the complete lines written since the last call. A missing
// file has no lines yet.
func (lr *logReader) next(path string, opts ReadOptions) []Message {
	if lr.f == nil {
		f, err := os.Open(path)
		if err != nil {
			return nil
		}
		lr.f, lr.r = f, bufio.NewReaderSize(f, 64*1024)
	}
	var msgs []Message
	for {
		chunk, err := lr.r.ReadBytes('\n')
		lr.pending = append(lr.pending, chunk...)
		if err != nil {
			return msgs
		}
		line := lr.pending
		lr.pending = nil
		var e entry
		if json.Unmarshal(line, &e) != nil {
			continue
		}
		if (e.Stream == "stdout" && !opts.Stdout) || (e.Stream == "stderr" && !opts.Stderr) {
			continue
		}
		if !opts.Since.IsZero() && e.Time.Before(opts.Since) {
			continue
		}
		if !opts.Until.IsZero() && e.Time.After(opts.Until) {
			continue
		}
		msgs = append(msgs, Message{Stream: e.Stream, Time: e.Time, Line: []byte(e.Log)})
	}
}
