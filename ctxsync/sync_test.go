package ctxsync

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/google/go-cmp/cmp"
	"github.com/tonistiigi/fsutil/types"
)

const testKey = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func newStore(t *testing.T) *Store {
	t.Helper()
	base := t.TempDir()
	tmp := filepath.Join(base, "tmp")
	if err := os.Mkdir(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	s, err := Open(filepath.Join(base, "contexts"), tmp, 0)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// pipe is a connected pair of unix sockets.
func pipe(t *testing.T) (client, server net.Conn) {
	t.Helper()
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// syncDir sends dir to the store under key, as gantry build and gantryd do.
func syncDir(t *testing.T, s *Store, key, dir string, excludes []string) (*Context, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client, server := pipe(t)
	sent := make(chan error, 1)
	go func() {
		_, err := Send(ctx, client, dir, excludes)
		if err == nil {
			// What gantryd writes after the sync (the build's output).
			_, err = io.Copy(io.Discard, client)
		}
		sent <- err
	}()
	c, err := s.Receive(ctx, key, server, server)
	server.Close()
	if serr := <-sent; serr != nil {
		t.Fatalf("send: %v", serr)
	}
	return c, err
}

func mustSync(t *testing.T, s *Store, dir string, excludes []string) *Context {
	t.Helper()
	c, err := syncDir(t, s, testKey, dir, excludes)
	if err != nil {
		t.Fatalf("sync: %v", err)
	}
	t.Cleanup(c.Release)
	return c
}

func write(t *testing.T, dir, rel, data string, mode os.FileMode) {
	t.Helper()
	p := filepath.Join(dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

// tree lists dir: path -> kind, mode and content (or link target).
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			out[rel] = "link " + l
		case fi.IsDir():
			out[rel] = "dir " + fi.Mode().Perm().String()
		default:
			b, _ := os.ReadFile(p)
			out[rel] = fi.Mode().String() + " " + string(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// sums lists the digests a context gives the builder.
func sums(c *Context) map[string][32]byte {
	out := map[string][32]byte{}
	c.Sums(func(rel string, _ uint64, _, _ int64, sum [32]byte) { out[rel] = sum })
	return out
}

func TestSync(t *testing.T) {
	s := newStore(t)
	src := t.TempDir()
	write(t, src, "Dockerfile", "FROM scratch\nCOPY . /\n", 0o644)
	write(t, src, "a.txt", "alpha", 0o644)
	write(t, src, "dir/b.txt", "bravo", 0o644)
	write(t, src, "dir/run.sh", "#!/bin/sh\n", 0o644)
	write(t, src, "gone.txt", "to be removed", 0o644)
	write(t, src, "secret/key", "hidden", 0o600)
	write(t, src, "logs/x.log", "ignored", 0o644)
	if err := os.Symlink("/etc/passwd", filepath.Join(src, "passwd")); err != nil {
		t.Fatal(err)
	}
	excludes := []string{"secret", "**/*.log"}

	c := mustSync(t, s, src, excludes)
	want := tree(t, src)
	delete(want, "secret")
	delete(want, "secret/key")
	delete(want, "logs/x.log")
	if diff := cmp.Diff(want, tree(t, c.Dir)); diff != "" {
		t.Fatalf("first sync: tree (-want +got):\n%s", diff)
	}
	if c.Stats.Sent != 5 {
		t.Errorf("first sync sent %d files, want 5: %+v", c.Stats.Sent, c.Stats)
	}
	got := sums(c)
	for _, rel := range []string{"a.txt", "dir/b.txt", "Dockerfile"} {
		b, _ := os.ReadFile(filepath.Join(src, rel))
		if got[rel] != sha256.Sum256(b) {
			t.Errorf("digest of %s is not its content's", rel)
		}
	}
	// A layer holds a.txt by a hard link, as a direct COPY makes it.
	layer := filepath.Join(t.TempDir(), "a.txt")
	if err := os.Link(filepath.Join(c.Dir, "a.txt"), layer); err != nil {
		t.Fatal(err)
	}
	c.Release()

	c = mustSync(t, s, src, excludes)
	if c.Stats.Sent != 0 || c.Stats.Bytes != 0 || c.Stats.Removed != 0 {
		t.Errorf("unchanged context: %+v, want nothing sent", c.Stats)
	}
	c.Release()

	// Changed content, an added file, a removed one, a mode change.
	write(t, src, "a.txt", "ALPHA", 0o644)
	future := time.Now().Add(time.Hour)
	os.Chtimes(filepath.Join(src, "a.txt"), future, future)
	write(t, src, "dir/new.txt", "new", 0o644)
	os.Remove(filepath.Join(src, "gone.txt"))
	os.Chmod(filepath.Join(src, "dir/run.sh"), 0o755)
	c = mustSync(t, s, src, excludes)
	if c.Stats.Sent != 3 || c.Stats.Removed != 1 || c.Stats.Bytes != int64(len("ALPHA")+len("new")+len("#!/bin/sh\n")) {
		t.Errorf("after edits: %+v, want a.txt, dir/new.txt and dir/run.sh sent, gone.txt removed", c.Stats)
	}
	want = tree(t, src)
	delete(want, "secret")
	delete(want, "secret/key")
	delete(want, "logs/x.log")
	if diff := cmp.Diff(want, tree(t, c.Dir)); diff != "" {
		t.Errorf("after edits: tree (-want +got):\n%s", diff)
	}
	got = sums(c)
	if got["a.txt"] != sha256.Sum256([]byte("ALPHA")) || got["dir/new.txt"] != sha256.Sum256([]byte("new")) {
		t.Errorf("digests of the changed files were not updated")
	}
	if _, ok := got["gone.txt"]; ok {
		t.Errorf("digest of the removed file kept")
	}
	// The layer's inode is untouched: the changed file is a new inode.
	if b, _ := os.ReadFile(layer); string(b) != "alpha" {
		t.Errorf("the hard-linked copy in the layer changed to %q", b)
	}
}

// TestSyncMtimes checks that the copy's times are whole seconds (as a
// tar's, so that a direct COPY links its files) and that a same-size
// change within the same second is still sent.
func TestSyncMtimes(t *testing.T) {
	s := newStore(t)
	src := t.TempDir()
	f := filepath.Join(src, "a.txt")
	write(t, src, "a.txt", "aaaa", 0o644)
	t0 := time.Unix(1_700_000_000, 100_000_000)
	os.Chtimes(f, t0, t0)
	c := mustSync(t, s, src, nil)
	fi, err := os.Lstat(filepath.Join(c.Dir, "a.txt"))
	if err != nil || !fi.ModTime().Equal(t0.Round(time.Second)) {
		t.Fatalf("copy's a.txt: time %v (%v), want %v", fi.ModTime(), err, t0.Round(time.Second))
	}
	c.Release()
	write(t, src, "a.txt", "bbbb", 0o644)
	t1 := t0.Add(200 * time.Millisecond)
	os.Chtimes(f, t1, t1)
	c = mustSync(t, s, src, nil)
	if c.Stats.Sent != 1 {
		t.Errorf("a same-size edit in the same second: %+v, want it sent", c.Stats)
	}
	if b, _ := os.ReadFile(filepath.Join(c.Dir, "a.txt")); string(b) != "bbbb" {
		t.Errorf("copy's a.txt: %q", b)
	}
	if got := sums(c)["a.txt"]; got != sha256.Sum256([]byte("bbbb")) {
		t.Errorf("digest not updated")
	}
	c.Release()
	if c = mustSync(t, s, src, nil); c.Stats.Sent != 0 {
		t.Errorf("unchanged: %+v", c.Stats)
	}
}

// TestSyncIndexSurvivesReopen checks that a store opened again (gantryd
// restarted) still knows the digests, and that after a sync that was cut
// short it trusts nothing of the copy: everything is sent again.
func TestSyncIndexSurvivesReopen(t *testing.T) {
	s := newStore(t)
	src := t.TempDir()
	write(t, src, "a.txt", "alpha", 0o644)
	c := mustSync(t, s, src, nil)
	c.Release()
	s2, err := Open(s.root, s.tmp, 0)
	if err != nil {
		t.Fatal(err)
	}
	c = mustSync(t, s2, src, nil)
	if c.Stats.Sent != 0 || sums(c)["a.txt"] != sha256.Sum256([]byte("alpha")) {
		t.Errorf("after reopen: %+v, digests %v", c.Stats, sums(c))
	}
	c.Release()
	// A sync under way when gantryd stopped leaves its marker.
	os.WriteFile(filepath.Join(s.root, testKey, dirtyFile), nil, 0o600)
	s3, _ := Open(s.root, s.tmp, 0)
	c = mustSync(t, s3, src, nil)
	if c.Stats.Sent != 1 || sums(c)["a.txt"] != sha256.Sum256([]byte("alpha")) {
		t.Errorf("after an interrupted sync: %+v, want the file sent again and digested", c.Stats)
	}
}

// TestSyncConcurrent checks that a second build of the same key while
// the first holds the copy gets a scratch copy of its own.
func TestSyncConcurrent(t *testing.T) {
	s := newStore(t)
	src := t.TempDir()
	write(t, src, "a.txt", "one", 0o644)
	first := mustSync(t, s, src, nil)
	write(t, src, "a.txt", "two", 0o644)
	second := mustSync(t, s, src, nil)
	if !second.Stats.Scratch || second.Dir == first.Dir {
		t.Fatalf("second sync of a held key: %+v in %s", second.Stats, second.Dir)
	}
	if b, _ := os.ReadFile(filepath.Join(first.Dir, "a.txt")); string(b) != "one" {
		t.Errorf("the held copy changed under its build: %q", b)
	}
	dir := second.Dir
	second.Release()
	first.Release()
	waitGone(t, dir)
}

func waitGone(t *testing.T, dir string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still there", dir)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestPruneAndEvict(t *testing.T) {
	s := newStore(t)
	s.keep = 2
	src := t.TempDir()
	write(t, src, "a.txt", "alpha", 0o644)
	keys := []string{strings.Repeat("a", 64), strings.Repeat("b", 64), strings.Repeat("c", 64)}
	for _, k := range keys {
		c, err := syncDir(t, s, k, src, nil)
		if err != nil {
			t.Fatal(err)
		}
		c.Release()
	}
	if n := s.copies(); n != 2 {
		t.Errorf("%d copies kept, want 2", n)
	}
	waitGone(t, filepath.Join(s.root, keys[0]))
	held, err := syncDir(t, s, keys[2], src, nil)
	if err != nil {
		t.Fatal(err)
	}
	freed, err := s.Prune(context.Background())
	if err != nil || freed != int64(len("alpha")) {
		t.Errorf("prune freed %d, %v; want %d", freed, err, len("alpha"))
	}
	if _, err := os.Stat(filepath.Join(held.Dir, "a.txt")); err != nil {
		t.Errorf("prune removed a copy in use: %v", err)
	}
	held.Release()
	if freed, _ := s.Prune(context.Background()); freed != int64(len("alpha")) {
		t.Errorf("second prune freed %d", freed)
	}
	des, _ := os.ReadDir(s.root)
	if len(des) != 0 {
		t.Errorf("left after prune: %v", des)
	}
}

// hostile sends the packets ps as a client would, then cuts the
// connection (when cut) or ends its side, and returns what Receive said.
func hostile(t *testing.T, s *Store, ps []*types.Packet, cut bool) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client, server := pipe(t)
	go func() {
		cs := newStream(ctx, newReader(client), client)
		go io.Copy(io.Discard, client)
		for _, p := range ps {
			if err := cs.SendMsg(p); err != nil {
				return
			}
		}
		if cut {
			cs.w.Flush()
		} else {
			cs.closeSend()
		}
		client.Close()
	}()
	c, err := s.Receive(ctx, testKey, server, server)
	if err == nil {
		c.Release()
		return nil
	}
	return err
}

func stat(path string, mode os.FileMode, link string) *types.Packet {
	return &types.Packet{Type: types.PACKET_STAT, Stat: &types.Stat{Path: path, Mode: uint32(mode), Linkname: link, ModTime: time.Now().UnixNano()}}
}

var end = &types.Packet{Type: types.PACKET_STAT}

func TestSyncHostile(t *testing.T) {
	outside := t.TempDir()
	for _, tc := range []struct {
		name    string
		packets []*types.Packet
		cut     bool
		want    string
	}{
		{"climbs out", []*types.Packet{stat("../x", 0o644, ""), end}, false, `entry "../x" leaves the build context`},
		{"absolute", []*types.Packet{stat("/etc/x", 0o644, ""), end}, false, `entry "/etc/x" is an absolute path`},
		{"unclean", []*types.Packet{stat("a/../../x", 0o644, ""), end}, false, `is not a clean path`},
		{"hard link out", []*types.Packet{stat("a", 0o644, "../../etc/passwd"), end}, false, `leaves the build context`},
		{"through a symlink", []*types.Packet{stat("a", os.ModeSymlink|0o777, outside), stat("a/b", os.ModeDir|0o755, ""), stat("a/b/c", 0o644, ""), end}, false, "invalid build context"},
		{"out of order", []*types.Packet{stat("b", 0o644, ""), stat("a", 0o644, ""), end}, false, "out of order"},
		{"huge frame", nil, false, "a packet of"},
		{"drops mid-sync", []*types.Packet{stat("a", os.ModeDir|0o755, ""), stat("a/b", 0o644, "")}, true, "unexpected EOF"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			var err error
			if tc.name == "huge frame" {
				err = hugeFrame(t, s)
			} else {
				err = hostile(t, s, tc.packets, tc.cut)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
			if tc.want != "unexpected EOF" && !errdefs.IsInvalidArgument(err) {
				t.Errorf("%v is not an invalid-argument error", err)
			}
			if des, _ := os.ReadDir(outside); len(des) != 0 {
				t.Errorf("written outside the store: %v", des)
			}
			waitGone(t, filepath.Join(s.root, testKey))
			s.mu.Lock()
			n := len(s.entries)
			s.mu.Unlock()
			if n != 0 {
				t.Errorf("a failed sync left a copy")
			}
		})
	}
}

// TestSyncSymlinkBecomesDir checks that a symlink of the copy pointing
// out of it, which the next sync makes a directory, is replaced, not
// followed.
func TestSyncSymlinkBecomesDir(t *testing.T) {
	s := newStore(t)
	outside := t.TempDir()
	src := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(src, "a")); err != nil {
		t.Fatal(err)
	}
	mustSync(t, s, src, nil).Release()
	os.Remove(filepath.Join(src, "a"))
	write(t, src, "a/x", "inside", 0o644)
	c := mustSync(t, s, src, nil)
	if b, err := os.ReadFile(filepath.Join(c.Dir, "a/x")); err != nil || string(b) != "inside" {
		t.Errorf("a/x: %q, %v", b, err)
	}
	if des, _ := os.ReadDir(outside); len(des) != 0 {
		t.Errorf("written through the old symlink: %v", des)
	}
}

func hugeFrame(t *testing.T, s *Store) error {
	client, server := pipe(t)
	go func() {
		go io.Copy(io.Discard, client)
		client.Write([]byte{0x7f, 0, 0, 0})
		client.Close()
	}()
	_, err := s.Receive(context.Background(), testKey, server, server)
	return err
}

func TestSyncManyEntries(t *testing.T) {
	// A listing past the limit is refused, not held.
	s := newStore(t)
	s.maxEntries = 1000
	ps := []*types.Packet{stat("d", os.ModeDir|0o755, "")}
	var names []string
	for i := range s.maxEntries + 1 {
		names = append(names, "d/"+strconv.Itoa(i))
	}
	sort.Strings(names)
	for _, n := range names {
		ps = append(ps, stat(n, os.ModeDir|0o755, ""))
	}
	err := hostile(t, s, ps, true)
	if err == nil || !strings.Contains(err.Error(), "more than 1000 entries") || !errdefs.IsInvalidArgument(err) {
		t.Fatalf("got %v", err)
	}
}

func TestValidKey(t *testing.T) {
	for _, k := range []string{"", "../../etc", strings.Repeat("A", 64), strings.Repeat("a", 63), strings.Repeat("a", 63) + "/"} {
		if ValidKey(k) == nil {
			t.Errorf("key %q accepted", k)
		}
	}
	if err := ValidKey(Key("/some/dir")); err != nil {
		t.Error(err)
	}
}

// TestSyncGeneration: a sync that changes nothing keeps the copy's
// generation; an edit, a touch, a new or removed file, a directory's new
// mode (which fsutil's receiver applies without a notification) and a new
// store (gantryd restarted) each give a new one; a scratch copy has none.
func TestSyncGeneration(t *testing.T) {
	s := newStore(t)
	dir := t.TempDir()
	write(t, dir, "a/x.txt", "x", 0o644)
	write(t, dir, "b/y.txt", "y", 0o644)
	gen := func() string {
		t.Helper()
		c := mustSync(t, s, dir, nil)
		c.Release()
		if c.Generation == "" {
			t.Fatal("a key's copy without a generation")
		}
		return c.Generation
	}
	g := gen()
	if g2 := gen(); g2 != g {
		t.Errorf("a sync without change gave a new generation")
	}
	changes := []struct {
		what string
		do   func()
	}{
		{"edit", func() { write(t, dir, "a/x.txt", "X", 0o644) }},
		{"touch", func() {
			later := time.Now().Add(time.Hour)
			os.Chtimes(filepath.Join(dir, "a/x.txt"), later, later)
		}},
		{"new file", func() { write(t, dir, "a/z.txt", "z", 0o644) }},
		{"removed file", func() { os.Remove(filepath.Join(dir, "a/z.txt")) }},
		{"directory mode", func() { os.Chmod(filepath.Join(dir, "b"), 0o700) }},
		{"removed directory", func() { os.RemoveAll(filepath.Join(dir, "b")) }},
	}
	for _, ch := range changes {
		ch.do()
		g2 := gen()
		if g2 == g {
			t.Errorf("%s: the generation stayed", ch.what)
		}
		g = g2
		if g3 := gen(); g3 != g {
			t.Errorf("%s: the sync after it gave a new generation", ch.what)
		}
	}
	// Held: the next sync of the key gets a scratch copy, no generation.
	held := mustSync(t, s, dir, nil)
	c, err := syncDir(t, s, testKey, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Generation != "" {
		t.Errorf("a scratch copy has generation %q", c.Generation)
	}
	c.Release()
	held.Release()
	// Reopened (gantryd restarted): a new generation.
	s2, err := Open(s.root, s.tmp, 0)
	if err != nil {
		t.Fatal(err)
	}
	c = mustSync(t, s2, dir, nil)
	if c.Generation == "" || c.Generation == g {
		t.Errorf("a reopened store kept generation %q", c.Generation)
	}
}
