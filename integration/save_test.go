package integration

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/klauspost/compress/zstd"
	"github.com/moby/moby/client"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/gantry/gantry/layer"
)

// twoLayerImage builds an image of busybox plus a layer holding /saved
// (its content: ref), run by default with cat /saved.
func (e *env) twoLayerImage(t *testing.T, ref string) {
	t.Helper()
	ctx := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN echo " + ref + " > /saved\nCMD [\"cat\", \"/saved\"]\n"})
	e.mustBuild(t, "docker", "-t", ref, ctx)
}

// TestSaveLoad saves two images with each client, removes them, loads
// them back and runs them; then checks the messages docker load prints
// when a name moves and for an image saved by ID, and the refusals.
func TestSaveLoad(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for _, prog := range []string{"docker", "gantry"} {
		t.Run(prog, func(t *testing.T) {
			base := name("sv")
			one, two := base+"/one:1", base+"/two:latest"
			e.twoLayerImage(t, one)
			e.mustDocker(t, "tag", "busybox", two)
			id1, id2 := e.imageID(ctx, one), e.imageID(ctx, two)
			file := filepath.Join(t.TempDir(), "two.tar")
			if r := e.cli(t, prog, "save", "-o", file, one, two); r.Code != 0 || r.Stdout != "" || r.Stderr != "" {
				t.Fatalf("save -o:\n%s", r)
			}
			e.mustDocker(t, "rmi", one, two)

			// In the order of the command line; dockerd's order is random.
			r := e.cli(t, prog, "load", "-i", file)
			if want := []string{"Loaded image: " + one, "Loaded image: " + two}; r.Code != 0 || !slices.Equal(sorted(lines(r.Stdout)), want) {
				t.Fatalf("load -i: %s\nwant stdout lines %q", r, want)
			}
			if e.d != nil && r.Stdout != "Loaded image: "+one+"\nLoaded image: "+two+"\n" {
				t.Errorf("load -i printed %q, want the images in the order they were saved", r.Stdout)
			}
			if got := [2]string{e.imageID(ctx, one), e.imageID(ctx, two)}; got != [2]string{id1, id2} {
				t.Errorf("loaded IDs %v, want %v", got, [2]string{id1, id2})
			}
			if out := e.mustDocker(t, "run", "--rm", one); out != one {
				t.Errorf("run of the loaded image printed %q, want %q", out, one)
			}

			// To stdout and from stdin; loading what exists changes nothing.
			r = e.cli(t, prog, "save", one)
			if r.Code != 0 || len(r.Stdout) < 512 || r.Stdout[257:262] != "ustar" {
				t.Fatalf("save to stdout: code %d, stderr %q, %d bytes", r.Code, r.Stderr, len(r.Stdout))
			}
			if l := e.cliIn(t, prog, r.Stdout, "load", "-q"); l.Code != 0 || l.Stdout != "Loaded image: "+one+"\n" {
				t.Errorf("load -q from stdin:\n%s", l)
			}

			// The name moves back from another image, as docker load says.
			e.mustDocker(t, "tag", "busybox", one)
			busybox := e.imageID(ctx, "busybox")
			want := fmt.Sprintf("The image %s already exists, renaming the old one with ID %s to empty string\nLoaded image: %s\n", one, busybox, one)
			if l := e.cliIn(t, prog, r.Stdout, "load"); l.Code != 0 || l.Stdout != want {
				t.Errorf("load over a moved name: %s\nwant stdout %q", l, want)
			}

			// Saved by (short) ID: no name in the archive.
			byID := e.cli(t, prog, "save", strings.TrimPrefix(id1, "sha256:")[:12])
			if l := e.cliIn(t, prog, byID.Stdout, "load"); l.Code != 0 || l.Stdout != "Loaded image ID: "+id1+"\n" {
				t.Errorf("load of an image saved by ID:\n%s", l)
			}

			// Unknown names fail before anything is written.
			missing := name("nosuch")
			out := filepath.Join(t.TempDir(), "missing.tar")
			if r := e.cli(t, prog, "save", "-o", out, one, missing); r.Code != 1 || !strings.Contains(r.Stderr, "No such image: "+missing) {
				t.Errorf("save of a missing image:\n%s", r)
			}
			if _, err := os.Stat(out); err == nil {
				t.Error("a failed save left its output file")
			}
			e.mustDocker(t, "rmi", one, two)
		})
	}
}

