package monitor

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/gantry/gantry/container"
	"github.com/gantry/gantry/runtime"
)

const (
	// clientBuffer is how many bytes of output an attached client may
	// fall behind before it is dropped (a bound in bytes: a process
	// writing a line at a time makes chunks of a few bytes).
	clientBuffer = 8 << 20
	// outputGrace is how long output may stay open after the init exited
	// (a process outside the container's pid namespace holding it).
	outputGrace = 10 * time.Second
	// flushWait bounds how long the exit waits for attached clients to take
	// the rest of the output.
	flushWait = 5 * time.Second
)

// Main is the monitor process: it reads its Config from stdin, runs the
// container once a client asks it to start it, and returns the process's
// exit status once the container has exited and its exit is recorded.
func Main() int {
	if len(os.Args) == 2 && os.Args[1] == pauseArg {
		return pause()
	}
	var cfg Config
	if err := json.NewDecoder(io.LimitReader(os.Stdin, maxRequest)).Decode(&cfg); err != nil {
		fmt.Fprintln(os.Stderr, "gantry-monitor: read config:", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("container", cfg.ID)
	s, err := newServer(cfg, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gantry-monitor:", err)
		return 1
	}
	// The ready line tells the starter that the socket accepts clients.
	os.Stdout.WriteString(readyLine())
	os.Stdout.Close()
	s.serve()
	return 0
}

// server is the state of one monitor.
type server struct {
	cfg  Config
	log  *slog.Logger
	runc *runtime.Runc
	l    *net.UnixListener
	clog *container.Log

	mu      sync.Mutex
	started bool
	pid     int
	pio     *runtime.IO
	subs    map[*subscriber]struct{}
	exit    *Exit         // set once the exit is recorded
	exited  chan struct{} // closed then
	pending sync.WaitGroup
	execs   map[string]*execState // by exec ID
}

// execState is an exec the monitor runs.
type execState struct {
	pio  *runtime.IO
	done chan struct{} // closed once it exited
	code int
}

// subscriber is an attached client: its output waits in a bounded queue
// that a writer goroutine empties, so a slow client never holds the
// container back; one that falls behind by clientBuffer bytes is dropped.
type subscriber struct {
	q    *container.OutputQueue
	done chan struct{} // closed once the writer has finished
	// exit is set, before q is closed, when the container exited: the
	// writer sends it last. A client dropped or gone gets none.
	exit *Exit
}

func newServer(cfg Config, log *slog.Logger) (*server, error) {
	if cfg.ID == "" || cfg.Dir == "" || cfg.Bundle == "" {
		return nil, errors.New("config needs an ID, a directory and a bundle")
	}
	r, err := runtime.New(cfg.RuncBinary, cfg.RuncRoot) // makes us the child subreaper
	if err != nil {
		return nil, err
	}
	// Relative to the working directory, cfg.Dir: a socket path is limited
	// to 107 bytes, which a long --exec-root and a container ID exceed.
	if err := os.Chdir(cfg.Dir); err != nil {
		return nil, err
	}
	os.Remove(sockName)
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sockName, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	// A monitor lingering after its container's exit must not remove the
	// socket of the next monitor of the same container.
	l.SetUnlinkOnClose(false)
	if err := os.WriteFile(filepath.Join(cfg.Dir, pidName), []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
		l.Close()
		return nil, err
	}
	s := &server{cfg: cfg, log: log, runc: r, l: l, subs: map[*subscriber]struct{}{}, exited: make(chan struct{}), execs: map[string]*execState{}}
	if cfg.LogPath != "" {
		s.clog = container.OpenLog(cfg.LogPath, cfg.LogLocal)
		if cfg.LogCRI {
			// The kubelet reads the file from the start: it is there,
			// empty, before the first line.
			s.clog = container.OpenCRILog(cfg.LogPath)
			if err := s.clog.Reopen(); err != nil {
				l.Close()
				return nil, fmt.Errorf("create log %s: %w", cfg.LogPath, err)
			}
		}
		s.clog.OnDrop(func(n int64, err error) {
			if err != nil {
				log.Warn("log lines dropped: the log cannot be written; the container runs on", "dropped", n, "error", err)
			} else {
				log.Warn("log lines dropped", "dropped", n)
			}
		})
		if cfg.LogMaxSize > 0 {
			s.clog.SetRotation(cfg.LogMaxSize, cfg.LogMaxFiles)
			s.clog.SetCompress(cfg.LogCompress)
		}
	}
	return s, nil
}

// serve accepts clients until the container has exited (or failed to
// start) and every waiter has its answer.
func (s *server) serve() {
	go func() {
		for {
			conn, err := s.l.AcceptUnix()
			if err != nil {
				return
			}
			s.pending.Add(1)
			go func() {
				defer s.pending.Done()
				s.handle(conn)
			}()
		}
	}()
	<-s.exited
	// Let the clients connected at the exit get their answer.
	done := make(chan struct{})
	go func() {
		s.pending.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(flushWait):
	}
	s.l.Close()
}

func (s *server) handle(conn *net.UnixConn) {
	defer conn.Close()
	br := bufio.NewReader(io.LimitReader(conn, maxRequest))
	line, err := br.ReadBytes('\n')
	if err != nil {
		return
	}
	var req request
	if err := json.Unmarshal(line, &req); err != nil {
		send(conn, reply{Error: "bad request: " + err.Error()})
		return
	}
	switch req.Op {
	case opAttach:
		s.attach(conn, br, req)
	case opStart:
		send(conn, s.start())
	case opWait:
		<-s.exited
		s.mu.Lock()
		e := s.exit
		s.mu.Unlock()
		send(conn, reply{Exit: e})
	case opExec:
		s.exec(conn, br, req)
	case opExecWait:
		s.mu.Lock()
		x := s.execs[req.ExecID]
		s.mu.Unlock()
		if x == nil {
			send(conn, reply{Error: "no such exec " + strconv.Quote(req.ExecID)})
			return
		}
		<-x.done
		send(conn, reply{Exit: &Exit{Code: x.code}})
	case opResize:
		s.mu.Lock()
		pio := s.pio
		if req.ExecID != "" {
			pio = nil
			if x := s.execs[req.ExecID]; x != nil {
				pio = x.pio
			}
		}
		s.mu.Unlock()
		if pio == nil {
			send(conn, reply{Error: errNotStart})
			return
		}
		if err := pio.Resize(req.Height, req.Width); err != nil {
			send(conn, reply{Error: err.Error()})
			return
		}
		send(conn, reply{})
	case opReopenLog:
		if s.clog == nil {
			send(conn, reply{Error: "the container has no log"})
			return
		}
		if err := s.clog.Reopen(); err != nil {
			send(conn, reply{Error: err.Error()})
			return
		}
		send(conn, reply{})
	case opState:
		s.mu.Lock()
		st := &State{Pid: s.pid, MonitorPid: os.Getpid(), Exited: s.exit != nil, Version: ProtocolVersion}
		s.mu.Unlock()
		send(conn, reply{State: st})
	default:
		send(conn, reply{Error: "unknown operation " + strconv.Quote(req.Op)})
	}
}

func send(conn net.Conn, r reply) error {
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = conn.Write(append(data, '\n'))
	return err
}

// start runs the container with its stdio connected to the log and the
// attached clients, and starts waiting for its exit.
func (s *server) start() reply {
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return reply{Error: "the container was started already"}
	}
	s.started = true
	s.mu.Unlock()

	cfg := s.cfg
	stdout, stderr := s.output("stdout", streamOut), s.output("stderr", streamErr)
	pio, err := runtime.NewIO(runtime.IOConfig{Terminal: cfg.Terminal, Stdin: cfg.OpenStdin, Stdout: stdout, Stderr: stderr})
	if err != nil {
		s.finish(nil)
		return reply{Error: err.Error()}
	}
	ctx := context.Background()
	proc, err := s.runc.Run(ctx, cfg.ID, cfg.Bundle, cfg.Terminal, pio.Stdio())
	if err != nil {
		pio.Close()
		s.finish(nil)
		return reply{Error: err.Error()}
	}
	pio.Start(proc)
	if cfg.Terminal && cfg.ConsoleHeight > 0 && cfg.ConsoleWidth > 0 {
		pio.Resize(cfg.ConsoleHeight, cfg.ConsoleWidth)
	}
	s.mu.Lock()
	s.pid, s.pio = proc.Pid, pio
	s.mu.Unlock()
	if sharesPIDNamespace(cfg.Bundle) {
		go s.killAllOnExit(ctx, proc.Pid)
	}
	go func() {
		code, err := s.runc.Wait(ctx, proc.Pid)
		if err != nil {
			s.log.Error("wait for the container", "error", err)
			code = 255
		}
		e := Exit{Code: code, Time: time.Now().UTC()}
		pio.Drain(outputGrace)
		for _, w := range []io.Closer{stdout, stderr} {
			w.Close()
		}
		s.finish(&e)
	}()
	return reply{Pid: proc.Pid}
}

// finish ends the monitor's work: attached clients get the rest of the
// output and are let go, then the exit (nil after a failed start) is
// written to the exit file and given to the waiters.
func (s *server) finish(e *Exit) {
	s.mu.Lock()
	subs := s.subs
	s.subs = nil
	s.mu.Unlock()
	deadline := time.After(flushWait)
	for sub := range subs {
		sub.exit = e
		sub.q.Close()
	}
	for sub := range subs {
		select {
		case <-sub.done:
		case <-deadline:
		}
	}
	if s.clog != nil {
		s.clog.Close()
	}
	if e != nil {
		if err := writeExit(s.cfg.Dir, *e); err != nil {
			s.log.Error("write the exit file", "error", err)
		}
	}
	s.mu.Lock()
	s.exit = e
	s.mu.Unlock()
	close(s.exited)
}

// output is the writer of one stream: each line goes to the log first,
// then each chunk to every attached client.
func (s *server) output(name string, stream byte) io.WriteCloser {
	var lw io.WriteCloser = nopWriteCloser{}
	if s.clog != nil {
		lw = s.clog.LineWriter(name)
	}
	return &outputWriter{s: s, stream: stream, log: lw}
}

type outputWriter struct {
	s      *server
	stream byte
	log    io.WriteCloser
}

func (w *outputWriter) Write(p []byte) (int, error) {
	w.log.Write(p)
	w.s.publish(w.stream, p)
	return len(p), nil
}

func (w *outputWriter) Close() error { return w.log.Close() }

type nopWriteCloser struct{}

func (nopWriteCloser) Write(p []byte) (int, error) { return len(p), nil }
func (nopWriteCloser) Close() error                { return nil }

// publish queues a chunk for every attached client, dropping the ones
// whose queue is full.
func (s *server) publish(stream byte, p []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for sub := range s.subs {
		if !sub.q.Put(stream, p) {
			s.log.Warn("dropping an attached client that does not keep up with the output")
			delete(s.subs, sub)
			sub.q.Close()
		}
	}
}

// attach subscribes conn to the output (after an acknowledgement, so that
// a client that attaches before start misses nothing) and copies what the
// client sends into the container's stdin.
func (s *server) attach(conn *net.UnixConn, br *bufio.Reader, req request) {
	sub := &subscriber{q: container.NewOutputQueue(clientBuffer), done: make(chan struct{})}
	s.mu.Lock()
	if s.exit != nil || s.subs == nil {
		s.mu.Unlock()
		send(conn, reply{Error: errExited})
		return
	}
	s.subs[sub] = struct{}{}
	s.mu.Unlock()
	if err := send(conn, reply{}); err != nil {
		s.unsubscribe(sub)
		return
	}
	if req.Stdin {
		go s.copyStdin(br, conn, req.CloseStdin)
	}
	defer close(sub.done)
	// What is queued goes out in one write: frames of merged chunks.
	var buf []byte
	for {
		chunks := sub.q.Take()
		if chunks == nil {
			if sub.exit != nil {
				if p, err := json.Marshal(sub.exit); err == nil {
					writeFrame(conn, streamExit, p)
				}
			}
			return
		}
		buf = buf[:0]
		for _, c := range chunks {
			buf = appendFrame(buf, c.Stream, c.P)
		}
		if _, err := conn.Write(buf); err != nil {
			s.unsubscribe(sub)
			return
		}
		if cap(buf) > 1<<20 {
			buf = nil // not kept past a burst
		}
	}
}

func (s *server) unsubscribe(sub *subscriber) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.subs[sub]; ok {
		delete(s.subs, sub)
		sub.q.Close()
	}
}

