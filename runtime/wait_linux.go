package runtime

import (
	"context"
	"errors"
	"fmt"

	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"
)

func setSubreaper() error {
	return unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
}

// initWait is the single wait4 for one init pid; every Wait for that pid
// shares its result.
type initWait struct {
	done chan struct{}
	code int
	err  error
}

// Wait waits for the init process pid started by Run to exit and reaps it. It
// returns the exit code, or 128+signal when a signal killed the process. It
// then waits until the container's stderr has been forwarded in full, so the
// caller's stderr file has no more writers when Wait returns.
//
// Wait may run in a goroutine while Kill, State or Delete run, and several
// Waits for one pid all get its result. When ctx ends first Wait returns
// ctx.Err(); the process is still reaped and a later Wait gets the result.
// A pid that is not a child of this process (already waited for, or started
// before the daemon) is a not-found error.
func (r *Runc) Wait(ctx context.Context, pid int) (int, error) {
	r.mu.Lock()
	w, ok := r.waits[pid]
	if !ok {
		w = &initWait{done: make(chan struct{})}
		r.waits[pid] = w
		go w.wait4(pid)
	}
	r.mu.Unlock()

	select {
	case <-w.done:
	case <-ctx.Done():
		return -1, ctx.Err()
	}

	r.mu.Lock()
	relay := r.streams[pid]
	r.mu.Unlock()
	if relay != nil {
		select {
		case <-relay.done:
		case <-ctx.Done():
			return -1, ctx.Err()
		}
	}

	r.mu.Lock()
	if r.waits[pid] == w {
		delete(r.waits, pid)
	}
	if relay != nil && r.streams[pid] == relay {
		delete(r.streams, pid)
	}
	r.mu.Unlock()
	return w.code, w.err
}

func (w *initWait) wait4(pid int) {
	defer close(w.done)
	for {
		var ws unix.WaitStatus
		_, err := unix.Wait4(pid, &ws, 0, nil)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.ECHILD):
			w.code, w.err = -1, errdefs.ErrNotFound.WithMessage(fmt.Sprintf("wait for pid %d: not a child of this process", pid))
		case err != nil:
			w.code, w.err = -1, fmt.Errorf("wait for pid %d: %w", pid, err)
		case ws.Exited():
			w.code = ws.ExitStatus()
		case ws.Signaled():
			w.code = 128 + int(ws.Signal())
		default: // stopped or continued: not an exit
			continue
		}
		return
	}
}
