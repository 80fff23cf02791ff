package integration

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/crypto/bcrypt"
)

// testRegistry is a docker-registry (distribution 2.8, Debian package
// docker-registry) started for one test.
type testRegistry struct {
	Host string // 127.0.0.1:<port>
	User string // with htpasswd auth: the user and password it accepts
	Pass string
}

// startRegistry starts docker-registry on a free loopback port with its
// storage in a temporary directory, with htpasswd auth when auth is true,
// and stops it when the test ends. It is reachable at the same address from
// e's daemon, in its own network namespace. A port taken by someone else
// between its pick and the registry's start shows as the registry exiting,
// and the next attempt picks another.
func startRegistry(t *testing.T, e *env, auth bool) *testRegistry {
	t.Helper()
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		t.Skip("docker-registry not installed (Debian package docker-registry)")
	}
	dir := t.TempDir()
	reg := &testRegistry{}
	// The registry adds this header to its answers, so that readiness is
	// told by this registry, not by whatever else listens on the port.
	token := randHex(8)
	cfgTail := fmt.Sprintf("  headers:\n    X-Gantry-Test-Registry: [%s]\n", token)
	if auth {
		reg.User, reg.Pass = "tester", "s3cret-"+randHex(4)
		hash, err := bcrypt.GenerateFromPassword([]byte(reg.Pass), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		htpasswd := filepath.Join(dir, "htpasswd")
		if err := os.WriteFile(htpasswd, []byte(reg.User+":"+string(hash)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		cfgTail += fmt.Sprintf("auth:\n  htpasswd:\n    realm: gantry-test\n    path: %s\n", htpasswd)
	}
	const attempts = 3
	for attempt := 1; ; attempt++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		reg.Host = l.Addr().String()
		l.Close()
		cfg := fmt.Sprintf("version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\nhttp:\n  addr: %s\n", filepath.Join(dir, "data"), reg.Host) + cfgTail
		exited, logPath := runRegistry(t, bin, dir, attempt, cfg)
		err = waitRegistry(reg.Host, token, exited)
		if err == nil {
			e.forwardToDaemonNet(t, reg.Host)
			return reg
		}
		if !errors.Is(err, errRegistryExited) || attempt == attempts {
			t.Fatalf("registry on %s: %v", reg.Host, err)
		}
		t.Logf("registry on %s exited (its log: %s), trying another port", reg.Host, logPath)
	}
}

var errRegistryExited = errors.New("docker-registry exited")

// runRegistry starts docker-registry with the configuration cfg, its log
// in dir. The returned channel is closed once it has exited; it is killed
// when the test ends.
func runRegistry(t *testing.T, bin, dir string, attempt int, cfg string) (exited <-chan struct{}, logPath string) {
	t.Helper()
	cfgPath := filepath.Join(dir, fmt.Sprintf("config-%d.yml", attempt))
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	logPath = filepath.Join(dir, fmt.Sprintf("registry-%d.log", attempt))
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		logf.Close()
		close(done)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
		if t.Failed() {
			if data, err := os.ReadFile(logPath); err == nil && len(data) > 0 {
				t.Logf("registry log:\n%s", data)
			}
		}
	})
	return done, logPath
}

// waitRegistry waits until the registry with token answers on host: nil,
// errRegistryExited when it exits first, another error after 10 seconds.
func waitRegistry(host, token string, exited <-chan struct{}) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	timeout := time.After(10 * time.Second)
	for {
		resp, err := http.Get("http://" + host + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.Header.Get("X-Gantry-Test-Registry") == token {
				return nil
			}
			err = fmt.Errorf("another server answers: %s", resp.Status)
		}
		select {
		case <-exited:
			return errRegistryExited
		case <-timeout:
			return fmt.Errorf("no answer after 10s: %w", err)
		case <-tick.C:
		}
	}
}

var digestRe = regexp.MustCompile(`sha256:[0-9a-f]{64}`)

