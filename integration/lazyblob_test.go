package integration

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// builtContext writes a context whose build stores layers of both kinds
// (a COPY and a RUN) and returns it with a token the RUN writes.
func builtContext(t *testing.T, bigMiB int) (dir, token string) {
	t.Helper()
	dir = t.TempDir()
	token = randHex(8)
	os.MkdirAll(filepath.Join(dir, "data", "sub"), 0o755)
	big := make([]byte, bigMiB<<20)
	rand.Read(big)
	os.WriteFile(filepath.Join(dir, "data", "big"), big, 0o644)
	os.WriteFile(filepath.Join(dir, "data", "sub", "small"), []byte("small\n"), 0o600)
	os.Symlink("sub/small", filepath.Join(dir, "data", "link"))
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM busybox\nCOPY data /data\nRUN echo "+token+" > /token && rm /data/sub/small\n"), 0o644)
	return dir, token
}

// check runs the image on e and compares what it holds with the context.
func checkBuilt(t *testing.T, e *env, ref, dir, token string) {
	t.Helper()
	b, _ := os.ReadFile(filepath.Join(dir, "data", "big"))
	sum := sha256.Sum256(b)
	want := token + "\n" + hex.EncodeToString(sum[:]) + "  /data/big\nsub/small\nno small"
	out := e.mustDocker(t, "run", "--rm", ref, "sh", "-c", "cat /token; sha256sum /data/big; readlink /data/link; test -e /data/sub/small || echo no small")
	if out != want {
		t.Errorf("the image on %s holds:\n%s\nwant:\n%s", e.Host, out, want)
	}
}

// A built image (its layers' blobs made at push time from the layers)
// pushed right after the build pulls into a second gantryd as the same
// image, and runs there.
func TestBuiltLayersPushPull(t *testing.T) {
	e := newEnv(t)
	if e.External {
		t.Skip("needs two gantryds")
	}
	reg := startRegistry(t, e, false)
	dir, token := builtContext(t, 4)
	ref := reg.Host + "/" + name("built") + ":1"
	e.mustDocker(t, "build", "-q", "-t", ref, dir)
	id := e.mustDocker(t, "image", "inspect", "-f", "{{.Id}}", ref)
	out := e.mustDocker(t, "push", ref)
	if strings.Count(out, ": Pushed") < 3 {
		t.Errorf("push output:\n%s", out)
	}
	if out := e.mustDocker(t, "push", ref); !strings.Contains(out, ": Layer already exists") {
		t.Errorf("second push:\n%s", out)
	}

	e2 := newEnv(t)
	e2.forwardToDaemonNet(t, reg.Host)
	e2.mustDocker(t, "pull", ref)
	if got := e2.mustDocker(t, "image", "inspect", "-f", "{{.Id}}", ref); got != id {
		t.Errorf("pulled image %s, built %s", got, id)
	}
	checkBuilt(t, e2, ref, dir, token)
}

// docker save of a built image right after the build loads into another
// gantryd as the same image.
func TestBuiltLayersSaveLoad(t *testing.T) {
	e := newEnv(t)
	if e.External {
		t.Skip("needs two gantryds")
	}
	dir, token := builtContext(t, 4)
	ref := name("saved") + ":1"
	e.mustDocker(t, "build", "-q", "-t", ref, dir)
	id := e.mustDocker(t, "image", "inspect", "-f", "{{.Id}}", ref)
	archive := filepath.Join(t.TempDir(), "img.tar")
	e.mustDocker(t, "save", "-o", archive, ref)

	e2 := newEnv(t)
	if out := e2.mustDocker(t, "load", "-i", archive); !strings.Contains(out, "Loaded image: "+ref) {
		t.Errorf("load output:\n%s", out)
	}
	if got := e2.mustDocker(t, "image", "inspect", "-f", "{{.Id}}", ref); got != id {
		t.Errorf("loaded image %s, built %s", got, id)
	}
	checkBuilt(t, e2, ref, dir, token)
}

// A gantryd killed (SIGKILL) while a push makes the gzip copy of a built
// layer leaves a consistent store: after the restart every blob matches
// its digest, nothing is staged, and the image pushes and pulls.
func TestKillWhileMakingLayerBlob(t *testing.T) {
	e := newEnv(t)
	if e.External {
		t.Skip("kills its gantryd")
	}
	reg := startRegistry(t, e, false)
	dir, token := builtContext(t, 96)
	ref := reg.Host + "/" + name("killed") + ":1"
	e.mustDocker(t, "build", "-q", "-t", ref, dir)

	push := exec.Command("docker", "push", ref)
	push.Env = e.clientEnv()
	if err := push.Start(); err != nil {
		t.Fatal(err)
	}
	defer push.Wait()
	staged := func() bool {
		entries, _ := os.ReadDir(filepath.Join(e.Root, "tmp"))
		for _, en := range entries {
			if fi, err := en.Info(); err == nil && strings.HasPrefix(en.Name(), "blob-") && fi.Size() > 0 {
				return true
			}
		}
		return false
	}
	poll(t, 60*time.Second, "a gzip copy being made", func() (bool, string) { return staged(), "" })
	e.killDaemon(t)
	push.Wait()
	e.startDaemon(t)

	blobs := filepath.Join(e.Root, "content", "blobs", "sha256")
	entries, err := os.ReadDir(blobs)
	if err != nil {
		t.Fatal(err)
	}
	for _, en := range entries {
		f, err := os.Open(filepath.Join(blobs, en.Name()))
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		io.Copy(h, f)
		f.Close()
		if got := hex.EncodeToString(h.Sum(nil)); got != en.Name() {
			t.Errorf("blob %s holds %s", en.Name(), got)
		}
	}
	if staged() {
		t.Error("a staged blob survived the restart")
	}
	e.mustDocker(t, "push", ref)
	e2 := newEnv(t)
	e2.forwardToDaemonNet(t, reg.Host)
	e2.mustDocker(t, "pull", ref)
	checkBuilt(t, e2, ref, dir, token)
}
