package integration

import (
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/volume"
)

// cleanupVolumes removes, when the test ends, the containers and then the
// volumes it names (the external daemon's snapshot does not cover volumes).
func (e *env) cleanupVolumes(t *testing.T, containers, volumes []string) {
	t.Cleanup(func() {
		if len(containers) > 0 {
			e.docker(t, append([]string{"rm", "-f", "-v"}, containers...)...)
		}
		if len(volumes) > 0 {
			e.docker(t, append([]string{"volume", "rm", "-f"}, volumes...)...)
		}
	})
}

// mounts returns the Mounts of a container's inspect.
func (e *env) mounts(t *testing.T, ctr string) []container.MountPoint {
	t.Helper()
	var mps []container.MountPoint
	if err := json.Unmarshal([]byte(e.mustDocker(t, "inspect", "-f", "{{json .Mounts}}", ctr)), &mps); err != nil {
		t.Fatal(err)
	}
	return mps
}

func (e *env) volumeExists(t *testing.T, vol string) bool {
	t.Helper()
	return e.docker(t, "volume", "inspect", vol).Code == 0
}

var anonymousName = regexp.MustCompile(`^[0-9a-f]{64}$`)

// TestNamedVolume: a named volume outlives the container that wrote to it,
// is refused removal while a container uses it (409), and unknown volumes
// are 404s.
func TestNamedVolume(t *testing.T) {
	e := newEnv(t)
	vol, user := name("vol"), name("voluser")
	e.cleanupVolumes(t, []string{user}, []string{vol})

	if got := e.mustDocker(t, "volume", "create", "--label", "gt.test=named", vol); got != vol {
		t.Fatalf("volume create printed %q", got)
	}
	e.mustDocker(t, "run", "--rm", "-v", vol+":/data", "busybox", "sh", "-c", "echo kept > /data/f")
	if got := e.mustDocker(t, "run", "--rm", "--mount", "type=volume,src="+vol+",dst=/in,readonly", "busybox", "cat", "/in/f"); got != "kept" {
		t.Fatalf("second container read %q", got)
	}
	if got := e.mustDocker(t, "volume", "inspect", "-f", "{{.Name}} {{.Driver}} {{.Scope}} {{.Labels}}", vol); got != vol+" local local map[gt.test:named]" {
		t.Errorf("volume inspect: %q", got)
	}
	ls := e.mustDocker(t, "volume", "ls", "--filter", "name="+vol)
	if want := "DRIVER    VOLUME NAME\nlocal     " + vol; ls != want {
		t.Errorf("volume ls:\n%s\nwant:\n%s", ls, want)
	}
	if got := e.mustDocker(t, "volume", "ls", "-q", "--filter", "label=gt.test=named"); !strings.Contains(got, vol) {
		t.Errorf("volume ls --filter label: %q", got)
	}

	id := e.mustDocker(t, "create", "--name", user, "-v", vol+":/data:ro", "busybox", "true")
	r := e.docker(t, "volume", "rm", vol)
	if want := "remove " + vol + ": volume is in use - [" + id + "]"; r.Code == 0 || !strings.Contains(r.Stderr, want) {
		t.Errorf("volume rm in use:\n%s\nwant %q", r, want)
	}
	status, _, body := e.api(t, "DELETE", "/volumes/"+vol, nil)
	if status != 409 {
		t.Errorf("DELETE in-use volume: %d %s", status, body)
	}
	if got := e.mustDocker(t, "volume", "ls", "-q", "--filter", "dangling=false", "--filter", "name="+vol); got != vol {
		t.Errorf("volume ls dangling=false: %q", got)
	}
	mps := e.mounts(t, user)
	if len(mps) != 1 || mps[0].Type != "volume" || mps[0].Name != vol || mps[0].Destination != "/data" || mps[0].Driver != "local" || mps[0].RW || mps[0].Mode != "ro" {
		t.Errorf("inspect Mounts: %+v", mps)
	}
	e.mustDocker(t, "rm", "-v", user) // -v keeps named volumes
	if !e.volumeExists(t, vol) {
		t.Fatal("rm -v removed a named volume")
	}
	if got := e.mustDocker(t, "volume", "rm", vol); got != vol {
		t.Errorf("volume rm printed %q", got)
	}

	status, _, body = e.api(t, "GET", "/volumes/"+vol, nil)
	if status != 404 || apiMessage(t, body) != "get "+vol+": no such volume" {
		t.Errorf("inspect removed volume: %d %s", status, body)
	}
	if status, _, body := e.api(t, "DELETE", "/volumes/"+vol, nil); status != 404 {
		t.Errorf("remove unknown volume: %d %s", status, body)
	}
	if r := e.docker(t, "volume", "rm", "-f", vol); r.Code != 0 {
		t.Errorf("volume rm -f of an unknown volume:\n%s", r)
	}
	// Through the API: the CLI answers a 404 from create with a pull.
	status, _, body = e.api(t, "POST", "/containers/create", strings.NewReader(`{"Image":"busybox","Cmd":["true"],"HostConfig":{"Binds":["`+vol+`:/data"],"VolumeDriver":"other"}}`))
	if want := `error looking up volume plugin other: plugin "other" not found`; status < 400 || !strings.Contains(apiMessage(t, body), want) {
		t.Errorf("--volume-driver of an unknown driver: %d %s\nwant %q", status, body, want)
	}
	// A bad request, as dockerd 20.10 answers (checked against it): a 404
	// would have the CLI pull the image.
	status, _, body = e.api(t, "POST", "/containers/create", strings.NewReader(`{"Image":"busybox","Cmd":["true"],"HostConfig":{"VolumesFrom":["gt-nope"]}}`))
	if want := "No such container: gt-nope"; status != 400 || apiMessage(t, body) != want {
		t.Errorf("--volumes-from of a missing container: %d %s\nwant 400 %q", status, body, want)
	}
	r = e.docker(t, "volume", "create", "bad/name")
	if want := `create bad/name: "bad/name" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`; r.Code == 0 || !strings.Contains(r.Stderr, want) {
		t.Errorf("invalid name:\n%s", r)
	}
}