// TestRegistryRoundTrip: docker push, push again, rmi, pull, run, pull by
// digest, and the errors of a missing image, all through the docker CLI.
func TestRegistryRoundTrip(t *testing.T) {
	e := newEnv(t)
	reg := startRegistry(t, e, false)
	ref := reg.Host + "/" + name("rt") + ":1"
	repo := strings.TrimSuffix(ref, ":1")
	e.mustDocker(t, "tag", "busybox", ref)

	out := e.mustDocker(t, "push", ref)
	for _, want := range []string{"The push refers to repository [" + repo + "]", ": Pushed", "1: digest: sha256:"} {
		if !strings.Contains(out, want) {
			t.Errorf("push output lacks %q:\n%s", want, out)
		}
	}
	pushed := digestRe.FindString(out)
	if out := e.mustDocker(t, "push", ref); !strings.Contains(out, ": Layer already exists") || !strings.Contains(out, pushed) {
		t.Errorf("second push:\n%s", out)
	}
	if out := e.mustDocker(t, "images", "--digests", repo); !strings.Contains(out, pushed) {
		t.Errorf("images --digests lacks %s:\n%s", pushed, out)
	}

	rmi := e.mustDocker(t, "rmi", ref, "busybox") // busybox too: the image must not be local
	if !strings.Contains(rmi, "Untagged: "+repo+"@"+pushed) {
		t.Errorf("rmi does not untag the repo digest:\n%s", rmi)
	}
	out = e.mustDocker(t, "pull", ref)
	for _, want := range []string{"1: Pulling from " + strings.TrimPrefix(repo, reg.Host+"/"), ": Pull complete", "Digest: " + pushed, "Status: Downloaded newer image for " + ref, "\n" + ref} {
		if !strings.Contains(out, want) {
			t.Errorf("pull output lacks %q:\n%s", want, out)
		}
	}
	if out := e.mustDocker(t, "pull", ref); !strings.Contains(out, "Status: Image is up to date for "+ref) {
		t.Errorf("second pull:\n%s", out)
	}
	if out := e.mustDocker(t, "run", "--rm", ref, "echo", "pulled-and-ran"); out != "pulled-and-ran" {
		t.Errorf("run = %q", out)
	}

	// By digest: an untagged image that keeps the digest.
	e.mustDocker(t, "rmi", ref)
	e.mustDocker(t, "pull", repo+"@"+pushed)
	if out := e.mustDocker(t, "image", "inspect", "-f", "{{json .RepoTags}} {{json .RepoDigests}}", repo+"@"+pushed); out != `[] ["`+repo+"@"+pushed+`"]` {
		t.Errorf("pulled by digest: %s", out)
	}
	e.mustDocker(t, "rmi", repo+"@"+pushed)

	// docker run of a missing image pulls it (create 404, pull, create).
	r := e.docker(t, "run", "--rm", ref, "echo", "auto-pulled")
	if r.Code != 0 || strings.TrimSpace(r.Stdout) != "auto-pulled" || !strings.Contains(r.Stderr, "Unable to find image '"+ref+"' locally") {
		t.Errorf("run of a missing image: %s", r)
	}

	missing := reg.Host + "/nothing/here:1"
	r = e.docker(t, "pull", missing)
	if want := "Error response from daemon: manifest for " + missing + " not found: manifest unknown: manifest unknown"; r.Code != 1 || strings.TrimSpace(r.Stderr) != want {
		t.Errorf("pull of a missing image: %s, want %q", r, want)
	}
}

