package integration

import (
	"archive/tar"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/moby/sys/user"
)

// remapEnv is newEnv with gantryd run with --userns-remap=default, on a
// data root the remapped root may reach.
func remapEnv(t *testing.T) *env {
	t.Helper()
	parent := t.TempDir()
	for d := parent; d != "/"; d = filepath.Dir(d) { // t.TempDir makes 0700 directories
		fi, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d, fi.Mode()|0o011); err != nil {
			t.Fatal(err)
		}
	}
	e := newEnvAt(t, filepath.Join(parent, "root"))
	if e.External || e.d.isDockerd() {
		t.Skip("needs our own gantryd, started with --userns-remap")
	}
	e.stopDaemon(t)
	e.d.args = []string{"--userns-remap=default"}
	e.startDaemon(t)
	return e
}

// dockremapStart is the first host id of dockremap's subordinate uid and
// gid ranges.
func dockremapStart(t *testing.T) (uid, gid int64) {
	t.Helper()
	for i, file := range []string{"/etc/subuid", "/etc/subgid"} {
		subs, err := user.ParseSubIDFileFilter(file, func(s user.SubID) bool { return s.Name == "dockremap" })
		if err != nil || len(subs) == 0 {
			t.Fatalf("dockremap has no range in %s (%v)", file, err)
		}
		if i == 0 {
			uid = subs[0].SubID
		} else {
			gid = subs[0].SubID
		}
	}
	return uid, gid
}

// TestUsernsRemap: with --userns-remap=default a container's root is uid 0
// inside and dockremap's first subordinate id on the host, for its
// process and for the files it writes in its upper directory and in its
// volumes; the image's layers on disk keep their owners (idmapped mounts,
// nothing chowned); --userns=host opts out; a build's RUN steps run
// remapped and their layers hold container ids.
func TestUsernsRemap(t *testing.T) {
	e := remapEnv(t)
	uid, gid := dockremapStart(t)
	wantMap := fmt.Sprintf("0 %d 65536", uid)

	t.Run("remapped container", func(t *testing.T) {
		ctr := name("remap")
		e.mustDocker(t, "run", "-d", "--name", ctr, "-v", ctr+":/data", "busybox", "sh", "-c", "touch /made && echo v > /data/f && sleep 60")
		defer e.docker(t, "rm", "-f", "-v", ctr)
		poll(t, 10e9, "the file in the volume", func() (bool, string) {
			r := e.docker(t, "exec", ctr, "cat", "/data/f")
			return r.Stdout == "v\n", r.String()
		})
		if r := e.docker(t, "exec", ctr, "id", "-u"); r.Code != 0 || r.Stdout != "0\n" {
			t.Errorf("id -u in the container: %s", r)
		}
		if r := e.docker(t, "exec", ctr, "cat", "/proc/self/uid_map"); strings.Join(strings.Fields(r.Stdout), " ") != wantMap {
			t.Errorf("uid_map in the container: %s\nwant %q", r, wantMap)
		}
		pid := strings.TrimSpace(e.mustDocker(t, "inspect", "-f", "{{.State.Pid}}", ctr))
		status, err := os.ReadFile("/proc/" + pid + "/status")
		if err != nil {
			t.Fatal(err)
		}
		wantUid := fmt.Sprintf("Uid:\t%d\t%d\t%d\t%d\n", uid, uid, uid, uid)
		if !strings.Contains(string(status), wantUid) {
			t.Errorf("/proc/%s/status on the host:\n%s\nwant %q", pid, status, wantUid)
		}
		id := strings.TrimSpace(e.mustDocker(t, "inspect", "-f", "{{.Id}}", ctr))
		for _, p := range []string{
			filepath.Join(e.Root, "containers", id, "upper", "made"),
			filepath.Join(e.Root, "volumes", ctr, "_data", "f"),
		} {
			if got := ownerOf(t, p); got != [2]int64{uid, gid} {
				t.Errorf("%s is owned by %v on disk, want %d:%d", p, got, uid, gid)
			}
		}

		// docker cp and export speak container ids, running or not.
		hostFile := filepath.Join(t.TempDir(), "in")
		if err := os.WriteFile(hostFile, []byte("in"), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, state := range []string{"running", "stopped"} {
			if state == "stopped" {
				e.mustDocker(t, "stop", "-t", "0", ctr)
			}
			if got := tarOwners(t, e.docker(t, "cp", ctr+":/made", "-")); got["made"] != [2]int{0, 0} {
				t.Errorf("docker cp from a %s remapped container: owners %v, want made owned 0:0", state, got)
			}
			e.mustDocker(t, "cp", hostFile, ctr+":/"+state)
			if got := ownerOf(t, filepath.Join(e.Root, "containers", id, "upper", state)); got != [2]int64{uid, gid} {
				t.Errorf("docker cp into a %s remapped container: the file is owned by %v on disk, want %d:%d", state, got, uid, gid)
			}
		}
		if got := tarOwners(t, e.docker(t, "export", ctr)); got["made"] != [2]int{0, 0} || got["running"] != [2]int{0, 0} {
			t.Errorf("docker export of a remapped container: owners %v, want made and running owned 0:0", got)
		}
		// A copy into a container never started makes its bind's mount
		// point, owned by its root as what runc makes: a commit then
		// shifts every owner back (a host id without a container id would
		// be left out of the layer).
		fresh := name("remapfresh")
		e.mustDocker(t, "create", "--name", fresh, "-v", t.TempDir()+":/newvol", "busybox", "true")
		defer e.docker(t, "rm", "-f", "-v", fresh)
		e.mustDocker(t, "cp", hostFile, fresh+":/copied")
		committed := strings.TrimSpace(e.mustDocker(t, "commit", fresh))
		defer e.docker(t, "rmi", committed)
		if r := e.docker(t, "run", "--rm", "--userns=host", committed, "stat", "-c", "%u:%g", "/newvol", "/copied"); r.Code != 0 || r.Stdout != "0:0\n0:0\n" {
			t.Errorf("the commit of a remapped container after docker cp: %s\nwant /newvol and /copied owned 0:0", r)
		}
	})

	t.Run("layers unchanged", func(t *testing.T) {
		n := 0
		err := filepath.WalkDir(filepath.Join(e.Root, "layers"), func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if o := ownerOf(t, p); o[0] >= uid && o[0] < uid+65536 {
				t.Errorf("%s of the layer store is owned by %v", p, o)
			}
			n++
			return nil
		})
		if err != nil || n < 100 {
			t.Errorf("walked %d entries of the layer store: %v", n, err)
		}
	})

	t.Run("--userns=host", func(t *testing.T) {
		r := e.docker(t, "run", "--rm", "--userns=host", "busybox", "cat", "/proc/self/uid_map")
		if r.Code != 0 || strings.Join(strings.Fields(r.Stdout), " ") != "0 0 4294967295" {
			t.Errorf("--userns=host: %s\nwant the host's ids", r)
		}
		code, _, body := e.api(t, "POST", "/containers/create", strings.NewReader(`{"Image":"busybox","Cmd":["true"],"HostConfig":{"UsernsMode":"private"}}`))
		if code != 400 || apiMessage(t, body) != "invalid USER mode: private" {
			t.Errorf("create with UsernsMode private: %d %s", code, body)
		}
		if r := e.docker(t, "run", "--rm", "--network", "host", "busybox", "true"); r.Code == 0 || !strings.Contains(r.Stderr, "cannot share the host's network namespace when user namespaces are enabled") {
			t.Errorf("--network host, remapped: %s", r)
		}
		if r := e.docker(t, "run", "--rm", "--network", "host", "--userns", "host", "busybox", "true"); r.Code != 0 {
			t.Errorf("--network host --userns host: %s", r)
		}
	})

	t.Run("build", func(t *testing.T) {
		ref := name("remapbuild")
		dir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN id -u > /uid && cat /proc/self/uid_map > /map && mkdir /ran\n"})
		e.mustBuild(t, "docker", "-t", ref, dir)
		defer e.docker(t, "rmi", ref)
		r := e.docker(t, "run", "--rm", "--userns=host", ref, "sh", "-c", "cat /uid /map; stat -c %u:%g /ran")
		if got := strings.Join(strings.Fields(r.Stdout), " "); r.Code != 0 || got != "0 "+wantMap+" 0:0" {
			t.Errorf("the RUN step's results: %s\nwant uid 0, map %q and /ran owned 0:0 in the image", r, wantMap)
		}
	})

	// The step's root owns what gantryd makes for it: a cache mount, the
	// scratch copy of an image's volume, a tmpfs and a bind from a stage.
	t.Run("build mounts", func(t *testing.T) {
		ref := name("remapmounts")
		dir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox AS src\nRUN echo s > /s\n" +
			"FROM busybox\nVOLUME /vol\n" +
			"RUN --mount=type=cache,target=/cache --mount=type=tmpfs,target=/t --mount=type=bind,from=src,source=/s,target=/b " +
			"touch /cache/x /vol/x /t/x && cat /b > /seen\n"})
		e.mustBuild(t, "docker", "-t", ref, dir)
		defer e.docker(t, "rmi", ref)
		if r := e.docker(t, "run", "--rm", ref, "cat", "/seen"); r.Code != 0 || strings.TrimSpace(r.Stdout) != "s" {
			t.Errorf("the RUN step with mounts: %s", r)
		}
	})
}

