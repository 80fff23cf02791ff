package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBuildReproducible builds one Dockerfile and context with
// SOURCE_DATE_EPOCH on two gantryds with fresh data roots, a while apart
// (the build arg through the docker CLI on one, the client's environment
// through gantry build on the other): same image ID, same layers, files a
// RUN made and history entries at the epoch. A SOURCE_DATE_EPOCH that is
// not a number is BuildKit's error.
func TestBuildReproducible(t *testing.T) {
	a := newEnv(t)
	needGantryd(t, a)
	b := newEnv(t)
	a.needGantry(t)
	// The same base on both: B loads A's busybox (an import is dated).
	archive := filepath.Join(t.TempDir(), "busybox.tar")
	a.mustDocker(t, "save", "-o", archive, "busybox:latest")
	b.mustDocker(t, "load", "-i", archive)

	const epoch = "1700000000"
	rnd := randHex(6)
	ctx := writeContext(t, map[string]string{
		"app/a.txt": "a-" + rnd,
		"Dockerfile": "FROM busybox\nCOPY app /app\nRUN echo " + rnd + " > /made && mkdir -p /d/e && touch /d/e/f\n" +
			"ENV X=1\nWORKDIR /w\nCMD [\"cat\", \"/made\"]\n",
	})
	_, idA := a.mustBuild(t, "docker", "--build-arg", "SOURCE_DATE_EPOCH="+epoch, ctx)
	time.Sleep(1100 * time.Millisecond)
	now := time.Now()
	os.Chtimes(filepath.Join(ctx, "app/a.txt"), now, now) // another checkout
	r := b.build(t, "gantry", []string{"SOURCE_DATE_EPOCH=" + epoch}, "", ctx)
	idB := builtID(r.Stdout)
	if r.Code != 0 || idB == "" {
		t.Fatalf("gantry build with SOURCE_DATE_EPOCH in the environment:\n%s", r)
	}
	inspect := `{{.Id}} {{json .RootFS.Layers}} {{.Created}}`
	gotA, gotB := a.mustDocker(t, "image", "inspect", "-f", inspect, idA), b.mustDocker(t, "image", "inspect", "-f", inspect, idB)
	if gotA != gotB {
		t.Errorf("the two builds differ:\nA %s\nB %s", gotA, gotB)
	}
	if !strings.HasSuffix(gotA, " 2023-11-14T22:13:20Z") {
		t.Errorf("image created %q, want the epoch", gotA)
	}
	if got := a.mustDocker(t, "history", "--no-trunc", "--format", "{{.CreatedAt}}", idA); !strings.HasPrefix(got, strings.Repeat("2023-11-14T22:13:20Z\n", 5)) {
		t.Errorf("history entries of the build: %q, want the epoch", got)
	}
	if got := a.runIn(t, idA, "stat -c '%Y %n' /made /d /d/e/f /app/a.txt"); got != epoch+" /made\n"+epoch+" /d\n"+epoch+" /d/e/f\n"+epoch+" /app/a.txt" {
		t.Errorf("mtimes: %q, want the epoch", got)
	}
	// The compressed blobs too: what a push would send.
	blobs := func(e *env, id string) string {
		out := filepath.Join(t.TempDir(), "img.tar")
		e.mustDocker(t, "save", "-o", out, id)
		list, err := exec.Command("tar", "-tf", out).Output()
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, n := range strings.Fields(string(list)) {
			if strings.HasPrefix(n, "blobs/sha256/") {
				names = append(names, n)
			}
		}
		return strings.Join(names, " ")
	}
	if ba, bb := blobs(a, idA), blobs(b, idB); ba != bb {
		t.Errorf("saved blobs differ:\nA %s\nB %s", ba, bb)
	}

	r = a.build(t, "docker", nil, "", "--build-arg", "SOURCE_DATE_EPOCH=soon", ctx)
	if r.Code != 1 || !strings.Contains(r.Stderr, "invalid SOURCE_DATE_EPOCH: soon") {
		t.Errorf("SOURCE_DATE_EPOCH=soon: want exit 1 and BuildKit's error:\n%s", r)
	}
}
