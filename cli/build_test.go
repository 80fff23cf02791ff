package cli

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/jsonstream"
)

// writeTree creates files (name -> content; a name ending in / is a
// directory) under a new temporary directory and returns it.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		p := filepath.Join(dir, name)
		if strings.HasSuffix(name, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// tarEntries reads a whole context and returns its entry names, with
// "-> target" after hard links.
func tarEntries(t *testing.T, r io.Reader) []string {
	t.Helper()
	var names []string
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return names
		}
		if err != nil {
			t.Fatalf("read context tar: %v (entries so far %v)", err, names)
		}
		if h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" {
			t.Errorf("%s: owner %d:%d (%q:%q), want 0:0 without names", h.Name, h.Uid, h.Gid, h.Uname, h.Gname)
		}
		n := h.Name
		if h.Typeflag == tar.TypeLink {
			n += " -> " + h.Linkname
		}
		names = append(names, n)
	}
}

func TestBuildContextDockerignore(t *testing.T) {
	base := map[string]string{
		"Dockerfile":           "FROM scratch\n",
		"app/main.go":          "package main\n",
		"app/main_test.go":     "package main\n",
		"app/vendor/x/x.go":    "package x\n",
		"docs/readme.md":       "docs\n",
		"docs/keep.md":         "keep\n",
		"node_modules/a/i.js":  "a\n",
		"secret.key":           "s\n",
		"deep/a/b/secret.key":  "s\n",
		"deep/a/b/c.txt":       "c\n",
		"build/Dockerfile.dev": "FROM scratch\n",
	}
	tests := []struct {
		name       string
		ignore     string
		dockerfile string // -f, relative to the context
		want       []string
	}{
		{
			name:   "no dockerignore",
			ignore: "-",
			want: []string{"Dockerfile", "app/", "app/main.go", "app/main_test.go", "app/vendor/", "app/vendor/x/", "app/vendor/x/x.go",
				"build/", "build/Dockerfile.dev", "deep/", "deep/a/", "deep/a/b/", "deep/a/b/c.txt", "deep/a/b/secret.key",
				"docs/", "docs/keep.md", "docs/readme.md", "node_modules/", "node_modules/a/", "node_modules/a/i.js", "secret.key"},
		},
		{
			name:   "dirs, globs and double star",
			ignore: "# comment\nnode_modules\n**/*.key\napp/*_test.go\n\napp/vendor/\n",
			want: []string{".dockerignore", "Dockerfile", "app/", "app/main.go", "build/", "build/Dockerfile.dev",
				"deep/", "deep/a/", "deep/a/b/", "deep/a/b/c.txt", "docs/", "docs/keep.md", "docs/readme.md"},
		},
		{
			name:   "exception inside an excluded directory",
			ignore: "docs\n!docs/keep.md\ndeep\n",
			want: []string{".dockerignore", "Dockerfile", "app/", "app/main.go", "app/main_test.go", "app/vendor/", "app/vendor/x/", "app/vendor/x/x.go",
				"build/", "build/Dockerfile.dev", "docs/keep.md", "node_modules/", "node_modules/a/", "node_modules/a/i.js", "secret.key"},
		},
		{
			name:   "later pattern wins",
			ignore: "*.key\n!secret.key\nsecret.key\n",
			want: []string{".dockerignore", "Dockerfile", "app/", "app/main.go", "app/main_test.go", "app/vendor/", "app/vendor/x/", "app/vendor/x/x.go",
				"build/", "build/Dockerfile.dev", "deep/", "deep/a/", "deep/a/b/", "deep/a/b/c.txt", "deep/a/b/secret.key",
				"docs/", "docs/keep.md", "docs/readme.md", "node_modules/", "node_modules/a/", "node_modules/a/i.js"},
		},
		{
			name:   "everything excluded: Dockerfile and .dockerignore still sent",
			ignore: "*\n",
			want:   []string{".dockerignore", "Dockerfile"},
		},
		{
			name:       "Dockerfile given with -f in an excluded directory",
			ignore:     "*\n",
			dockerfile: "build/Dockerfile.dev",
			want:       []string{".dockerignore", "build/Dockerfile.dev"},
		},
		{
			name:   "only exceptions",
			ignore: "**\n!app/*.go\n",
			want:   []string{".dockerignore", "Dockerfile", "app/main.go", "app/main_test.go"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			files := copyFiles(base)
			if tc.ignore != "-" {
				files[".dockerignore"] = tc.ignore
			}
			dir := writeTree(t, files)
			df := ""
			if tc.dockerfile != "" {
				df = filepath.Join(dir, tc.dockerfile)
			}
			b, err := openBuildContext(dir, df, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			want := tc.dockerfile
			if want == "" {
				want = "Dockerfile"
			}
			if b.dockerfile != want {
				t.Errorf("dockerfile parameter = %q, want %q", b.dockerfile, want)
			}
			got := tarEntries(t, b.body)
			slices.Sort(got)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("context entries (-want +got):\n%s", diff)
			}
			if err := b.err(); err != nil {
				t.Errorf("sender error: %v", err)
			}
		})
	}
}