// TestUsernsRemapRefusals: gantryd refuses to remap when the remapped root
// cannot reach its data root, as dockerd does.
func TestUsernsRemapRefusals(t *testing.T) {
	e := newEnv(t)
	if e.External || e.d.isDockerd() {
		t.Skip("starts gantryd itself")
	}
	closed := t.TempDir() // 0700
	cmd := exec.Command("nsenter", "--net="+e.d.netns, "--", e.d.bin, "--data-root", filepath.Join(closed, "root"),
		"--exec-root", filepath.Join(closed, "x"), "-H", "unix://"+filepath.Join(closed, "s"), "--userns-remap=default")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "restricts access to the remapped root uid/gid; please fix by allowing 'o+x' permissions on existing directories") {
		t.Errorf("gantryd --userns-remap with a data root under a 0700 directory: %v\n%s", err, out)
	}
}

func ownerOf(t *testing.T, p string) [2]int64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Lstat(p, &st); err != nil {
		t.Fatal(err)
	}
	return [2]int64{int64(st.Uid), int64(st.Gid)}
}

// tarOwners are the owners of the entries of the tar a docker command
// printed, by name.
func tarOwners(t *testing.T, r result) map[string][2]int {
	t.Helper()
	if r.Code != 0 {
		t.Fatalf("%s", r)
	}
	out := map[string][2]int{}
	tr := tar.NewReader(strings.NewReader(r.Stdout))
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		out[strings.TrimSuffix(h.Name, "/")] = [2]int{h.Uid, h.Gid}
	}
	return out
}
