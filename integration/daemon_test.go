package integration

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/client"
)

func (e *env) needPrivateDaemon(t *testing.T) {
	t.Helper()
	if e.External {
		t.Skip("restarts the daemon: needs a daemon started by the test, not " + envDockerHost)
	}
}

func pidAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// A zombie is not running: the third field of stat is the state.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return len(f) > 0 && f[0] != "Z"
}

// TestRestartKeepsState kills gantryd with SIGKILL while one container runs
// and another has exited, starts it again on the same root and checks that
// no container is a running ghost and the mounts are cleaned up.
func TestRestartKeepsState(t *testing.T) {
	e := newEnv(t)
	e.needPrivateDaemon(t)
	exited, running := name("exited"), name("running")
	e.docker(t, "run", "--name", exited, "busybox", "sh", "-c", "echo kept > /kept; exit 3")
	e.mustDocker(t, "run", "-d", "--name", running, "busybox", "sleep", "1000")
	pid, _ := strconv.Atoi(e.mustDocker(t, "inspect", "-f", "{{.State.Pid}}", running))
	if !pidAlive(pid) {
		t.Fatalf("running container's pid %d is not alive", pid)
	}

	e.killDaemon(t)
	e.startDaemon(t)

	if got := e.mustDocker(t, "ps", "-a", "--filter", "name="+exited, "--format", "{{.State}}"); got != "exited" {
		t.Errorf("after restart the exited container is %q", got)
	}
	if got := e.mustDocker(t, "inspect", "-f", "{{.State.ExitCode}}", exited); got != "3" {
		t.Errorf("after restart exit code = %s, want 3", got)
	}
	state := e.mustDocker(t, "inspect", "-f", "{{.State.Status}} {{.State.Pid}}", running)
	switch f := strings.Fields(state); f[0] {
	case "running": // adopted: it must really run, and stop must work
		p, _ := strconv.Atoi(f[1])
		if p != pid || !pidAlive(p) {
			t.Errorf("adopted container reports pid %d (before restart %d, alive %v)", p, pid, pidAlive(p))
		}
		e.mustDocker(t, "stop", "-t", "1", running)
	case "exited": // stopped at boot: its process must be gone and ps must not list it
		poll(t, 10*time.Second, "the stopped container's process is gone", func() (bool, string) {
			return !pidAlive(pid), "pid " + strconv.Itoa(pid) + " alive"
		})
		if got := e.mustDocker(t, "ps", "-q", "--filter", "name="+running); got != "" {
			t.Errorf("ps lists a container marked exited: %s", got)
		}
	default:
		t.Errorf("after restart the running container is %q, want running (adopted) or exited", state)
	}
	if pidAlive(pid) {
		t.Errorf("container process %d still alive after the container was stopped", pid)
	}
	// Both containers work after the restart: start again, commit, remove.
	e.mustDocker(t, "start", running)
	e.mustDocker(t, "stop", "-t", "0", running)
	id := e.mustDocker(t, "commit", "-c", `CMD ["cat","/kept"]`, exited)
	if r := e.docker(t, "run", "--rm", id); r.Stdout != "kept\n" {
		t.Errorf("run of an image committed after restart:\n%s", r)
	}
	if m := e.leftoverMounts(); len(m) > 0 {
		t.Errorf("mounted under the data root with no container running:\n%s", strings.Join(m, "\n"))
	}
	e.mustDocker(t, "rm", exited, running)
	e.stopDaemon(t)
	if m := e.leftoverMounts(); len(m) > 0 {
		t.Errorf("mounted under the data root after SIGTERM:\n%s", strings.Join(m, "\n"))
	}
}

