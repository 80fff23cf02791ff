package builder

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/gantry/gantry/content"
	"github.com/gantry/gantry/image"
	"github.com/gantry/gantry/layer"
)

// fakeRunner runs the few shell commands the tests use, on the rootfs
// itself: "echo WORD > /PATH" and "exit N".
type fakeRunner struct {
	mu     sync.Mutex
	runs   []string
	during func() // called as each process runs, if set
}

var echoRE = regexp.MustCompile(`^echo (\S*) > (/\S+)$`)

func (f *fakeRunner) Run(_ context.Context, p Process, out io.Writer) (int, error) {
	cmd := p.Args[len(p.Args)-1]
	f.mu.Lock()
	f.runs = append(f.runs, cmd)
	f.mu.Unlock()
	if f.during != nil {
		f.during()
	}
	for _, part := range strings.Split(cmd, ";") {
		part = strings.TrimSpace(part)
		if m := echoRE.FindStringSubmatch(part); m != nil {
			word := os.Expand(m[1], func(k string) string {
				for _, kv := range p.Env {
					if strings.HasPrefix(kv, k+"=") {
						return kv[len(k)+1:]
					}
				}
				return ""
			})
			if err := os.WriteFile(filepath.Join(p.Rootfs, m[2]), []byte(word+"\n"), 0o644); err != nil {
				return 0, err
			}
			continue
		}
		if n, ok := strings.CutPrefix(part, "exit "); ok {
			code, _ := strconv.Atoi(n)
			return code, nil
		}
		fmt.Fprintf(out, "%s\n", part)
	}
	return 0, nil
}

type testEnv struct {
	t      *testing.T
	b      *Builder
	runner *fakeRunner
	images *image.Store
	cs     *content.Store
	ls     *layer.Store
	ctxDir string
	// for the explanation tests: the base image made last, the image
	// built last
	baseID, lastID digest.Digest
}

func newTestEnv(t *testing.T) *testEnv {
	if os.Geteuid() != 0 {
		t.Skip("builds mount snapshots: needs root")
	}
	root := t.TempDir()
	tmp := filepath.Join(root, "tmp")
	cs, err := content.New(filepath.Join(root, "content"), tmp)
	if err != nil {
		t.Fatal(err)
	}
	ls, err := layer.New(filepath.Join(root, "layers"), tmp)
	if err != nil {
		t.Fatal(err)
	}
	cs.SetSource(layer.TarSource{Store: ls}) // as the daemon does
	images, err := image.New(context.Background(), filepath.Join(root, "images"), cs, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	e := &testEnv{t: t, runner: &fakeRunner{}, images: images, cs: cs, ls: ls, ctxDir: filepath.Join(root, "context")}
	e.b, err = New(Config{Root: filepath.Join(root, "builder"), TmpDir: tmp, Content: cs, Layers: ls, Images: images, Runner: e.runner, GC: &testGC{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(e.ctxDir, 0o755); err != nil {
		t.Fatal(err)
	}
	e.baseImage("base:latest", "one")
	return e
}

// baseImage stores a one-layer image holding /etc/base with content and
// tags it.
func (e *testEnv) baseImage(name, content string) digest.Digest {
	return e.baseImageWith(name, content, nil)
}

// baseImageWith is baseImage with a history.
func (e *testEnv) baseImageWith(name, content string, history []ocispec.History) digest.Digest {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: "etc/", Mode: 0o755})
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "etc/base", Mode: 0o644, Size: int64(len(content))})
	tw.Write([]byte(content))
	tw.Close()
	ctx := context.Background()
	l, blob, err := StoreLayer(ctx, e.cs, e.ls, "", &buf)
	if err != nil {
		e.t.Fatal(err)
	}
	var img image.Config
	now := time.Now().UTC()
	img.Created = &now
	img.Platform = ocispec.Platform{OS: "linux", Architecture: "amd64"}
	img.RootFS = ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{l.DiffID}}
	img.History = history
	img.Config.Env = []string{"PATH=/bin"}
	data, _ := json.Marshal(img)
	id, err := e.images.Create(ctx, data, []ocispec.Descriptor{blob}, "")
	if err != nil {
		e.t.Fatal(err)
	}
	ref, _ := image.ParseReference(name)
	if err := e.images.Tag(ctx, id, ref); err != nil {
		e.t.Fatal(err)
	}
	return id
}

