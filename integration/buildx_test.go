package integration

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// BuildKit builds through the buildx CLI plugin (v0.38.2, built from
// source by scripts/buildx.sh) with its default docker driver, which talks
// to gantryd's /grpc and /session (issue 14).

var (
	buildxOnce sync.Once
	buildxPath string
	buildxErr  error
)

// withBuildx installs the buildx plugin into the test's DOCKER_CONFIG, so
// that `docker build` and `docker buildx` use it.
func (e *env) withBuildx(t *testing.T) {
	t.Helper()
	buildxOnce.Do(func() {
		out, err := exec.Command("../scripts/buildx.sh").Output()
		buildxPath, buildxErr = strings.TrimSpace(string(out)), err
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			buildxErr = errors.New(string(ee.Stderr))
		}
	})
	if buildxErr != nil {
		t.Fatalf("scripts/buildx.sh: %v", buildxErr)
	}
	dir := filepath.Join(e.cfgDir, "cli-plugins")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(buildxPath, filepath.Join(dir, "docker-buildx")); err != nil && !os.IsExist(err) {
		t.Fatal(err)
	}
}

const buildxDockerfile = `FROM busybox AS a
RUN echo from-a > /a
FROM busybox AS b
ARG MSG=default
RUN echo "$MSG" > /b
FROM busybox AS final
COPY --from=a /a /a
COPY --from=b /b /b
RUN --mount=type=cache,target=/cache echo run >> /cache/runs && wc -l < /cache/runs > /runs
CMD ["cat", "/a", "/b", "/runs"]
FROM busybox AS other
RUN echo other > /other
`

// TestBuildxBuild: a multi-stage build whose stages a and b run in
// parallel, with a build arg, a cache mount kept between builds, -t and
// --iidfile, loaded into gantryd's image store (docker images and docker
// run see it at once); --target; plain `docker build` takes the same path;
// --output type=local and type=tar export files instead.
func TestBuildxBuild(t *testing.T) {
	e := newEnv(t)
	e.withBuildx(t)
	_, hdr, _ := e.api(t, "GET", "/_ping", nil)
	if got := hdr.Get("Builder-Version"); got != "2" {
		t.Fatalf("/_ping Builder-Version = %q, want 2", got)
	}
	dir := writeContext(t, map[string]string{"Dockerfile": buildxDockerfile})
	tag := name("bx") + ":1"
	iid := filepath.Join(t.TempDir(), "iid")
	r := e.docker(t, "buildx", "build", "--progress", "plain", "--target", "final", "--build-arg", "MSG=hello", "-t", tag, "--iidfile", iid, dir)
	if r.Code != 0 {
		t.Fatalf("docker buildx build:\n%s", r)
	}
	for _, want := range []string{"using docker driver", "[a 2/2] RUN echo from-a > /a", "exporting to image"} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("build output lacks %q:\n%s", want, r.Stderr)
		}
	}
	if strings.Contains(r.Stderr, "echo other") {
		t.Errorf("--target final built stage other:\n%s", r.Stderr)
	}
	id, err := os.ReadFile(iid)
	if err != nil {
		t.Fatal(err)
	}
	if got := e.mustDocker(t, "image", "inspect", "-f", "{{.Id}}", tag); got != string(id) {
		t.Errorf("--iidfile says %s, the image %s is %s", id, tag, got)
	}
	if got := e.mustDocker(t, "run", "--rm", tag); got != "from-a\nhello\n1" {
		t.Errorf("docker run %s = %q, want from-a, hello, 1", tag, got)
	}
	// Its layers are the blobs BuildKit exported (gzip), which save
	// decompresses as a pulled image's.
	saved := filepath.Join(t.TempDir(), "saved.tar")
	e.mustDocker(t, "save", "-o", saved, tag)
	if !tarHas(t, saved, "manifest.json") {
		t.Errorf("docker save %s: no manifest.json", tag)
	}

	// docker build is buildx build once the plugin is there; the cache
	// mount kept the first build's line.
	tag2 := name("bx") + ":2"
	r = e.docker(t, "build", "--progress", "plain", "--target", "final", "--build-arg", "MSG=again", "-t", tag2, dir)
	if r.Code != 0 {
		t.Fatalf("docker build:\n%s", r)
	}
	if !strings.Contains(r.Stderr, "#0 building with \"default\" instance using docker driver") {
		t.Errorf("docker build did not go through buildx:\n%s", r.Stderr)
	}
	if got := e.mustDocker(t, "run", "--rm", tag2); got != "from-a\nagain\n2" {
		t.Errorf("docker run %s = %q, want from-a, again, 2", tag2, got)
	}

	out := t.TempDir()
	r = e.docker(t, "buildx", "build", "--target", "other", "--output", "type=local,dest="+out, dir)
	if r.Code != 0 {
		t.Fatalf("docker buildx build --output type=local:\n%s", r)
	}
	if data, err := os.ReadFile(filepath.Join(out, "other")); err != nil || string(data) != "other\n" {
		t.Errorf("--output type=local: /other = %q, %v", data, err)
	}
	tarPath := filepath.Join(t.TempDir(), "out.tar")
	r = e.docker(t, "buildx", "build", "--target", "other", "--output", "type=tar,dest="+tarPath, dir)
	if r.Code != 0 {
		t.Fatalf("docker buildx build --output type=tar:\n%s", r)
	}
	if !tarHas(t, tarPath, "other") {
		t.Errorf("--output type=tar: no file other in %s", tarPath)
	}

	// BuildKit's cache is its own: buildx du sees it, prune --all empties
	// it, and the images the builds recorded in gantryd stay.
	if du := e.mustDocker(t, "buildx", "du"); !strings.Contains(du, "Reclaimable:") || strings.Contains(du, "Total:\t\t0B") {
		t.Errorf("buildx du after builds:\n%s", du)
	}
	// The classic API's builder prune (the SDKs', DOCKER_BUILDKIT=0's)
	// covers BuildKit's cache too, as dockerd's does.
	if code, _, body := e.api(t, "POST", "/build/prune?all=1", nil); code != 200 {
		t.Errorf("POST /build/prune: %d %s", code, body)
	}
	if du := e.mustDocker(t, "buildx", "du"); !strings.Contains(du, "Total:\t\t0B") {
		t.Errorf("buildx du after the classic API's prune:\n%s", du)
	}
	e.mustDocker(t, "buildx", "prune", "--all", "--force")
	if du := e.mustDocker(t, "buildx", "du"); !strings.Contains(du, "Total:\t\t0B") {
		t.Errorf("buildx du after prune --all:\n%s", du)
	}
	if got := e.mustDocker(t, "run", "--rm", tag); got != "from-a\nhello\n1" {
		t.Errorf("docker run %s after buildx prune = %q", tag, got)
	}
}

