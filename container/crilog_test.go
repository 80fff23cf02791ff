package container

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestCRILog: a CRI log holds one "<time> <stream> <F|P> <content>" line
// per entry, a piece of a line tagged P; docker logs reads it back whole.
func TestCRILog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.log")
	l := OpenCRILog(path)
	at := time.Date(2026, 12, 7, 1, 2, 3, 400, time.UTC)
	l.Write("stdout", []byte("hello\n"), at)
	l.Write("stderr", []byte("a piece "), at)
	l.Write("stderr", []byte("and the rest\n"), at)
	l.Close()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := "2026-12-07T01:02:03.0000004Z stdout F hello\n" +
		"2026-12-07T01:02:03.0000004Z stderr P a piece \n" +
		"2026-12-07T01:02:03.0000004Z stderr F and the rest\n"
	if diff := cmp.Diff(want, string(b)); diff != "" {
		t.Errorf("log file (-want +got):\n%s", diff)
	}
	var got []string
	for m := range l.Read(t.Context(), ReadOptions{Stdout: true, Stderr: true, Tail: -1}) {
		got = append(got, m.Stream+":"+string(m.Line))
	}
	if diff := cmp.Diff([]string{"stdout:hello\n", "stderr:a piece ", "stderr:and the rest\n"}, got); diff != "" {
		t.Errorf("read back (-want +got):\n%s", diff)
	}
}

// TestCRILogReopen: after the file is renamed (the kubelet's rotation),
// Reopen makes a new one at the path, which the next lines go to.
func TestCRILogReopen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.log")
	l := OpenCRILog(path)
	l.Write("stdout", []byte("before\n"), time.Now())
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := l.Reopen(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("no new file after Reopen: %v", err)
	}
	l.Write("stdout", []byte("after\n"), time.Now())
	l.Close()
	old, _ := os.ReadFile(path + ".1")
	cur, _ := os.ReadFile(path)
	if !strings.HasSuffix(string(old), " stdout F before\n") || !strings.HasSuffix(string(cur), " stdout F after\n") || strings.Contains(string(cur), "before") {
		t.Errorf("rotated file %q, new file %q", old, cur)
	}
}