func (e *testEnv) write(name, data string) {
	p := filepath.Join(e.ctxDir, name)
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

type textOutput struct {
	bytes.Buffer
	aux []string
}

func (o *textOutput) Stream(s string) error { o.WriteString(s); return nil }
func (o *textOutput) Aux(id string) error   { o.aux = append(o.aux, id); return nil }

// build runs the Dockerfile text and returns the output.
func (e *testEnv) build(dockerfile string, opts Options) (string, digest.Digest, error) {
	e.write("Dockerfile", dockerfile)
	opts.ContextDir = e.ctxDir
	var out textOutput
	e.runner.runs = nil
	id, err := e.b.Build(context.Background(), opts, &out)
	return out.String(), id, err
}

func (e *testEnv) mustBuild(dockerfile string, opts Options) (string, digest.Digest) {
	e.t.Helper()
	out, id, err := e.build(dockerfile, opts)
	if err != nil {
		e.t.Fatalf("build: %v\n%s", err, out)
	}
	return out, id
}

// hits lists, per step after FROM, whether it came from the cache.
func hits(out string) []bool {
	var h []bool
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "Step ") && !strings.Contains(l, " : FROM ") {
			j := i + 1
			for j < len(lines) && strings.HasPrefix(lines[j], "cache miss") {
				j++
			}
			h = append(h, j < len(lines) && lines[j] == " ---> Using cache")
		}
	}
	return h
}

func missLine(out string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "cache miss") {
			return l
		}
	}
	return ""
}

func TestBuildCacheRules(t *testing.T) {
	e := newTestEnv(t)
	three := "FROM base\nRUN echo a > /a\nRUN echo b > /b\nCMD [\"cat\",\"/a\"]\n"
	out, id := e.mustBuild(three, Options{Tags: []string{"app:1"}})
	for _, want := range []string{"Step 1/4 : FROM base\n ---> ", "Step 2/4 : RUN echo a > /a\ncache miss at step 2 (RUN echo a > /a): no earlier build of this step\n ---> Running in ",
		"Removing intermediate container ", "Successfully built " + id.Encoded()[:12] + "\n", "Successfully tagged app:1\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if got, _ := e.images.Resolve(context.Background(), "app:1"); got != id {
		t.Errorf("app:1 is %s, want %s", got, id)
	}

	tests := []struct {
		name       string
		dockerfile string
		opts       Options
		hits       []bool
		runs       int
		miss       string
	}{
		{"unchanged rebuild hits every step", three, Options{}, []bool{true, true, true}, 0, ""},
		{"change at step 3 re-runs 3 and after", "FROM base\nRUN echo a > /a\nRUN echo c > /b\nCMD [\"cat\",\"/a\"]\n", Options{}, []bool{true, false, false}, 1,
			"cache miss at step 3 (RUN echo c > /b): RUN command: /bin/sh -c echo b > /b -> /bin/sh -c echo c > /b"},
		{"swapped RUN lines reuse only FROM", "FROM base\nRUN echo b > /b\nRUN echo a > /a\nCMD [\"cat\",\"/a\"]\n", Options{}, []bool{false, false, false}, 2,
			"cache miss at step 2 (RUN echo b > /b): instruction inserted before this step: RUN echo b > /b"}, // the last build ran a, c
		{"no-cache re-runs all", three, Options{NoCache: true}, []bool{false, false, false}, 2, ""},
		{"after no-cache, hits again", three, Options{}, []bool{true, true, true}, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _ := e.mustBuild(tt.dockerfile, tt.opts)
			if got := hits(out); fmt.Sprint(got) != fmt.Sprint(tt.hits) {
				t.Errorf("hits %v, want %v:\n%s", got, tt.hits, out)
			}
			if len(e.runner.runs) != tt.runs {
				t.Errorf("%d RUNs ran, want %d", len(e.runner.runs), tt.runs)
			}
			if got := missLine(out); got != tt.miss {
				t.Errorf("miss line %q, want %q", got, tt.miss)
			}
		})
	}
}