// TestSaveRepository: docker save of a repository name saves every tag of
// it, two of them on one image; the archive lists them sorted (gantryd;
// dockerd's order is random) and a load restores them all.
func TestSaveRepository(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	repo := name("svrepo")
	e.twoLayerImage(t, repo+":2")
	e.mustDocker(t, "tag", "busybox", repo+":1.36")
	e.mustDocker(t, "tag", "busybox", repo+":latest")
	busybox, built := e.imageID(ctx, "busybox"), e.imageID(ctx, repo+":2")
	file := filepath.Join(t.TempDir(), "repo.tar")
	e.mustDocker(t, "save", "-o", file, repo)

	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var manifest []struct{ RepoTags []string }
	if err := json.Unmarshal(archiveFile(t, data, "manifest.json"), &manifest); err != nil {
		t.Fatal(err)
	}
	var got [][]string
	for _, m := range manifest {
		got = append(got, m.RepoTags)
	}
	want := [][]string{{repo + ":1.36", repo + ":latest"}, {repo + ":2"}}
	if e.External {
		for i := range got {
			got[i] = sorted(got[i])
		}
		slices.SortFunc(got, func(a, b []string) int { return strings.Compare(a[0], b[0]) })
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("RepoTags of the archive (-want +got):\n%s", diff)
	}

	e.mustDocker(t, "rmi", repo+":1.36", repo+":latest", repo+":2")
	if r := e.docker(t, "load", "-i", file); r.Code != 0 {
		t.Fatalf("load:\n%s", r)
	}
	for ref, id := range map[string]string{repo + ":1.36": busybox, repo + ":latest": busybox, repo + ":2": built} {
		if got := e.imageID(ctx, ref); got != id {
			t.Errorf("after the load %s is %q, want %s", ref, got, id)
		}
	}
	e.mustDocker(t, "rmi", repo+":1.36", repo+":latest", repo+":2")
}

// archiveFile returns the content of the entry name of the tar archive.
func archiveFile(t *testing.T, archive []byte, name string) []byte {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(archive))
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("%s in the archive: %v", name, err)
		}
		if h.Name == name {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
}

// TestLoadProgress: docker load with progress (quiet=0, as on a terminal),
// the archive sent chunked and the connection kept alive, as the docker
// CLI does: the progress messages that go out while the archive still
// streams in cost none of it.
func TestLoadProgress(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ref := name("progress") + ":1"
	e.twoLayerImage(t, ref)
	id := e.imageID(ctx, ref)
	r := e.docker(t, "save", ref)
	if r.Code != 0 || len(r.Stdout) < 1<<20 {
		t.Fatalf("docker save: code %d, %d bytes, stderr %q; want an archive of over 1 MiB", r.Code, len(r.Stdout), r.Stderr)
	}
	e.mustDocker(t, "rmi", ref)
	// A reader of unknown length, as docker load's file: sent chunked.
	res, err := e.client(t).ImageLoad(ctx, struct{ io.Reader }{strings.NewReader(r.Stdout)}, client.ImageLoadWithQuiet(false))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	msgs, err := readJSONMessages(res)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	var progress int
	var loaded bool
	for _, m := range msgs {
		if m.Status == "Loading layer" {
			progress++
		}
		loaded = loaded || m.Stream == "Loaded image: "+ref+"\n"
	}
	if progress == 0 || !loaded {
		t.Errorf("load sent %d progress messages in %+v, want some and the loaded image", progress, msgs)
	}
	if got := e.imageID(ctx, ref); got != id {
		t.Errorf("loaded %s is %q, want %s", ref, got, id)
	}
	e.mustDocker(t, "rmi", ref)
}