// TestVolumeCopyUp: the image's content at a VOLUME path is copied into the
// anonymous volume (and into a fresh named one, unless nocopy), owners
// kept; rm -v and run --rm remove anonymous volumes, plain rm keeps them.
func TestVolumeCopyUp(t *testing.T) {
	e := newEnv(t)
	img := name("seed")
	ctx := writeContext(t, map[string]string{"Dockerfile": `FROM busybox
RUN mkdir -p /data/sub && echo seed > /data/f && ln -s /etc/passwd /data/link && chown -R 1000:1001 /data && chmod 750 /data/sub
VOLUME /data
`})
	e.mustBuild(t, "docker", "-t", img, ctx)
	t.Cleanup(func() { e.docker(t, "rmi", "-f", img) })
	kept, removed, fresh, nocopy := name("kept"), name("removed"), name("fresh"), name("nocopy")
	e.cleanupVolumes(t, []string{kept, removed}, []string{fresh, nocopy})

	got := e.mustDocker(t, "run", "--name", kept, img, "sh", "-c", "cat /data/f; stat -c '%n %u:%g %a' /data /data/sub /data/f; readlink /data/link")
	want := "seed\n/data 1000:1001 755\n/data/sub 1000:1001 750\n/data/f 1000:1001 644\n/etc/passwd"
	if got != want {
		t.Errorf("anonymous volume content:\n%s\nwant:\n%s", got, want)
	}
	mps := e.mounts(t, kept)
	if len(mps) != 1 || mps[0].Type != "volume" || !anonymousName.MatchString(mps[0].Name) || mps[0].Destination != "/data" || !mps[0].RW {
		t.Fatalf("inspect Mounts: %+v", mps)
	}
	anon := mps[0].Name
	if got := e.mustDocker(t, "ps", "-a", "--filter", "name="+kept, "--format", "{{.Mounts}}"); !strings.HasPrefix(got, anon[:12]) {
		t.Errorf("ps Mounts: %q", got)
	}
	e.mustDocker(t, "rm", kept)
	if !e.volumeExists(t, anon) {
		t.Fatal("rm without -v removed the anonymous volume")
	}
	e.mustDocker(t, "volume", "rm", anon)

	e.mustDocker(t, "create", "--name", removed, img, "true")
	anon = e.mounts(t, removed)[0].Name
	e.mustDocker(t, "rm", "-v", removed)
	if e.volumeExists(t, anon) {
		t.Error("rm -v kept the anonymous volume")
	}

	before := e.mustDocker(t, "volume", "ls", "-q")
	e.mustDocker(t, "run", "--rm", img, "true")
	if after := e.mustDocker(t, "volume", "ls", "-q"); after != before {
		t.Errorf("run --rm left a volume:\nbefore:\n%s\nafter:\n%s", before, after)
	}

	if got := e.mustDocker(t, "run", "--rm", "-v", fresh+":/data", img, "cat", "/data/f"); got != "seed" {
		t.Errorf("fresh named volume: %q", got)
	}
	if got := e.mustDocker(t, "run", "--rm", "--mount", "type=volume,src="+nocopy+",dst=/data,volume-nocopy", img, "ls", "-A", "/data"); got != "" {
		t.Errorf("nocopy volume holds %q", got)
	}
	// A named volume with content is not filled again.
	e.mustDocker(t, "run", "--rm", "-v", fresh+":/v", "busybox", "sh", "-c", "rm /v/f && echo mine > /v/own")
	if got := e.mustDocker(t, "run", "--rm", "-v", fresh+":/data", img, "ls", "/data"); got != "link\nown\nsub" {
		t.Errorf("volume with content after a new mount: %q", got)
	}
}

