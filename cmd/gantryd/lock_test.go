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
