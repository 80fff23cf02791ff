package container

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/docker/go-units"
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

// Log is a container's json-file log, <dir>/<id>-json.log (or, with the
// local driver, <dir>/local-logs/container.log in moby's local format:
// locallog.go). Writes append
// one JSON line each; readers can follow the file as it grows. With a
// maximum size the file is rotated as Docker's json-file driver does:
// <id>-json.log.1 is the previous one, up to max-file files in all.
type Log struct {
	path  string
	local bool // the local driver's format (locallog.go), not json-file's
	cri   bool // the CRI's format (crilog.go)

	mu       sync.Mutex
	f        *os.File
	size     int64
	maxSize  int64 // 0: no rotation
	maxFiles int
	compress bool          // rotated files are gzipped: <path>.1.gz ...
	gzipping chan struct{} // closed once the last rotated file is gzipped
	grew     chan struct{} // closed and replaced after every write

	// Lines that could not be written (a full disk): counted, and told to
	// onDrop at the first and then at most every dropReportEvery.
	dropped, reported int64
	lastReport        time.Time
	onDrop            func(dropped int64, err error)
}

// dropReportEvery spaces the reports of dropped lines.
const dropReportEvery = 10 * time.Second

func logPath(dir, id string) string { return filepath.Join(dir, id+"-json.log") }

func newLog(path string) *Log { return &Log{path: path, grew: make(chan struct{})} }

// OpenLog returns the log at path, for the process that writes it (the
// container's monitor). Nothing is opened until the first write. With
// local, it is in the local driver's format.
func OpenLog(path string, local bool) *Log {
	l := newLog(path)
	l.local = local
	return l
}

// SetRotation rotates the file once it would grow past maxSize bytes,
// keeping maxFiles files in all (at least 1: the file is then cut).
func (l *Log) SetRotation(maxSize int64, maxFiles int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.maxSize, l.maxFiles = maxSize, max(maxFiles, 1)
}

// OnDrop has report told of lines the log could not write (a full disk):
// the count so far and the last error, at the first such line, then at
// most every 10 s while lines are dropped, and at Close.
func (l *Log) OnDrop(report func(dropped int64, err error)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.onDrop = report
}

// Dropped is how many lines the log could not write.
func (l *Log) Dropped() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.dropped
}

// dropLocked counts a line not written and reports it when due.
func (l *Log) dropLocked(err error) {
	l.dropped++
	if l.onDrop != nil && (l.reported == 0 || time.Since(l.lastReport) >= dropReportEvery) {
		l.reported, l.lastReport = l.dropped, time.Now()
		l.onDrop(l.dropped, err)
	}
}

// SetCompress gzips each rotated file (<path>.1.gz ...), as Docker's
// json-file driver with compress=true: in the background, so that the
// container's output does not wait for it.
func (l *Log) SetCompress(on bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.compress = on
}

// LineWriter returns a writer that cuts one stream's output ("stdout" or
// "stderr") into log lines as they come. Close logs a last partial line.
func (l *Log) LineWriter(stream string) io.WriteCloser {
	return &lineWriter{log: l, stream: stream}
}

// Path is where the log file lives.
func (l *Log) Path() string { return l.path }