// TestVolumeCopyUpOnce: the image's content is copied into a volume when
// the container is created, and only then; a volume the container empties
// stays empty when it starts again, also after the daemon restarts.
func TestVolumeCopyUpOnce(t *testing.T) {
	e := newEnv(t)
	img, vol, ctr := name("seedonce"), name("once"), name("oncectr")
	created, createdVol := name("oncecreated"), name("oncecreated")
	ctx := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN mkdir /data && echo seed > /data/f\n"})
	e.mustBuild(t, "docker", "-t", img, ctx)
	t.Cleanup(func() { e.docker(t, "rmi", "-f", img) })
	e.cleanupVolumes(t, []string{ctr, created}, []string{vol, createdVol})

	e.mustDocker(t, "create", "--name", created, "-v", createdVol+":/data", img, "true")
	if got := e.mustDocker(t, "run", "--rm", "-v", createdVol+":/d", "busybox", "ls", "/d"); got != "f" {
		t.Errorf("the volume of a created container holds %q", got)
	}

	if got := e.mustDocker(t, "run", "--name", ctr, "-v", vol+":/data", img, "sh", "-c", "ls -A /data; rm -f /data/f"); got != "f" {
		t.Fatalf("first start: /data holds %q", got)
	}
	if got := e.mustDocker(t, "start", "-a", ctr); got != "" {
		t.Errorf("after a restart the emptied volume holds %q", got)
	}
	if e.External {
		return
	}
	e.killDaemon(t)
	e.startDaemon(t)
	if got := e.mustDocker(t, "start", "-a", ctr); got != "" {
		t.Errorf("after a daemon restart the emptied volume holds %q", got)
	}
}