func tarHas(t *testing.T, path, name string) bool {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return false
		}
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimPrefix(h.Name, "./") == name {
			return true
		}
	}
}

// TestBuildxSessionDropped: the client killed while a RUN step runs
// cancels the build: no image is recorded, the step's network namespace
// is gone, and the next build works.
func TestBuildxSessionDropped(t *testing.T) {
	e := newEnv(t)
	e.withBuildx(t)
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN echo started && sleep 60\n"})
	tag := name("bxdrop") + ":1"
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", "buildx", "build", "--progress", "plain", "-t", tag, dir)
	cmd.Env = e.clientEnv()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var seen strings.Builder
	buf := make([]byte, 4096)
	for !strings.Contains(seen.String(), "started") {
		n, err := stderr.Read(buf)
		seen.Write(buf[:n])
		if err != nil {
			t.Fatalf("the build ended before its step started:\n%s", seen.String())
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	poll(t, 30*time.Second, "the step's network namespace to go", func() (bool, string) {
		left, _ := filepath.Glob(filepath.Join(e.d.runDir, "x", "netns", "buildkit-*"))
		return len(left) == 0, strings.Join(left, " ")
	})
	if r := e.docker(t, "image", "inspect", tag); r.Code == 0 {
		t.Errorf("the cancelled build recorded %s", tag)
	}
	dir2 := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN echo ok > /ok\n"})
	if r := e.docker(t, "buildx", "build", "-t", tag, dir2); r.Code != 0 {
		t.Fatalf("a build after the cancelled one:\n%s", r)
	}
	if got := e.mustDocker(t, "run", "--rm", tag, "cat", "/ok"); got != "ok" {
		t.Errorf("cat /ok = %q", got)
	}
}

// TestBuildxFromPrefersLocal: FROM an image gantryd has by that name
// builds on gantryd's image, as dockerd's builder does, even when a
// registry serves another under the name (buildx asks for the "local"
// resolve mode with the docker driver; gantry-buildkitd finds the image
// through gantryd); --pull takes the registry's.
func TestBuildxFromPrefersLocal(t *testing.T) {
	e := newEnv(t)
	e.withBuildx(t)
	reg := startRegistry(t, e, false)
	base := reg.Host + "/" + name("base") + ":1"
	build := func(which string) {
		dir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN echo " + which + " > /which\n"})
		if r := e.docker(t, "buildx", "build", "-t", base, dir); r.Code != 0 {
			t.Fatalf("build %s:\n%s", which, r)
		}
	}
	build("remote")
	e.mustDocker(t, "push", base)
	build("local")
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM " + base + "\nRUN cp /which /got\n"})
	tag := name("frombase") + ":1"
	for _, c := range []struct {
		args []string
		want string
	}{{nil, "local"}, {[]string{"--pull"}, "remote"}} {
		args := append([]string{"buildx", "build", "-t", tag}, c.args...)
		if r := e.docker(t, append(args, dir)...); r.Code != 0 {
			t.Fatalf("docker %v:\n%s", args, r)
		}
		if got := e.mustDocker(t, "run", "--rm", tag, "cat", "/got"); got != c.want {
			t.Errorf("docker %v: FROM %s gave %q, want %q", args, base, got, c.want)
		}
	}
}

// TestBuildxMounts: RUN --mount=type=secret (--secret), type=bind and
// type=ssh (--ssh, when ssh-agent is installed) through the session, and
// --metadata-file naming the image gantryd recorded.
func TestBuildxMounts(t *testing.T) {
	e := newEnv(t)
	e.withBuildx(t)
	secret := filepath.Join(t.TempDir(), "tok")
	if err := os.WriteFile(secret, []byte("s3cr3t\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := writeContext(t, map[string]string{
		"Dockerfile": "FROM busybox\nRUN --mount=type=secret,id=tok cp /run/secrets/tok /seen\n" +
			"RUN --mount=type=bind,source=data,target=/data cp /data /copied\n",
		"data": "bound\n",
	})
	tag := name("bxmounts") + ":1"
	meta := filepath.Join(t.TempDir(), "meta.json")
	if r := e.docker(t, "buildx", "build", "--secret", "id=tok,src="+secret, "--metadata-file", meta, "-t", tag, dir); r.Code != 0 {
		t.Fatalf("build:\n%s", r)
	}
	if got := e.mustDocker(t, "run", "--rm", tag, "cat", "/seen", "/copied"); got != "s3cr3t\nbound" {
		t.Errorf("secret and bind mount: %q", got)
	}
	data, err := os.ReadFile(meta)
	if err != nil {
		t.Fatal(err)
	}
	id := e.mustDocker(t, "image", "inspect", "-f", "{{.Id}}", tag)
	if !strings.Contains(string(data), `"containerimage.digest": "`+id+`"`) {
		t.Errorf("--metadata-file lacks the image ID %s:\n%s", id, data)
	}

	agent, err := exec.LookPath("ssh-agent")
	if err != nil {
		t.Log("no ssh-agent: RUN --mount=type=ssh not checked")
		return
	}
	sock := filepath.Join(t.TempDir(), "agent.sock")
	cmd := exec.Command(agent, "-D", "-a", sock)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	poll(t, 10*time.Second, "ssh-agent's socket", func() (bool, string) {
		_, err := os.Stat(sock)
		return err == nil, sock
	})
	dir = writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN --mount=type=ssh test -S \"$SSH_AUTH_SOCK\" && echo agent > /ssh\n"})
	if r := e.docker(t, "buildx", "build", "--ssh", "default="+sock, "-t", tag, dir); r.Code != 0 {
		t.Fatalf("build --ssh:\n%s", r)
	}
	if got := e.mustDocker(t, "run", "--rm", tag, "cat", "/ssh"); got != "agent" {
		t.Errorf("ssh mount: %q", got)
	}
}