func TestBuildMissExplanations(t *testing.T) {
	e := newTestEnv(t)
	df := "FROM base\nARG V=1\nRUN echo $V > /v\nCOPY app/ /app/\n"
	e.write("app/main.go", "package main\n")
	e.write("app/util.go", "package main\n")
	e.mustBuild(df, Options{})
	steps := []struct {
		name   string
		change func()
		opts   Options
		want   string
	}{
		{"a source file", func() { e.write("app/main.go", "package main // 2\n") }, Options{}, "cache miss at step 4 (COPY app/ /app/): app/main.go: content changed"},
		{"mtime only is a hit", func() {
			os.Chtimes(filepath.Join(e.ctxDir, "app/util.go"), time.Now(), time.Now().Add(time.Hour))
		}, Options{}, ""},
		{"mode is a change", func() { os.Chmod(filepath.Join(e.ctxDir, "app/util.go"), 0o600) }, Options{}, "cache miss at step 4 (COPY app/ /app/): app/util.go: mode 0644 -> 0600"},
		{"a build arg", func() {}, Options{BuildArgs: map[string]string{"V": "2"}}, "cache miss at step 3 (RUN echo $V > /v): build arg V changed (1 -> 2)"},
		{"the base image", func() { e.baseImage("base:latest", "two") }, Options{BuildArgs: map[string]string{"V": "2"}}, "cache miss at step 2 (ARG V=1): base image base:latest now points to a new image ("}, // then the two IDs
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			st.change()
			out, _ := e.mustBuild(df, st.opts)
			if got := missLine(out); got != st.want && !(strings.HasSuffix(st.want, "(") && strings.HasPrefix(got, st.want)) {
				t.Errorf("miss line %q, want %q\n%s", got, st.want, out)
			}
		})
	}
}

func TestBuildFailures(t *testing.T) {
	e := newTestEnv(t)
	e.write(".dockerignore", "secret\n") // the client left secret out
	tests := []struct {
		name, dockerfile string
		before           bool   // the error comes before any output
		want             string // the error
		code             int
	}{
		{"parse", "FROM base\nRUNN x\n", true, "Dockerfile:2: unknown instruction: RUNN (did you mean RUN?)", 0},
		{"target", "FROM base\n", true, `failed to reach build target nope in Dockerfile`, 0},
		{"run fails", "FROM base\nRUN echo x > /x; exit 3\n", false, "The command '/bin/sh -c echo x > /x; exit 3' returned a non-zero code: 3", 3},
		{"ignored source", "FROM base\nCOPY secret /\n", false, "COPY failed: secret is excluded by .dockerignore, so it is not in the build context", 0},
		{"missing source", "FROM base\nCOPY nothere /\n", false, "COPY failed: file not found in build context: nothere", 0},
		{"missing base", "FROM nope\n", false, "pull access denied for nope:latest: image not found locally", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := Options{Tags: []string{"fail:" + strings.ReplaceAll(tt.name, " ", "-")}}
			if tt.name == "target" {
				opts.Target = "nope"
			}
			out, _, err := e.build(tt.dockerfile, opts)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
			if (out == "") != tt.before {
				t.Errorf("output before the error: %q", out)
			}
			var code int
			if ee, ok := err.(*ExitError); ok {
				code = ee.ExitCode()
			}
			if code != tt.code {
				t.Errorf("exit code %d, want %d", code, tt.code)
			}
			if !tt.before && tt.name != "missing base" && !strings.Contains(out, "The last successful step was ") {
				t.Errorf("output does not end with the last successful step:\n%s", out)
			}
			if _, err := e.images.Resolve(context.Background(), opts.Tags[0]); err == nil {
				t.Error("a failed build tagged its image")
			}
			left, _ := os.ReadDir(e.b.cfg.TmpDir)
			for _, l := range left {
				if strings.HasPrefix(l.Name(), "build-") {
					t.Errorf("left behind: %s", l.Name())
				}
			}
		})
	}
}

