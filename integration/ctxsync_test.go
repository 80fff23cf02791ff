package integration

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

var syncedRe = regexp.MustCompile(`(?m)^Build context synced: (\d+) entries, (\d+) files? sent \((\d+) bytes\), (\d+) removed`)

// synced returns what gantryd says a gantry build's sync transferred:
// files sent, bytes, entries removed.
func synced(t *testing.T, r result) (files, bytes, removed int) {
	t.Helper()
	m := syncedRe.FindStringSubmatch(r.Stdout)
	if m == nil {
		t.Fatalf("no 'Build context synced' line:\n%s", r)
	}
	files, _ = strconv.Atoi(m[2])
	bytes, _ = strconv.Atoi(m[3])
	removed, _ = strconv.Atoi(m[4])
	return files, bytes, removed
}

// TestBuildContextSync builds a context through gantry build again and
// again: the first build sends every file .dockerignore keeps, a rebuild
// after a one-file edit sends that file alone (gantryd counts what it
// received), the image has the new content and all of the context, and
// builder prune frees gantryd's copy.
func TestBuildContextSync(t *testing.T) {
	e := newEnv(t)
	e.needGantry(t)
	rnd := randHex(6)
	files := map[string]string{
		"Dockerfile":    "FROM busybox\nCOPY . /app\nRUN cat /app/edit.txt > /seen && echo " + rnd + "\n",
		".dockerignore": "ignored.txt\nlogs\n",
		"edit.txt":      "before",
		"ignored.txt":   "must not be sent",
		"logs/a.log":    "must not be sent",
	}
	for i := range 100 {
		files["dir/f"+strconv.Itoa(i)] = strings.Repeat("x", 1000+i)
	}
	ctx := writeContext(t, files)

	r, id1 := e.mustBuild(t, "gantry", ctx)
	sent, n, _ := synced(t, r)
	if sent != 103 { // Dockerfile, .dockerignore, edit.txt, dir/f*
		t.Errorf("first build sent %d files (%d bytes), want 103:\n%s", sent, n, r)
	}

	r, id2 := e.mustBuild(t, "gantry", ctx)
	if sent, n, _ := synced(t, r); sent != 0 || n != 0 || id2 != id1 || !slicesAll(cachedSteps(r.Stdout)[1:]) {
		t.Errorf("unchanged rebuild: %d files, %d bytes sent, image %s (first %s):\n%s", sent, n, id2, id1, r)
	}

	edit := filepath.Join(ctx, "edit.txt")
	if err := os.WriteFile(edit, []byte("after!"), 0o644); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Minute)
	os.Chtimes(edit, later, later)
	os.Remove(filepath.Join(ctx, "dir/f7"))
	r, id3 := e.mustBuild(t, "gantry", ctx)
	if sent, n, removed := synced(t, r); sent != 1 || n != len("after!") || removed != 1 {
		t.Errorf("after a one-file edit and a removal: %d files, %d bytes sent, %d removed; want 1, %d, 1:\n%s", sent, n, removed, len("after!"), r)
	}
	got := e.runIn(t, id3, "cat /seen; echo; ls -A /app | sort | tr '\\n' ' '; ls /app/dir | wc -l")
	if want := "after!\n.dockerignore Dockerfile dir edit.txt 99"; got != want {
		t.Errorf("image after the edit: %q, want %q", got, want)
	}

	// A directory's new mode (fsutil's receiver applies it without a
	// notification) is a change: the COPY misses, though the sync sent
	// no file, and the next build is cached again.
	if err := os.Chmod(filepath.Join(ctx, "dir"), 0o700); err != nil {
		t.Fatal(err)
	}
	r, id4 := e.mustBuild(t, "gantry", ctx)
	if got := cachedSteps(r.Stdout); len(got) != 3 || got[1] || e.runIn(t, id4, "stat -c %a /app/dir") != "700" {
		t.Errorf("after a directory's chmod: cached %v:\n%s", got, r)
	}
	if r, id5 := e.mustBuild(t, "gantry", ctx); id5 != id4 || !slicesAll(cachedSteps(r.Stdout)[1:]) {
		t.Errorf("the rebuild after the chmod:\n%s", r)
	}

	// The copy is the build's context: COPY's layer holds its files by
	// hard links, not copies of them.
	copies := filepath.Join(e.Root, "builder", "contexts")
	des, _ := os.ReadDir(copies)
	if len(des) != 1 {
		t.Fatalf("%d context copies in %s, want 1", len(des), copies)
	}
	var st syscall.Stat_t
	if err := syscall.Lstat(filepath.Join(copies, des[0].Name(), "tree", "dir", "f1"), &st); err != nil || st.Nlink < 2 {
		t.Errorf("the copy's dir/f1 has %d links (%v): COPY . /app did not link it into its layer", st.Nlink, err)
	}

	// builder prune frees the copy; the next build sends everything.
	e.mustDocker(t, "builder", "prune", "-f")
	if des, _ := os.ReadDir(copies); len(des) != 0 {
		t.Errorf("builder prune left %d context copies", len(des))
	}
	r, _ = e.mustBuild(t, "gantry", ctx)
	if sent, _, _ := synced(t, r); sent != 102 {
		t.Errorf("after builder prune: %d files sent, want 102:\n%s", sent, r)
	}
}

func slicesAll(b []bool) bool {
	for _, v := range b {
		if !v {
			return false
		}
	}
	return len(b) > 0
}

// TestBuildSyncDockerfileApart: gantry build -f - and a Dockerfile outside
// the context sync the context (the Dockerfile goes beside it, not in
// it, as BuildKit's client sends it): an unchanged rebuild sends nothing
// and is cached, COPY . does not copy the Dockerfile, and its parse
// errors name it.
func TestBuildSyncDockerfileApart(t *testing.T) {
	e := newEnv(t)
	e.needGantry(t)
	rnd := randHex(6)
	ctx := writeContext(t, map[string]string{"a.txt": "a-" + rnd})
	outside := filepath.Join(t.TempDir(), "web.Dockerfile")
	dockerfile := "FROM busybox\nCOPY . /app\nRUN ls -A /app > /ls && echo " + rnd + "\n"
	os.WriteFile(outside, []byte(dockerfile), 0o644)
	for _, tc := range []struct{ name, stdin, file string }{
		{"stdin", dockerfile, "-"},
		{"outside", "", outside},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ids []string
			for i := range 2 {
				r := e.build(t, "gantry", nil, tc.stdin, "-f", tc.file, ctx)
				id := builtID(r.Stdout)
				if r.Code != 0 || id == "" || !strings.Contains(r.Stdout, "Build context synced:") {
					t.Fatalf("build %d: the context was not synced:\n%s", i, r)
				}
				if sent, _, _ := synced(t, r); i == 1 && (sent != 0 || !slicesAll(cachedSteps(r.Stdout)[1:])) {
					t.Errorf("unchanged rebuild: %d files sent:\n%s", sent, r)
				}
				ids = append(ids, id)
			}
			if ids[0] != ids[1] {
				t.Errorf("images %v", ids)
			}
			if got := e.runIn(t, ids[0], "cat /ls"); got != "a.txt" {
				t.Errorf("COPY . copied %q", got)
			}
		})
	}
	r := e.build(t, "gantry", nil, "FROM busybox\nRUNN x\n", "-f", "-", ctx)
	if r.Code == 0 || !strings.Contains(r.Stderr, "Dockerfile:2:") {
		t.Errorf("a parse error of a Dockerfile from stdin:\n%s", r)
	}
}