// TestRegistryAuth: wrong and right passwords with the docker CLI, the
// gantry CLI and the Python SDK against a registry with htpasswd auth.
func TestRegistryAuth(t *testing.T) {
	e := newEnv(t)
	reg := startRegistry(t, e, true)
	ref := reg.Host + "/" + name("auth") + ":1"
	e.mustDocker(t, "tag", "busybox", ref)

	r := e.dockerIn(t, "wrong\n", "login", "-u", reg.User, "--password-stdin", reg.Host)
	if r.Code == 0 || !strings.Contains(r.Stderr, "401 Unauthorized") {
		t.Errorf("login with a wrong password: %s", r)
	}
	status, _, body := e.api(t, "POST", "/auth", strings.NewReader(fmt.Sprintf(`{"username":%q,"password":"wrong","serveraddress":%q}`, reg.User, reg.Host)))
	if status != http.StatusUnauthorized {
		t.Errorf("POST /auth with a wrong password: %d %s", status, body)
	}
	if r := e.docker(t, "push", ref); r.Code == 0 {
		t.Errorf("push without login succeeded: %s", r)
	}
	r = e.dockerIn(t, reg.Pass+"\n", "login", "-u", reg.User, "--password-stdin", reg.Host)
	if r.Code != 0 || !strings.Contains(r.Stdout, "Login Succeeded") {
		t.Fatalf("docker login: %s", r)
	}
	e.mustDocker(t, "push", ref)

	// The gantry CLI reads and writes the same config file.
	if r := e.gantry(t, "logout", reg.Host); r.Code != 0 || !strings.Contains(r.Stdout, "Removing login credentials for "+reg.Host) {
		t.Errorf("gantry logout: %s", r)
	}
	if r := e.gantry(t, "pull", ref); r.Code == 0 {
		t.Errorf("pull after logout succeeded: %s", r)
	}
	if r := e.gantry(t, "login", "-u", reg.User, "-p", reg.Pass, reg.Host); r.Code != 0 || !strings.Contains(r.Stdout, "Login Succeeded") {
		t.Fatalf("gantry login: %s", r)
	}
	data, err := os.ReadFile(filepath.Join(e.cfgDir, "config.json"))
	if err != nil || !strings.Contains(string(data), reg.Host) {
		t.Errorf("config.json after gantry login: %s %v", data, err)
	}
	ref2 := reg.Host + "/" + name("auth2") + ":2"
	e.mustDocker(t, "tag", "busybox", ref2)
	if r := e.gantry(t, "push", ref2); r.Code != 0 || !strings.Contains(r.Stdout, "2: digest: sha256:") {
		t.Errorf("gantry push: %s", r)
	}
	e.mustDocker(t, "rmi", ref2)
	if r := e.gantry(t, "pull", ref2); r.Code != 0 || !strings.Contains(r.Stdout, "Status: Downloaded newer image for "+ref2) {
		t.Errorf("gantry pull: %s", r)
	}

	// The Python SDK.
	r = e.python(t, `
import sys, docker
c = docker.from_env()
host, user, password, ref = sys.argv[1:]
try:
    c.login(username=user, password="wrong", registry=host, reauth=True)
    print("wrong password accepted")
except docker.errors.APIError as err:
    print("refused", err.status_code)
print(c.login(username=user, password=password, registry=host, reauth=True)["Status"])
auth = {"username": user, "password": password}
repo, tag = ref.rsplit(":", 1)
c.images.get("busybox").tag(repo + "-py", tag)
for line in c.images.push(repo + "-py", tag=tag, stream=True, decode=True, auth_config=auth):
    if "error" in line:
        print("push error", line["error"])
c.images.remove(repo + "-py:" + tag)
img = c.images.pull(repo + "-py", tag=tag, auth_config=auth)
print("pulled", repo + "-py:" + tag in img.tags, any(d.startswith(repo + "-py@sha256:") for d in img.attrs["RepoDigests"]))
`, reg.Host, reg.User, reg.Pass, ref)
	if want := "refused 401\nLogin Succeeded\npulled True True\n"; r.Code != 0 || r.Stdout != want {
		t.Errorf("python: %s\nwant stdout %q", r, want)
	}
}

// TestRegistryCorruptBlob: a proxy that flips a byte of every layer blob
// makes the pull fail naming the blob, and leaves no image.
func TestRegistryCorruptBlob(t *testing.T) {
	e := newEnv(t)
	reg := startRegistry(t, e, false)
	path := name("corrupt") + ":1"
	e.mustDocker(t, "tag", "busybox", reg.Host+"/"+path)
	e.mustDocker(t, "push", reg.Host+"/"+path)
	out := e.mustDocker(t, "inspect", "-f", "{{json .RootFS.Layers}}", "busybox")

	target, _ := url.Parse("http://" + reg.Host)
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ModifyResponse = func(resp *http.Response) error {
		if resp.Request.Method != http.MethodGet || !strings.Contains(resp.Request.URL.Path, "/blobs/") || resp.StatusCode != http.StatusOK {
			return nil
		}
		data, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		var probe map[string]any
		if json.Unmarshal(data, &probe) != nil && len(data) > 1000 { // a layer, not the config
			data[len(data)/2] ^= 0xff
		}
		resp.Body = io.NopCloser(bytes.NewReader(data))
		return nil
	}
	srv := httptest.NewServer(proxy)
	defer srv.Close()
	e.forwardToDaemonNet(t, srv.Listener.Addr().String())
	bad := strings.TrimPrefix(srv.URL, "http://") + "/" + path

	e.mustDocker(t, "rmi", "-f", reg.Host+"/"+path, "busybox") // the layer must not be local
	before := e.mustDocker(t, "images", "-a", "-q")
	r := e.docker(t, "pull", bad)
	if r.Code == 0 || !digestRe.MatchString(r.Stderr) {
		t.Errorf("pull through the corrupting proxy: %s", r)
	}
	if after := e.mustDocker(t, "images", "-a", "-q"); after != before {
		t.Errorf("images after the failed pull:\n%s\nbefore:\n%s", after, before)
	}
	// The registry itself still serves the image, verified.
	e.mustDocker(t, "pull", reg.Host+"/"+path)
	if got := e.mustDocker(t, "inspect", "-f", "{{json .RootFS.Layers}}", reg.Host+"/"+path); got != out {
		t.Errorf("layers %s, want %s", got, out)
	}
}

