package cri

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// pinNetNS makes a network namespace and bind-mounts it at path (a file
// that must not exist), so that it outlives every process in it; CNI then
// wires it. The unshare happens on a locked thread that is then dropped
// (it ends with its goroutine), so no other goroutine runs in it.
func pinNetNS(path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o444)
	if err != nil {
		return fmt.Errorf("create network namespace: %w", err)
	}
	f.Close()
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread goes with the goroutine
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			done <- fmt.Errorf("unshare: %w", err)
			return
		}
		lo, err := netlink.LinkByName("lo")
		if err == nil {
			err = netlink.LinkSetUp(lo)
		}
		if err != nil {
			done <- fmt.Errorf("set lo up: %w", err)
			return
		}
		done <- unix.Mount(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()), path, "", unix.MS_BIND, "")
	}()
	if err := <-done; err != nil {
		os.Remove(path)
		return fmt.Errorf("create network namespace: %w", err)
	}
	return nil
}

// unpinNetNS undoes pinNetNS; a path already gone is not an error.
func unpinNetNS(path string) error {
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount network namespace: %w", err)
	}
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}

// stopPause kills a pod's pause process and reaps it when it is this
// process's child (otherwise its parent, init or a subreaper, does).
func stopPause(pid int) {
	if pid <= 0 {
		return
	}
	unix.Kill(pid, unix.SIGKILL)
	var ws unix.WaitStatus
	unix.Wait4(pid, &ws, 0, nil)
}

// dialInNetNS connects to addr (TCP) from inside the network namespace at
// path ("" for this process's): the socket is made on a locked thread
// moved into the namespace, and a socket stays in the namespace it was
// made in. The thread is dropped afterwards.
func dialInNetNS(ctx context.Context, path, addr string) (net.Conn, error) {
	if path == "" {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	}
	type result struct {
		conn net.Conn
		err  error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread goes with the goroutine
		f, err := os.Open(path)
		if err != nil {
			done <- result{nil, err}
			return
		}
		err = unix.Setns(int(f.Fd()), unix.CLONE_NEWNET)
		f.Close()
		if err != nil {
			done <- result{nil, fmt.Errorf("setns: %w", err)}
			return
		}
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp4", addr)
		done <- result{conn, err}
	}()
	r := <-done
	return r.conn, r.err
}
