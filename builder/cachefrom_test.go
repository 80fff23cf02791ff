package builder

import (
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// freshBuilder forgets every cache record, as on another machine that
// pulled the images but never built them.
func (e *testEnv) freshBuilder(name string) {
	e.t.Helper()
	b, err := New(Config{Root: filepath.Join(e.t.TempDir(), name), TmpDir: e.b.cfg.TmpDir, Content: e.cs, Layers: e.ls, Images: e.images, Runner: e.runner, GC: &testGC{}, Log: slog.Default()})
	if err != nil {
		e.t.Fatal(err)
	}
	e.b = b
}

// --cache-from reuses the steps of an image whose history continues the
// build's, as dockerd's classic builder does, on a builder that has no
// cache records: nothing runs and the same image comes out. Without it
// every step runs; a changed source misses from its COPY on.
func TestCacheFrom(t *testing.T) {
	e := newTestEnv(t)
	created := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	e.baseImageWith("hbase:latest", "one", []ocispec.History{{Created: &created, CreatedBy: "/bin/sh -c #(nop) ADD file:x in / "}})
	e.write("app/a.txt", "a")
	df := "FROM hbase:latest\nENV E=1\nCOPY app /app\nRUN echo hi > /x\nWORKDIR /app\nLABEL l=1\nCMD [\"sh\"]\n"
	_, first := e.mustBuild(df, Options{Tags: []string{"app:latest"}})

	e.freshBuilder("fresh1")
	out, id := e.mustBuild(df, Options{CacheFrom: []string{"app:latest"}})
	if got := hits(out); len(e.runner.runs) != 0 || id != first || !allTrue(got) {
		t.Fatalf("with --cache-from: hits %v, runs %q, image %s (want %s):\n%s", got, e.runner.runs, id, first, out)
	}

	e.freshBuilder("fresh2")
	out, _ = e.mustBuild(df, Options{})
	if got := hits(out); len(e.runner.runs) != 1 || anyTrue(got) {
		t.Fatalf("without --cache-from: hits %v, runs %q:\n%s", got, e.runner.runs, out)
	}

	e.freshBuilder("fresh3")
	e.write("app/a.txt", "changed")
	out, _ = e.mustBuild(df, Options{CacheFrom: []string{"app:latest", "nosuch:latest"}})
	if got := hits(out); len(e.runner.runs) != 1 || !got[0] || got[1] || got[2] {
		t.Fatalf("changed source with --cache-from: hits %v, runs %q:\n%s", got, e.runner.runs, out)
	}
}

func allTrue(b []bool) bool {
	for _, v := range b {
		if !v {
			return false
		}
	}
	return len(b) > 0
}

func anyTrue(b []bool) bool {
	for _, v := range b {
		if v {
			return true
		}
	}
	return false
}