// TestSaveRefusesTerminal: without -o, save will not write to a terminal,
// and load will not read one.
func TestSaveRefusesTerminal(t *testing.T) {
	e := newEnv(t)
	for _, prog := range []string{"docker", "gantry"} {
		t.Run(prog, func(t *testing.T) {
			argv := e.cliPath(t, prog)
			term := e.startTerminal(t, 24, 80, append(argv, "save", "busybox")...)
			term.expect("cowardly refusing to save to a terminal. Use the -o flag or redirect")
			if code := term.wait(); code != 1 {
				t.Errorf("save to a terminal: exit %d, want 1", code)
			}
			term = e.startTerminal(t, 24, 80, append(argv, "load")...)
			term.expect("requested load from stdin, but stdin is empty")
			if code := term.wait(); code != 1 {
				t.Errorf("load from a terminal: exit %d, want 1", code)
			}
		})
	}
}

// TestLoadBadArchive: a truncated or corrupt archive fails with a clear
// message and leaves the images as they were; with our own gantryd, also
// the stored layers and blobs (a layer stored before the failure is
// collected).
func TestLoadBadArchive(t *testing.T) {
	e := newEnv(t)
	ref := name("trunc") + ":1"
	e.twoLayerImage(t, ref)
	r := e.docker(t, "save", ref)
	if r.Code != 0 {
		t.Fatalf("docker save:\n%s", r)
	}
	saved := r.Stdout
	// The top layer holds /saved, whose content is ref and a newline: the
	// layer, changed, no longer matches its digest and diff ID.
	i := strings.Index(saved, ref+"\n")
	if i < 0 {
		t.Fatalf("the archive does not hold the layer of %s", ref)
	}
	corrupt := saved[:i] + strings.ToUpper(ref[:1]) + saved[i+1:]
	e.mustDocker(t, "rmi", ref)
	before := e.allImageIDs(t)
	stored := e.storedLayersAndBlobs(t)
	for _, tc := range []struct {
		name, archive string
		want          []string // one of them
	}{
		{"truncated", saved[:len(saved)*2/3], []string{"unexpected EOF"}},
		{"not an archive", strings.Repeat("not a tar ", 100), []string{"invalid tar header"}},
		// The blob is named by its digest: gantryd says that it has another,
		// Docker may check the diff ID instead.
		{"a corrupt layer", corrupt, []string{"has digest sha256:", "invalid diffID"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.dockerIn(t, tc.archive, "load")
			if r.Code != 1 || !slices.ContainsFunc(tc.want, func(w string) bool { return strings.Contains(r.Stderr, w) }) {
				t.Errorf("docker load of a %s archive: %s\nwant exit 1 and one of %q", tc.name, r, tc.want)
			}
			if diff := cmp.Diff(before, e.allImageIDs(t)); diff != "" {
				t.Errorf("images changed (-before +after):\n%s", diff)
			}
			if e.imageID(context.Background(), ref) != "" {
				t.Errorf("%s exists after a failed load", ref)
			}
			for _, f := range e.storedLayersAndBlobs(t) {
				if !slices.Contains(stored, f) {
					t.Errorf("%s was left by the failed load", f)
				}
			}
		})
	}
}

// storedLayersAndBlobs lists the extracted layers and the content blobs
// of our own gantryd's data root (layers/<chain ID>,
// content/blobs/sha256/<hex>); nil for another daemon.
func (e *env) storedLayersAndBlobs(t *testing.T) []string {
	t.Helper()
	if e.d == nil || e.d.isDockerd() {
		return nil
	}
	var out []string
	for _, dir := range []string{"layers", filepath.Join("content", "blobs", "sha256")} {
		entries, err := os.ReadDir(filepath.Join(e.Root, dir))
		if err != nil {
			t.Fatal(err)
		}
		for _, en := range entries {
			out = append(out, filepath.Join(dir, en.Name()))
		}
	}
	return out
}