// TestVolumePrune: prune removes unused anonymous volumes, --all unused
// named ones too, never volumes in use.
func TestVolumePrune(t *testing.T) {
	e := newEnv(t)
	label := "gt.prune=" + randHex(4)
	named, user, dangling, inUse := name("pnamed"), name("puser"), name("pdangling"), name("pinuse")
	e.cleanupVolumes(t, []string{user, dangling}, []string{named, inUse})
	e.mustDocker(t, "volume", "create", "--label", label, named)
	e.mustDocker(t, "volume", "create", "--label", label, inUse)
	e.mustDocker(t, "create", "--name", user, "-v", inUse+":/x", "busybox", "true")
	e.mustDocker(t, "create", "--name", dangling, "--mount", "type=volume,dst=/anon,volume-label="+label, "busybox", "true")
	anon := e.mounts(t, dangling)[0].Name
	e.mustDocker(t, "rm", dangling)

	dang := sorted(lines(e.mustDocker(t, "volume", "ls", "-q", "--filter", "dangling=true", "--filter", "label="+label)))
	if want := sorted([]string{named, anon}); strings.Join(dang, " ") != strings.Join(want, " ") {
		t.Errorf("dangling volumes %v, want %v", dang, want)
	}
	out := e.mustDocker(t, "volume", "prune", "-f", "--filter", "label="+label)
	if !strings.HasPrefix(out, "Deleted Volumes:\n") || !slices.Contains(lines(out), anon) || !strings.Contains(out, "\n\nTotal reclaimed space:") {
		t.Errorf("prune output:\n%s", out)
	}
	if !e.External { // dockerd before 23 prunes named volumes without --all
		if !e.volumeExists(t, named) {
			t.Error("prune without --all removed a named volume")
		}
		out = e.mustDocker(t, "volume", "prune", "-f", "--all", "--filter", "label="+label)
		if !strings.Contains(out, named) || strings.Contains(out, inUse) {
			t.Errorf("prune --all output:\n%s", out)
		}
	}
	for _, v := range []string{named, anon} {
		if e.volumeExists(t, v) {
			t.Errorf("volume %s survived prune", v)
		}
	}
	if !e.volumeExists(t, inUse) {
		t.Error("prune removed a volume in use")
	}
}

// TestVolumePruneAPIVersion: a prune asked for with an API version before
// 1.42 removes unused named volumes too, as dockerd did then.
func TestVolumePruneAPIVersion(t *testing.T) {
	e := newEnv(t)
	label := "gt.prunev=" + randHex(4)
	named := name("pvnamed")
	e.cleanupVolumes(t, nil, []string{named})
	e.mustDocker(t, "volume", "create", "--label", label, named)
	filters := "?filters=" + url.QueryEscape(`{"label":["`+label+`"]}`)

	if !e.External { // dockerd before 23 does not speak 1.42
		status, _, body := e.api(t, "POST", "/v1.42/volumes/prune"+filters, nil)
		if status != 200 || strings.Contains(body, named) || !e.volumeExists(t, named) {
			t.Errorf("1.42 prune: %d %s", status, body)
		}
	}
	status, _, body := e.api(t, "POST", "/v1.41/volumes/prune"+filters, nil)
	var report volume.PruneReport
	if err := json.Unmarshal([]byte(body), &report); status != 200 || err != nil || !slices.Equal(report.VolumesDeleted, []string{named}) {
		t.Errorf("1.41 prune: %d %s", status, body)
	}
	if e.volumeExists(t, named) {
		t.Error("a 1.41 prune kept an unused named volume")
	}
}

