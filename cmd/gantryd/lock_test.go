package main

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestLockDir: a second taker of a locked directory is refused with the
// holder's PID; once the holder lets go, the directory can be taken.
func TestLockDir(t *testing.T) {
	dir := t.TempDir()
	f, err := lockDir(dir, "data root")
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(dir + "/gantryd.lock"); strings.TrimSpace(string(b)) != strconv.Itoa(os.Getpid()) {
		t.Errorf("lock file holds %q, want this PID", b)
	}
	_, err = lockDir(dir, "data root")
	want := "data root " + dir + " is in use by gantryd (pid " + strconv.Itoa(os.Getpid()) + ")"
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("second lock: %v, want %q", err, want)
	}
	f.Close()
	g, err := lockDir(dir, "data root")
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	g.Close()
}

// TestPidfile: the PID is written and removed; a file naming a running
// process is refused with dockerd's words.
func TestPidfile(t *testing.T) {
	path := t.TempDir() + "/run/gantryd.pid"
	remove, err := writePidfile(path)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); strings.TrimSpace(string(b)) != strconv.Itoa(os.Getpid()) {
		t.Errorf("pidfile holds %q", b)
	}
	remove()
	if _, err := os.Stat(path); err == nil {
		t.Error("pidfile left after remove")
	}
	os.WriteFile(path, []byte("1\n"), 0o644) // init runs
	if _, err := writePidfile(path); err == nil || err.Error() != "process with PID 1 is still running" {
		t.Errorf("pidfile of a running process: %v", err)
	}
}