// dockerArchive is what docker save of Docker 20.10 writes for an image
// of the busybox rootfs plus a gzip-compressed layer holding /hello: one
// directory per layer with VERSION, json and layer.tar, the config, then
// manifest.json and repositories.
func dockerArchive(t *testing.T, ref, hello string) []byte {
	t.Helper()
	base, err := os.ReadFile(busyboxTar)
	if err != nil {
		t.Fatal(err)
	}
	top := tarOf(t, map[string]string{"hello": hello})
	cfg := imageConfig(t, []string{"cat", "/hello"}, base, []byte(top))
	v1a, v1b := strings.Repeat("a1", 32), strings.Repeat("b2", 32)
	cfgHex := digest.FromBytes(cfg).Encoded()
	repo, tag, _ := strings.Cut(ref, ":")
	return archiveOf(t, []archiveEntry{
		{v1a + "/VERSION", []byte("1.0")},
		{v1a + "/json", []byte(`{"id":"` + v1a + `"}`)},
		{v1a + "/layer.tar", base},
		{v1b + "/VERSION", []byte("1.0")},
		{v1b + "/json", []byte(`{"id":"` + v1b + `","parent":"` + v1a + `"}`)},
		{v1b + "/layer.tar", gzipBytes(t, []byte(top))},
		{cfgHex + ".json", cfg},
		{"manifest.json", mustJSON(t, []map[string]any{{"Config": cfgHex + ".json", "RepoTags": []string{ref}, "Layers": []string{v1a + "/layer.tar", v1b + "/layer.tar"}}})},
		{"repositories", mustJSON(t, map[string]map[string]string{repo: {tag: v1b}})},
	})
}

// ociArchive is a plain OCI image layout, without Docker's manifest.json,
// with zstd layers, named by containerd's annotation.
func ociArchive(t *testing.T, ref, hello string) []byte {
	t.Helper()
	base, err := os.ReadFile(busyboxTar)
	if err != nil {
		t.Fatal(err)
	}
	top := []byte(tarOf(t, map[string]string{"hello": hello}))
	cfg := imageConfig(t, []string{"cat", "/hello"}, base, top)
	entries := []archiveEntry{{"oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)}, {"blobs/sha256/" + digest.FromBytes(cfg).Encoded(), cfg}}
	m := ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
		Config: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(cfg), Size: int64(len(cfg))}}
	enc, _ := zstd.NewWriter(nil)
	for _, l := range [][]byte{base, top} {
		z := enc.EncodeAll(l, nil)
		m.Layers = append(m.Layers, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerZstd, Digest: digest.FromBytes(z), Size: int64(len(z))})
		entries = append(entries, archiveEntry{"blobs/sha256/" + digest.FromBytes(z).Encoded(), z})
	}
	mb := mustJSON(t, m)
	index := ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{{
		MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(mb), Size: int64(len(mb)),
		Annotations: map[string]string{"io.containerd.image.name": "docker.io/" + ref, ocispec.AnnotationRefName: "1"},
	}}}
	entries = append(entries, archiveEntry{"blobs/sha256/" + digest.FromBytes(mb).Encoded(), mb}, archiveEntry{"index.json", mustJSON(t, index)})
	return archiveOf(t, entries)
}

func imageConfig(t *testing.T, cmd []string, layers ...[]byte) []byte {
	t.Helper()
	c := ocispec.Image{Platform: ocispec.Platform{OS: "linux", Architecture: runtime.GOARCH}, RootFS: ocispec.RootFS{Type: "layers"}}
	c.Config.Cmd = cmd
	for _, l := range layers {
		c.RootFS.DiffIDs = append(c.RootFS.DiffIDs, digest.FromBytes(l))
	}
	return mustJSON(t, c)
}

