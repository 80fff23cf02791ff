package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/moby/term"
)

// terminalFd returns the file descriptor of s when it is a terminal.
func terminalFd(s any) (uintptr, bool) {
	return term.GetFdInfo(s)
}

// makeRaw puts the terminal behind in into raw mode and returns the function
// that restores it; the restore may be called any number of times. When in is
// not a terminal nothing changes.
func makeRaw(in any) (restore func(), err error) {
	fd, ok := terminalFd(in)
	if !ok {
		return func() {}, nil
	}
	state, err := term.SetRawTerminal(fd)
	if err != nil {
		return nil, fmt.Errorf("set terminal raw mode: %w", err)
	}
	var once sync.Once
	return func() { once.Do(func() { term.RestoreTerminal(fd, state) }) }, nil
}

// terminalSize returns the height and width of the terminal behind out, or
// zeros when out is not a terminal.
func terminalSize(out any) (height, width uint) {
	fd, ok := terminalFd(out)
	if !ok {
		return 0, 0
	}
	ws, err := term.GetWinsize(fd)
	if err != nil || ws == nil {
		return 0, 0
	}
	return uint(ws.Height), uint(ws.Width)
}

// resizeFunc sets the container's (or exec's) TTY size.
type resizeFunc func(ctx context.Context, height, width uint) error

// monitorTTYSize sends out's size now, retrying briefly as the process may
// not be up yet (warning on stderr after the last try, as docker does), then
// again on every SIGWINCH until ctx is done.
func (c *Cli) monitorTTYSize(ctx context.Context, resize resizeFunc) {
	h, w := terminalSize(c.Out)
	if h == 0 && w == 0 {
		return
	}
	go func() {
		var err error
		for i := 0; i < 10; i++ {
			if err = resize(ctx, h, w); err == nil || ctx.Err() != nil {
				break
			}
			time.Sleep(time.Duration(i+1) * 10 * time.Millisecond)
		}
		if err != nil && ctx.Err() == nil {
			fmt.Fprintln(c.Err, "failed to resize tty, using default size")
		}
	}()
	winch := make(chan os.Signal, 1)
	signal.Notify(winch, syscall.SIGWINCH)
	go func() {
		defer signal.Stop(winch)
		for {
			select {
			case <-ctx.Done():
				return
			case <-winch:
				h, w := terminalSize(c.Out)
				resize(ctx, h, w)
			}
		}
	}()
}