// TestKillDuringImport kills gantryd with SIGKILL in the middle of an
// import: after a restart no partial image is listed, every blob matches its
// digest, staging is empty, and the next import works.
func TestKillDuringImport(t *testing.T) {
	e := newEnv(t)
	e.needPrivateDaemon(t)
	before := e.allImageIDs(t)

	data, err := os.ReadFile(busyboxTar)
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	c := e.client(t)
	done := make(chan error, 1)
	go func() {
		rc, err := c.ImageImport(context.Background(), client.ImageImportSource{Source: pr, SourceName: "-"}, "gt-partial:1", client.ImageImportOptions{})
		if err == nil {
			_, err = readJSONMessages(rc)
			rc.Close()
		}
		done <- err
	}()
	// Send the first half; the pipe returns once the transport has taken it.
	if _, err := pw.Write(data[:len(data)/2]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // let the daemon consume what it was sent
	e.killDaemon(t)
	pw.CloseWithError(io.ErrUnexpectedEOF)
	if err := <-done; err == nil {
		t.Fatalf("import succeeded although the daemon was killed")
	}

	e.startDaemon(t)
	if diff := e.allImageIDs(t); strings.Join(diff, " ") != strings.Join(before, " ") {
		t.Errorf("images after the interrupted import = %v, want %v", diff, before)
	}
	if r := e.docker(t, "image", "inspect", "gt-partial:1"); r.Code != 1 {
		t.Errorf("the interrupted import left gt-partial:1:\n%s", r)
	}
	verifyBlobs(t, e.Root)
	if entries, err := os.ReadDir(filepath.Join(e.Root, "tmp")); err == nil && len(entries) > 0 {
		t.Errorf("staging dir tmp/ not emptied at start: %d entries", len(entries))
	}
	id := e.mustDocker(t, "import", busyboxTar, "gt-after:1")
	if r := e.docker(t, "run", "--rm", id, "echo", "works"); r.Stdout != "works\n" {
		t.Errorf("run of the image imported after restart:\n%s", r)
	}
	verifyBlobs(t, e.Root)
}

// verifyBlobs checks that every blob under content/blobs/sha256 hashes to
// its name.
func verifyBlobs(t *testing.T, root string) {
	t.Helper()
	dir := filepath.Join(root, "content", "blobs", "sha256")
	entries, err := os.ReadDir(dir)
	if err != nil {
		if os.IsNotExist(err) && os.Getenv(envDaemon) != "" {
			return // another daemon's layout
		}
		t.Errorf("read blob store: %v", err)
		return
	}
	for _, ent := range entries {
		f, err := os.Open(filepath.Join(dir, ent.Name()))
		if err != nil {
			t.Error(err)
			continue
		}
		h := sha256.New()
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			t.Error(err)
		} else if got := hex.EncodeToString(h.Sum(nil)); got != ent.Name() {
			t.Errorf("blob %s has digest %s", ent.Name(), got)
		}
	}
}

// TestSIGTERM checks that gantryd exits on SIGTERM while a container is
// running and writing logs, and that the container is still known after the
// daemon comes back.
func TestSIGTERM(t *testing.T) {
	e := newEnv(t)
	e.needPrivateDaemon(t)
	id := e.mustDocker(t, "run", "-d", "busybox", "sh", "-c", "while true; do echo tick; sleep 0.2; done")
	e.waitLogs(t, id, "tick")
	e.d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-e.d.done:
	case <-time.After(30 * time.Second):
		t.Fatal("gantryd did not exit within 30s of SIGTERM")
	}
	e.startDaemon(t)
	if got := e.mustDocker(t, "ps", "-aq", "--no-trunc", "--filter", "id="+id); got != id {
		t.Errorf("container lost across a SIGTERM restart: ps = %q", got)
	}
	e.mustDocker(t, "rm", "-f", id)
}

// TestFullDisk: an import or a commit that fills the disk fails with an
// error that says so, stores nothing, leaves no staging files, and the
// store keeps working once space is free.
func TestFullDisk(t *testing.T) {
	if os.Getenv(envDockerHost) != "" {
		t.Skip("needs a private daemon on a small filesystem")
	}
	fs := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", fs).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", fs).Run() })
	e := newEnvAt(t, filepath.Join(fs, "root"))
	e.needPrivateDaemon(t)

	big := filepath.Join(t.TempDir(), "big.tar")
	src := filepath.Join(filepath.Dir(big), "src")
	script := "mkdir " + src + " && head -c 60000000 /dev/urandom > " + src + "/blob && tar -C " + src + " -cf " + big + " ."
	if out, err := exec.Command("sh", "-c", script).CombinedOutput(); err != nil {
		t.Fatalf("make a 60 MB tar: %v %s", err, out)
	}
	before := e.allImageIDs(t)
	if r := e.docker(t, "import", big, "gt-full:1"); r.Code != 1 || !strings.Contains(r.Stderr, "no space left on device") {
		t.Errorf("import onto a full disk:\n%s\nwant exit 1 and no space left on device", r)
	}
	n := name("full")
	e.mustDocker(t, "run", "--name", n, "busybox", "sh", "-c", "head -c 30000000 /dev/urandom > /f")
	if r := e.docker(t, "commit", n, "gt-full:2"); r.Code != 1 || !strings.Contains(r.Stderr, "no space left on device") {
		t.Errorf("commit onto a full disk:\n%s\nwant exit 1 and no space left on device", r)
	}
	if diff := cmp.Diff(before, e.allImageIDs(t)); diff != "" {
		t.Errorf("images changed by failed import and commit (-before +after):\n%s", diff)
	}
	if left, _ := os.ReadDir(filepath.Join(e.Root, "tmp")); len(left) != 0 {
		t.Errorf("staging files left in tmp/: %v", left)
	}
	e.mustDocker(t, "rm", n)
	e.mustDocker(t, "import", busyboxTar, "gt-full:3")
	if r := e.docker(t, "run", "--rm", "gt-full:3", "echo", "ok"); r.Code != 0 || r.Stdout != "ok\n" {
		t.Errorf("run after the disk was freed:\n%s", r)
	}
}