// TestRegistryDockerdPullsGantryPush: Docker 20.10 (the system's dockerd)
// pulls and runs what gantry pushed: zstd layers go out as gzip.
func TestRegistryDockerdPullsGantryPush(t *testing.T) {
	e := newEnv(t)
	if e.External {
		t.Skip("targets gantry's push")
	}
	const dockerd = "unix:///var/run/docker.sock"
	if err := exec.Command("docker", "-H", dockerd, "version").Run(); err != nil {
		t.Skip("no dockerd at /var/run/docker.sock")
	}
	reg := startRegistry(t, e, false)
	ref := reg.Host + "/" + name("todocker") + ":1"
	token := randHex(8)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM busybox\nRUN echo "+token+" > /token\n"), 0o644)
	e.mustDocker(t, "build", "-q", "-t", ref, dir)
	e.mustDocker(t, "push", ref)
	t.Cleanup(func() { exec.Command("docker", "-H", dockerd, "rmi", ref).Run() })
	cmd := exec.Command("docker", "-H", dockerd, "run", "--rm", ref, "cat", "/token")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || strings.TrimSpace(string(out)) != token {
		t.Errorf("dockerd run of the gantry-pushed image: %v\n%s%s", err, out, &stderr)
	}
}

// TestRegistrySkopeo: skopeo reads what gantry pushed, and an image skopeo
// copied in from an OCI layout pulls and runs in gantry.
func TestRegistrySkopeo(t *testing.T) {
	if _, err := exec.LookPath("skopeo"); err != nil {
		t.Skip("skopeo not installed (Debian package skopeo)")
	}
	e := newEnv(t)
	reg := startRegistry(t, e, false)
	ref := reg.Host + "/" + name("skopeo") + ":1"
	e.mustDocker(t, "tag", "busybox", ref)
	e.mustDocker(t, "push", ref)

	out, err := exec.Command("skopeo", "inspect", "--tls-verify=false", "docker://"+ref).CombinedOutput()
	if err != nil || !strings.Contains(string(out), `"Digest": "sha256:`) {
		t.Errorf("skopeo inspect: %v\n%s", err, out)
	}
	layout := filepath.Join(t.TempDir(), "oci")
	if out, err := exec.Command("skopeo", "copy", "--src-tls-verify=false", "docker://"+ref, "oci:"+layout+":x").CombinedOutput(); err != nil {
		t.Errorf("skopeo copy to an OCI layout: %v\n%s", err, out)
	}

	in := filepath.Join(t.TempDir(), "in")
	writeOCILayout(t, in)
	ref2 := reg.Host + "/" + name("fromoci") + ":2"
	if out, err := exec.Command("skopeo", "copy", "--dest-tls-verify=false", "oci:"+in+":latest", "docker://"+ref2).CombinedOutput(); err != nil {
		t.Fatalf("skopeo copy into the registry: %v\n%s", err, out)
	}
	if out := e.mustDocker(t, "run", "--rm", ref2, "cat", "/hello"); out != "from an OCI layout" {
		t.Errorf("run of the skopeo-copied image = %q", out)
	}
}