func copyFiles(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func TestBuildContextDetails(t *testing.T) {
	t.Run("hard links, symlinks, modes, sockets", func(t *testing.T) {
		dir := writeTree(t, map[string]string{"Dockerfile": "FROM scratch\n", "a": "aaaa"})
		if err := os.Link(filepath.Join(dir, "a"), filepath.Join(dir, "b")); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("a", filepath.Join(dir, "l")); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(filepath.Join(dir, "a"), 0o750|os.ModeSetuid); err != nil {
			t.Fatal(err)
		}
		b, err := openBuildContext(dir, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		tr := tar.NewReader(b.body)
		got := map[string]string{}
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			data, _ := io.ReadAll(tr)
			got[h.Name] = string(rune(h.Typeflag)) + " " + h.Linkname + " " + string(data) + " " + strings.TrimLeft(fmtMode(h.Mode), "0")
			if !h.ModTime.Equal(h.ModTime.Truncate(time.Second)) {
				t.Errorf("%s: mtime %v not in whole seconds", h.Name, h.ModTime)
			}
		}
		want := map[string]string{
			"Dockerfile": "0  FROM scratch\n 644",
			"a":          "0  aaaa 4750",
			"b":          "1 a  4750",
			"l":          "2 a  777",
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("entries (-want +got):\n%s", diff)
		}
	})
	t.Run("lowercase dockerfile", func(t *testing.T) {
		dir := writeTree(t, map[string]string{"dockerfile": "FROM scratch\n"})
		b, err := openBuildContext(dir, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		if b.dockerfile != "dockerfile" {
			t.Errorf("dockerfile = %q", b.dockerfile)
		}
	})
	t.Run("missing Dockerfile", func(t *testing.T) {
		dir := writeTree(t, map[string]string{"x": ""})
		if _, err := openBuildContext(dir, "", nil); err == nil || !strings.Contains(err.Error(), "no such file or directory") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("not a directory", func(t *testing.T) {
		dir := writeTree(t, map[string]string{"x": ""})
		if _, err := openBuildContext(filepath.Join(dir, "x"), "", nil); err == nil || !strings.Contains(err.Error(), "context must be a directory") {
			t.Errorf("err = %v", err)
		}
		if _, err := openBuildContext(filepath.Join(dir, "nope"), "", nil); err == nil || !strings.Contains(err.Error(), "not found") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("Dockerfile outside the context and from stdin", func(t *testing.T) {
		dir := writeTree(t, map[string]string{"ctx/a": "a", "other.Dockerfile": "FROM scratch\n"})
		for _, tc := range []struct {
			df    string
			stdin string
		}{{filepath.Join(dir, "other.Dockerfile"), ""}, {"-", "FROM scratch\n"}} {
			b, err := openBuildContext(filepath.Join(dir, "ctx"), tc.df, strings.NewReader(tc.stdin))
			if err != nil {
				t.Fatal(err)
			}
			got := tarEntries(t, b.body)
			b.Close()
			if !strings.HasPrefix(b.dockerfile, ".dockerfile.") || !slices.Equal(got, []string{"a", b.dockerfile}) {
				t.Errorf("-f %s: dockerfile %q, entries %v", tc.df, b.dockerfile, got)
			}
		}
	})
	t.Run("stdin", func(t *testing.T) {
		b, err := openBuildContext("-", "", strings.NewReader("FROM scratch\n"))
		if err != nil {
			t.Fatal(err)
		}
		if got := tarEntries(t, b.body); b.dockerfile != "Dockerfile" || !slices.Equal(got, []string{"Dockerfile"}) {
			t.Errorf("Dockerfile on stdin: dockerfile %q, entries %v", b.dockerfile, got)
		}
		var tarball bytes.Buffer
		tw := tar.NewWriter(&tarball)
		tw.WriteHeader(&tar.Header{Name: "sub/Dockerfile", Mode: 0o644, Size: 5, Typeflag: tar.TypeReg})
		tw.Write([]byte("FROM\n"))
		tw.Close()
		raw := tarball.Bytes()
		b, err = openBuildContext("-", "sub/Dockerfile", bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := io.ReadAll(b.body); !bytes.Equal(got, raw) || b.dockerfile != "sub/Dockerfile" {
			t.Errorf("a tar on stdin is not passed through as is (dockerfile %q)", b.dockerfile)
		}
		if _, err := openBuildContext("-", "-", strings.NewReader("")); err == nil {
			t.Error("stdin for both context and Dockerfile accepted")
		}
	})
}

func fmtMode(m int64) string {
	const digits = "01234567"
	s := ""
	for i := 0; i < 4; i++ {
		s = string(digits[m&7]) + s
		m >>= 3
	}
	return s
}

func TestBuildArgsMap(t *testing.T) {
	env := map[string]string{"FROM_ENV": "e", "EMPTY": ""}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	got := buildArgsMap([]string{"A=1", "B=", "C=x=y", "FROM_ENV", "EMPTY", "UNSET"}, lookup)
	s := func(v string) *string { return &v }
	want := map[string]*string{"A": s("1"), "B": s(""), "C": s("x=y"), "FROM_ENV": s("e"), "EMPTY": s(""), "UNSET": nil}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("buildArgsMap (-want +got):\n%s", diff)
	}
	if got := labelsMap([]string{"a=1", "b"}); !cmp.Equal(got, map[string]string{"a": "1", "b": ""}) {
		t.Errorf("labelsMap = %v", got)
	}
}

// TestStepPrinter renders recorded classic-builder streams (from
// shared/reference/api-transcripts 02a, 02b, 02d, plus gantry's cache-miss
// note) with a clock that advances 250ms per message.
func TestStepPrinter(t *testing.T) {
	streams := map[string]string{
		"first": `{"stream":"Step 1/3 : FROM busybox"}
{"stream":"\n"}
{"stream":" ---\u003e a38bbcd23583\n"}
{"stream":"Step 2/3 : RUN echo hi \u003e /x"}
{"stream":"\n"}
{"stream":"cache miss at step 2 (RUN echo hi \u003e /x): no earlier build of this step\n"}
{"stream":" ---\u003e Running in 0d1968d687ff\n"}
{"stream":"hi"}
{"stream":" there\n"}
{"stream":"\u001b[91moops\n\u001b[0m"}
{"stream":"Removing intermediate container 0d1968d687ff\n"}
{"stream":" ---\u003e 18f502791107\n"}
{"stream":"Step 3/3 : CMD [\"cat\",\"/x\"]"}
{"stream":"\n"}
{"stream":" ---\u003e Running in f2658427f040\n"}
{"stream":"Removing intermediate container f2658427f040\n"}
{"stream":" ---\u003e 5ea8f5c00dca\n"}
{"aux":{"ID":"sha256:5ea8f5c00dca7c23aa69912c6414f0561903008b90e6f027bf24986824c94d97"}}
{"stream":"Successfully built 5ea8f5c00dca\n"}
{"stream":"Successfully tagged apiprobe/x:latest\n"}
`,
		"cached": `{"stream":"Step 1/3 : FROM busybox"}
{"stream":"\n"}
{"stream":" ---\u003e a38bbcd23583\n"}
{"stream":"Step 2/3 : RUN echo hi \u003e /x"}
{"stream":"\n"}
{"stream":" ---\u003e Using cache\n"}
{"stream":" ---\u003e 18f502791107\n"}
{"stream":"Step 3/3 : CMD [\"cat\",\"/x\"]"}
{"stream":"\n"}
{"stream":" ---\u003e Using cache\n"}
{"stream":" ---\u003e 5ea8f5c00dca\n"}
{"aux":{"ID":"sha256:5ea8f5c00dca7c23aa69912c6414f0561903008b90e6f027bf24986824c94d97"}}
{"stream":"Successfully built 5ea8f5c00dca\n"}
`,
		"fail": `{"stream":"Step 1/3 : FROM busybox"}
{"stream":"\n"}
{"stream":" ---\u003e a38bbcd23583\n"}
{"stream":"Step 2/3 : RUN echo before; exit 3"}
{"stream":"\n"}
{"stream":" ---\u003e Running in e847c85d78b0\n"}
{"stream":"before\n"}
{"errorDetail":{"code":3,"message":"The command '/bin/sh -c echo before; exit 3' returned a non-zero code: 3"},"error":"The command '/bin/sh -c echo before; exit 3' returned a non-zero code: 3"}
`,
	}
	for _, name := range []string{"first", "cached", "fail"} {
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			p := newStepPrinter(&out)
			clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			p.now = func() time.Time { clock = clock.Add(250 * time.Millisecond); return clock }
			var ids []string
			err := p.display(strings.NewReader(streams[name]), func(m jsonstream.Message) { ids = append(ids, string(*m.Aux)) })
			var jerr *jsonstream.Error
			if name == "fail" {
				if !errors.As(err, &jerr) || jerr.Code != 3 {
					t.Errorf("err = %#v, want the stream's error with code 3", err)
				}
			} else if err != nil || len(ids) != 1 {
				t.Errorf("err = %v, aux %v", err, ids)
			}
			golden(t, "build-tty-"+name, out.Bytes())
		})
	}
}
