package container

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestSpecSecureJoin(t *testing.T) {
	rootfs := t.TempDir()
	for _, d := range []string{"etc", "usr/lib"} {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	links := map[string]string{
		"abs":   "/usr/lib",
		"rel":   "../../../usr",
		"up":    "../../../../..",
		"loop":  "loop",
		"etc/x": "../usr/lib/y",
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(rootfs, name)); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct{ path, want string }{
		{"/etc/passwd", "/etc/passwd"},
		{"etc/passwd", "/etc/passwd"},
		{"/../../etc", "/etc"},
		{"/abs/z", "/usr/lib/z"},
		{"/rel/lib", "/usr/lib"},
		{"/up/etc", "/etc"},
		{"/etc/x", "/usr/lib/y"},
		{"/missing/../etc", "/etc"},
		{"/", "/"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			got, err := specSecureJoin(rootfs, tt.path)
			if err != nil {
				t.Fatal(err)
			}
			if want := filepath.Join(rootfs, tt.want); got != want {
				t.Errorf("specSecureJoin(%q) = %q, want %q", tt.path, got, want)
			}
		})
	}
	if _, err := specSecureJoin(rootfs, "/loop/x"); err == nil {
		t.Error("symlink loop resolved")
	}
}

// TestSpecUserAccountFiles checks that /etc/passwd is read inside the
// container's root whatever the container made of it: a symlink never
// leads to the host's file, and a FIFO or a huge file is refused rather
// than read.
func TestSpecUserAccountFiles(t *testing.T) {
	host := filepath.Join(t.TempDir(), "passwd")
	if err := os.WriteFile(host, []byte("evil:x:1234:1234::/home/evil:/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		make    func(p string) error
		wantErr string
	}{
		{"absolute symlink to the host", func(p string) error { return os.Symlink(host, p) }, "unable to find user evil"},
		{"relative symlink out", func(p string) error { return os.Symlink("../../../../../../../../.."+host, p) }, "unable to find user evil"},
		{"fifo", func(p string) error { return unix.Mkfifo(p, 0o644) }, "/etc/passwd is not a regular file"},
		{"directory", func(p string) error { return os.Mkdir(p, 0o755) }, "/etc/passwd is not a regular file"},
		{"too large", func(p string) error {
			if err := os.WriteFile(p, []byte("evil:x:1234:1234::/home/evil:/bin/sh\n"), 0o644); err != nil {
				return err
			}
			return os.Truncate(p, maxAccountFile+1)
		}, "/etc/passwd is larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rootfs := t.TempDir()
			if err := os.Mkdir(filepath.Join(rootfs, "etc"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := tt.make(filepath.Join(rootfs, "etc", "passwd")); err != nil {
				t.Fatal(err)
			}
			type result struct {
				u   specs.User
				err error
			}
			done := make(chan result, 1)
			go func() {
				u, _, err := specUserIn(rootfs, "evil", nil)
				done <- result{u, err}
			}()
			var r result
			select {
			case r = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("specUser blocked on /etc/passwd")
			}
			if r.err == nil || !strings.Contains(r.err.Error(), tt.wantErr) {
				t.Fatalf("specUser(evil) = %+v, %v; want error %q", r.u, r.err, tt.wantErr)
			}
			if !errdefs.IsInvalidArgument(r.err) {
				t.Errorf("error %v is not an invalid argument", r.err)
			}
		})
	}
}