// TestBuildxHelperKilled: gantry-buildkitd killed (SIGKILL) while a RUN
// step runs: the client gets an error, gantryd kills the step it left
// (runc dies with the helper, the step would not), unmounts its root and
// removes its network namespace; the next build starts a new helper.
func TestBuildxHelperKilled(t *testing.T) {
	e := newEnv(t)
	if e.External {
		t.Skip("needs gantryd's helper")
	}
	e.withBuildx(t)
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN echo started && sleep 61\n"})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", "buildx", "build", "--progress", "plain", dir)
	cmd.Env = e.clientEnv()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var seen strings.Builder
	buf := make([]byte, 4096)
	for !strings.Contains(seen.String(), "started") {
		n, err := stderr.Read(buf)
		seen.Write(buf[:n])
		if err != nil {
			t.Fatalf("the build ended before its step started:\n%s", seen.String())
		}
	}
	helper := helperPid(t, e.Root)
	if err := syscall.Kill(helper, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	rest, _ := io.ReadAll(stderr)
	if err := cmd.Wait(); err == nil {
		t.Errorf("the build succeeded without its helper:\n%s%s", seen.String(), rest)
	}
	executor := filepath.Join(e.Root, "buildkit", "runc-overlayfs", "executor")
	poll(t, 30*time.Second, "the step to be killed, unmounted and its namespace removed", func() (bool, string) {
		var left []string
		out, _ := exec.Command("runc", "list", "--format", "json").Output()
		if strings.Contains(string(out), executor) {
			left = append(left, "runc: "+string(out))
		}
		left = append(left, mountsUnder(filepath.Join(e.Root, "buildkit"))...)
		ns, _ := filepath.Glob(filepath.Join(e.d.runDir, "x", "netns", "buildkit-*"))
		left = append(left, ns...)
		return len(left) == 0, strings.Join(left, " ")
	})
	dir2 := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN echo again > /again\n"})
	tag := name("bxhelper") + ":1"
	if r := e.docker(t, "buildx", "build", "-t", tag, dir2); r.Code != 0 {
		t.Fatalf("a build after the helper was killed:\n%s", r)
	}
	if got := e.mustDocker(t, "run", "--rm", tag, "cat", "/again"); got != "again" {
		t.Errorf("cat /again = %q", got)
	}
}