type archiveEntry struct {
	name string
	data []byte
}

func archiveOf(t *testing.T, entries []archiveEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, en := range entries {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: en.name, Mode: 0o644, Size: int64(len(en.data))}); err != nil {
			t.Fatal(err)
		}
		tw.Write(en.data)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gzipBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestLoadOtherArchives loads archives other tools write: Docker 20.10's
// (also gzip-compressed as a whole, as docker load accepts) and a plain
// OCI layout; then runs what they hold.
func TestLoadOtherArchives(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name      string
		archive   func(t *testing.T, ref, hello string) []byte
		gzip, oci bool
	}{
		{name: "docker 20.10", archive: dockerArchive},
		{name: "docker 20.10 gzipped", archive: dockerArchive, gzip: true},
		{name: "oci layout", archive: ociArchive, oci: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.oci && e.External {
				t.Skip("docker load of Docker 20.10 reads only archives with manifest.json")
			}
			ref, hello := name("other")+":1", name("hello")
			archive := tc.archive(t, ref, hello)
			if tc.gzip {
				archive = gzipBytes(t, archive)
			}
			if r := e.dockerIn(t, string(archive), "load"); r.Code != 0 || r.Stdout != "Loaded image: "+ref+"\n" {
				t.Fatalf("docker load:\n%s", r)
			}
			if out := e.mustDocker(t, "run", "--rm", ref); out != hello {
				t.Errorf("run printed %q, want %q", out, hello)
			}
			e.mustDocker(t, "rmi", ref)
		})
	}
}

// TestSaveSkopeo: skopeo, an OCI tool, reads what docker save writes, as
// a Docker archive and as an OCI archive; the OCI archive skopeo writes
// from it loads back.
func TestSaveSkopeo(t *testing.T) {
	if _, err := exec.LookPath("skopeo"); err != nil {
		t.Skip("skopeo is not installed (Debian package skopeo)")
	}
	e := newEnv(t)
	ref := name("sko") + ":1"
	e.twoLayerImage(t, ref)
	dir := t.TempDir()
	saved := filepath.Join(dir, "saved.tar")
	e.mustDocker(t, "save", "-o", saved, ref)
	var layers []string
	if err := json.Unmarshal([]byte(e.mustDocker(t, "image", "inspect", "-f", "{{json .RootFS.Layers}}", ref)), &layers); err != nil {
		t.Fatal(err)
	}

	r := e.run(t, nil, "skopeo", "inspect", "docker-archive:"+saved)
	var inspect struct{ Layers []string }
	if r.Code != 0 || json.Unmarshal([]byte(r.Stdout), &inspect) != nil {
		t.Fatalf("skopeo inspect docker-archive:\n%s", r)
	}
	if diff := cmp.Diff(layers, inspect.Layers); diff != "" {
		t.Errorf("skopeo sees layers (-image +archive):\n%s", diff)
	}

	if e.External {
		return // Docker 20.10 writes its older format, not an OCI layout
	}
	copied := filepath.Join(dir, "copied.tar")
	again := name("sko-copy") + ":2"
	if r := e.run(t, nil, "skopeo", "copy", "oci-archive:"+saved, "oci-archive:"+copied+":"+again); r.Code != 0 {
		t.Fatalf("skopeo copy oci-archive:\n%s", r)
	}
	if r := e.docker(t, "load", "-i", copied); r.Code != 0 || r.Stdout != "Loaded image: "+again+"\n" {
		t.Fatalf("docker load of skopeo's OCI archive:\n%s", r)
	}
	if out := e.mustDocker(t, "run", "--rm", again); out != ref {
		t.Errorf("run printed %q, want %q", out, ref)
	}
	e.mustDocker(t, "rmi", ref, again)
}