// writeOCILayout writes an OCI image layout of one image, tagged latest:
// the busybox rootfs plus /hello in one gzip layer.
func writeOCILayout(t *testing.T, dir string) {
	t.Helper()
	blobs := filepath.Join(dir, "blobs", "sha256")
	if err := os.MkdirAll(blobs, 0o755); err != nil {
		t.Fatal(err)
	}
	put := func(data []byte) ocispec.Descriptor {
		d := digest.FromBytes(data)
		if err := os.WriteFile(filepath.Join(blobs, d.Encoded()), data, 0o644); err != nil {
			t.Fatal(err)
		}
		return ocispec.Descriptor{Digest: d, Size: int64(len(data))}
	}
	tarData, err := os.ReadFile(busyboxTar)
	if err != nil {
		t.Fatal(err)
	}
	tarData = appendFile(t, tarData, "hello", "from an OCI layout")
	layerDesc := put(gzipBytes(t, tarData))
	layerDesc.MediaType = ocispec.MediaTypeImageLayerGzip
	cfgDesc := put(mustJSON(t, ocispec.Image{
		Platform: ocispec.Platform{OS: "linux", Architecture: runtime.GOARCH},
		Config:   ocispec.ImageConfig{Cmd: []string{"sh"}},
		RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{digest.FromBytes(tarData)}},
	}))
	cfgDesc.MediaType = ocispec.MediaTypeImageConfig
	mDesc := put(mustJSON(t, map[string]any{"schemaVersion": 2, "mediaType": ocispec.MediaTypeImageManifest, "config": cfgDesc, "layers": []ocispec.Descriptor{layerDesc}}))
	mDesc.MediaType = ocispec.MediaTypeImageManifest
	mDesc.Annotations = map[string]string{ocispec.AnnotationRefName: "latest"}
	index := mustJSON(t, map[string]any{"schemaVersion": 2, "manifests": []ocispec.Descriptor{mDesc}})
	if err := os.WriteFile(filepath.Join(dir, "index.json"), index, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestRegistryBuildFrom: a build's FROM of a missing image pulls it, --pull
// pulls again, and a daemon with --registry-mirror takes Docker Hub images
// from the mirror.
func TestRegistryBuildFrom(t *testing.T) {
	e := newEnv(t)
	if e.External {
		t.Skip("restarts the daemon with --registry-mirror")
	}
	reg := startRegistry(t, e, false)
	base := reg.Host + "/" + name("base")
	e.mustDocker(t, "tag", "busybox", base)
	e.mustDocker(t, "push", base)
	e.mustDocker(t, "rmi", base)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM "+base+"\nRUN echo built > /built\n"), 0o644)
	out := e.mustDocker(t, "build", dir)
	for _, want := range []string{"Step 1/2 : FROM " + base, "latest: Pulling from ", "Status: Downloaded newer image for " + base + ":latest", "Successfully built"} {
		if !strings.Contains(out, want) {
			t.Errorf("build output lacks %q:\n%s", want, out)
		}
	}
	out = e.mustDocker(t, "build", "--pull", dir)
	if !strings.Contains(out, "Status: Image is up to date for "+base+":latest") {
		t.Errorf("build --pull output:\n%s", out)
	}

	// busybox from the mirror: push it there as library/busybox.
	e.mustDocker(t, "tag", "busybox", reg.Host+"/library/busybox:latest")
	e.mustDocker(t, "push", reg.Host+"/library/busybox:latest")
	e.mustDocker(t, "rmi", "-f", "busybox", reg.Host+"/library/busybox:latest", base)
	e.stopDaemon(t)
	e.d.args = []string{"--registry-mirror", "http://" + reg.Host}
	e.startDaemon(t)
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM busybox\nRUN echo mirrored\n"), 0o644)
	out = e.mustDocker(t, "build", dir)
	if !strings.Contains(out, "Status: Downloaded newer image for busybox:latest") {
		t.Errorf("build FROM busybox with a mirror:\n%s", out)
	}
}

// appendFile returns the tar tarData with one more regular file.
func appendFile(t *testing.T, tarData []byte, name, content string) []byte {
	t.Helper()
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	tr := tar.NewReader(bytes.NewReader(tarData))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(tw, tr); err != nil {
			t.Fatal(err)
		}
	}
	tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg})
	tw.Write([]byte(content))
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// TestRegistryPullAllTags: docker pull --all-tags pulls every tag of the
// repository, with dockerd's output: each tag's pull, then one status line.
func TestRegistryPullAllTags(t *testing.T) {
	e := newEnv(t)
	reg := startRegistry(t, e, false)
	repo := reg.Host + "/" + name("alltags")
	e.mustDocker(t, "tag", "busybox", repo+":1")
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "two", Mode: 0o644, Size: 3, Typeflag: tar.TypeReg})
	tw.Write([]byte("two"))
	tw.Close()
	if r := e.dockerIn(t, buf.String(), "import", "-", repo+":2"); r.Code != 0 {
		t.Fatalf("docker import: %s", r)
	}
	ids := map[string]string{}
	for _, tag := range []string{"1", "2"} {
		e.mustDocker(t, "push", repo+":"+tag)
		ids[tag] = e.mustDocker(t, "inspect", "-f", "{{.Id}}", repo+":"+tag)
	}
	e.mustDocker(t, "rmi", repo+":1", repo+":2")

	out := e.mustDocker(t, "pull", "--all-tags", repo)
	for _, want := range []string{"1: Pulling from " + strings.TrimPrefix(repo, reg.Host+"/"), "2: Pulling from ", "Status: Downloaded newer image for " + repo + "\n"} {
		if strings.Count(out+"\n", want) != 1 {
			t.Errorf("pull --all-tags output has not once %q:\n%s", want, out)
		}
	}
	for tag, id := range ids {
		if got := e.mustDocker(t, "inspect", "-f", "{{.Id}}", repo+":"+tag); got != id {
			t.Errorf("%s:%s is %s after the pull, want %s", repo, tag, got, id)
		}
	}
	if out := e.mustDocker(t, "pull", "-a", repo); !strings.Contains(out, "Status: Image is up to date for "+repo+"\n") {
		t.Errorf("second pull --all-tags:\n%s", out)
	}
	if r := e.docker(t, "pull", "-a", reg.Host+"/"+name("missing")); r.Code == 0 {
		t.Errorf("pull --all-tags of a missing repository: %s", r)
	}
}

