package integration

import (
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// serveGit serves the bare repositories under base with git daemon
// (--inetd, one per connection) on 127.0.0.1 in the daemon's network
// namespace, and returns the address.
func serveGit(t *testing.T, e *env, base string, conns *atomic.Int64) string {
	t.Helper()
	l := e.listenInDaemonNet(t)
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			f, err := c.(*net.TCPConn).File()
			c.Close()
			if err != nil {
				continue
			}
			cmd := exec.Command("git", "daemon", "--inetd", "--export-all", "--base-path="+base, base)
			cmd.Stdin, cmd.Stdout = f, f
			if err := cmd.Start(); err == nil {
				go cmd.Wait()
			}
			f.Close()
		}
	}()
	return l.Addr().String()
}

// git runs git in dir and fails the test on an error.
func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestBuildAddGit checks ADD of a git URL through the classic API: the
// tag's content, no .git unless --keep-git-dir=true, a subdirectory, owner
// 0:0, a cache hit while the branch stays, a miss when it moves, and git's
// error for a ref the remote does not have.
func TestBuildAddGit(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	e := newEnv(t)
	needGantryd(t, e)
	base := t.TempDir()
	work := t.TempDir()
	git(t, base, "init", "-q", "--bare", "repo.git")
	git(t, work, "init", "-q")
	commit := func(content string) {
		os.WriteFile(filepath.Join(work, "a.txt"), []byte(content), 0o644)
		os.MkdirAll(filepath.Join(work, "sub"), 0o755)
		os.WriteFile(filepath.Join(work, "sub", "b.txt"), []byte("b-"+content), 0o600)
		git(t, work, "add", "-A")
		git(t, work, "commit", "-q", "-m", content)
		git(t, work, "push", "-q", "--tags", filepath.Join(base, "repo.git"), "HEAD:refs/heads/main")
	}
	commit("one")
	git(t, work, "tag", "-a", "v1", "-m", "v1")
	commit("two")
	var conns atomic.Int64
	addr := serveGit(t, e, base, &conns)
	remote := "git://" + addr + "/repo.git"
	env := []string{"DOCKER_BUILDKIT=0"}
	build := func(dockerfile string) (result, string) {
		t.Helper()
		ctx := writeContext(t, map[string]string{"Dockerfile": dockerfile})
		r := e.build(t, "docker", env, "", ctx)
		return r, builtID(r.Stdout)
	}

	r, id := build("FROM busybox\nADD " + remote + "#v1 /src\nADD " + remote + "#main:sub /sub\nADD --keep-git-dir=true " + remote + "#v1 /kept\n")
	if id == "" {
		t.Fatalf("build:\n%s", r)
	}
	want := "one\nb-two\n0:0 0:0\nno .git\nhas .git\nb.txt"
	check := "cat /src/a.txt; echo; cat /sub/b.txt; echo; stat -c %u:%g /src/a.txt /sub/b.txt | tr '\\n' ' ' | sed 's/ $//'; echo; " +
		"[ -e /src/.git ] && echo has .git || echo no .git; [ -d /kept/.git ] && echo has .git || echo no .git; ls /sub"
	if got := e.runIn(t, id, check); got != want {
		t.Errorf("ADD of git URLs:\n%s\nwant\n%s", got, want)
	}

	// The branch's commit is the key: unchanged, a hit; moved, a miss.
	df := "FROM busybox\nADD " + remote + "#main /src\n"
	r1, id1 := build(df)
	before := conns.Load()
	r2, id2 := build(df)
	if id1 == "" || id2 != id1 || strings.Count(r2.Stdout, "Using cache") != 1 {
		t.Errorf("rebuild of an unchanged branch: %s then %s\n%s", id1, id2, r2)
	}
	// A hit asks the remote for the commit (ls-remote) and fetches nothing.
	if n := conns.Load() - before; n != 1 {
		t.Errorf("a cache hit made %d connections to the git server, want 1 (ls-remote)", n)
	}
	_ = r1
	commit("three")
	r3, id3 := build(df)
	if id3 == "" || id3 == id1 || strings.Contains(r3.Stdout, "Using cache") {
		t.Errorf("rebuild after the branch moved: %s (was %s)\n%s", id3, id1, r3)
	} else if got := e.runIn(t, id3, "cat /src/a.txt"); got != "three" {
		t.Errorf("after the branch moved: %q", got)
	}

	// A ref the remote does not have: git's words after Docker's prefix.
	r4, _ := build("FROM busybox\nADD " + remote + "#nosuch /src\n")
	if r4.Code != 1 || !strings.Contains(r4.Stderr, "ADD failed: ") || !strings.Contains(r4.Stderr, "couldn't find remote ref nosuch") {
		t.Errorf("missing ref: want exit 1 and git's error:\n%s", r4)
	}
	r6, _ := build("FROM busybox\nADD " + remote + "#main:nosuchdir /src\n")
	if r6.Code != 1 || !strings.Contains(r6.Stderr, "ADD failed: nosuchdir not found in "+remote) {
		t.Errorf("missing subdirectory: want exit 1 and its name:\n%s", r6)
	}
	// Credentials in the URL are never printed.
	r5, _ := build("FROM busybox\nADD git://user:s3cret@" + addr + "/repo.git#nosuch /src\n")
	if r5.Code != 1 || strings.Contains(r5.Stderr, "s3cret") {
		t.Errorf("URL with credentials: want exit 1 and no password:\n%s", r5)
	}
	// Nothing of the fetches is left under the data root's tmp.
	if e.Root != "" {
		if m, _ := filepath.Glob(filepath.Join(e.Root, "*", "build-git-*")); len(m) > 0 {
			t.Errorf("left behind: %v", m)
		}
		if m, _ := filepath.Glob(filepath.Join(e.Root, "build-git-*")); len(m) > 0 {
			t.Errorf("left behind: %v", m)
		}
	}
}

// TestBuildAddGitCancel checks that a build stopped while git waits on a
// remote that never answers kills git (its connection closes) and leaves
// nothing under the data root's tmp.
func TestBuildAddGitCancel(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	e := newEnv(t)
	needGantryd(t, e)
	l := e.listenInDaemonNet(t)
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	ctx := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nADD git://" + l.Addr().String() + "/repo.git#main /src\n"})
	cmd := exec.Command("docker", "build", ctx)
	cmd.Env = append(e.clientEnv(), "DOCKER_BUILDKIT=0")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	var c net.Conn
	select {
	case c = <-accepted:
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		t.Fatal("git never connected")
	}
	defer c.Close()
	if m, _ := filepath.Glob(filepath.Join(e.Root, "tmp", "build-git-*")); len(m) != 1 {
		t.Errorf("while git runs: %v, want one build-git- directory", m)
	}
	cmd.Process.Kill() // the client goes away: the build is cancelled
	c.SetReadDeadline(time.Now().Add(time.Minute))
	if _, err := io.Copy(io.Discard, c); err != nil {
		t.Fatalf("git's connection was not closed after the build was cancelled: %v", err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		m, _ := filepath.Glob(filepath.Join(e.Root, "tmp", "build-git-*"))
		if len(m) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("left behind after a cancelled build: %v", m)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
