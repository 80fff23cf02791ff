package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// lockFile is the file in the data root and in the exec root that the
// gantryd using them holds locked (flock), with its PID in it.
const lockFile = "gantryd.lock"

// lockDir takes dir (creating it) for this gantryd: an exclusive flock on
// dir/gantryd.lock, which then holds this process's PID. The lock lasts as
// long as the returned file stays open, at most the process's life; it is
// not passed to children (runc, containers), so it goes with gantryd. When
// another gantryd holds it, the error names that gantryd's PID.
func lockDir(dir, what string) (*os.File, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o711); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, lockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s %s is in use by gantryd (pid %s)\nhint: one gantryd per %s; stop that one, or give this one another --%s",
				what, dir, holder(path), what, strings.ReplaceAll(what, " ", "-"))
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	return f, nil
}

// holder is the PID written in the lock file at path; the holder writes it
// just after taking the lock, so an empty file is read again for a moment.
func holder(path string) string {
	for range 50 {
		if b, err := os.ReadFile(path); err == nil {
			if pid := strings.TrimSpace(string(b)); pid != "" {
				return pid
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	return "unknown"
}

// writePidfile writes this process's PID to path, as dockerd's --pidfile,
// refusing a file that names another running process; remove deletes it.
func writePidfile(path string) (remove func(), err error) {
	if b, err := os.ReadFile(path); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid != os.Getpid() && unix.Kill(pid, 0) == nil {
			if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err == nil {
				return nil, fmt.Errorf("process with PID %d is still running", pid)
			}
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return nil, err
	}
	return func() { os.Remove(path) }, nil
}