// TestBindsAndTmpfs: read-only binds refuse writes, -v creates a missing
// host directory while --mount type=bind refuses one, and tmpfs mounts from
// --mount and --tmpfs exist with their sizes.
func TestBindsAndTmpfs(t *testing.T) {
	e := newEnv(t)
	host := t.TempDir()
	if err := os.WriteFile(filepath.Join(host, "f"), []byte("host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := e.docker(t, "run", "--rm", "-v", host+":/h:ro", "busybox", "sh", "-c", "cat /h/f; echo x > /h/new")
	if r.Code == 0 || r.Stdout != "host\n" || !strings.Contains(r.Stderr, "Read-only file system") {
		t.Errorf("write to a read-only bind:\n%s", r)
	}
	r = e.docker(t, "run", "--rm", "--mount", "type=bind,src="+host+",dst=/h,readonly", "busybox", "touch", "/h/new")
	if r.Code == 0 || !strings.Contains(r.Stderr, "Read-only file system") {
		t.Errorf("write to a read-only --mount bind:\n%s", r)
	}
	if _, err := os.Stat(filepath.Join(host, "new")); err == nil {
		t.Error("a read-only bind was written")
	}
	missing := filepath.Join(host, "made", "by", "run")
	e.mustDocker(t, "run", "--rm", "-v", missing+":/m", "busybox", "sh", "-c", "echo w > /m/f")
	if b, err := os.ReadFile(filepath.Join(missing, "f")); err != nil || string(b) != "w\n" {
		t.Errorf("-v with a missing host directory: %q %v", b, err)
	}
	r = e.docker(t, "create", "-v", host+":rel", "busybox", "true")
	if want := "invalid volume specification: '" + host + `:rel': invalid mount config for type "bind": invalid mount path: 'rel' mount path must be absolute`; r.Code == 0 || !strings.Contains(r.Stderr, want) {
		t.Errorf("-v with a relative destination:\n%s\nwant %q", r, want)
	}
	gone := filepath.Join(host, "gone")
	r = e.docker(t, "create", "--mount", "type=bind,src="+gone+",dst=/x", "busybox", "true")
	if want := `invalid mount config for type "bind": bind source path does not exist: ` + gone; r.Code == 0 || !strings.Contains(r.Stderr, want) {
		t.Errorf("--mount bind of a missing path:\n%s\nwant %q", r, want)
	}
	got := e.mustDocker(t, "run", "--rm", "--mount", "type=tmpfs,dst=/t,tmpfs-size=1m", "--tmpfs", "/t2:size=2m", "busybox",
		"sh", "-c", "grep -E ' /t2? ' /proc/mounts | cut -d' ' -f1-3 | sort; df -k /t /t2 | tail -2 | awk '{print $2}'")
	if want := "tmpfs /t tmpfs\ntmpfs /t2 tmpfs\n1024\n2048"; got != want {
		t.Errorf("tmpfs mounts:\n%s\nwant:\n%s", got, want)
	}

	ctr := name("binds")
	e.cleanupVolumes(t, []string{ctr}, nil)
	e.mustDocker(t, "create", "--name", ctr, "-v", host+":/h:ro", "--mount", "type=tmpfs,dst=/t", "busybox", "true")
	byDst := map[string]container.MountPoint{}
	for _, mp := range e.mounts(t, ctr) {
		byDst[mp.Destination] = mp
	}
	if mp := byDst["/h"]; mp.Type != "bind" || mp.Source != host || mp.Mode != "ro" || mp.RW || mp.Propagation != "rprivate" {
		t.Errorf("bind in Mounts: %+v", mp)
	}
	if mp := byDst["/t"]; mp.Type != "tmpfs" || !mp.RW {
		t.Errorf("tmpfs in Mounts: %+v", mp)
	}
}

// TestVolumesPython drives volumes through the Python SDK.
func TestVolumesPython(t *testing.T) {
	e := newEnv(t)
	vol, ctr := name("pyvol"), name("pyctr")
	e.cleanupVolumes(t, []string{ctr}, []string{vol})
	r := e.python(t, `
import sys, docker
vol, ctr = sys.argv[1], sys.argv[2]
c = docker.from_env()
v = c.volumes.create(name=vol, labels={"gt": "py"})
assert v.attrs["Driver"] == "local" and v.attrs["Labels"] == {"gt": "py"}, v.attrs
c.containers.run("busybox", ["sh", "-c", "echo py > /d/f"], volumes={vol: {"bind": "/d", "mode": "rw"}}, remove=True)
out = c.containers.run("busybox", ["cat", "/d/f"], volumes=[vol + ":/d:ro"], remove=True)
assert out == b"py\n", out
assert [x.name for x in c.volumes.list(filters={"name": vol})] == [vol]
c.containers.create("busybox", ["true"], name=ctr, volumes={vol: {"bind": "/d"}})
try:
    c.volumes.get(vol).remove()
    raise SystemExit("removed a volume in use")
except docker.errors.APIError as err:
    assert err.status_code == 409, err
c.containers.get(ctr).remove(v=True)
c.volumes.get(vol).remove()
try:
    c.volumes.get(vol)
    raise SystemExit("removed volume still there")
except docker.errors.NotFound:
    pass
print("ok")
`, vol, ctr)
	if r.Code != 0 || r.Stdout != "ok\n" {
		t.Errorf("python SDK volumes:\n%s", r)
	}
}

// TestVolumesAfterRestart: which containers use which volume is rebuilt
// when gantryd starts again, and the data stays.
func TestVolumesAfterRestart(t *testing.T) {
	e := newEnv(t)
	e.needPrivateDaemon(t)
	vol, ctr := name("rvol"), name("rctr")
	e.mustDocker(t, "run", "--name", ctr, "-v", vol+":/data", "busybox", "sh", "-c", "echo durable > /data/f")

	e.killDaemon(t)
	e.startDaemon(t)

	if r := e.docker(t, "volume", "rm", vol); r.Code == 0 || !strings.Contains(r.Stderr, "volume is in use") {
		t.Errorf("volume rm after restart:\n%s", r)
	}
	e.mustDocker(t, "rm", ctr)
	if got := e.mustDocker(t, "run", "--rm", "-v", vol+":/data", "busybox", "cat", "/data/f"); got != "durable" {
		t.Errorf("after restart the volume holds %q", got)
	}
	e.mustDocker(t, "volume", "rm", vol)
}

// TestGantryVolumeCLI drives volumes through bin/gantry: the volume verbs,
// their output, and -v, --mount and --tmpfs of run.
func TestGantryVolumeCLI(t *testing.T) {
	e := newEnv(t)
	e.needGantry(t)
	vol, ctr := name("gvol"), name("gctr")
	must := func(args ...string) string {
		t.Helper()
		r := e.gantry(t, args...)
		if r.Code != 0 {
			t.Fatalf("gantry %s:\n%s", strings.Join(args, " "), r)
		}
		return strings.TrimRight(r.Stdout, "\n")
	}
	if got := must("volume", "create", "--label", "a=b", vol); got != vol {
		t.Fatalf("volume create printed %q", got)
	}
	if got, want := must("volume", "ls", "--filter", "name="+vol), "DRIVER    VOLUME NAME\nlocal     "+vol; got != want {
		t.Errorf("volume ls:\n%s\nwant:\n%s", got, want)
	}
	if got := must("inspect", "-f", "{{.Name}} {{.Labels}}", vol); got != vol+" map[a:b]" {
		t.Errorf("inspect of a volume: %q", got)
	}
	must("run", "--rm", "-v", vol+":/data", "--tmpfs", "/scratch", "busybox", "sh", "-c", "echo g > /data/f && grep -q ' /scratch tmpfs' /proc/mounts")
	id := must("create", "--name", ctr, "--mount", "type=volume,src="+vol+",dst=/data,readonly", "-v", "/anon", "busybox", "cat", "/data/f")
	if got := must("start", "-a", ctr); got != "g" {
		t.Errorf("read through --mount: %q", got)
	}
	r := e.gantry(t, "volume", "rm", vol)
	if r.Code != 1 || !strings.Contains(r.Stderr, "remove "+vol+": volume is in use - ["+id+"]") {
		t.Errorf("volume rm in use:\n%s", r)
	}
	var anon string
	for _, mp := range e.mounts(t, ctr) {
		if mp.Destination == "/anon" {
			anon = mp.Name
		}
	}
	if anon == "" {
		t.Fatalf("%s has no volume mounted at /anon", ctr)
	}
	must("rm", "-v", ctr)
	if e.volumeExists(t, anon) || !e.volumeExists(t, vol) {
		t.Errorf("rm -v: anonymous %s exists %v, named exists %v", anon, e.volumeExists(t, anon), e.volumeExists(t, vol))
	}
	if got := must("volume", "prune", "-f", "-a", "--filter", "label=a=b"); got != "Deleted Volumes:\n"+vol+"\n\nTotal reclaimed space: 2B" {
		t.Errorf("volume prune:\n%s", got)
	}
	r = e.gantry(t, "volume", "inspect", vol)
	if r.Code != 1 || !strings.Contains(r.Stderr, "get "+vol+": no such volume") {
		t.Errorf("volume inspect of a removed volume:\n%s", r)
	}
}
