package runtime

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// consoleSocket is the --console-socket runc sends a container's pty master to.
type consoleSocket struct {
	dir string
	l   *net.UnixListener
}

func newConsoleSocket() (*consoleSocket, error) {
	dir, err := os.MkdirTemp("", "gantry-console-")
	if err != nil {
		return nil, fmt.Errorf("console socket: %w", err)
	}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(dir, "sock"), Net: "unix"})
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("console socket: %w", err)
	}
	return &consoleSocket{dir: dir, l: l}, nil
}

func (s *consoleSocket) Path() string { return s.l.Addr().String() }

func (s *consoleSocket) Close() error {
	err := s.l.Close()
	os.RemoveAll(s.dir)
	return err
}

// Receive accepts runc's one connection and returns the pty master it carries
// (SCM_RIGHTS), in non-blocking mode so that Close interrupts a pending Read.
// runc has already sent it when run returns, so Receive does not wait long.
func (s *consoleSocket) Receive(ctx context.Context) (*os.File, error) {
	deadline := time.Now().Add(10 * time.Second)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := s.l.SetDeadline(deadline); err != nil {
		return nil, fmt.Errorf("console socket: %w", err)
	}
	conn, err := s.l.AcceptUnix()
	if err != nil {
		return nil, fmt.Errorf("accept console: %w", err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(deadline); err != nil {
		return nil, fmt.Errorf("console socket: %w", err)
	}
	name := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4*4))
	n, oobn, _, _, err := conn.ReadMsgUnix(name, oob)
	if err != nil {
		return nil, fmt.Errorf("receive console: %w", err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		return nil, fmt.Errorf("receive console: %w", err)
	}
	var fds []int
	for i := range msgs {
		more, err := unix.ParseUnixRights(&msgs[i])
		if err == nil {
			fds = append(fds, more...)
		}
	}
	if len(fds) == 0 {
		return nil, fmt.Errorf("receive console: no file descriptor in message")
	}
	for _, fd := range fds[1:] {
		unix.Close(fd)
	}
	if err := unix.SetNonblock(fds[0], true); err != nil {
		unix.Close(fds[0])
		return nil, fmt.Errorf("console: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), string(name[:n])), nil
}

// Resize sets the window size of a container's terminal (TIOCSWINSZ on the pty
// master returned as Process.Console).
func Resize(console *os.File, height, width uint16) error {
	rc, err := console.SyscallConn()
	if err != nil {
		return fmt.Errorf("resize console: %w", err)
	}
	ws := &unix.Winsize{Row: height, Col: width}
	if cerr := rc.Control(func(fd uintptr) { err = unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, ws) }); cerr != nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("resize console: %w", err)
	}
	return nil
}