func TestBuildInstructions(t *testing.T) {
	e := newTestEnv(t)
	e.write("app/main.go", "main")
	e.write("app/sub/x.txt", "x")
	e.write("one.txt", "1")
	e.write("two.txt", "2")
	df := `FROM base AS build
WORKDIR /src
COPY app/ ./
COPY *.txt /txt/
COPY --chown=7:8 --chmod=640 one.txt /owned
RUN echo built > /src/out
FROM scratch
COPY --from=build /src/out /out
ENV A=1 B=2
LABEL k=v
EXPOSE 80 53/udp
USER 1000
ENTRYPOINT ["/bin/app"]
CMD ["--help"]
VOLUME /data
STOPSIGNAL SIGINT
ONBUILD RUN echo child > /child
`
	out, id := e.mustBuild(df, Options{Labels: map[string]string{"built-by": "test"}})
	img, err := e.images.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	c := img.Config.Config
	if strings.TrimSpace(fmt.Sprintln(c.Env, c.Labels, c.User, c.Entrypoint, c.Cmd, c.StopSignal, c.OnBuild)) !=
		"[PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin A=1 B=2] map[built-by:test k:v] 1000 [/bin/app] [--help] SIGINT [RUN echo child > /child]" {
		t.Errorf("config: %+v", c)
	}
	if _, ok := c.ExposedPorts["53/udp"]; !ok || len(c.ExposedPorts) != 2 {
		t.Errorf("exposed ports %v", c.ExposedPorts)
	}
	if len(img.Config.RootFS.DiffIDs) != 1 {
		t.Errorf("scratch image has %d layers, want 1", len(img.Config.RootFS.DiffIDs))
	}
	if len(out) == 0 || !strings.Contains(out, "Step 18/18 : LABEL") {
		t.Errorf("the label step is missing:\n%s", out)
	}

	// The first stage's files, through a child build of its image.
	files := e.listImage(t, "build-stage", "FROM base AS build\nWORKDIR /src\nCOPY app/ ./\nCOPY *.txt /txt/\nCOPY --chown=7:8 --chmod=640 one.txt /owned\nRUN echo built > /src/out\n")
	for _, want := range []string{"src/ dir 755 0:0", "src/main.go file 644 0:0", "src/sub/x.txt file 644 0:0", "txt/one.txt file 644 0:0", "txt/two.txt file 644 0:0", "owned file 640 7:8", "src/out file 644 0:0"} {
		if !strings.Contains(files, want+"\n") {
			t.Errorf("rootfs lacks %q:\n%s", want, files)
		}
	}

	// ONBUILD triggers run in a child build.
	out, _ = e.mustBuild("FROM "+id.String()+"\nCMD [\"x\"]\n", Options{})
	if !strings.Contains(out, "# Executing 1 build trigger\n") || len(e.runner.runs) != 1 {
		t.Errorf("trigger did not run (%v):\n%s", e.runner.runs, out)
	}
}

// listImage builds dockerfile and lists the rootfs of the result:
// "path type mode uid:gid" per line.
func (e *testEnv) listImage(t *testing.T, tag, dockerfile string) string {
	_, id := e.mustBuild(dockerfile, Options{Tags: []string{tag}})
	img, err := e.images.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	s := &state{img: img.Config}
	r := &run{b: e.b}
	mnt, cleanup, err := r.mountImage(context.Background(), s.chain())
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	var b strings.Builder
	filepath.Walk(mnt, func(p string, fi os.FileInfo, err error) error {
		if err != nil || p == mnt {
			return err
		}
		rel, _ := filepath.Rel(mnt, p)
		kind := "file"
		if fi.IsDir() {
			kind, rel = "dir", rel+"/"
		}
		st := fi.Sys().(interface{}).(*syscallStat)
		fmt.Fprintf(&b, "%s %s %o %d:%d\n", rel, kind, fi.Mode().Perm(), st.Uid, st.Gid)
		return nil
	})
	return b.String()
}

// testGC is a GC that nothing collects; it counts the chains leased.
type testGC struct {
	sync.RWMutex
	mu     sync.Mutex
	chains map[digest.Digest]int
}

func (g *testGC) Lease(blobs, chains []digest.Digest) func() {
	g.mu.Lock()
	if g.chains == nil {
		g.chains = map[digest.Digest]int{}
	}
	for _, c := range chains {
		g.chains[c]++
	}
	g.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			g.mu.Lock()
			for _, c := range chains {
				if g.chains[c]--; g.chains[c] == 0 {
					delete(g.chains, c)
				}
			}
			g.mu.Unlock()
		})
	}
}

func (g *testGC) leasedChains() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.chains)
}

func (g *testGC) leased(chain digest.Digest) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.chains[chain] > 0
}

// TestBuildStepLeases checks that a RUN step runs with its parent's chain
// leased and the GC lock free, and that the leases end with the build.
func TestBuildStepLeases(t *testing.T) {
	e := newTestEnv(t)
	gc := e.b.cfg.GC.(*testGC)
	var leased int
	var locked bool
	e.runner.during = func() {
		leased = gc.leasedChains()
		if gc.TryLock() {
			gc.Unlock()
		} else {
			locked = true
		}
	}
	e.mustBuild("FROM base\nRUN echo x > /x\n", Options{})
	if leased == 0 {
		t.Error("the RUN step ran with no chain leased")
	}
	if locked {
		t.Error("the RUN step ran with the GC lock held")
	}
	if n := gc.leasedChains(); n != 0 {
		t.Errorf("%d chains leased after the build", n)
	}
}

