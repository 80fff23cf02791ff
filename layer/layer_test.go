package layer

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"

	"github.com/gantry/gantry/mount"
)

// entry is one tar entry for test tars.
type entry struct {
	name string
	typ  byte // tar.TypeReg when zero
	body string
	link string
	mode int64
}

func tarBytes(t testing.TB, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Linkname: e.link, Mode: e.mode, Size: int64(len(e.body))}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Mode == 0 {
			h.Mode = 0o644
			if h.Typeflag == tar.TypeDir {
				h.Mode = 0o755
			}
		}
		if h.Typeflag != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			io.WriteString(tw, e.body)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func dirE(name string) entry        { return entry{name: name, typ: tar.TypeDir} }
func fileE(name, body string) entry { return entry{name: name, body: body} }
func symlinkE(name, target string) entry {
	return entry{name: name, typ: tar.TypeSymlink, link: target}
}
func hardlinkE(name, target string) entry { return entry{name: name, typ: tar.TypeLink, link: target} }

// tree describes the files under root: path -> "dir 755", "file 644 body",
// "symlink -> target", "char 0/0".
func tree(t testing.TB, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		perm := fmt.Sprintf("%o", fi.Mode().Perm())
		switch {
		case fi.IsDir():
			out[rel] = "dir " + perm
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			out[rel] = "file " + perm + " " + string(b)
		case fi.Mode()&fs.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			out[rel] = "symlink -> " + l
		case fi.Mode()&fs.ModeCharDevice != 0:
			st := fi.Sys().(*syscall.Stat_t)
			out[rel] = fmt.Sprintf("char %d/%d", unix.Major(st.Rdev), unix.Minor(st.Rdev))
		default:
			out[rel] = "other " + fi.Mode().String()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// drivers runs fn once per driver that works here, as one conformance suite.
func drivers(t *testing.T, fn func(t *testing.T, s *Store, dir string)) {
	for _, name := range []string{"overlay2", "vfs"} {
		t.Run(name, func(t *testing.T) {
			if os.Geteuid() != 0 {
				t.Skip("layer stores need root (chown, mknod, trusted xattrs, mounts)")
			}
			dir := t.TempDir()
			s, err := New(filepath.Join(dir, "layers"), filepath.Join(dir, "tmp"), WithDriver(name))
			if err != nil {
				if name == "overlay2" {
					t.Skipf("overlay not usable here: %v", err)
				}
				t.Fatal(err)
			}
			if s.Driver() != name {
				t.Fatalf("Driver() = %q, want %q", s.Driver(), name)
			}
			fn(t, s, dir)
		})
	}
}

func apply(t testing.TB, s *Store, parent digest.Digest, b []byte) Layer {
	t.Helper()
	l, err := s.Apply(context.Background(), parent, bytes.NewReader(b))
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	return l
}

// mounted prepares a snapshot of parent in dir, mounts it and returns the
// mount point; the mount is undone at the end of the test.
func mounted(t testing.TB, s *Store, dir string, parent digest.Digest) string {
	t.Helper()
	ms, err := s.Prepare(context.Background(), dir, parent)
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	target := filepath.Join(dir, "merged")
	if err := os.MkdirAll(target, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := mount.All(ms, target); err != nil {
		t.Fatalf("mount %v: %v", ms, err)
	}
	t.Cleanup(func() { mount.Unmount(target) })
	return target
}

func TestChainID(t *testing.T) {
	const (
		empty = digest.Digest("sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef")
		b     = digest.Digest("sha256:3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d")
		c     = digest.Digest("sha256:2e7d2c03a9507ae265ecf5b5356885a53393a2029d241394997265a1a25aefc6")
		ab    = digest.Digest("sha256:56f9afe1028b834f7707ad514a2e64ab4e45560c2cf7085c37c241f3898797ea")
	)
	tests := []struct {
		name         string
		parent, diff digest.Digest
		want         digest.Digest
	}{
		{"base layer is its diff ID", "", empty, empty},
		{"two empty layers", empty, empty, "sha256:170b376f64fb30995c140276be3d71dfb256b308d86183ca3b22aa93a79ad548"},
		{"two layers", empty, b, ab},
		{"three layers", ab, c, "sha256:41a7d2c2ae988c5802aa9bf3548d6813b132982164d441689d75ec0172101b63"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ChainID(tc.parent, tc.diff); got != tc.want {
				t.Errorf("ChainID = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestRoundTrip(t *testing.T) {
	drivers(t, func(t *testing.T, s *Store, dir string) {
		ctx := context.Background()
		base := tarBytes(t,
			dirE("etc"), fileE("etc/hosts", "127.0.0.1 localhost\n"), fileE("etc/gone", "x"),
			dirE("opt"), dirE("opt/old"), fileE("opt/old/a", "a"), fileE("opt/keep", "k"),
			dirE("bin"), fileE("bin/sh", "#!"), hardlinkE("bin/ash", "bin/sh"), symlinkE("sh", "bin/sh"),
		)
		l1 := apply(t, s, "", base)
		if l1.DiffID != digest.FromBytes(base) || l1.ChainID != l1.DiffID || l1.Parent != "" {
			t.Fatalf("layer 1 = %+v", l1)
		}

		// Change the mounted rootfs of a snapshot of layer 1.
		snap1 := filepath.Join(dir, "c1")
		root := mounted(t, s, snap1, l1.ChainID)
		must(t, os.WriteFile(filepath.Join(root, "etc/hosts"), []byte("changed\n"), 0o600))
		must(t, os.Remove(filepath.Join(root, "etc/gone")))
		must(t, os.RemoveAll(filepath.Join(root, "opt/old")))
		must(t, os.Mkdir(filepath.Join(root, "opt/old"), 0o750)) // opaque replacement
		must(t, os.WriteFile(filepath.Join(root, "opt/old/b"), []byte("b"), 0o644))
		must(t, os.MkdirAll(filepath.Join(root, "new/deep"), 0o755))
		must(t, os.WriteFile(filepath.Join(root, "new/deep/f"), []byte("f"), 0o644))
		must(t, os.Symlink("/etc/hosts", filepath.Join(root, "new/link")))
		must(t, os.Remove(filepath.Join(root, "sh")))
		want := tree(t, root)
		if diff := cmp.Diff(map[string]string{
			"bin": "dir 755", "bin/sh": "file 644 #!", "bin/ash": "file 644 #!",
			"etc": "dir 755", "etc/hosts": "file 644 changed\n",
			"opt": "dir 755", "opt/keep": "file 644 k", "opt/old": "dir 750", "opt/old/b": "file 644 b",
			"new": "dir 755", "new/deep": "dir 755", "new/deep/f": "file 644 f", "new/link": "symlink -> /etc/hosts",
		}, want); diff != "" {
			t.Fatalf("changed rootfs (-want +got):\n%s", diff)
		}
		usage, err := s.Usage(ctx, snap1, l1.ChainID)
		if err != nil || usage < int64(len("changed\nbf")) {
			t.Errorf("Usage = %d, %v", usage, err)
		}

		// Diff it (still mounted), then apply the diff as layer 2.
		rc, err := s.Diff(ctx, snap1, l1.ChainID)
		if err != nil {
			t.Fatal(err)
		}
		diffTar, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		names := tarNames(t, diffTar)
		for _, n := range []string{"etc/.wh.gone", ".wh.sh"} {
			if !names[n] {
				t.Errorf("diff lacks whiteout %s; has %v", n, names)
			}
		}
		if s.Driver() == "overlay2" && !names["opt/old/.wh..wh..opq"] {
			t.Errorf("diff lacks opaque whiteout of opt/old; has %v", names)
		}
		if names["opt/keep"] || names["bin/sh"] {
			t.Errorf("diff holds unchanged files: %v", names)
		}
		l2 := apply(t, s, l1.ChainID, diffTar)
		if l2.Parent != l1.ChainID || l2.ChainID != ChainID(l1.ChainID, digest.FromBytes(diffTar)) {
			t.Fatalf("layer 2 = %+v", l2)
		}

		// A snapshot of layer 2 shows what was written.
		root2 := mounted(t, s, filepath.Join(dir, "c2"), l2.ChainID)
		if diff := cmp.Diff(want, tree(t, root2)); diff != "" {
			t.Errorf("rootfs of layer 2 (-want +got):\n%s", diff)
		}

		// Release after unmount removes the snapshot, twice over.
		must(t, mount.Unmount(filepath.Join(snap1, "merged")))
		for i := 0; i < 2; i++ {
			if err := s.Release(ctx, snap1); err != nil {
				t.Fatalf("Release #%d: %v", i, err)
			}
		}
		if ents, _ := os.ReadDir(snap1); len(ents) != 1 || ents[0].Name() != "merged" {
			t.Errorf("snapshot dir after Release holds %v", ents)
		}
		if _, err := s.Diff(ctx, snap1, l1.ChainID); !errdefs.IsNotFound(err) {
			t.Errorf("Diff of released snapshot = %v, want not found", err)
		}
	})
}

func TestEmptyParentSnapshot(t *testing.T) {
	drivers(t, func(t *testing.T, s *Store, dir string) {
		ctx := context.Background()
		snap := filepath.Join(dir, "c")
		root := mounted(t, s, snap, "")
		must(t, os.WriteFile(filepath.Join(root, "hello"), []byte("hi"), 0o644))
		rc, err := s.Diff(ctx, snap, "")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		l := apply(t, s, "", b)
		root2 := mounted(t, s, filepath.Join(dir, "c2"), l.ChainID)
		if diff := cmp.Diff(map[string]string{"hello": "file 644 hi"}, tree(t, root2)); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
}

func TestWhiteouts(t *testing.T) {
	drivers(t, func(t *testing.T, s *Store, dir string) {
		l1 := apply(t, s, "", tarBytes(t,
			dirE("a"), fileE("a/x", "x"), fileE("a/y", "y"), dirE("a/sub"), fileE("a/sub/z", "z"),
			dirE("b"), fileE("b/1", "1"), fileE("top", "t"),
		))
		l2 := apply(t, s, l1.ChainID, tarBytes(t,
			fileE("a/.wh.x", ""), fileE(".wh.top", ""), fileE("a/sub/.wh.z", ""),
			dirE("b"), fileE("b/.wh..wh..opq", ""), fileE("b/2", "2"),
		))
		switch s.Driver() {
		case "overlay2":
			got := tree(t, s.filesDir(l2.ChainID))
			wantStored := map[string]string{
				"a": "dir 755", "a/x": "char 0/0", "a/sub": "dir 755", "a/sub/z": "char 0/0",
				"top": "char 0/0", "b": "dir 755", "b/2": "file 644 2",
			}
			if diff := cmp.Diff(wantStored, got); diff != "" {
				t.Errorf("stored layer (-want +got):\n%s", diff)
			}
			v := make([]byte, 4)
			n, err := unix.Lgetxattr(filepath.Join(s.filesDir(l2.ChainID), "b"), "trusted.overlay.opaque", v)
			if err != nil || string(v[:n]) != "y" {
				t.Errorf("opaque xattr of b = %q, %v", v[:n], err)
			}
		case "vfs":
			if diff := cmp.Diff(map[string]string{
				"a": "dir 755", "a/y": "file 644 y", "a/sub": "dir 755", "b": "dir 755", "b/2": "file 644 2",
			}, tree(t, s.filesDir(l2.ChainID))); diff != "" {
				t.Errorf("stored layer (-want +got):\n%s", diff)
			}
		}
		root := mounted(t, s, filepath.Join(dir, "c"), l2.ChainID)
		if diff := cmp.Diff(map[string]string{
			"a": "dir 755", "a/y": "file 644 y", "a/sub": "dir 755", "b": "dir 755", "b/2": "file 644 2",
		}, tree(t, root)); diff != "" {
			t.Errorf("merged rootfs (-want +got):\n%s", diff)
		}
	})
}

func TestIdempotency(t *testing.T) {
	drivers(t, func(t *testing.T, s *Store, dir string) {
		ctx := context.Background()
		b := tarBytes(t, fileE("f", "1"))
		l := apply(t, s, "", b)
		if again := apply(t, s, "", b); again != l {
			t.Errorf("second Apply = %+v, want %+v", again, l)
		}
		got, err := s.Get(ctx, l.ChainID)
		if err != nil || got != l {
			t.Errorf("Get = %+v, %v", got, err)
		}
		ls, err := s.List(ctx)
		if diff := cmp.Diff([]Layer{l}, ls); err != nil || diff != "" {
			t.Errorf("List (-want +got): %v\n%s", err, diff)
		}

		snap := filepath.Join(dir, "c")
		ms1, err := s.Prepare(ctx, snap, l.ChainID)
		if err != nil {
			t.Fatal(err)
		}
		root := mounted(t, s, snap, l.ChainID)
		must(t, os.WriteFile(filepath.Join(root, "kept"), []byte("k"), 0o644))
		must(t, mount.Unmount(root))
		ms2, err := s.Prepare(ctx, snap, l.ChainID)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(ms1, ms2); diff != "" {
			t.Errorf("second Prepare mounts (-first +second):\n%s", diff)
		}
		root = mounted(t, s, snap, l.ChainID)
		if diff := cmp.Diff(map[string]string{"f": "file 644 1", "kept": "file 644 k"}, tree(t, root)); diff != "" {
			t.Errorf("rootfs after second Prepare (-want +got):\n%s", diff)
		}
		must(t, mount.Unmount(root))
		must(t, s.Release(ctx, snap))

		for i := 0; i < 2; i++ {
			if err := s.Remove(ctx, l.ChainID); err != nil {
				t.Fatalf("Remove #%d: %v", i, err)
			}
		}
		if _, err := s.Get(ctx, l.ChainID); !errdefs.IsNotFound(err) {
			t.Errorf("Get after Remove = %v, want not found", err)
		}
		if ents, _ := os.ReadDir(filepath.Join(s.root, linkDirName)); len(ents) != 0 {
			t.Errorf("links left after Remove: %v", ents)
		}
	})
}

func TestErrors(t *testing.T) {
	drivers(t, func(t *testing.T, s *Store, dir string) {
		ctx := context.Background()
		missing := digest.FromString("missing")
		l1 := apply(t, s, "", tarBytes(t, fileE("f", "1")))
		l2 := apply(t, s, l1.ChainID, tarBytes(t, fileE("g", "2")))
		tests := []struct {
			name string
			call func() error
			want func(error) bool
		}{
			{"Get missing", func() error { _, err := s.Get(ctx, missing); return err }, errdefs.IsNotFound},
			{"Get invalid", func() error { _, err := s.Get(ctx, "sha256:../../x"); return err }, errdefs.IsInvalidArgument},
			{"Apply on missing parent", func() error {
				_, err := s.Apply(ctx, missing, bytes.NewReader(tarBytes(t, fileE("f", ""))))
				return err
			}, errdefs.IsNotFound},
			{"Prepare on missing parent", func() error { _, err := s.Prepare(ctx, filepath.Join(dir, "x"), missing); return err }, errdefs.IsNotFound},
			{"Diff of missing snapshot", func() error { _, err := s.Diff(ctx, filepath.Join(dir, "none"), l1.ChainID); return err }, errdefs.IsNotFound},
			{"Remove a parent", func() error { return s.Remove(ctx, l1.ChainID) }, errdefs.IsConflict},
			{"Remove missing", func() error { return s.Remove(ctx, missing) }, func(err error) bool { return err == nil }},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				if err := tc.call(); !tc.want(err) {
					t.Errorf("error = %v", err)
				}
			})
		}
		if _, err := s.Get(ctx, l2.ChainID); err != nil {
			t.Errorf("layer 2 gone: %v", err)
		}
	})
}

func TestNotATar(t *testing.T) {
	drivers(t, func(t *testing.T, s *Store, dir string) {
		junk := make([]byte, 4096)
		rand.Read(junk)
		truncated := tarBytes(t, fileE("big", strings.Repeat("x", 10000)))[:2048]
		tests := []struct {
			name string
			in   []byte
		}{
			{"text", []byte("this is not a tar file\n")},
			{"random bytes", junk},
			{"truncated tar", truncated},
			{"empty stream", nil},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				_, err := s.Apply(context.Background(), "", bytes.NewReader(tc.in))
				if !errdefs.IsInvalidArgument(err) {
					t.Fatalf("Apply = %v, want invalid argument", err)
				}
				assertNothingStored(t, s, dir)
			})
		}
	})
}

func TestMaliciousTars(t *testing.T) {
	drivers(t, func(t *testing.T, s *Store, dir string) {
		outside := filepath.Join(dir, "outside")
		must(t, os.Mkdir(outside, 0o755))
		secret := filepath.Join(outside, "secret")
		must(t, os.WriteFile(secret, []byte("secret"), 0o644))
		up := strings.Repeat("../", 20)
		// Names and hard-link targets climbing out with ".." are rejected.
		// Symlinks and absolute names are resolved inside the layer as if it
		// were the root: a path through a symlink to outside finds nothing
		// (rejected), or a directory of the layer (inLayer).
		tests := []struct {
			name    string
			entries []entry
			invalid bool
			inLayer string
		}{
			{"absolute symlink resolved inside", []entry{dirE("etc"), symlinkE("link", "/etc"), fileE("link/evil", "x")}, false, "etc/evil"},
			{"climbing symlink resolved inside", []entry{dirE("etc"), symlinkE("link", up+"etc"), fileE("link/evil", "x")}, false, "etc/evil"},
			{"hardlink absolute resolved inside", []entry{fileE("f", "x"), hardlinkE("hl", "/f")}, false, "hl"},
			{"dot-dot name", []entry{fileE("../evil", "x")}, true, ""},
			{"dot-dot deep", []entry{fileE(up+outside[1:]+"/evil", "x")}, true, ""},
			{"absolute name", []entry{fileE(outside+"/evil", "x")}, false, outside[1:] + "/evil"},
			{"write through absolute symlink", []entry{symlinkE("link", outside), fileE("link/evil", "x")}, true, ""},
			{"write through relative symlink", []entry{symlinkE("link", up+outside[1:]), fileE("link/evil", "x")}, true, ""},
			{"write through symlink chain", []entry{symlinkE("a", "b"), symlinkE("b", up+outside[1:]), fileE("a/evil", "x")}, true, ""},
			{"replace symlink to file", []entry{symlinkE("s", secret), fileE("s", "pwned")}, false, ""},
			{"hardlink to outside", []entry{hardlinkE("hl", up+secret[1:])}, true, ""},
			{"hardlink absolute", []entry{hardlinkE("hl", secret)}, true, ""},
			{"hardlink through symlink", []entry{symlinkE("link", outside), hardlinkE("hl", "link/secret")}, true, ""},
			{"dir through symlink", []entry{symlinkE("link", outside), dirE("link/evil")}, true, ""},
			{"whiteout through symlink", []entry{symlinkE("link", outside), fileE("link/.wh.secret", "")}, true, ""},
			{"opaque through symlink", []entry{symlinkE("link", outside), fileE("link/.wh..wh..opq", "")}, true, ""},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				l, err := s.Apply(context.Background(), "", bytes.NewReader(tarBytes(t, tc.entries...)))
				if tc.invalid && !errdefs.IsInvalidArgument(err) {
					t.Errorf("Apply = %v, want invalid argument", err)
				}
				if !tc.invalid && err != nil {
					t.Errorf("Apply = %v, want success", err)
				}
				if tc.inLayer != "" && err == nil {
					if _, err := os.Lstat(filepath.Join(s.filesDir(l.ChainID), tc.inLayer)); err != nil {
						t.Errorf("%s not in the layer: %v", tc.inLayer, err)
					}
				}
				if diff := cmp.Diff(map[string]string{"secret": "file 644 secret"}, tree(t, outside)); diff != "" {
					t.Errorf("outside changed (-want +got):\n%s", diff)
				}
				var st syscall.Stat_t
				if err := syscall.Stat(secret, &st); err != nil || st.Nlink != 1 {
					t.Errorf("secret has %d links (%v)", st.Nlink, err)
				}
				if err != nil {
					assertNothingStored(t, s, dir)
					return
				}
				must(t, s.Remove(context.Background(), l.ChainID))
			})
		}
	})
}

func TestCrashLeftovers(t *testing.T) {
	drivers(t, func(t *testing.T, s *Store, dir string) {
		ctx := context.Background()
		good := apply(t, s, "", tarBytes(t, fileE("f", "1")))
		half := digest.FromString("half")
		must(t, os.MkdirAll(filepath.Join(s.root, half.Encoded(), filesDirName, "usr"), 0o755))
		must(t, os.MkdirAll(filepath.Join(s.tmp, stagePrefix+"123", filesDirName), 0o755))
		must(t, os.MkdirAll(filepath.Join(s.tmp, removePrefix+"456"), 0o755))
		must(t, os.WriteFile(filepath.Join(s.tmp, "someone-elses"), nil, 0o644))
		must(t, os.MkdirAll(filepath.Join(s.root, "not-a-layer"), 0o755))
		must(t, os.Symlink("../"+half.Encoded()+"/diff", s.linkPath(half)))
		must(t, os.Remove(s.linkPath(good.ChainID)))

		s2, err := New(s.root, s.tmp, WithDriver(s.Driver()))
		if err != nil {
			t.Fatal(err)
		}
		ls, err := s2.List(ctx)
		if diff := cmp.Diff([]Layer{good}, ls); err != nil || diff != "" {
			t.Errorf("List (-want +got): %v\n%s", err, diff)
		}
		for _, p := range []string{s.layerDir(half), s.linkPath(half), filepath.Join(s.tmp, stagePrefix+"123"), filepath.Join(s.tmp, removePrefix+"456")} {
			if _, err := os.Lstat(p); err == nil {
				t.Errorf("%s survived New", p)
			}
		}
		for _, p := range []string{filepath.Join(s.tmp, "someone-elses"), filepath.Join(s.root, "not-a-layer"), filepath.Join(s.linkPath(good.ChainID), "f")} {
			if _, err := os.Stat(p); err != nil {
				t.Errorf("%s lost by New: %v", p, err)
			}
		}
	})
}

func TestLongChain(t *testing.T) {
	drivers(t, func(t *testing.T, s *Store, dir string) {
		const n = 45
		var parent digest.Digest
		want := map[string]string{}
		for i := 0; i < n; i++ {
			name := fmt.Sprintf("f%02d", i)
			parent = apply(t, s, parent, tarBytes(t, fileE(name, name))).ChainID
			want[name] = "file 644 " + name
		}
		root := mounted(t, s, filepath.Join(dir, "c"), parent)
		if diff := cmp.Diff(want, tree(t, root)); diff != "" {
			t.Errorf("rootfs of %d layers (-want +got):\n%s", n, diff)
		}
	})
}

func tarNames(t *testing.T, b []byte) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names
		}
		if err != nil {
			t.Fatal(err)
		}
		names[strings.TrimSuffix(h.Name, "/")] = true
	}
}