// copyStdin copies a client's input into the container's stdin (once it
// has started); with closeAtEnd the end of the input closes it.
func (s *server) copyStdin(br *bufio.Reader, conn *net.UnixConn, closeAtEnd bool) {
	// The request reader was limited; what follows it is the input.
	var in io.Reader = io.MultiReader(br, conn)
	for {
		s.mu.Lock()
		pio := s.pio
		exited := s.exit != nil
		s.mu.Unlock()
		if pio != nil || exited {
			break
		}
		time.Sleep(10 * time.Millisecond) // attached before start
	}
	s.mu.Lock()
	pio := s.pio
	s.mu.Unlock()
	var w io.WriteCloser
	if pio != nil {
		w = pio.Stdin()
	}
	if w == nil {
		io.Copy(io.Discard, in)
		return
	}
	io.Copy(w, in)
	if closeAtEnd {
		s.closeStdin()
	}
}

// closeStdin gives the container end of file on a stdin pipe (a terminal
// keeps its input open).
func (s *server) closeStdin() {
	s.mu.Lock()
	pio := s.pio
	s.mu.Unlock()
	if pio == nil || s.cfg.Terminal {
		return
	}
	if w := pio.Stdin(); w != nil {
		w.Close()
	}
}

// exec runs a process in the container (runc exec, so that it too is the
// monitor's child) with its output sent to conn in frames, the input read
// from conn, and a last frame with its exit code once its output drained.
// The exec's record file says whether it runs, and how it ended.
func (s *server) exec(conn *net.UnixConn, br *bufio.Reader, req request) {
	id := req.ExecID
	if id == "" || filepath.Base(id) != id || strings.HasPrefix(id, ".") {
		send(conn, reply{Error: "bad exec ID " + strconv.Quote(id)})
		return
	}
	var p specs.Process
	if err := json.Unmarshal(req.Process, &p); err != nil {
		send(conn, reply{Error: "bad exec process: " + err.Error()})
		return
	}
	s.mu.Lock()
	running := s.pid > 0 && s.exit == nil
	s.mu.Unlock()
	if !running {
		send(conn, reply{Error: errNotRunning})
		return
	}
	var wmu sync.Mutex
	frames := func(stream byte) io.Writer {
		return writerFunc(func(b []byte) (int, error) {
			wmu.Lock()
			defer wmu.Unlock()
			if err := writeFrame(conn, stream, b); err != nil {
				return 0, err
			}
			return len(b), nil
		})
	}
	cfg := runtime.IOConfig{Terminal: p.Terminal, Stdin: req.Stdin}
	if req.Stdout {
		cfg.Stdout = frames(streamOut)
	} else if p.Terminal {
		cfg.Stdout = io.Discard // the pty's output is read all the same
	}
	if req.Stderr && !p.Terminal {
		cfg.Stderr = frames(streamErr)
	}
	pio, err := runtime.NewIO(cfg)
	if err != nil {
		send(conn, reply{Error: err.Error()})
		return
	}
	ctx := context.Background()
	proc, err := s.runc.Exec(ctx, s.cfg.ID, &p, pio.Stdio())
	if err != nil {
		pio.Close()
		send(conn, reply{Error: err.Error()})
		return
	}
	x := &execState{pio: pio, done: make(chan struct{})}
	s.mu.Lock()
	s.execs[id] = x
	s.mu.Unlock()
	rec := ExecRecord{ID: id, Pid: proc.Pid, Running: true, Client: req.Record}
	if err := writeExecRecord(s.cfg.Dir, rec); err != nil {
		s.log.Warn("write exec record", "exec", id, "error", err)
	}
	// The answer goes before the first frame of output.
	err = send(conn, reply{Pid: proc.Pid})
	pio.Start(proc)
	if err == nil && req.Stdin {
		go func() {
			in := pio.Stdin()
			io.Copy(in, io.MultiReader(br, conn))
			if !p.Terminal {
				in.Close()
			}
		}()
	}
	code, err := s.runc.Wait(ctx, proc.Pid)
	if err != nil {
		s.log.Warn("wait for exec", "exec", id, "error", err)
		code = 255
	}
	pio.Drain(execOutputGrace)
	rec.Running, rec.ExitCode = false, code
	if err := writeExecRecord(s.cfg.Dir, rec); err != nil {
		s.log.Warn("write exec record", "exec", id, "error", err)
	}
	x.code = code
	close(x.done)
	data, _ := json.Marshal(ExecExit{Code: code})
	wmu.Lock()
	writeFrame(conn, streamExit, data)
	wmu.Unlock()
}

// execOutputGrace is how long an exec's output may stay open after the
// process exited (a background child holding it), as containerd's shim
// allows, before it is cut.
const execOutputGrace = 2 * time.Second

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
