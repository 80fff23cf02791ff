package integration

import (
	"crypto/rand"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// BuildKit's worker and gantryd share their stores (issue 14): a FROM
// image gantryd has is neither copied into BuildKit's content store nor
// extracted into its snapshots, the blobs of a built image are BuildKit's
// files, and garbage collection gives the disk back once the images are
// removed and BuildKit's cache pruned.

const bigLayer = 64 << 20

// TestBuildxSharesStores: a buildx build FROM a local image with a 64 MiB
// layer grows the data root by far less than that layer (before, BuildKit
// copied the blob and extracted it: twice the layer); BuildKit's snapshot
// of the layer is a link to gantryd's layer directory; the built layer's
// blob is one file in both content stores. rmi of both images keeps the
// layer BuildKit links; `docker builder prune -a` then frees it: the
// data root is back to its size before the images.
func TestBuildxSharesStores(t *testing.T) {
	e := newEnv(t)
	if e.External {
		t.Skip("reads gantryd's data root")
	}
	e.withBuildx(t)
	start := rootUsage(t, e.Root)

	big := name("big") + ":1"
	dir := t.TempDir()
	data := make([]byte, bigLayer) // random: compression cannot shrink it
	rand.Read(data)
	if err := os.WriteFile(filepath.Join(dir, "big"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM busybox\nCOPY big /big\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("docker", "build", "-q", "-t", big, dir)
	cmd.Env = append(e.clientEnv(), "DOCKER_BUILDKIT=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("classic build of %s: %v\n%s", big, err, out)
	}

	before := rootUsage(t, e.Root)
	built := name("frombig") + ":1"
	ctx := writeContext(t, map[string]string{"Dockerfile": "FROM " + big + "\nRUN echo built > /built && wc -c < /big > /size\n"})
	if r := e.docker(t, "buildx", "build", "-t", built, ctx); r.Code != 0 {
		t.Fatalf("buildx build FROM %s:\n%s", big, r)
	}
	grown := rootUsage(t, e.Root) - before
	t.Logf("the build FROM the local image grew the data root by %d KiB", grown>>10)
	// A classically built layer keeps no blob (its tar is made on demand,
	// see Images and layers): BuildKit's content store gets that tar once,
	// the blob the classic build used to write. So the two builds together
	// hold the layer's files once and one blob; before the stores were
	// shared, BuildKit's extraction was a second copy of the files (and a
	// classic build wrote its own blob too: four copies).
	total := rootUsage(t, e.Root) - start
	t.Logf("the classic build and the buildx build FROM it grew the data root by %d KiB", total>>10)
	if total > 2*bigLayer+bigLayer/4 {
		t.Errorf("the classic build of a %d MiB layer and a buildx build FROM it grew the data root by %d MiB: more than the layer's files and one blob", bigLayer>>20, total>>20)
	}
	if got := e.mustDocker(t, "run", "--rm", built, "cat", "/built", "/size"); got != "built\n67108864" {
		t.Errorf("docker run %s = %q", built, got)
	}

	linked := linkedLayers(t, e.Root)
	var bigDir string
	for _, d := range linked {
		if _, err := os.Stat(filepath.Join(d, "big")); err == nil {
			bigDir = d
		}
	}
	if bigDir == "" {
		t.Fatalf("no snapshot of BuildKit links to gantryd's layer of /big; links: %v", linked)
	}

	// The built layer's blob: one inode in gantryd's content store and
	// BuildKit's.
	if shared := sharedBlobs(t, e.Root); shared == 0 {
		t.Error("no blob of gantryd's content store is BuildKit's file too (hard link)")
	}

	// A layer the build makes: its files are one copy for both builders
	// (gantryd's layer takes the inodes of BuildKit's snapshot), its blob
	// one file in both content stores. Random content: the gzip blob is
	// as large as the file, so one copy of each is twice the layer; before,
	// four times (snapshot, BuildKit's blob, gantryd's layer and blob).
	before = rootUsage(t, e.Root)
	made := name("made") + ":1"
	ctx = writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN head -c 33554432 /dev/urandom > /made\n"})
	if r := e.docker(t, "buildx", "build", "-t", made, ctx); r.Code != 0 {
		t.Fatalf("buildx build of a 32 MiB layer:\n%s", r)
	}
	grown = rootUsage(t, e.Root) - before
	t.Logf("the build of a 32 MiB layer grew the data root by %d KiB", grown>>10)
	if grown > 5*(32<<20)/2 {
		t.Errorf("a build making a 32 MiB layer grew the data root by %d MiB: more than one copy of its files and blob", grown>>20)
	}
	if !sameInodeUnder(t, "made", filepath.Join(e.Root, "layers"), filepath.Join(e.Root, "buildkit")) {
		t.Error("gantryd's layer of /made is not BuildKit's file (hard link)")
	}
	e.mustDocker(t, "rmi", made)

	// rmi of both images: the layer BuildKit links stays, also through
	// the collection of a restart (before the helper runs); then prune.
	e.mustDocker(t, "rmi", built, big)
	if _, err := os.Stat(filepath.Join(bigDir, "big")); err != nil {
		t.Errorf("gantryd collected the layer BuildKit's snapshot links to: %v", err)
	}
	e.stopDaemon(t)
	e.startDaemon(t)
	if _, err := os.Stat(filepath.Join(bigDir, "big")); err != nil {
		t.Errorf("gantryd's collection at start removed the layer BuildKit's snapshot links to: %v", err)
	}
	e.mustDocker(t, "builder", "prune", "-a", "-f")
	if left := linkedLayers(t, e.Root); len(left) != 0 {
		t.Errorf("links left after builder prune -a: %v", left)
	}
	if _, err := os.Stat(bigDir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the layer of the removed image is still there after builder prune -a: %v", err)
	}
	if left := rootUsage(t, e.Root) - start; left > bigLayer/4 {
		t.Errorf("after rmi and builder prune -a the data root is %d MiB larger than before the images", left>>20)
	}
}

// rootUsage is the disk space of the files under root, each inode
// counted once (as du).
func rootUsage(t *testing.T, root string) int64 {
	t.Helper()
	seen := map[uint64]bool{}
	var n int64
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		st := fi.Sys().(*syscall.Stat_t)
		if !seen[st.Ino] {
			seen[st.Ino] = true
			n += st.Blocks * 512
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// linkedLayers returns the targets of BuildKit's snapshots that link to
// gantryd's layers.
func linkedLayers(t *testing.T, root string) []string {
	t.Helper()
	snaps := filepath.Join(root, "buildkit", "runc-overlayfs", "snapshots", "snapshots")
	entries, _ := os.ReadDir(snaps)
	var out []string
	for _, en := range entries {
		target, err := os.Readlink(filepath.Join(snaps, en.Name(), "fs"))
		if err == nil && strings.HasPrefix(target, filepath.Join(root, "layers")+"/") {
			out = append(out, target)
		}
	}
	return out
}

// sharedBlobs counts the blobs of gantryd's content store that are also
// files of BuildKit's (same inode).
func sharedBlobs(t *testing.T, root string) int {
	t.Helper()
	bk := filepath.Join(root, "buildkit", "runc-overlayfs", "content", "blobs", "sha256")
	entries, err := os.ReadDir(filepath.Join(root, "content", "blobs", "sha256"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, en := range entries {
		a, err1 := os.Stat(filepath.Join(root, "content", "blobs", "sha256", en.Name()))
		b, err2 := os.Stat(filepath.Join(bk, en.Name()))
		if err1 == nil && err2 == nil && os.SameFile(a, b) {
			n++
		}
	}
	return n
}

// TestBuildxCacheTo: --cache-to type=registry and type=local, with
// --platform linux/amd64 named; a fresh gantryd, with nothing in
// BuildKit's cache, gets cache hits from either (the step's output is the
// first build's, the step not run again).
func TestBuildxCacheTo(t *testing.T) {
	a := newEnv(t)
	a.withBuildx(t)
	reg := startRegistry(t, a, false)
	base := reg.Host + "/" + name("cachebase") + ":1"
	a.mustDocker(t, "tag", "busybox", base)
	a.mustDocker(t, "push", base)
	cacheRef := reg.Host + "/" + name("buildcache") + ":1"
	localCache := t.TempDir()
	df := "FROM " + base + "\nRUN echo built-once > /f && cat /proc/sys/kernel/random/uuid > /stamp\n"
	dir := writeContext(t, map[string]string{"Dockerfile": df})
	r := a.docker(t, "buildx", "build", "--pull", "--platform", "linux/amd64",
		"--cache-to", "type=registry,ref="+cacheRef+",mode=max",
		"--cache-to", "type=local,dest="+localCache,
		"-t", "first:1", dir)
	if r.Code != 0 {
		t.Fatalf("build with --cache-to:\n%s", r)
	}
	stamp := a.mustDocker(t, "run", "--rm", "first:1", "cat", "/stamp")
	if _, err := os.Stat(filepath.Join(localCache, "index.json")); err != nil {
		t.Errorf("--cache-to type=local wrote no OCI layout: %v", err)
	}

	for _, from := range []string{"type=registry,ref=" + cacheRef, "type=local,src=" + localCache} {
		b := newEnv(t)
		b.withBuildx(t)
		b.forwardToDaemonNet(t, reg.Host)
		r := b.docker(t, "buildx", "build", "--pull", "--progress", "plain", "--cache-from", from, "-t", "second:1", dir)
		if r.Code != 0 {
			t.Fatalf("build with --cache-from %s:\n%s", from, r)
		}
		if got := b.mustDocker(t, "run", "--rm", "second:1", "cat", "/stamp"); got != stamp {
			t.Errorf("--cache-from %s: the fresh gantryd ran the step again: /stamp %s, the first's %s\n%s", from, got, stamp, r.Stderr)
		}
		if !strings.Contains(r.Stderr, "importing cache manifest") && !strings.Contains(r.Stderr, "importing cache") {
			t.Errorf("--cache-from %s: no cache imported:\n%s", from, r.Stderr)
		}
	}
}

// TestBuildxPush: --push with the docker driver (buildx leaves the push
// to the daemon's exporter, as with dockerd's containerd image store):
// the image is pushed to the registry and recorded in gantryd; a build
// with --push and no tag is refused with buildx's words.
func TestBuildxPush(t *testing.T) {
	e := newEnv(t)
	e.withBuildx(t)
	reg := startRegistry(t, e, false)
	ref := reg.Host + "/" + name("pushed") + ":1"
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN echo pushed > /p\n"})
	if r := e.docker(t, "buildx", "build", "--push", "-t", ref, dir); r.Code != 0 {
		t.Fatalf("buildx build --push:\n%s", r)
	}
	if got := e.mustDocker(t, "run", "--rm", ref, "cat", "/p"); got != "pushed" {
		t.Errorf("docker run %s = %q", ref, got)
	}
	e.mustDocker(t, "rmi", ref)
	e.mustDocker(t, "pull", ref)
	if got := e.mustDocker(t, "run", "--rm", ref, "cat", "/p"); got != "pushed" {
		t.Errorf("docker run %s after rmi and pull = %q", ref, got)
	}
	if r := e.docker(t, "buildx", "build", "--push", dir); r.Code == 0 || !strings.Contains(r.Stderr, "tag is needed when pushing to registry") {
		t.Errorf("buildx build --push with no tag: exit %d\n%s", r.Code, r)
	}
}

// sameInodeUnder reports whether a file named base under dirA is the same
// inode as one under dirB.
func sameInodeUnder(t *testing.T, base, dirA, dirB string) bool {
	t.Helper()
	find := func(dir string) map[uint64]bool {
		out := map[uint64]bool{}
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() && d.Name() == base {
				if fi, err := d.Info(); err == nil {
					out[fi.Sys().(*syscall.Stat_t).Ino] = true
				}
			}
			return nil
		})
		return out
	}
	b := find(dirB)
	for ino := range find(dirA) {
		if b[ino] {
			return true
		}
	}
	return false
}

// TestBuildxPruneBothBuilders: with buildx installed, `docker buildx du`
// lists the classic builder's cache records beside BuildKit's, and
// `docker builder prune -a` (buildx's prune over the control API) removes
// both, as dockerd's builder prune covers both builders; a filtered prune
// leaves the classic records alone.
func TestBuildxPruneBothBuilders(t *testing.T) {
	e := newEnv(t)
	if e.External {
		t.Skip("gantryd's classic cache records")
	}
	e.withBuildx(t)
	classic := func() string {
		dir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN echo classic > /c\n"})
		cmd := exec.Command("docker", "build", "-t", "classic:1", dir)
		cmd.Env = append(e.clientEnv(), "DOCKER_BUILDKIT=0")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("classic build: %v\n%s", err, out)
		}
		return string(out)
	}
	classic()
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN echo bk > /b\n"})
	if r := e.docker(t, "buildx", "build", "-t", "bk:1", dir); r.Code != 0 {
		t.Fatalf("buildx build:\n%s", r)
	}
	du := e.mustDocker(t, "buildx", "du", "--verbose")
	if !strings.Contains(du, "classic build: RUN") || !strings.Contains(du, "echo classic > /c") {
		t.Errorf("buildx du does not list the classic builder's record:\n%s", du)
	}
	e.mustDocker(t, "buildx", "prune", "-a", "-f", "--filter", "until=1h")
	if out := classic(); !strings.Contains(out, "Using cache") {
		t.Errorf("a filtered buildx prune removed the classic records:\n%s", out)
	}
	out := e.mustDocker(t, "builder", "prune", "-a", "-f")
	if !strings.Contains(out, "Total:") {
		t.Errorf("builder prune -a: %s", out)
	}
	if du := e.mustDocker(t, "buildx", "du"); !strings.Contains(du, "Total:\t\t0B") {
		t.Errorf("buildx du after builder prune -a:\n%s", du)
	}
	if out := classic(); strings.Contains(out, "Using cache") {
		t.Errorf("the classic cache survived builder prune -a:\n%s", out)
	}
	if got := e.mustDocker(t, "run", "--rm", "bk:1", "cat", "/b"); got != "bk" {
		t.Errorf("docker run bk:1 after the prune = %q", got)
	}
}