func assertNothingStored(t *testing.T, s *Store, dir string) {
	t.Helper()
	ls, err := s.List(context.Background())
	if err != nil || len(ls) != 0 {
		t.Errorf("layers stored after a failed Apply: %v %v", ls, err)
	}
	ents, _ := os.ReadDir(s.tmp)
	if len(ents) != 0 {
		t.Errorf("staging leftovers: %v", ents)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestRemoveKeepsParents checks the bookkeeping that lets Remove answer
// without reading the store: a parent is kept while a layer or an Apply
// stands on it, also after the store is reopened, and removing top first
// empties the store.
func TestRemoveKeepsParents(t *testing.T) {
	drivers(t, func(t *testing.T, s *Store, dir string) {
		ctx := context.Background()
		l1 := apply(t, s, "", tarBytes(t, fileE("f", "1")))

		// An Apply under way on l1 holds it.
		pr, pw := io.Pipe()
		done := make(chan error, 1)
		go func() {
			_, err := s.Apply(ctx, l1.ChainID, pr)
			done <- err
		}()
		poll := func() bool {
			s.mu.Lock()
			defer s.mu.Unlock()
			return s.children[l1.ChainID] > 0
		}
		for !poll() {
			runtime.Gosched()
		}
		if err := s.Remove(ctx, l1.ChainID); !errdefs.IsConflict(err) {
			t.Errorf("Remove of a layer an Apply stands on = %v, want conflict", err)
		}
		pw.Write(tarBytes(t, fileE("g", "2")))
		pw.Close()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		l2 := apply(t, s, l1.ChainID, tarBytes(t, fileE("g", "2"))) // the same chain again
		l3 := apply(t, s, l2.ChainID, tarBytes(t, fileE("h", "3")))

		s2, err := New(s.root, s.tmp, WithDriver(s.Driver()))
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range []digest.Digest{l1.ChainID, l2.ChainID} {
			if err := s2.Remove(ctx, id); !errdefs.IsConflict(err) {
				t.Errorf("Remove of parent %s after reopening = %v, want conflict", id, err)
			}
		}
		for _, id := range []digest.Digest{l3.ChainID, l2.ChainID, l1.ChainID} {
			must(t, s2.Remove(ctx, id))
		}
		if ls, _ := s2.List(ctx); len(ls) != 0 {
			t.Errorf("layers left: %v", ls)
		}
		if ents, _ := os.ReadDir(s.root); len(ents) != 1 {
			t.Errorf("entries left in the root: %v", ents)
		}
	})
}