// helperPid finds the gantry-buildkitd of the gantryd on root.
func helperPid(t *testing.T, root string) int {
	t.Helper()
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		args := strings.Split(string(data), "\x00")
		if len(args) > 2 && filepath.Base(args[0]) == "gantry-buildkitd" && args[2] == filepath.Join(root, "buildkit") {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
			return pid
		}
	}
	t.Fatalf("no gantry-buildkitd --root %s/buildkit", root)
	return 0
}

// TestBuildxAPIVersion: a buildx client asking for an API version
// gantryd does not speak gets Docker's error (its unversioned POST /grpc
// is served, as dockerd serves it; its versioned requests are refused).
func TestBuildxAPIVersion(t *testing.T) {
	e := newEnv(t)
	e.withBuildx(t)
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN true\n"})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", "buildx", "build", dir)
	cmd.Env = append(e.clientEnv(), "DOCKER_API_VERSION=1.99")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "client version 1.99 is too new. Maximum supported API version is 1.47") {
		t.Errorf("buildx with API 1.99: %v\n%s", err, out)
	}
}

// TestBuildxCacheFromRegistry: a fleet shares BuildKit's cache through a
// registry: one gantryd builds with the cache inline in its image
// (--cache-to type=inline; the docker driver exports no other cache, as
// with dockerd) and pushes it; a fresh gantryd building the same
// Dockerfile with --cache-from type=registry gets the step as a cache
// hit: the same layer, not run again (the step writes the time). The base comes from the registry
// for both (--pull), as a fleet's does. gantryd keeps the layer blobs
// BuildKit exported (and pushes them as they are), which the inline
// cache names.
func TestBuildxCacheFromRegistry(t *testing.T) {
	a := newEnv(t)
	a.withBuildx(t)
	reg := startRegistry(t, a, false)
	base := reg.Host + "/" + name("fleetbase") + ":1"
	a.mustDocker(t, "tag", "busybox", base)
	a.mustDocker(t, "push", base)
	ref := reg.Host + "/" + name("fleet") + ":1"
	df := "FROM " + base + "\nRUN echo built-once > /f && date +%s > /stamp && sleep 1\n"
	dir := writeContext(t, map[string]string{"Dockerfile": df})
	if r := a.docker(t, "buildx", "build", "--pull", "--cache-to", "type=inline", "-t", ref, dir); r.Code != 0 {
		t.Fatalf("build with inline cache:\n%s", r)
	}
	a.mustDocker(t, "push", ref)
	stamp := a.mustDocker(t, "run", "--rm", ref, "cat", "/stamp")

	b := newEnv(t)
	b.withBuildx(t)
	b.forwardToDaemonNet(t, reg.Host)
	r := b.docker(t, "buildx", "build", "--pull", "--progress", "plain", "--cache-from", "type=registry,ref="+ref, "-t", "fleet:1", dir)
	if r.Code != 0 {
		t.Fatalf("build with --cache-from:\n%s", r)
	}
	if !strings.Contains(r.Stderr, "importing cache manifest from "+ref) {
		t.Errorf("the build did not import the registry's cache:\n%s", r.Stderr)
	}
	if got := b.mustDocker(t, "run", "--rm", "fleet:1", "cat", "/stamp"); got != stamp {
		t.Errorf("the second gantryd ran the step again: /stamp %s, the first's %s\n%s", got, stamp, r.Stderr)
	}
}
