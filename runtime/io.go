package runtime

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// IOConfig says how a process's stdio is connected.
type IOConfig struct {
	// Terminal gives the process a pty: its output is one stream (Stdout)
	// and its input is typed into the pty.
	Terminal bool
	// Stdin keeps an input open for the process: a pipe (or the pty) that
	// IO.Stdin writes to. Without it the process reads /dev/null.
	Stdin bool
	// StdinFile, when set with Stdin and no Terminal, is given to the
	// process as its stdin as is (the read end of a pipe made before the
	// start); IO.Stdin is then nil.
	StdinFile *os.File
	// Stdout and Stderr receive the output as it comes; nil gives the
	// process /dev/null. A writer that fails gets nothing more, and the
	// process's output is still read, so that it never blocks.
	Stdout, Stderr io.Writer
	// Combined sends stderr into the stdout pipe (Stderr is ignored): one
	// stream, in the order the process wrote it.
	Combined bool
}

// IO is the stdio of one process (a container's init, an exec, a build
// step), made before the process starts: pipes, or a pty whose master runc
// hands over. It is the one way processes are connected, so that output is
// always drained the same way before an exit is reported.
//
// Use: NewIO, then Run or Exec with Stdio() and IOConfig.Terminal, then
// Start with the process (or Close after a failed start); once the
// process has exited, Drain.
type IO struct {
	cfg     IOConfig
	stdio   Stdio      // the process's ends, without a terminal
	theirs  []*os.File // closed once the process has them
	stdinW  *os.File   // our end of the stdin pipe, without a terminal
	outputs []*os.File // our read ends: stdout, stderr
	console *os.File   // the pty master, with a terminal

	pumps     sync.WaitGroup
	closeOnce sync.Once
}

// NewIO makes the pipes of cfg; with a terminal nothing is made until Start.
func NewIO(cfg IOConfig) (*IO, error) {
	p := &IO{cfg: cfg}
	if cfg.Terminal {
		return p, nil
	}
	fail := func(err error) (*IO, error) {
		for _, f := range p.theirs {
			f.Close()
		}
		p.closeOurs()
		return nil, fmt.Errorf("stdio pipes: %w", err)
	}
	if cfg.Stdin {
		if cfg.StdinFile != nil {
			p.stdio.Stdin = cfg.StdinFile
		} else {
			r, w, err := os.Pipe()
			if err != nil {
				return fail(err)
			}
			p.stdio.Stdin, p.stdinW, p.theirs = r, w, append(p.theirs, r)
		}
	}
	for _, out := range []struct {
		dst  io.Writer
		slot **os.File
	}{{cfg.Stdout, &p.stdio.Stdout}, {cfg.Stderr, &p.stdio.Stderr}} {
		if out.dst == nil {
			p.outputs = append(p.outputs, nil)
			continue
		}
		r, w, err := os.Pipe()
		if err != nil {
			return fail(err)
		}
		*out.slot, p.theirs = w, append(p.theirs, w)
		p.outputs = append(p.outputs, r)
		if cfg.Combined {
			p.stdio.Stderr = w
			p.outputs = append(p.outputs, nil)
			break
		}
	}
	return p, nil
}

// Stdio is what to give Run or Exec when the process has no terminal.
func (p *IO) Stdio() Stdio { return p.stdio }

// Start connects the started process: the process's ends of the pipes are
// closed here, the pty master is taken from proc, and the output starts
// flowing to the writers.
func (p *IO) Start(proc *Process) {
	for _, f := range p.theirs {
		f.Close()
	}
	p.theirs = nil
	if p.cfg.Terminal {
		p.console = proc.Console
		if p.console != nil {
			p.pump(p.cfg.Stdout, p.console)
		}
		return
	}
	for i, dst := range []io.Writer{p.cfg.Stdout, p.cfg.Stderr} {
		if p.outputs[i] != nil {
			p.pump(dst, p.outputs[i])
		}
	}
}

// Stdin is where the process's input goes: the pty or the stdin pipe; nil
// without IOConfig.Stdin (or with StdinFile). Closing it (no terminal) gives
// the process end of file.
func (p *IO) Stdin() io.WriteCloser {
	switch {
	case p.cfg.Terminal && p.cfg.Stdin && p.console != nil:
		return nopCloser{p.console}
	case p.stdinW != nil:
		return p.stdinW
	}
	return nil
}

// Resize sets the terminal's size; without a terminal it does nothing.
func (p *IO) Resize(height, width uint16) error {
	if p.console == nil {
		return nil
	}
	return Resize(p.console, height, width)
}

// Drain waits, once the process has exited, until its output has been
// copied in full: until every writer of the output (a background child
// too) has gone, or until grace has passed, when the output is cut. Our
// ends are then closed. A negative grace waits as long as it takes.
func (p *IO) Drain(grace time.Duration) {
	drained := make(chan struct{})
	go func() {
		p.pumps.Wait()
		close(drained)
	}()
	if grace >= 0 {
		select {
		case <-drained:
		case <-time.After(grace):
			p.closeOurs() // ends the pumps
			<-drained
		}
	}
	<-drained
	p.Close()
}

// Close closes our ends of the stdio (after a failed start, or to cut the
// output); idempotent.
func (p *IO) Close() {
	for _, f := range p.theirs {
		f.Close()
	}
	p.theirs = nil
	p.closeOurs()
}

func (p *IO) closeOurs() {
	p.closeOnce.Do(func() {
		for _, f := range append([]*os.File{p.console, p.stdinW}, p.outputs...) {
			if f != nil {
				f.Close()
			}
		}
	})
}

// pump copies src to dst until src ends. Once dst fails the rest is read
// and discarded, so the process never blocks on a full pipe. A pty master
// reports EIO once the last process holding the terminal is gone: that is
// its end of file.
func (p *IO) pump(dst io.Writer, src io.Reader) {
	p.pumps.Add(1)
	go func() {
		defer p.pumps.Done()
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 && dst != nil {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					dst = nil
				}
			}
			if err != nil {
				return
			}
		}
	}()
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }
