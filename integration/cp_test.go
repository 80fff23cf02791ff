package integration

import (
	"archive/tar"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// cpSetup makes a container whose symlinks point out of it (escape -> /,
// x -> /etc/../../../) and that holds /etc/marker; running, or exited.
const cpSetup = "ln -s / /escape && ln -s /etc/../../../ /x && echo container > /etc/marker && mkdir /data && echo changed > /data/f"

func TestCp(t *testing.T) {
	e := newEnv(t)
	running := name("cp-run")
	e.mustDocker(t, "run", "-d", "--name", running, "busybox", "sh", "-c", cpSetup+" && exec sleep 300")
	t.Cleanup(func() { e.docker(t, "rm", "-f", running) })
	poll(t, 10*time.Second, "setup in the running container", func() (bool, string) {
		r := e.docker(t, "cp", running+":/data/f", "-")
		return r.Code == 0, r.String()
	})
	stopped := name("cp-stopped")
	e.mustDocker(t, "run", "--name", stopped, "busybox", "sh", "-c", cpSetup)
	t.Cleanup(func() { e.docker(t, "rm", "-f", stopped) })

	src := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(src, "dir/sub"), 0o750))
	must(t, os.WriteFile(filepath.Join(src, "dir/run.sh"), []byte("#!/bin/sh\necho hi\n"), 0o751))
	must(t, os.WriteFile(filepath.Join(src, "dir/sub/data"), []byte("data\n"), 0o600))
	must(t, os.WriteFile(filepath.Join(src, "file"), []byte("one file\n"), 0o640))
	hostEscape := "/tmp/" + name("escaped")

	for _, ctr := range []string{running, stopped} {
		t.Run(strings.Split(ctr, "-")[2], func(t *testing.T) {
			out := t.TempDir()
			// A file to a new name, a directory into an existing one, both back.
			e.mustDocker(t, "cp", filepath.Join(src, "file"), ctr+":/tmp/renamed")
			e.mustDocker(t, "cp", filepath.Join(src, "dir"), ctr+":/tmp")
			e.mustDocker(t, "cp", ctr+":/tmp/renamed", filepath.Join(out, "file"))
			e.mustDocker(t, "cp", ctr+":/tmp/dir", out)
			for _, p := range []string{"file", "dir", "dir/run.sh", "dir/sub", "dir/sub/data"} {
				sameFile(t, filepath.Join(src, p), filepath.Join(out, p))
			}
			// "dir/." copies the content, not the directory.
			e.mustDocker(t, "cp", ctr+":/tmp/dir/.", filepath.Join(out, "flat"))
			sameFile(t, filepath.Join(src, "dir/run.sh"), filepath.Join(out, "flat/run.sh"))

			// Symlinks out of the container stay in it.
			e.mustDocker(t, "cp", filepath.Join(src, "file"), ctr+":/escape"+hostEscape)
			if _, err := os.Lstat(hostEscape); err == nil {
				os.Remove(hostEscape)
				t.Fatalf("docker cp into %s:/escape%s wrote the host's %s", ctr, hostEscape, hostEscape)
			}
			if got := e.catFile(t, ctr, hostEscape); got != "one file\n" {
				t.Errorf("%s in the container = %q", hostEscape, got)
			}
			for _, p := range []string{"/escape/etc/marker", "/x/etc/marker"} {
				if got := e.catFile(t, ctr, p); got != "container\n" {
					t.Errorf("%s:%s = %q, want the container's file", ctr, p, got)
				}
			}

			r := e.docker(t, "cp", ctr+":/nope", out)
			if r.Code != 1 || !strings.Contains(r.Stderr, "Could not find the file /nope in container "+ctr) {
				t.Errorf("docker cp of a missing path:\n%s", r)
			}
			r = e.docker(t, "cp", filepath.Join(src, "file"), ctr+":/etc/marker/x")
			if r.Code == 0 {
				t.Errorf("docker cp below a file succeeded:\n%s", r)
			}

			// export: the image's files and the container's changes.
			r = e.run(t, nil, "sh", "-c", "docker export "+ctr+" | tar t")
			if r.Code != 0 || !strings.Contains(r.Stdout, "bin/busybox\n") || !strings.Contains(r.Stdout, "data/f\n") || !strings.Contains(r.Stdout, "tmp/dir/run.sh\n") {
				t.Errorf("docker export | tar t:\n%s", r)
			}
			if strings.Contains(r.Stdout, "proc/self") || strings.Contains(r.Stdout, "sys/kernel") {
				t.Errorf("export holds /proc or /sys content:\n%s", r.Stdout)
			}
		})
	}

	t.Run("hostname", func(t *testing.T) {
		id := e.mustDocker(t, "inspect", "-f", "{{.Config.Hostname}}", running)
		if got := e.catFile(t, running, "/escape/etc/hostname"); got != id+"\n" {
			t.Errorf("/escape/etc/hostname = %q, want %q", got, id+"\n")
		}
	})

	t.Run("read-only rootfs", func(t *testing.T) {
		ro := name("cp-ro")
		e.mustDocker(t, "run", "-d", "--read-only", "--name", ro, "busybox", "sleep", "300")
		t.Cleanup(func() { e.docker(t, "rm", "-f", ro) })
		r := e.docker(t, "cp", filepath.Join(src, "file"), ro+":/tmp/")
		if r.Code != 1 || !strings.Contains(r.Stderr, "container rootfs is marked read-only") {
			t.Errorf("docker cp into a read-only rootfs:\n%s", r)
		}
	})
}

// catFile returns the content of the file p in the container ctr, read
// with docker cp to stdout (a tar of one file).
func (e *env) catFile(t *testing.T, ctr, p string) string {
	t.Helper()
	r := e.run(t, nil, "sh", "-c", "docker cp "+ctr+":"+p+" - | tar xO")
	if r.Code != 0 {
		t.Fatalf("read %s:%s:\n%s", ctr, p, r)
	}
	return r.Stdout
}

// sameFile fails unless got has want's type, mode and content.
func sameFile(t *testing.T, want, got string) {
	t.Helper()
	wi, err1 := os.Lstat(want)
	gi, err2 := os.Lstat(got)
	if err1 != nil || err2 != nil {
		t.Errorf("compare %s with %s: %v %v", want, got, err1, err2)
		return
	}
	if wi.Mode() != gi.Mode() {
		t.Errorf("%s: mode %v, want %v", got, gi.Mode(), wi.Mode())
	}
	if wi.Mode().IsRegular() {
		wb, _ := os.ReadFile(want)
		gb, _ := os.ReadFile(got)
		if string(wb) != string(gb) {
			t.Errorf("%s = %q, want %q", got, gb, wb)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// pythonArchive drives put_archive, get_archive and export with the Python
// SDK on the container argv[1].
const pythonArchive = `
import io, sys, tarfile, docker
c = docker.from_env(timeout=120)
ctr = c.containers.get(sys.argv[1])

buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w") as tf:
    data = b"from python!"
    info = tarfile.TarInfo("py.txt")
    info.size, info.mode, info.uid = len(data), 0o604, 4321
    tf.addfile(info, io.BytesIO(data))
assert ctr.put_archive("/escape/tmp", buf.getvalue()) is True

stream, stat = ctr.get_archive("/tmp/py.txt")
assert stat["name"] == "py.txt" and stat["size"] == 12 and stat["mode"] == 0o604, stat
with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tf:
    m = tf.getmember("py.txt")
    assert m.mode == 0o100604 and m.uid == 4321, (m.mode, m.uid)  # with the type bits, as dockerd
    assert tf.extractfile(m).read() == b"from python!"

stream, stat = ctr.get_archive("/escape")
assert stat["linkTarget"] == "/" and stat["name"] == "escape", stat

try:
    ctr.get_archive("/nope")
    raise AssertionError("no NotFound")
except docker.errors.NotFound as e:
    assert "Could not find the file /nope in container" in str(e), e
try:
    ctr.put_archive("/etc/marker", buf.getvalue())
    raise AssertionError("no error extracting to a file")
except docker.errors.APIError as e:
    assert "extraction point is not a directory" in str(e), e

names = tarfile.open(fileobj=io.BytesIO(b"".join(ctr.export()))).getnames()
assert "bin/busybox" in names and "tmp/py.txt" in names, names[:20]
`

func TestCpPythonSDK(t *testing.T) {
	e := newEnv(t)
	for _, run := range []bool{true, false} {
		n := name("cp-py")
		args := []string{"run", "--name", n, "busybox", "sh", "-c", cpSetup}
		if run {
			args = []string{"run", "-d", "--name", n, "busybox", "sh", "-c", cpSetup + " && exec sleep 300"}
		}
		e.mustDocker(t, args...)
		t.Cleanup(func() { e.docker(t, "rm", "-f", n) })
		if run {
			poll(t, 10*time.Second, "setup in the running container", func() (bool, string) {
				r := e.docker(t, "cp", n+":/etc/marker", "-")
				return r.Code == 0, r.String()
			})
		}
		if r := e.python(t, pythonArchive, n); r.Code != 0 {
			t.Errorf("python SDK archive calls on a container (running %v):\n%s", run, r)
		}
	}
}

func TestGantryCpExport(t *testing.T) {
	e := newEnv(t)
	e.needGantry(t)
	n := name("gcp")
	e.mustDocker(t, "run", "--name", n, "busybox", "sh", "-c", cpSetup)
	t.Cleanup(func() { e.docker(t, "rm", "-f", n) })
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "in"), []byte("gantry cp\n"), 0o640))
	if r := e.gantry(t, "cp", filepath.Join(dir, "in"), n+":/escape/tmp/in"); r.Code != 0 || r.Stderr != "" {
		t.Fatalf("gantry cp to the container:\n%s", r)
	}
	if r := e.gantry(t, "cp", n+":/tmp/in", filepath.Join(dir, "out")); r.Code != 0 {
		t.Fatalf("gantry cp from the container:\n%s", r)
	}
	sameFile(t, filepath.Join(dir, "in"), filepath.Join(dir, "out"))
	if r := e.gantry(t, "cp", n+":/nope", dir); r.Code != 1 || r.Stderr != "Error response from daemon: Could not find the file /nope in container "+n+"\n" {
		t.Errorf("gantry cp of a missing path:\n%s", r)
	}
	if r := e.gantry(t, "cp", dir, dir); r.Code != 1 || !strings.Contains(r.Stderr, "must specify at least one container source") {
		t.Errorf("gantry cp without a container:\n%s", r)
	}
	tarPath := filepath.Join(dir, "rootfs.tar")
	if r := e.gantry(t, "export", "-o", tarPath, n); r.Code != 0 {
		t.Fatalf("gantry export:\n%s", r)
	}
	r := e.run(t, nil, "tar", "tf", tarPath)
	if !strings.Contains(r.Stdout, "bin/busybox\n") || !strings.Contains(r.Stdout, "tmp/in\n") || !strings.Contains(r.Stdout, "etc/marker\n") {
		t.Errorf("tar tf of gantry export:\n%s", r)
	}
}

// TestCpStalledUpload checks that a docker cp into a container whose client
// stalls mid-upload holds up nothing else: listing and inspecting
// containers answer meanwhile, and a start of the stopped container waits
// for the upload, then runs with its files.
func TestCpStalledUpload(t *testing.T) {
	e := newEnv(t)
	running := name("cp-stall-run")
	e.mustDocker(t, "run", "-d", "--name", running, "busybox", "sleep", "300")
	t.Cleanup(func() { e.docker(t, "rm", "-f", running) })
	stopped := name("cp-stall-stopped")
	e.mustDocker(t, "create", "--name", stopped, "busybox", "cat", "/tmp/later")
	t.Cleanup(func() { e.docker(t, "rm", "-f", stopped) })

	for _, ctr := range []string{running, stopped} {
		t.Run(strings.Split(ctr, "-")[3], func(t *testing.T) {
			// Where the first file of the upload shows once gantryd wrote it.
			var marker func() []string
			if ctr == running {
				pid := e.mustDocker(t, "inspect", "-f", "{{.State.Pid}}", ctr)
				marker = func() []string { return []string{"/proc/" + pid + "/root/tmp/first"} }
			} else {
				if e.External {
					t.Skip("finds the stopped container's mount in gantryd's data root")
				}
				id := e.mustDocker(t, "inspect", "-f", "{{.Id}}", ctr)
				marker = func() []string {
					m, _ := filepath.Glob(filepath.Join(e.Root, "tmp", "rootfs-"+id[:12]+"-*", "tmp", "first"))
					return m
				}
			}
			pr, pw := io.Pipe()
			defer pw.Close()
			tw := tar.NewWriter(pw)
			put := make(chan error, 1)
			go func() {
				req, err := http.NewRequest("PUT", "http://d/containers/"+ctr+"/archive?path=/tmp", pr)
				if err != nil {
					put <- err
					return
				}
				req.Header.Set("Content-Type", "application/x-tar")
				resp, err := unixHTTPClient(strings.TrimPrefix(e.Host, "unix://")).Do(req)
				if err != nil {
					put <- err
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					err = fmt.Errorf("PUT archive: %s: %s", resp.Status, b)
				}
				put <- err
			}()
			writeFile := func(name, content string) {
				must(t, tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg}))
				_, err := tw.Write([]byte(content))
				must(t, err)
				must(t, tw.Flush())
			}
			writeFile("first", "one\n")
			poll(t, 10*time.Second, "the upload's first file", func() (bool, string) {
				m := marker()
				return len(m) == 1, fmt.Sprint(m)
			})

			// The upload stalls here.
			code, _, body := e.api(t, "GET", "/containers/json?all=1", nil)
			if code != http.StatusOK || !strings.Contains(body, ctr) {
				t.Fatalf("GET /containers/json during the upload: %d %s", code, body)
			}
			code, _, body = e.api(t, "GET", "/containers/"+ctr+"/json", nil)
			if code != http.StatusOK {
				t.Fatalf("GET /containers/%s/json during the upload: %d %s", ctr, code, body)
			}
			start := make(chan result, 1)
			if ctr == stopped {
				go func() { start <- e.docker(t, "start", "-a", ctr) }()
			} else {
				// The container exits meanwhile: its next start waits for
				// the copy, which still writes through the old mount.
				e.mustDocker(t, "kill", ctr)
				e.mustDocker(t, "wait", ctr)
				client := unixHTTPClient(strings.TrimPrefix(e.Host, "unix://"))
				client.Timeout = time.Second
				if resp, err := client.Post("http://d/containers/"+ctr+"/start", "", nil); err == nil {
					resp.Body.Close()
					t.Fatalf("start during the upload answered %s; want it to wait for the copy", resp.Status)
				}
				go func() { start <- e.docker(t, "start", ctr) }()
			}

			writeFile("later", "written after the stall\n")
			must(t, tw.Close())
			must(t, pw.Close())
			if err := <-put; err != nil {
				t.Fatal(err)
			}
			if ctr == stopped {
				if r := <-start; r.Code != 0 || r.Stdout != "written after the stall\n" {
					t.Errorf("docker start -a during the upload:\n%s", r)
				}
				return
			}
			if r := <-start; r.Code != 0 {
				t.Fatalf("docker start after the upload:\n%s", r)
			}
			if got := e.catFile(t, ctr, "/tmp/later"); got != "written after the stall\n" {
				t.Errorf("/tmp/later = %q", got)
			}
		})
	}
}

// TestCpStoppedVolumes checks that docker cp of a stopped container sees its
// volumes and binds, as dockerd mounts them for the copy: reads and writes
// reach the volume's data and the host directory, a read-only one refuses
// writes, and nothing stays mounted afterwards.
func TestCpStoppedVolumes(t *testing.T) {
	e := newEnv(t)
	bind, ro, src := t.TempDir(), t.TempDir(), t.TempDir()
	must(t, os.WriteFile(filepath.Join(bind, "hostfile"), []byte("host\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(ro, "f"), []byte("ro\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(src, "new"), []byte("copied\n"), 0o644))
	vol, fresh := name("cp-vol"), name("cp-vol-fresh")
	t.Cleanup(func() { e.docker(t, "volume", "rm", vol, fresh) })
	ctr := name("cp-vols")
	e.mustDocker(t, "run", "--name", ctr, "-v", vol+":/data", "-v", bind+":/bind", "-v", ro+":/ro:ro", "busybox", "sh", "-c", "echo vol > /data/f")
	t.Cleanup(func() { e.docker(t, "rm", "-f", ctr) })
	created := name("cp-vols-created")
	e.mustDocker(t, "create", "--name", created, "-v", fresh+":/not/in/image", "busybox", "true")
	t.Cleanup(func() { e.docker(t, "rm", "-f", created) })

	for p, want := range map[string]string{"/data/f": "vol\n", "/bind/hostfile": "host\n", "/ro/f": "ro\n"} {
		if got := e.catFile(t, ctr, p); got != want {
			t.Errorf("%s:%s = %q, want %q", ctr, p, got, want)
		}
	}
	e.mustDocker(t, "cp", filepath.Join(src, "new"), ctr+":/data/")
	if r := e.docker(t, "run", "--rm", "-v", vol+":/v", "busybox", "cat", "/v/new"); r.Code != 0 || r.Stdout != "copied\n" {
		t.Errorf("the volume after docker cp into the stopped container:\n%s", r)
	}
	e.mustDocker(t, "cp", filepath.Join(src, "new"), ctr+":/bind/")
	if b, err := os.ReadFile(filepath.Join(bind, "new")); err != nil || string(b) != "copied\n" {
		t.Errorf("the bind's host directory after docker cp: %q %v", b, err)
	}
	if r := e.docker(t, "cp", filepath.Join(src, "new"), ctr+":/ro/"); r.Code != 1 || !strings.Contains(r.Stderr, "mounted volume is marked read-only") {
		t.Errorf("docker cp into a read-only bind:\n%s", r)
	}
	if _, err := os.Stat(filepath.Join(ro, "new")); err == nil {
		t.Error("docker cp wrote into the read-only bind")
	}
	// A destination the image lacks, in a container never started.
	e.mustDocker(t, "cp", filepath.Join(src, "new"), created+":/not/in/image/")
	if r := e.docker(t, "run", "--rm", "-v", fresh+":/v", "busybox", "cat", "/v/new"); r.Code != 0 || r.Stdout != "copied\n" {
		t.Errorf("the volume after docker cp into the created container:\n%s", r)
	}
	if !e.External {
		if m := mountsUnder(filepath.Join(e.Root, "tmp")); len(m) > 0 {
			t.Errorf("mounts left after the copies: %v", m)
		}
	}
}