// TestRegistryHostsToml: a registry this machine cannot reach is pulled
// from the mirror its hosts.toml names (containerd's format, under
// --registry-certs-dir), through the docker CLI; a hosts.toml Gantry
// cannot honour is refused with its name.
func TestRegistryHostsToml(t *testing.T) {
	e := newEnv(t)
	if e.External {
		t.Skip("configures gantryd's --registry-certs-dir")
	}
	reg := startRegistry(t, e, false)
	token := randHex(8)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM busybox\nRUN echo "+token+" > /token\n"), 0o644)
	e.mustDocker(t, "build", "-q", "-t", reg.Host+"/x:1", dir)
	e.mustDocker(t, "push", reg.Host+"/x:1")
	e.mustDocker(t, "rmi", reg.Host+"/x:1")

	const ref = "example.invalid/x:1"
	if r := e.docker(t, "pull", ref); r.Code == 0 {
		t.Fatalf("pull of %s without hosts.toml worked:\n%s", ref, r)
	}
	certs := t.TempDir()
	hostsDir := filepath.Join(certs, "example.invalid")
	os.MkdirAll(hostsDir, 0o755)
	hosts := filepath.Join(hostsDir, "hosts.toml")
	os.WriteFile(hosts, []byte(`server = "https://example.invalid"

[host."http://`+reg.Host+`"]
  capabilities = ["pull", "resolve"]
`), 0o644)
	e.stopDaemon(t)
	e.d.args = []string{"--registry-certs-dir", certs}
	e.startDaemon(t)
	if out := e.mustDocker(t, "pull", ref); !strings.Contains(out, "Status: Downloaded newer image for "+ref) {
		t.Errorf("pull through hosts.toml:\n%s", out)
	}
	if out := e.mustDocker(t, "run", "--rm", ref, "cat", "/token"); out != token {
		t.Errorf("run of the mirrored image = %q, want %q", out, token)
	}
	if out := e.mustDocker(t, "images", "--format", "{{.Repository}}:{{.Tag}}", "example.invalid/x"); out != ref {
		t.Errorf("images lists %q, want %q", out, ref)
	}

	// Read at each pull: a key Gantry does not implement is refused.
	os.WriteFile(hosts, []byte(`[host."http://`+reg.Host+`"]
  override_path = true
`), 0o644)
	r := e.docker(t, "pull", ref)
	if r.Code == 0 || !strings.Contains(r.Stderr, hosts) || !strings.Contains(r.Stderr, "override_path is not supported") {
		t.Errorf("pull with an unsupported hosts.toml: %s", r)
	}
}
