package container

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func readLines(t *testing.T, l *Log, opts ReadOptions) []string {
	t.Helper()
	var out []string
	for m := range l.Read(context.Background(), opts) {
		out = append(out, string(m.Line))
	}
	return out
}

func numbered(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("line %d %s\n", i, padding))
	}
	return out
}

// padding makes entries long enough for the tail to cross its 64 KiB blocks.
var padding = string(make([]byte, 0)) + fmt.Sprintf("%0200d", 0)

// TestLogRotation: with a maximum size the log rotates as Docker's
// json-file driver (<path>.1 the previous file, max-file files in all), and
// reading gives every entry kept, oldest first; a tail reads from the end,
// across files; a follower moves on to the new file after a rotation.
func TestLogRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x-json.log")
	l := OpenLog(path, false)
	l.SetRotation(100<<10, 3)
	all := numbered(0, 2000) // about 500 KiB of entries
	for _, line := range all[:1000] {
		l.Write("stdout", []byte(line), time.Now())
	}
	follow := l.Read(context.Background(), ReadOptions{Stdout: true, Tail: 0, Follow: make(chan State)})
	followed := make(chan string, len(all))
	go func() {
		for m := range follow {
			followed <- string(m.Line)
		}
	}()
	for i, line := range all[1000:] {
		l.Write("stdout", []byte(line), time.Now())
		// At a pace the follower keeps up with: a file rotated out of
		// max-file before it was read is lost, as with Docker.
		for i%100 == 99 && len(followed) < i+1 {
			time.Sleep(time.Millisecond)
		}
	}
	for i := 1; i <= 2; i++ {
		if fi, err := os.Stat(path + "." + strconv.Itoa(i)); err != nil || fi.Size() > 100<<10 {
			t.Errorf("rotated file %d: %v, %v", i, fi, err)
		}
	}
	if _, err := os.Stat(path + ".3"); err == nil {
		t.Errorf("%s.3 exists with max-file 3", path)
	}
	got := readLines(t, l, ReadOptions{Stdout: true, Tail: -1})
	if len(got) == 0 || len(got) > len(all) || got[len(got)-1] != all[len(all)-1] {
		t.Fatalf("read %d entries, last %q", len(got), got[len(got)-1:])
	}
	if diff := cmp.Diff(all[len(all)-len(got):], got); diff != "" {
		t.Errorf("entries kept (-want +got)\n%s", diff)
	}
	for _, n := range []int{1, 5, 300, len(got)} {
		if diff := cmp.Diff(all[len(all)-n:], readLines(t, l, ReadOptions{Stdout: true, Tail: n})); diff != "" {
			t.Errorf("tail %d (-want +got)\n%s", n, diff)
		}
	}
	if got := readLines(t, l, ReadOptions{Stderr: true, Tail: 3}); len(got) != 0 {
		t.Errorf("tail 3 of stderr: %q, want nothing", got)
	}
	for i, want := range all[1000:] {
		select {
		case line := <-followed:
			if line != want {
				t.Fatalf("followed entry %d = %q, want %q", i, line, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("follow stopped after %d entries across rotations", i)
		}
	}
}

// TestLogMaxFileOne: with one file the log is cut when full.
func TestLogMaxFileOne(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x-json.log")
	l := OpenLog(path, false)
	l.SetRotation(10<<10, 1)
	for _, line := range numbered(0, 200) {
		l.Write("stdout", []byte(line), time.Now())
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() > 10<<10 {
		t.Errorf("log file: %v, %v; want at most 10 KiB", fi, err)
	}
	if _, err := os.Stat(path + ".1"); err == nil {
		t.Errorf("a rotated file exists with max-file 1")
	}
}

// TestLogDropsOnFullDisk: lines that cannot be written (/dev/full: ENOSPC)
// are dropped, not retried or blocking, counted, and reported at the first
// one and at Close.
func TestLogDropsOnFullDisk(t *testing.T) {
	l := OpenLog("/dev/full", false)
	var reports []int64
	var lastErr error
	l.OnDrop(func(n int64, err error) {
		reports = append(reports, n)
		if err != nil {
			lastErr = err
		}
	})
	for i := 0; i < 100; i++ {
		l.Write("stdout", []byte("a line"), time.Now())
	}
	if got := l.Dropped(); got != 100 {
		t.Errorf("Dropped() = %d, want 100", got)
	}
	l.Close()
	if len(reports) != 2 || reports[0] != 1 || reports[1] != 100 {
		t.Errorf("reports %v, want [1 100] (the first drop, then the total at Close)", reports)
	}
	if lastErr == nil || !strings.Contains(lastErr.Error(), "no space left") {
		t.Errorf("reported error %v, want ENOSPC", lastErr)
	}
}

// TestLogCompress: with compress the rotated files are gzipped as
// Docker's (<path>.1.gz ...), the current one is not; a full read, tails
// reaching into the gzipped files and a follower across rotations see
// every entry kept, in order.
func TestLogCompress(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x-json.log")
	l := OpenLog(path, false)
	l.SetRotation(50<<10, 4)
	l.SetCompress(true)
	all := numbered(0, 2000)
	follow := l.Read(context.Background(), ReadOptions{Stdout: true, Tail: 0, Follow: make(chan State)})
	followed := make(chan string, len(all))
	go func() {
		for m := range follow {
			followed <- string(m.Line)
		}
	}()
	for i, line := range all {
		l.Write("stdout", []byte(line), time.Now())
		for i%100 == 99 && len(followed) < i+1 {
			time.Sleep(time.Millisecond)
		}
	}
	l.Close() // waits for the last gzip
	for i := 1; i <= 3; i++ {
		if _, err := os.Stat(path + "." + strconv.Itoa(i) + ".gz"); err != nil {
			t.Errorf("rotated file %d not gzipped: %v", i, err)
		}
		if _, err := os.Stat(path + "." + strconv.Itoa(i)); err == nil {
			t.Errorf("rotated file %d left uncompressed", i)
		}
	}
	if _, err := os.Stat(path + ".4.gz"); err == nil {
		t.Errorf("a fifth file with max-file 4")
	}
	got := readLines(t, l, ReadOptions{Stdout: true, Tail: -1})
	if len(got) == 0 || got[len(got)-1] != all[len(all)-1] {
		t.Fatalf("read %d entries, last %q", len(got), got[len(got)-1:])
	}
	if diff := cmp.Diff(all[len(all)-len(got):], got); diff != "" {
		t.Errorf("entries kept (-want +got)\n%s", diff)
	}
	for _, n := range []int{1, 300, 700, len(got)} {
		if diff := cmp.Diff(all[len(all)-n:], readLines(t, l, ReadOptions{Stdout: true, Tail: n})); diff != "" {
			t.Errorf("tail %d (-want +got)\n%s", n, diff)
		}
	}
	for i, want := range all {
		select {
		case line := <-followed:
			if line != want {
				t.Fatalf("followed entry %d = %q, want %q", i, line, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("follow stopped after %d entries across rotations", i)
		}
	}
	for opts, want := range map[string]string{
		"compress=yes":   "invalid syntax",
		"compress,nomax": "compress cannot be true when max-file is less than 2 or max-size is not set",
	} {
		m := map[string]string{"compress": "yes"}
		if opts == "compress,nomax" {
			m = map[string]string{"compress": "true", "max-file": "3"}
		}
		if _, err := ParseLogConfig("json-file", m); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", opts, err, want)
		}
	}
	if s, err := ParseLogConfig("json-file", map[string]string{"compress": "true", "max-size": "1m", "max-file": "2"}); err != nil || !s.Compress {
		t.Errorf("compress with max-size and max-file: %+v, %v", s, err)
	}
}
