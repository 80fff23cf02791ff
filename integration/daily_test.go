package integration

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSingleFileBind: -v of a host file (or a socket) binds that file, as
// docker run -v /host/file.txt:/etc/app.conf and -v
// /var/run/docker.sock:/var/run/docker.sock do with dockerd; a missing
// source is made a directory for -v and refused for --mount.
func TestSingleFileBind(t *testing.T) {
	e := newEnv(t)
	host := t.TempDir()
	file := filepath.Join(host, "file.txt")
	if err := os.WriteFile(file, []byte("conf\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(host, "s.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got := e.mustDocker(t, "run", "--rm", "-v", file+":/etc/app.conf:ro", "-v", sock+":/var/run/x.sock",
		"busybox", "sh", "-c", "cat /etc/app.conf; test -S /var/run/x.sock && echo socket")
	if want := "conf\nsocket"; got != want {
		t.Errorf("single-file binds: got %q, want %q", got, want)
	}
	e.mustDocker(t, "run", "--rm", "-v", file+":/etc/app.conf", "busybox", "sh", "-c", "echo changed > /etc/app.conf")
	if b, _ := os.ReadFile(file); string(b) != "changed\n" {
		t.Errorf("write through a file bind: host file holds %q", b)
	}
	if fi, err := os.Stat(file); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("the bound file is no longer a file: %v %v", fi, err)
	}
	missing := filepath.Join(host, "nofile")
	r := e.docker(t, "run", "--rm", "--mount", "type=bind,src="+missing+",dst=/etc/app.conf", "busybox", "true")
	if want := `invalid mount config for type "bind": bind source path does not exist: ` + missing; r.Code == 0 || !strings.Contains(r.Stderr, want) {
		t.Errorf("--mount of a missing file:\n%s\nwant %q", r, want)
	}
}