const pythonSaveLoad = `
import sys, docker
ref, path = sys.argv[1], sys.argv[2]
c = docker.from_env(timeout=120)
img = c.images.get(ref)
with open(path, "wb") as f:
    for chunk in img.save(named=True):
        f.write(chunk)
c.images.remove(ref)
with open(path, "rb") as f:
    loaded = c.images.load(f.read())
assert [i.id for i in loaded] == [img.id], loaded
assert ref in c.images.get(ref).tags
assert c.containers.run(ref, remove=True) == (ref + "\n").encode()
print("ok")
`

// TestSaveLoadPython: the Python SDK's image save and load.
func TestSaveLoadPython(t *testing.T) {
	e := newEnv(t)
	ref := name("pysave") + ":1"
	e.twoLayerImage(t, ref)
	if r := e.python(t, pythonSaveLoad, ref, filepath.Join(t.TempDir(), "x.tar")); r.Code != 0 || r.Stdout != "ok\n" {
		t.Errorf("python save and load:\n%s", r)
	}
	e.mustDocker(t, "rmi", ref)
}

// TestLoadGarbageCollectedMeanwhile removes an image while a load waits
// for the rest of its archive: the removal does not wait for the load, and
// its garbage collection leaves the layers the load stored, which no image
// references yet.
func TestLoadGarbageCollectedMeanwhile(t *testing.T) {
	e := newEnv(t)
	if e.External {
		t.Skip("checks gantryd's layer store")
	}
	ctx := context.Background()
	ref := name("loadgc") + ":1"
	e.twoLayerImage(t, ref)
	var diffIDs []digest.Digest
	if err := json.Unmarshal([]byte(e.mustDocker(t, "inspect", "-f", "{{json .RootFS.Layers}}", ref)), &diffIDs); err != nil || len(diffIDs) != 2 {
		t.Fatalf("layers of %s: %v %v", ref, diffIDs, err)
	}
	top := layer.ChainID(layer.ChainID("", diffIDs[0]), diffIDs[1])
	id := e.imageID(ctx, ref)
	saved := e.docker(t, "save", ref)
	if saved.Code != 0 {
		t.Fatalf("docker save: code %d, %s", saved.Code, saved.Stderr)
	}
	archive := saved.Stdout
	e.mustDocker(t, "rmi", ref) // its top layer goes
	victim := name("loadgc-victim") + ":1"
	e.mustDocker(t, "tag", "busybox", victim)

	// The archive but its end: the top layer is stored, no image yet.
	load := exec.Command("docker", "load")
	load.Env = e.clientEnv()
	stdin, err := load.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	load.Stdout, load.Stderr = &out, &out
	if err := load.Start(); err != nil {
		t.Fatal(err)
	}
	defer load.Process.Kill()
	end := len(archive) - 1024 // the two zero blocks that end a tar
	if _, err := stdin.Write([]byte(archive[:end])); err != nil {
		t.Fatal(err)
	}
	topDir := filepath.Join(e.Root, "layers", top.Encoded())
	poll(t, time.Minute, "the load stores the top layer", func() (bool, string) {
		_, err := os.Stat(filepath.Join(topDir, "layer.json"))
		return err == nil, errString(err)
	})

	e.rmiMeanwhile(t, victim, "a load waits for its archive")
	if _, err := os.Stat(topDir); err != nil {
		t.Errorf("the layer the load stored was collected: %v", err)
	}

	stdin.Write([]byte(archive[end:]))
	stdin.Close()
	if err := load.Wait(); err != nil {
		t.Fatalf("docker load: %v\n%s", err, out.String())
	}
	if got := e.imageID(ctx, ref); got != id {
		t.Errorf("loaded %s is %q, want %s", ref, got, id)
	}
	if got := e.mustDocker(t, "run", "--rm", ref); got != ref {
		t.Errorf("run of the loaded image printed %q, want %q", got, ref)
	}
	e.mustDocker(t, "rmi", ref)
}
