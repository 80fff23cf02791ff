package layer

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/go-archive"
	"golang.org/x/sys/unix"
)

func TestOverlayChanges(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: an overlay whiteout is a 0:0 character device")
	}
	lower, upper := t.TempDir(), t.TempDir()
	write := func(root, p, data string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(filepath.Join(root, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, p), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(lower, "etc/a", "a")
	write(lower, "etc/b", "b")
	write(lower, "bin/x", "x")
	write(upper, "etc/a", "changed")
	write(upper, "etc/c", "new")
	write(upper, "new/f", "f")
	if err := unix.Mknod(filepath.Join(upper, "etc/b"), unix.S_IFCHR, 0); err != nil {
		t.Fatal(err)
	}
	got, err := overlayChanges([]string{lower}, upper, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []archive.Change{
		{Path: "/etc", Kind: archive.ChangeModify},
		{Path: "/etc/a", Kind: archive.ChangeModify},
		{Path: "/etc/b", Kind: archive.ChangeDelete},
		{Path: "/etc/c", Kind: archive.ChangeAdd},
		{Path: "/new", Kind: archive.ChangeAdd},
		{Path: "/new/f", Kind: archive.ChangeAdd},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
}

// TestOverlayChangesHidden: the mount points the engine adds are not
// changes, nor is the directory they made newer.
func TestOverlayChangesHidden(t *testing.T) {
	lower, upper := t.TempDir(), t.TempDir()
	for _, d := range []string{lower, upper} {
		if err := os.MkdirAll(filepath.Join(d, "etc"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(filepath.Join(lower, "etc"), old, old); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(upper, "etc", "hosts"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	hidden := []string{"/etc/hosts"}
	got, err := overlayChanges([]string{lower}, upper, hidden)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Errorf("only hidden mount points: got %v, want no change", got)
	}
	if err := os.WriteFile(filepath.Join(upper, "etc", "app"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err = overlayChanges([]string{lower}, upper, hidden)
	if err != nil {
		t.Fatal(err)
	}
	want := []archive.Change{{Path: "/etc", Kind: archive.ChangeModify}, {Path: "/etc/app", Kind: archive.ChangeAdd}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
}