// TestBuildLeasesWhatItMade checks that a running build leases the base of
// each stage and every result it made until it ends, not only the parent of
// the step that runs: an image removed meanwhile (an earlier stage's, by
// rmi) keeps its layers for the rest of the build.
func TestBuildLeasesWhatItMade(t *testing.T) {
	e := newTestEnv(t)
	gc := e.b.cfg.GC.(*testGC)
	chainOf := func(id digest.Digest) digest.Digest {
		img, err := e.images.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		var chain digest.Digest
		for _, d := range img.Config.RootFS.DiffIDs {
			chain = layer.ChainID(chain, d)
		}
		return chain
	}
	base, err := e.images.Resolve(context.Background(), "base")
	if err != nil {
		t.Fatal(err)
	}
	var missing []string
	e.runner.during = func() {
		if !strings.Contains(e.runner.runs[len(e.runner.runs)-1], "/c") {
			return
		}
		want := map[string]digest.Digest{"base": chainOf(base)}
		for _, img := range mustList(t, e.images) {
			if len(img.Config.RootFS.DiffIDs) == 2 {
				want["step result "+img.ID.Encoded()[:12]] = chainOf(img.ID)
			}
		}
		for what, chain := range want {
			if !gc.leased(chain) {
				missing = append(missing, what)
			}
		}
	}
	e.mustBuild("FROM base AS a\nRUN echo a > /a\nFROM base\nRUN echo b > /b\nRUN echo c > /c\nCOPY --from=a /a /a\n", Options{})
	if len(missing) > 0 {
		t.Errorf("while the last RUN step ran, not leased: %v", missing)
	}
	if n := gc.leasedChains(); n != 0 {
		t.Errorf("%d chains leased after the build", n)
	}
}

func mustList(t *testing.T, s *image.Store) []*image.Image {
	t.Helper()
	imgs, err := s.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return imgs
}

// TestBuildUnfinishedImages checks that the images of a build that fails
// are removed at the next start (RemoveUnfinished), with the cache records
// pointing at them (SweepCache), while a finished build's images, the
// untagged result of an earlier stage included, stay.
func TestBuildUnfinishedImages(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	_, done := e.mustBuild("FROM base AS a\nRUN echo a > /a\nFROM base\nCOPY --from=a /a /a\n", Options{})
	before := len(mustList(t, e.images))
	if _, _, err := e.build("FROM base\nRUN echo x > /x\nRUN exit 3\n", Options{}); err == nil {
		t.Fatal("the failing build succeeded")
	}
	if n := len(mustList(t, e.images)); n != before+1 {
		t.Fatalf("%d images after the failed build, want %d", n, before+1)
	}
	removed, err := e.images.RemoveUnfinished(ctx, func(digest.Digest) (string, bool, bool) { return "", false, false })
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 1 {
		t.Errorf("RemoveUnfinished removed %v, want the failed build's step", removed)
	}
	if _, err := e.images.Get(ctx, done); err != nil {
		t.Errorf("the finished build's image: %v", err)
	}
	if n := len(mustList(t, e.images)); n != before {
		t.Errorf("%d images left, want %d", n, before)
	}
	live := map[digest.Digest]bool{}
	for _, img := range mustList(t, e.images) {
		live[img.ID] = true
	}
	n, err := e.b.SweepCache(ctx, func(id digest.Digest) bool { return live[id] })
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 { // the step's key record and the record of its place
		t.Errorf("SweepCache removed %d records, want 2", n)
	}
	out, _ := e.mustBuild("FROM base AS a\nRUN echo a > /a\nFROM base\nCOPY --from=a /a /a\n", Options{})
	if h := hits(out); len(h) != 2 || !h[0] || !h[1] {
		t.Errorf("the finished build's steps are no longer cached: %v\n%s", h, out)
	}
	out, _ = e.mustBuild("FROM base\nRUN echo x > /x\n", Options{})
	if h := hits(out); len(h) != 1 || h[0] {
		t.Errorf("the removed step is still cached: %v\n%s", h, out)
	}
}
