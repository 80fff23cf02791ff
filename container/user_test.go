package container

import (
	"os"
	"path/filepath"
	"testing"
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
