package integration

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// deepArchive writes a Docker archive (docker save's format before Docker
// 25) of one image tagged ref with n layers: the busybox rootfs, then n-1
// layers of one file each, /deep/<i>. It returns the archive's path.
func deepArchive(t *testing.T, ref string, n int) string {
	t.Helper()
	base, err := os.ReadFile(busyboxTar)
	if err != nil {
		t.Fatal(err)
	}
	layers := [][]byte{base}
	for i := 1; i < n; i++ {
		var b bytes.Buffer
		tw := tar.NewWriter(&b)
		body := fmt.Sprint(i)
		hdrs := []*tar.Header{{Name: "deep/", Typeflag: tar.TypeDir, Mode: 0o755}, {Name: "deep/" + body, Mode: 0o644, Size: int64(len(body))}}
		for _, h := range hdrs {
			h.ModTime = time.Unix(0, 0)
			if err := tw.WriteHeader(h); err != nil {
				t.Fatal(err)
			}
		}
		tw.Write([]byte(body))
		if err := tw.Close(); err != nil {
			t.Fatal(err)
		}
		layers = append(layers, b.Bytes())
	}
	var cfg ocispec.Image
	cfg.Architecture, cfg.OS = "amd64", "linux"
	cfg.Config.Cmd = []string{"sh"}
	cfg.Config.Env = []string{"PATH=/bin"}
	cfg.RootFS.Type = "layers"
	var names []string
	for i, l := range layers {
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, digest.FromBytes(l))
		names = append(names, fmt.Sprintf("%d/layer.tar", i))
	}
	config, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	configName := digest.FromBytes(config).Encoded() + ".json"
	manifest, err := json.Marshal([]map[string]any{{"Config": configName, "RepoTags": []string{ref}, "Layers": names}})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "deep.tar")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	put := func(name string, data []byte) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: time.Unix(0, 0)}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	put("manifest.json", manifest)
	put(configName, config)
	for i, l := range layers {
		put(names[i], l)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestDeepImage loads an image of 500 layers, overlayfs' own limit (far
// more than one page of mount options holds), runs it, copies from it
// while it is stopped (a view of its rootfs stacks 501 layers), commits
// and builds nothing deeper (a build step that adds no layer works), and
// refuses an image of 501 layers at load and at pull, leaving nothing
// behind.
func TestDeepImage(t *testing.T) {
	e := newEnv(t)
	if e.External || e.d.isDockerd() {
		t.Skip("dockerd refuses images of more than 125 layers")
	}
	ref := name("deep") + ":500"
	if r := e.docker(t, "load", "-i", deepArchive(t, ref, 500)); r.Code != 0 {
		t.Fatalf("docker load of 500 layers:\n%s", r)
	}
	if r := e.docker(t, "run", "--rm", ref, "sh", "-c", "ls /deep | wc -l; cat /deep/499"); r.Code != 0 || r.Stdout != "499\n499" {
		t.Fatalf("docker run of 500 layers: %s\nwant 499 files and /deep/499", r)
	}
	ctr := name("deep")
	e.mustDocker(t, "create", "--name", ctr, ref, "sh", "-c", "echo x > /deep/1")
	defer e.docker(t, "rm", "-f", ctr)
	if r := e.docker(t, "cp", ctr+":/deep/250", "-"); r.Code != 0 || !strings.Contains(r.Stdout, "250") {
		t.Errorf("docker cp from a stopped container of 500 layers: %s", r)
	}
	e.mustDocker(t, "start", "-a", ctr)
	if r := e.docker(t, "commit", ctr); r.Code != 1 || !strings.Contains(r.Stderr, "max depth exceeded") {
		t.Errorf("docker commit of a container on 500 layers: %s\nwant max depth exceeded", r)
	}

	// A build adds no layer on top of it, but may change its config.
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM " + ref + "\nRUN true\n"})
	if r := e.build(t, "docker", nil, "", dir); r.Code != 1 || !strings.Contains(r.Stdout+r.Stderr, "max depth exceeded") {
		t.Errorf("docker build of a RUN step on 500 layers: %s\nwant max depth exceeded", r)
	}
	dir = writeContext(t, map[string]string{"Dockerfile": "FROM " + ref + "\nENV A=b\n"})
	e.mustBuild(t, "docker", dir)

	before := e.allImageIDs(t)
	stored := e.storedLayersAndBlobs(t)
	deeper := name("deep") + ":501"
	archive501 := deepArchive(t, deeper, 501)
	r := e.docker(t, "load", "-i", archive501)
	if r.Code != 1 || !strings.Contains(r.Stderr, "max depth exceeded") || !strings.Contains(r.Stderr, "hint: an image of 501 layers; a container's overlay stacks at most 500 here") {
		t.Errorf("docker load of 501 layers: %s\nwant max depth exceeded and a hint", r)
	}
	if diff := cmp.Diff(before, e.allImageIDs(t)); diff != "" {
		t.Errorf("images changed by the refused load (-before +after):\n%s", diff)
	}
	if diff := cmp.Diff(stored, e.storedLayersAndBlobs(t)); diff != "" {
		t.Errorf("the refused load left layers or blobs (-before +after):\n%s", diff)
	}

	// A pull refuses it before it downloads a layer.
	if _, err := exec.LookPath("skopeo"); err != nil {
		t.Skip("skopeo not installed (Debian package skopeo)")
	}
	reg := startRegistry(t, e, false)
	remote := reg.Host + "/" + deeper
	if out, err := exec.Command("skopeo", "copy", "--dest-tls-verify=false", "docker-archive:"+archive501, "docker://"+remote).CombinedOutput(); err != nil {
		t.Fatalf("skopeo copy of 501 layers into the registry: %v\n%s", err, out)
	}
	if r := e.docker(t, "pull", remote); r.Code != 1 || !strings.Contains(r.Stderr, "max depth exceeded") {
		t.Errorf("docker pull of 501 layers: %s\nwant max depth exceeded", r)
	}
	if diff := cmp.Diff(stored, e.storedLayersAndBlobs(t)); diff != "" {
		t.Errorf("the refused pull left layers or blobs (-before +after):\n%s", diff)
	}
}
