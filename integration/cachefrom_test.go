package integration

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestBuildCacheFrom is a CI fleet's fresh machine: it has the image a
// build machine made (here through save and load, as a pull leaves it)
// and no build cache. docker build (and gantry build) --cache-from that
// image reuses every step and makes the same image; without it, every
// step runs.
func TestBuildCacheFrom(t *testing.T) {
	build, fresh := newEnv(t), newEnv(t)
	rnd := randHex(6)
	ctx := writeContext(t, map[string]string{
		"a.txt":      "a " + rnd + "\n",
		"Dockerfile": "FROM busybox\nENV R=" + rnd + "\nCOPY a.txt /a.txt\nRUN cat /a.txt > /b.txt\nWORKDIR /w\nCMD [\"cat\", \"/b.txt\"]\n",
	})
	app := "gt-cachefrom/app:" + rnd
	_, id := build.mustBuild(t, "docker", "-t", app, ctx)
	archive := filepath.Join(t.TempDir(), "images.tar")
	build.mustDocker(t, "save", "-o", archive, app, "busybox:latest")
	fresh.mustDocker(t, "load", "-i", archive)

	for _, prog := range buildClients {
		fresh.mustDocker(t, "builder", "prune", "-a", "-f") // no record of a build here
		r, id2 := fresh.mustBuild(t, prog, "--cache-from", app, ctx)
		if got := cachedSteps(r.Stdout); !slices.Equal(got, []bool{false, true, true, true, true, true}) || strings.Contains(r.Stdout, "Running in") {
			t.Errorf("%s build --cache-from %s on a fresh machine: cached steps %v, want all but FROM\n%s", prog, app, got, r.Stdout)
		}
		if id2 != id {
			t.Errorf("%s build --cache-from made %s, the build machine %s", prog, id2, id)
		}
		if out := fresh.mustDocker(t, "run", "--rm", id2); out != "a "+rnd {
			t.Errorf("run of the image: %q", out)
		}
	}

	r, _ := fresh.mustBuild(t, "docker", "--no-cache", "--cache-from", app, ctx)
	if got := cachedSteps(r.Stdout); slices.Contains(got, true) {
		t.Errorf("--no-cache --cache-from: cached steps %v, want none\n%s", got, r.Stdout)
	}
	fresh.mustDocker(t, "builder", "prune", "-a", "-f")
	r, _ = fresh.mustBuild(t, "docker", ctx)
	if got := cachedSteps(r.Stdout); slices.Contains(got, true) {
		t.Errorf("without --cache-from after builder prune: cached steps %v, want none\n%s", got, r.Stdout)
	}
}
