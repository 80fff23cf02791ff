package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestApplyFromSecondTimes: a source file whose time has nanoseconds
// fits an entry whose time is that time truncated to the second only
// when the source says its tar's times are (SecondTimes): then the file
// is linked (same inode), else written.
func TestApplyFromSecondTimes(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to chown extracted files")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	body := []byte("built content")
	if err := os.WriteFile(src, body, 0o644); err != nil {
		t.Fatal(err)
	}
	fine := time.Date(2026, 1, 2, 3, 4, 5, 678_000_000, time.UTC)
	if err := os.Chtimes(src, fine, fine); err != nil {
		t.Fatal(err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(src, &st); err != nil {
		t.Fatal(err)
	}
	layerTar := func() *bytes.Reader {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		tw.WriteHeader(&tar.Header{Name: "f", Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body)),
			Uid: int(st.Uid), Gid: int(st.Gid), ModTime: fine.Truncate(time.Second), Format: tar.FormatPAX})
		tw.Write(body)
		tw.Close()
		return bytes.NewReader(buf.Bytes())
	}
	for _, second := range []bool{false, true} {
		dst := t.TempDir()
		sources := func(name string) (Source, bool) {
			return Source{Path: src, Dev: st.Dev, Ino: st.Ino, SecondTimes: second}, name == "f"
		}
		if _, err := ApplyFrom(context.Background(), layerTar(), dst, Overlay, sources); err != nil {
			t.Fatal(err)
		}
		var got syscall.Stat_t
		if err := syscall.Stat(filepath.Join(dst, "f"), &got); err != nil {
			t.Fatal(err)
		}
		if linked := got.Ino == st.Ino; linked != second {
			t.Errorf("SecondTimes %v: linked %v", second, linked)
		}
		if data, _ := os.ReadFile(filepath.Join(dst, "f")); string(data) != string(body) {
			t.Errorf("SecondTimes %v: content %q", second, data)
		}
	}
}
