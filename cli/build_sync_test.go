package cli

import (
	stdcmp "cmp"
	"context"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/client"

	gclient "github.com/gantry/gantry/client"
	"github.com/gantry/gantry/ctxsync"
)

// TestSyncContextDockerignore checks that a synced context holds the
// files the tar of the same directory holds, .dockerignore applied on
// the client alike (fsutil's ExcludePatterns against the CLI's walk).
func TestSyncContextDockerignore(t *testing.T) {
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
	for _, tc := range []struct{ name, ignore, dockerfile string }{
		{"no dockerignore", "-", ""},
		{"dirs, globs and double star", "# comment\nnode_modules\n**/*.key\napp/*_test.go\n\napp/vendor/\n", ""},
		{"exception inside an excluded directory", "docs\n!docs/keep.md\ndeep\n", ""},
		{"later pattern wins", "*.key\n!secret.key\nsecret.key\n", ""},
		{"everything excluded", "*\n", ""},
		{"Dockerfile in an excluded directory", "*\n", "build/Dockerfile.dev"},
		{"only exceptions", "**\n!app/*.go\n", ""},
	} {
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
			var want []string
			for _, e := range tarEntries(t, b.body) {
				if !strings.HasSuffix(e, "/") {
					want = append(want, e)
				}
			}
			b.Close()
			slices.Sort(want)

			sc, err := openSyncContext(dir, df, nil)
			if err != nil || sc == nil {
				t.Fatalf("openSyncContext: %v, %v", sc, err)
			}
			if want := stdcmp.Or(tc.dockerfile, "Dockerfile"); sc.dockerfile != want {
				t.Errorf("dockerfile parameter = %q, want %q", sc.dockerfile, want)
			}
			got := syncedFiles(t, sc)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("synced files (-tar's +synced):\n%s", diff)
			}
		})
	}
}

// syncedFiles syncs sc into a store and lists the copy's files.
func syncedFiles(t *testing.T, sc *syncContext) []string {
	t.Helper()
	base := t.TempDir()
	os.Mkdir(filepath.Join(base, "tmp"), 0o700)
	store, err := ctxsync.Open(filepath.Join(base, "contexts"), filepath.Join(base, "tmp"), 0)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client, server := net.Pipe()
	defer client.Close()
	sent := make(chan error, 1)
	go func() {
		_, err := ctxsync.Send(ctx, client, sc.root, sc.excludes)
		if err == nil {
			io.Copy(io.Discard, client)
		}
		sent <- err
	}()
	c, err := store.Receive(ctx, ctxsync.Key(sc.root), server, server)
	server.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Release()
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	var out []string
	filepath.WalkDir(c.Dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(c.Dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return err
	})
	slices.Sort(out)
	return out
}

func TestSyncContextNotLocal(t *testing.T) {
	dir := writeTree(t, map[string]string{"Dockerfile": "FROM scratch\n"})
	for _, tc := range []struct{ arg, dockerfile string }{
		{"-", ""},
		{"https://example.invalid/ctx.tar", ""},
		{filepath.Join(dir, "nosuch"), ""},
	} {
		if sc, err := openSyncContext(tc.arg, tc.dockerfile, nil); sc != nil || err != nil {
			t.Errorf("openSyncContext(%q, %q) = %v, %v; want the tar path", tc.arg, tc.dockerfile, sc, err)
		}
	}
}

// TestSyncContextDockerfileApart: a Dockerfile from stdin or from outside
// the context goes beside the synced context (not in it: .dockerignore
// keeps no exception for it); one over maxSyncDockerfile makes the
// context a tar, stdin's read part given back.
func TestSyncContextDockerfileApart(t *testing.T) {
	dir := writeTree(t, map[string]string{"Dockerfile": "FROM scratch\n", "a.txt": "a", ".dockerignore": "Dockerfile\n"})
	outside := writeTree(t, map[string]string{"Dockerfile.web": "FROM busybox\n"})
	for _, tc := range []struct {
		dockerfile, stdin, name, data string
	}{
		{"-", "FROM stdin\n", "Dockerfile", "FROM stdin\n"},
		{filepath.Join(outside, "Dockerfile.web"), "", "Dockerfile.web", "FROM busybox\n"},
	} {
		sc, err := openSyncContext(dir, tc.dockerfile, strings.NewReader(tc.stdin))
		if err != nil || sc == nil {
			t.Fatalf("%s: %v, %v", tc.dockerfile, sc, err)
		}
		if sc.dockerfile != tc.name || string(sc.dockerfileData) != tc.data {
			t.Errorf("%s: dockerfile %q %q", tc.dockerfile, sc.dockerfile, sc.dockerfileData)
		}
		if got := syncedFiles(t, sc); !slices.Equal(got, []string{".dockerignore", "a.txt"}) {
			t.Errorf("%s: synced %v", tc.dockerfile, got)
		}
	}
	big := strings.Repeat("# comment\n", maxSyncDockerfile/10+1)
	_, err := openSyncContext(dir, "-", strings.NewReader(big))
	var large errSyncDockerfile
	if !errors.As(err, &large) {
		t.Fatalf("a large Dockerfile on stdin: %v", err)
	}
	if all, _ := io.ReadAll(large.stdin); string(all) != big {
		t.Errorf("stdin given back has %d bytes, want %d", len(all), len(big))
	}
	os.WriteFile(filepath.Join(outside, "big"), []byte(big), 0o644)
	if sc, err := openSyncContext(dir, filepath.Join(outside, "big"), nil); sc != nil || err != nil {
		t.Errorf("a large Dockerfile outside the context: %v, %v; want the tar path", sc, err)
	}
}

// TestSyncBuildAnswers checks what gantry build makes of a daemon's
// answers to POST /build/sync: 404 (dockerd, an older gantryd) means the
// tar path, an error response is worded as the docker CLI words one.
func TestSyncBuildAnswers(t *testing.T) {
	dir := writeTree(t, map[string]string{"Dockerfile": "FROM scratch\n"})
	sc, err := openSyncContext(dir, "", nil)
	if err != nil || sc == nil {
		t.Fatal(sc, err)
	}
	for _, tc := range []struct {
		status int
		body   string
		want   string
	}{
		{404, `{"message":"page not found"}`, errNoSync.Error()},
		{400, `{"message":"invalid context key"}`, "Error response from daemon: invalid context key"},
	} {
		sock := filepath.Join(t.TempDir(), "d.sock")
		l, err := net.Listen("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		var gotPath, gotUpgrade, gotKey string
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			gotPath, gotUpgrade, gotKey = r.URL.Path, r.Header.Get("Upgrade"), r.URL.Query().Get("context")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(tc.status)
			io.WriteString(w, tc.body)
		})}
		go srv.Serve(l)
		api, err := gclient.New("unix://" + sock)
		if err != nil {
			t.Fatal(err)
		}
		_, err = syncBuild(context.Background(), api, sc, client.ImageBuildOptions{}, nil, nil)
		srv.Close()
		if err == nil || err.Error() != tc.want {
			t.Errorf("answer %d: got %v, want %q", tc.status, err, tc.want)
		}
		if gotPath != "/build/sync" || gotUpgrade != "gantry-context-sync" || gotKey != ctxsync.Key(sc.root) {
			t.Errorf("request: path %q, upgrade %q, context %q", gotPath, gotUpgrade, gotKey)
		}
	}
}
