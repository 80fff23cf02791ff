package container

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protowire"
)

// TestLocalFraming: an entry is framed as moby's local driver frames it: a
// big-endian length, a LogEntry (source 1, time_nano 2, line 3 without its
// newline, partial 4), the length again.
func TestLocalFraming(t *testing.T) {
	ts := time.Unix(1700000000, 123456789)
	b := encodeLocal("stderr", []byte("hello\n"), ts)
	n := binary.BigEndian.Uint32(b)
	if int(n)+8 != len(b) || binary.BigEndian.Uint32(b[len(b)-4:]) != n {
		t.Fatalf("frame %x: lengths do not frame the message", b)
	}
	var want []byte
	want = protowire.AppendTag(want, 1, protowire.BytesType)
	want = protowire.AppendString(want, "stderr")
	want = protowire.AppendTag(want, 2, protowire.VarintType)
	want = protowire.AppendVarint(want, uint64(ts.UnixNano()))
	want = protowire.AppendTag(want, 3, protowire.BytesType)
	want = protowire.AppendBytes(want, []byte("hello"))
	if d := cmp.Diff(want, b[4:len(b)-4]); d != "" {
		t.Errorf("message (-want +got):\n%s", d)
	}
	stream, line, got, err := decodeLocalMsg(b[4 : len(b)-4])
	if err != nil || stream != "stderr" || string(line) != "hello\n" || !got.Equal(ts) {
		t.Errorf("decoded %q %q %v %v", stream, line, got, err)
	}
	p := encodeLocal("stdout", []byte("part"), ts)
	_, line, _, _ = decodeLocalMsg(p[4 : len(p)-4])
	if string(line) != "part" {
		t.Errorf("a partial line decoded as %q", line)
	}
}

// TestLocalLog: the local format's log, rotated and compressed with moby's
// defaults shrunk: a full read, tails into the gzipped files and a
// follower across rotations see every entry kept.
func TestLocalLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "local-logs", "container.log")
	l := OpenLog(path, true)
	l.SetRotation(40<<10, 4)
	l.SetCompress(true)
	all := numbered(0, 3000)
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
	l.Close()
	for i := 1; i <= 3; i++ {
		if _, err := os.Stat(path + "." + strconv.Itoa(i) + ".gz"); err != nil {
			t.Errorf("rotated file %d: %v", i, err)
		}
	}
	got := readLines(t, l, ReadOptions{Stdout: true, Tail: -1})
	if len(got) == 0 || got[len(got)-1] != all[len(all)-1] {
		t.Fatalf("read %d entries, last %q", len(got), got[len(got)-1:])
	}
	if d := cmp.Diff(all[len(all)-len(got):], got); d != "" {
		t.Errorf("entries kept (-want +got)\n%s", d)
	}
	for _, n := range []int{1, 5, 300, len(got)} {
		if d := cmp.Diff(all[len(all)-n:], readLines(t, l, ReadOptions{Stdout: true, Tail: n})); d != "" {
			t.Errorf("tail %d (-want +got)\n%s", n, d)
		}
	}
	if got := readLines(t, l, ReadOptions{Stderr: true, Tail: 3}); len(got) != 0 {
		t.Errorf("tail 3 of stderr: %q", got)
	}
	for i, want := range all {
		select {
		case line := <-followed:
			if line != want {
				t.Fatalf("followed entry %d = %q, want %q", i, line, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("follow stopped after %d entries", i)
		}
	}
	for opts, want := range map[string]string{"bogus": "unknown log opt 'bogus' for log driver local", "max-size": "max size should be a positive number"} {
		m := map[string]string{opts: "0"}
		if _, err := ParseLogConfig("local", m); err == nil || err.Error() != want {
			t.Errorf("local %s: %v, want %q", opts, err, want)
		}
	}
	if s, err := ParseLogConfig("local", nil); err != nil || s.MaxSize != 20<<20 || s.MaxFiles != 5 || !s.Compress {
		t.Errorf("local defaults: %+v %v", s, err)
	}
}
