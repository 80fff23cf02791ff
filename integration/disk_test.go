package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

// TestDiskGivenBack runs a cycle of what fills a data root (builds, one of
// them failing, a push and a pull through a local registry, loads of
// images of 1, 5 and 200 layers, a run and a commit), then removes it all
// (rmi, then container, image and builder prunes) and restarts gantryd:
// `du` of the data root must be back to its starting size within 1 MiB,
// and no layer, blob or build-cache record of the cycle may be left.
func TestDiskGivenBack(t *testing.T) {
	e := newEnv(t)
	if e.External || e.d.isDockerd() {
		t.Skip("measures gantryd's data root")
	}
	// busybox stays through the image prune, used by a container that is
	// there from the start.
	keeper := name("disk-keeper")
	e.mustDocker(t, "create", "--name", keeper, "busybox", "true")
	defer e.docker(t, "rm", keeper)
	start := e.diskUsage(t)
	startFiles := e.storedLayersAndBlobs(t)

	// Builds: one tagged, one failing half-way (its first step's image is
	// left dangling).
	dir := writeContext(t, map[string]string{
		"Dockerfile": "FROM busybox\nRUN echo a > /a\nCOPY f /f\nRUN echo b > /b\nENV X=1\n",
		"f":          strings.Repeat("f", 100<<10),
	})
	built := name("disk-built") + ":1"
	e.mustDocker(t, "build", "-t", built, dir)
	failing := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN head -c 200000 /dev/urandom > /r\nRUN exit 3\n"})
	if r := e.docker(t, "build", failing); r.Code == 0 {
		t.Fatalf("the failing build succeeded: %s", r)
	}

	// Push and pull: the built image goes to a registry, is removed, and
	// comes back from it.
	reg := startRegistry(t, e, false)
	pushed := reg.Host + "/" + name("disk-pushed") + ":1"
	e.mustDocker(t, "tag", built, pushed)
	e.mustDocker(t, "push", pushed)
	e.mustDocker(t, "rmi", built, pushed)
	e.mustDocker(t, "pull", pushed)

	// Loads of 1, 5 and 200 layers.
	var loaded []string
	for _, n := range []int{1, 5, 200} {
		ref := name(fmt.Sprintf("disk-load%d", n)) + ":1"
		archive := filepath.Join(t.TempDir(), "image.tar")
		if err := os.WriteFile(archive, layeredArchive(t, ref, n), 0o644); err != nil {
			t.Fatal(err)
		}
		e.mustDocker(t, "load", "-i", archive)
		loaded = append(loaded, ref)
	}

	// A run and a commit of it.
	ctr := name("disk-run")
	e.mustDocker(t, "run", "--name", ctr, "--label", "disk-cycle=1", "busybox", "sh", "-c", "head -c 300000 /dev/urandom > /c")
	committed := name("disk-committed") + ":1"
	e.mustDocker(t, "commit", ctr, committed)

	// Remove it all (untag, then the prunes), then restart.
	e.mustDocker(t, "rmi", pushed, loaded[0])
	e.mustDocker(t, "container", "prune", "-f", "--filter", "label=disk-cycle=1")
	e.mustDocker(t, "image", "prune", "-a", "-f")
	e.mustDocker(t, "builder", "prune", "-a", "-f")
	if ps := e.mustDocker(t, "ps", "-a", "--format", "{{.Names}}"); ps != keeper {
		t.Errorf("containers after the prune: %q, want %s only", ps, keeper)
	}
	e.stopDaemon(t)
	e.startDaemon(t)

	if out := e.mustDocker(t, "images", "-a", "-q"); len(lines(out)) != 1 {
		t.Errorf("images left besides busybox:\n%s", e.mustDocker(t, "images", "-a"))
	}
	if left := difference(e.storedLayersAndBlobs(t), startFiles); len(left) > 0 {
		t.Errorf("%d layers and blobs of the cycle left, e.g. %v", len(left), left[:min(len(left), 5)])
	}
	for _, sub := range []string{"keys", "steps"} {
		if ents, _ := os.ReadDir(filepath.Join(e.Root, "builder", sub)); len(ents) > 0 {
			t.Errorf("%d build-cache records left in builder/%s", len(ents), sub)
		}
	}
	end := e.diskUsage(t)
	t.Logf("du of the data root: %d bytes at the start, %d after the cycle", start, end)
	if d := end - start; d > 1<<20 || d < -(1<<20) {
		t.Errorf("du of the data root: %d bytes at the start, %d after the cycle (%+d): more than 1 MiB apart", start, end, d)
	}
}

// diskUsage is what du says the data root uses, in bytes.
func (e *env) diskUsage(t *testing.T) int64 {
	t.Helper()
	out, err := exec.Command("du", "-s", "-B1", e.Root).Output()
	if err != nil {
		t.Fatalf("du: %v", err)
	}
	n, err := strconv.ParseInt(strings.Fields(string(out))[0], 10, 64)
	if err != nil {
		t.Fatalf("du said %q", out)
	}
	return n
}

// difference is what a has that b does not.
func difference(a, b []string) []string {
	have := map[string]bool{}
	for _, s := range b {
		have[s] = true
	}
	var out []string
	for _, s := range a {
		if !have[s] {
			out = append(out, s)
		}
	}
	return out
}

// layeredArchive is a docker save archive (manifest.json form) of an image
// of n layers, each adding one small file, tagged ref.
func layeredArchive(t *testing.T, ref string, n int) []byte {
	t.Helper()
	var layers [][]byte
	var entries []archiveEntry
	var paths []string
	for i := 0; i < n; i++ {
		l := []byte(tarOf(t, map[string]string{fmt.Sprintf("l%03d", i): ref + strings.Repeat("x", 2000+i)}))
		layers = append(layers, l)
		p := digest.FromBytes(l).Encoded() + "/layer.tar"
		paths = append(paths, p)
		entries = append(entries, archiveEntry{p, l})
	}
	cfg := imageConfig(t, []string{"true"}, layers...)
	cfgName := digest.FromBytes(cfg).Encoded() + ".json"
	entries = append(entries, archiveEntry{cfgName, cfg},
		archiveEntry{"manifest.json", mustJSON(t, []map[string]any{{"Config": cfgName, "RepoTags": []string{ref}, "Layers": paths}})})
	return archiveOf(t, entries)
}