// Write appends one entry. A line that cannot be written (a full disk) is
// dropped and counted (OnDrop): it must not stop the container, as with
// Docker's json-file driver in non-blocking mode. A line written in part is
// cut off again, so that the file holds whole entries only.
func (l *Log) Write(stream string, line []byte, t time.Time) {
	var data []byte
	if l.cri {
		data = encodeCRI(stream, line, t)
	} else if l.local {
		data = encodeLocal(stream, line, t)
	} else {
		var err error
		if data, err = json.Marshal(entry{Log: string(line), Stream: stream, Time: t.UTC()}); err != nil {
			return
		}
		data = append(data, '\n')
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f != nil && l.maxSize > 0 && l.size > 0 && l.size+int64(len(data)) > l.maxSize {
		l.rotateLocked()
	}
	if l.f == nil {
		f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if errors.Is(err, os.ErrNotExist) && os.MkdirAll(filepath.Dir(l.path), 0o700) == nil {
			f, err = os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		}
		if err != nil {
			l.dropLocked(err)
			return
		}
		l.f = f
		l.size = 0
		if fi, err := f.Stat(); err == nil {
			l.size = fi.Size()
		}
	}
	n, err := l.f.Write(data)
	if err != nil {
		if n > 0 && l.f.Truncate(l.size) != nil {
			l.size += int64(n) // cannot cut it: the reader skips the broken line
		}
		l.dropLocked(err)
		return
	}
	l.size += int64(n)
	close(l.grew)
	l.grew = make(chan struct{})
}

// rotateLocked shifts <path>.N-2 ... <path> to <path>.N-1 ... <path>.1 (or
// cuts the file when one file is kept); the next write opens a new file.
func (l *Log) rotateLocked() {
	l.f.Close()
	l.f = nil
	if l.maxFiles <= 1 {
		os.Truncate(l.path, 0)
		return
	}
	if l.gzipping != nil {
		<-l.gzipping // the previous file is gzipped before the files shift
		l.gzipping = nil
	}
	for i := l.maxFiles - 1; i > 1; i-- {
		for _, ext := range []string{"", gzExt} {
			os.Rename(rotatedPath(l.path, i-1)+ext, rotatedPath(l.path, i)+ext)
		}
	}
	first := rotatedPath(l.path, 1)
	os.Remove(first + gzExt)
	os.Rename(l.path, first)
	if l.compress {
		done := make(chan struct{})
		l.gzipping = done
		go func() {
			defer close(done)
			gzipFile(first)
		}()
	}
}

// gzExt ends the name of a gzipped rotated file.
const gzExt = ".gz"

// gzipFile replaces path by path.gz, written whole under another name
// first; on failure (a full disk) path stays as it is.
func gzipFile(path string) error {
	src, err := os.Open(path)
	if err != nil {
		return err
	}
	defer src.Close()
	tmp := path + gzExt + ".tmp"
	dst, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	zw, _ := gzip.NewWriterLevel(dst, gzip.BestSpeed)
	_, err = io.Copy(zw, src)
	if err == nil {
		err = zw.Close()
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path+gzExt)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Remove(path)
}

func rotatedPath(path string, i int) string { return path + "." + strconv.Itoa(i) }

// rotatedFile is the rotated file i of path as it is on disk: gzipped
// (compress) or not; "" when there is none.
func rotatedFile(path string, i int) string {
	p := rotatedPath(path, i)
	if _, err := os.Stat(p + gzExt); err == nil {
		return p + gzExt
	}
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return ""
}

// rotatedFiles are the rotated files of path, oldest first.
func rotatedFiles(path string) []string {
	var out []string
	for i := 1; ; i++ {
		p := rotatedFile(path, i)
		if p == "" {
			break
		}
		out = append([]string{p}, out...)
	}
	return out
}

// Close closes the file; a later Write reopens it. Lines dropped since the
// last report are reported.
func (l *Log) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.gzipping != nil {
		<-l.gzipping
		l.gzipping = nil
	}
	if l.onDrop != nil && l.dropped > l.reported {
		l.reported, l.lastReport = l.dropped, time.Now()
		l.onDrop(l.dropped, nil)
	}
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
// Entries stream from the files (rotated ones first): memory does not grow
// with the log, and a tail reads the files from their end.
func (l *Log) Read(ctx context.Context, opts ReadOptions) <-chan Message {
	out := make(chan Message, 64)
	// The current file is opened now: what is written from now on is read
	// from it, whatever rotation happens meanwhile; a tail ends here.
	lr := &logReader{path: l.path, local: l.local}
	lr.open()
	var end int64
	if opts.Tail >= 0 {
		end = lr.skipToEnd()
	}
	go func() {
		defer close(out)
		send := func(m Message) bool {
			select {
			case out <- m:
				return true
			case <-ctx.Done():
				return false
			}
		}
		defer lr.close()
		if opts.Tail >= 0 {
			for _, m := range l.tail(lr, end, opts) {
				if !send(m) {
					return
				}
			}
		} else {
			for _, p := range rotatedFiles(l.path) {
				if !readFile(p, l.local, opts, send) {
					return
				}
			}
			if !lr.next(opts, send) {
				return
			}
		}
		if opts.Follow == nil {
			return
		}
		stopped := opts.Follow
		for {
			grew := l.grewChan()
			if !lr.next(opts, send) {
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

// tail returns the last opts.Tail selected entries, reading the files
// backwards from offset end of lr's file (then the rotated ones, newest
// first).
func (l *Log) tail(lr *logReader, end int64, opts ReadOptions) []Message {
	if opts.Tail == 0 {
		return nil
	}
	var got []Message // newest first
	done := func() bool { return len(got) >= opts.Tail }
	tailOf := tailFile
	if l.local {
		tailOf = tailLocalFile
	}
	if lr.f != nil {
		if tailOf(lr.f, end, opts, &got, done) {
			slices.Reverse(got)
			return got
		}
	}
	rotated := rotatedFiles(l.path)
	for i := len(rotated) - 1; i >= 0; i-- {
		if strings.HasSuffix(rotated[i], gzExt) {
			if tailGzip(rotated[i], l.local, opts, &got, done) {
				break
			}
			continue
		}
		f, err := os.Open(rotated[i])
		if err != nil {
			continue
		}
		fi, err := f.Stat()
		stop := err == nil && tailOf(f, fi.Size(), opts, &got, done)
		f.Close()
		if stop {
			break
		}
	}
	slices.Reverse(got)
	return got
}

// tailFile decodes the lines of f before offset end, last first, appending
// the selected entries to got until done, or an entry older than
// opts.Since. It reports whether to stop.
func tailFile(f *os.File, end int64, opts ReadOptions, got *[]Message, done func() bool) bool {
	const block = 64 << 10
	var carry []byte // the start of a line whose beginning is in an earlier block
	for end > 0 {
		start := max(end-block, 0)
		buf := make([]byte, end-start, end-start+int64(len(carry)))
		if _, err := f.ReadAt(buf, start); err != nil && !errors.Is(err, io.EOF) {
			return false
		}
		buf = append(buf, carry...)
		end = start
		for {
			i := bytes.LastIndexByte(buf[:max(len(buf)-1, 0)], '\n')
			if i < 0 && start > 0 {
				break // the line goes on in the previous block
			}
			line := buf[i+1:]
			buf = buf[:i+1]
			if m, ok := decodeEntry(line, opts); ok {
				*got = append(*got, m)
				if done() {
					return true
				}
			} else if m.Time.Before(opts.Since) && !m.Time.IsZero() {
				return true
			}
			if i < 0 {
				break
			}
		}
		carry = append([]byte(nil), buf...)
	}
	return false
}

// tailGzip is tailFile for a gzipped rotated file, which cannot be read
// backwards: it is read through, keeping the last entries it needs (no
// more than the tail asks for), which are appended to got last first.
func tailGzip(path string, local bool, opts ReadOptions, got *[]Message, done func() bool) bool {
	want := opts.Tail - len(*got)
	if want <= 0 {
		return true
	}
	ring := make([]Message, 0, min(want, 4096))
	next := 0 // where the next entry goes once ring is full
	older := false
	keep := func(m Message, ok bool) {
		if ok {
			if len(ring) < want {
				ring = append(ring, m)
			} else {
				ring[next] = m
				next = (next + 1) % want
			}
		} else if !m.Time.IsZero() && m.Time.Before(opts.Since) {
			older = true
		}
	}
	if local {
		forEachLocalGzip(path, func(msg []byte) { keep(selectLocal(msg, opts)) })
	} else {
		f, err := os.Open(path)
		if err != nil {
			return false
		}
		defer f.Close()
		zr, err := gzip.NewReader(f)
		if err != nil {
			return false
		}
		br := bufio.NewReaderSize(zr, 64<<10)
		for {
			line, err := br.ReadBytes('\n')
			if len(line) > 0 {
				keep(decodeEntry(line, opts))
			}
			if err != nil {
				break
			}
		}
	}
	for i := len(ring) - 1; i >= 0; i-- { // newest first
		*got = append(*got, ring[(next+i)%len(ring)])
		if done() {
			return true
		}
	}
	return older
}

// decodeEntry decodes one log line; ok is false when it is not selected
// (its time is then set when the line is an entry).
func decodeEntry(line []byte, opts ReadOptions) (m Message, ok bool) {
	var e entry
	if len(line) > 0 && line[0] != '{' {
		m, ok := decodeCRI(line)
		if !ok {
			return Message{}, false
		}
		return selectMessage(m, opts)
	}
	if json.Unmarshal(bytes.TrimSpace(line), &e) != nil {
		return Message{}, false
	}
	return selectMessage(Message{Stream: e.Stream, Time: e.Time, Line: []byte(e.Log)}, opts)
}

// selectMessage reports whether opts select m.
func selectMessage(m Message, opts ReadOptions) (Message, bool) {
	if (m.Stream == "stdout" && !opts.Stdout) || (m.Stream == "stderr" && !opts.Stderr) {
		return m, false
	}
	if !opts.Since.IsZero() && m.Time.Before(opts.Since) {
		return m, false
	}
	if !opts.Until.IsZero() && m.Time.After(opts.Until) {
		return m, false
	}
	return m, true
}

// readFile sends the selected entries of a whole (rotated) file.
func readFile(path string, local bool, opts ReadOptions, send func(Message) bool) bool {
	lr := logReader{path: path, once: true, local: local}
	lr.open()
	defer lr.close()
	return lr.next(opts, send)
}

// logReader reads a log file incrementally, keeping a line being written
// for the next round, and moving to the new file when the log rotates.
type logReader struct {
	path    string
	f       *os.File
	r       *bufio.Reader
	pending []byte
	once    bool // a rotated file: read to its end, never to a successor
	local   bool // the local driver's format
}

func (lr *logReader) open() {
	f, err := os.Open(lr.path)
	if err != nil {
		return
	}
	lr.f, lr.r, lr.pending = f, bufio.NewReaderSize(f, 64*1024), nil
	if strings.HasSuffix(lr.path, gzExt) { // a rotated file, read once through
		zr, err := gzip.NewReader(f)
		if err != nil {
			f.Close()
			lr.f = nil
			return
		}
		lr.r = bufio.NewReaderSize(zr, 64*1024)
	}
}

func (lr *logReader) close() {
	if lr.f != nil {
		lr.f.Close()
		lr.f = nil
	}
}

// skipToEnd moves to the end of the file and returns that offset.
func (lr *logReader) skipToEnd() int64 {
	if lr.f == nil {
		return 0
	}
	end, err := lr.f.Seek(0, io.SeekEnd)
	if err != nil {
		return 0
	}
	lr.r.Reset(lr.f)
	return end
}

// next sends the complete lines written since the last call; at the end
// of a file that was rotated away it goes on with the new one. A missing
// file has no lines yet. It returns false when send does.
func (lr *logReader) next(opts ReadOptions, send func(Message) bool) bool {
	for {
		if lr.f == nil {
			if lr.open(); lr.f == nil {
				return true
			}
		}
		for !lr.local {
			chunk, err := lr.r.ReadBytes('\n')
			lr.pending = append(lr.pending, chunk...)
			if err != nil {
				break
			}
			line := lr.pending
			lr.pending = nil
			if m, ok := decodeEntry(line, opts); ok && !send(m) {
				return false
			}
		}
		if lr.local && !lr.nextLocal(opts, send) {
			return false
		}
		if lr.once {
			return true
		}
		next, ok := lr.successor()
		if !ok {
			return true
		}
		lr.close() // read to its end: the rest is in the next file
		if err := lr.openAt(next); err != nil {
			return true
		}
	}
}

// openAt opens the file at p (a rotated one, or the current) for reading
// from its start; path stays the log's.
func (lr *logReader) openAt(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	lr.f, lr.r, lr.pending = f, bufio.NewReaderSize(f, 64*1024), nil
	return nil
}

// successor returns, once the file being read has been rotated away, the
// file written after it: the rotated file just newer than it, or the
// current one.
func (lr *logReader) successor() (string, bool) {
	cur, err := lr.f.Stat()
	if err != nil {
		return "", false
	}
	if now, err := os.Stat(lr.path); err != nil || os.SameFile(cur, now) {
		return "", false
	}
	for i := 1; ; i++ {
		fi, err := os.Stat(rotatedPath(lr.path, i))
		if err != nil {
			return lr.path, true // gone from the rotated files: go on with the current
		}
		if os.SameFile(cur, fi) {
			if i == 1 {
				return lr.path, true
			}
			return rotatedPath(lr.path, i-1), true
		}
	}
}

// LogSettings is a container's log configuration as Gantry applies it.
type LogSettings struct {
	Driver   string // "json-file", "local" or "none"
	MaxSize  int64  // bytes; 0: no rotation
	MaxFiles int    // files kept in all, with MaxSize
	Compress bool   // rotated files gzipped
}

// ParseLogConfig checks a container's --log-driver and --log-opt: the
// json-file driver with max-size, max-file and compress, the local driver
// (the same options, moby's defaults), and none, as Docker's. Other drivers
// and options are refused, never ignored.
func ParseLogConfig(driver string, opts map[string]string) (LogSettings, error) {
	s := LogSettings{Driver: driver, MaxFiles: 1}
	switch driver {
	case "", "json-file":
		s.Driver = "json-file"
	case "none":
		if len(opts) > 0 {
			return s, errdefs.ErrInvalidArgument.WithMessage("logger: the none log driver takes no options")
		}
		return s, nil
	case "local":
		// moby's defaults for the local driver: 20 MB files, 5 of them,
		// compressed.
		s.MaxSize, s.MaxFiles, s.Compress = 20<<20, 5, true
	case "syslog", "journald", "gelf", "fluentd", "awslogs", "splunk", "etwlogs", "gcplogs", "logentries":
		return s, errdefs.ErrNotImplemented.WithMessage(fmt.Sprintf("logger: the %s log driver is not supported by gantry\nhint: use json-file (the default), local or none", driver))
	default:
		return s, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("error looking up logging plugin %s: plugin %q not found", driver, driver))
	}
	for k, v := range opts {
		switch k {
		case "max-size":
			n, err := units.RAMInBytes(v)
			if err != nil {
				return s, errdefs.ErrInvalidArgument.WithMessage(err.Error())
			}
			if n <= 0 && s.Driver == "local" {
				return s, errdefs.ErrInvalidArgument.WithMessage("max size should be a positive number")
			}
			if n > 0 {
				s.MaxSize = n
			}
		case "max-file":
			n, err := strconv.Atoi(v)
			if err != nil {
				return s, errdefs.ErrInvalidArgument.WithMessage(err.Error())
			}
			if n < 1 {
				return s, errdefs.ErrInvalidArgument.WithMessage("max-file cannot be less than 1")
			}
			s.MaxFiles = n
		case "compress":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return s, errdefs.ErrInvalidArgument.WithMessage(err.Error())
			}
			s.Compress = b
		case "labels", "labels-regex", "env", "env-regex", "tag":
			if s.Driver == "local" {
				return s, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("unknown log opt '%s' for log driver local", k))
			}
			return s, errdefs.ErrNotImplemented.WithMessage(fmt.Sprintf("log opt '%s' of the json-file log driver is not supported by gantry yet\nhint: max-size, max-file and compress are", k))
		default:
			if s.Driver == "local" {
				return s, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("unknown log opt '%s' for log driver local", k))
			}
			return s, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("unknown log opt '%s' for json-file log driver", k))
		}
	}
	if s.Compress && s.Driver == "json-file" && (s.MaxFiles < 2 || s.MaxSize == 0) {
		return s, errdefs.ErrInvalidArgument.WithMessage("compress cannot be true when max-file is less than 2 or max-size is not set")
	}
	return s, nil // max-file without max-size has no effect, as Docker documents
}
