package integration

import (
	"context"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/client"
)

var imageIDRe = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// allImageIDs lists every image ID the daemon has (docker images -aq --no-trunc).
func (e *env) allImageIDs(t *testing.T) []string {
	t.Helper()
	ids := lines(e.mustDocker(t, "images", "-aq", "--no-trunc"))
	slices.Sort(ids)
	return slices.Compact(ids)
}

func TestImport(t *testing.T) {
	e := newEnv(t)
	tarData, err := os.ReadFile(busyboxTar)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("stdin with changes", func(t *testing.T) {
		ref := name("imp") + ":1"
		r := e.dockerIn(t, string(tarData), "import", "-m", "from stdin", "-c", `CMD ["echo","imported"]`, "-c", "ENV A=b", "-", ref)
		if r.Code != 0 || !imageIDRe.MatchString(strings.TrimSpace(r.Stdout)) {
			t.Fatalf("docker import -: %s", r)
		}
		id := strings.TrimSpace(r.Stdout)
		if got := e.mustDocker(t, "image", "inspect", "-f", "{{.Id}}|{{json .Config.Cmd}}|{{.Comment}}|{{.RootFS.Type}}|{{len .RootFS.Layers}}", ref); got != id+`|["echo","imported"]|from stdin|layers|1` {
			t.Errorf("image inspect = %q", got)
		}
		if env := e.mustDocker(t, "image", "inspect", "-f", "{{json .Config.Env}}", ref); !strings.Contains(env, `"A=b"`) {
			t.Errorf("Config.Env = %s, want A=b in it", env)
		}
		if r := e.docker(t, "run", "--rm", ref); r.Code != 0 || r.Stdout != "imported\n" {
			t.Errorf("run of the imported image:\n%s", r)
		}
	})
	t.Run("file", func(t *testing.T) {
		ref := name("impfile") + ":2"
		id := e.mustDocker(t, "import", busyboxTar, ref)
		if !imageIDRe.MatchString(id) {
			t.Fatalf("docker import FILE printed %q", id)
		}
		if got := e.mustDocker(t, "images", "--no-trunc", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}", ref); got != ref+" "+id {
			t.Errorf("images %s = %q, want %q", ref, got, ref+" "+id)
		}
		if r := e.docker(t, "run", "--rm", ref, "echo", "ok"); r.Stdout != "ok\n" || r.Code != 0 {
			t.Errorf("run:\n%s", r)
		}
	})
	t.Run("not a tar", func(t *testing.T) {
		before := e.allImageIDs(t)
		ref := name("bad") + ":1"
		for _, input := range []string{"this is not a tar archive\n", string(tarData[:len(tarData)/2])} {
			r := e.dockerIn(t, input, "import", "-", ref)
			if r.Code != 1 || !strings.HasPrefix(r.Stderr, "Error response from daemon: ") {
				t.Errorf("import of a bad tar (%d bytes):\n%s\nwant exit 1 and an error from the daemon", len(input), r)
			}
		}
		if diff := cmp.Diff(before, e.allImageIDs(t)); diff != "" {
			t.Errorf("images changed by failed imports (-before +after):\n%s", diff)
		}
		if r := e.docker(t, "image", "inspect", ref); r.Code != 1 {
			t.Errorf("image %s exists after failed imports:\n%s", ref, r)
		}
		if !e.External {
			status, _, body := e.api(t, http.MethodPost, "/images/create?fromSrc=-&repo="+ref, strings.NewReader("garbage"))
			if status != http.StatusBadRequest {
				t.Errorf("POST /images/create with garbage = %d %s, want 400", status, body)
			}
		}
	})
}

func TestImages(t *testing.T) {
	e := newEnv(t)
	repo := name("list")
	first := e.mustDocker(t, "import", busyboxTar, repo+":1")
	second := e.mustDocker(t, "import", busyboxTar, repo+":1") // first becomes dangling
	if first == second {
		t.Fatalf("two imports gave one ID %s", first)
	}
	if !e.External {
		// The first import is dangling now, and listed as <none>, as Docker does.
		got := e.mustDocker(t, "images", "--format", "{{.Repository}}:{{.Tag}}")
		if diff := cmp.Diff([]string{"<none>:<none>", "busybox:latest", repo + ":1"}, sorted(lines(got))); diff != "" {
			t.Errorf("docker images (-want +got):\n%s", diff)
		}
	}
	for _, tc := range []struct {
		name   string
		args   []string
		want   []string // exact, unless contains
		wantIn []string
		notIn  []string
	}{
		{name: "reference", args: []string{"--filter", "reference=" + repo}, want: []string{second}},
		{name: "reference glob", args: []string{"--filter", "reference=" + repo + ":*"}, want: []string{second}},
		{name: "reference tag", args: []string{"--filter", "reference=" + repo + ":1"}, want: []string{second}},
		{name: "reference no match", args: []string{"--filter", "reference=" + repo + ":2"}, want: nil},
		{name: "dangling", args: []string{"--filter", "dangling=true"}, wantIn: []string{first}, notIn: []string{second}},
		{name: "not dangling", args: []string{"--filter", "dangling=false"}, wantIn: []string{second}, notIn: []string{first}},
		{name: "default lists dangling too", args: nil, wantIn: []string{first, second}},
		{name: "all", args: []string{"-a"}, wantIn: []string{first, second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := lines(e.mustDocker(t, append([]string{"images", "-q", "--no-trunc"}, tc.args...)...))
			if tc.wantIn == nil && tc.notIn == nil {
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("images %v (-want +got):\n%s", tc.args, diff)
				}
			}
			for _, id := range tc.wantIn {
				if !slices.Contains(got, id) {
					t.Errorf("images %v = %v, missing %s", tc.args, got, id)
				}
			}
			for _, id := range tc.notIn {
				if slices.Contains(got, id) {
					t.Errorf("images %v = %v, should not list %s", tc.args, got, id)
				}
			}
		})
	}
	if got := e.mustDocker(t, "images", "--no-trunc", "--filter", "dangling=true", "--format", "{{.ID}} {{.Repository}}:{{.Tag}}"); !slices.Contains(lines(got), first+" <none>:<none>") {
		t.Errorf("dangling image not shown as <none>:<none>:\n%s", got)
	}
	// Go client: same answer through the API.
	list, err := e.client(t).ImageList(context.Background(), client.ImageListOptions{Filters: make(client.Filters).Add("reference", repo)})
	if err != nil || len(list.Items) != 1 || list.Items[0].ID != second || !slices.Equal(list.Items[0].RepoTags, []string{repo + ":1"}) {
		t.Errorf("Go ImageList reference=%s = %+v, %v", repo, list.Items, err)
	}
}

func TestImageInspectHistory(t *testing.T) {
	e := newEnv(t)
	id := e.mustDocker(t, "image", "inspect", "-f", "{{.Id}}", "busybox")
	for _, ref := range []string{"busybox", "busybox:latest", "library/busybox", "docker.io/library/busybox:latest", id, strings.TrimPrefix(id, "sha256:")[:12]} {
		if got := e.docker(t, "image", "inspect", "-f", "{{.Id}}", ref); got.Code != 0 || strings.TrimSpace(got.Stdout) != id {
			t.Errorf("image inspect %s:\n%s\nwant %s", ref, got, id)
		}
	}
	if got := e.mustDocker(t, "image", "inspect", "-f", "{{.Os}}|{{.Architecture}}|{{json .RepoTags}}", "busybox"); !strings.HasPrefix(got, "linux|") || !strings.Contains(got, `"busybox:latest"`) {
		t.Errorf("image inspect busybox = %q", got)
	}
	hist := lines(e.mustDocker(t, "history", "-q", "--no-trunc", "busybox"))
	if len(hist) != 1 || hist[0] != id {
		t.Errorf("history busybox = %v, want one entry %s", hist, id)
	}
	for _, tc := range []struct {
		name       string
		args       []string
		wantStdout string
		wantStderr string
	}{
		{"inspect missing", []string{"image", "inspect", "nosuch-gt:1"}, "[]\n", "No such image: nosuch-gt:1"},
		{"history missing", []string{"history", "nosuch-gt:1"}, "", "No such image: nosuch-gt:1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.docker(t, tc.args...)
			if r.Code != 1 || r.Stdout != tc.wantStdout || !strings.Contains(r.Stderr, tc.wantStderr) {
				t.Errorf("docker %v:\n%s\nwant exit 1, stdout %q, stderr with %q", tc.args, r, tc.wantStdout, tc.wantStderr)
			}
		})
	}
	status, _, body := e.api(t, http.MethodGet, "/images/nosuch-gt:1/json", nil)
	if status != http.StatusNotFound || !strings.Contains(apiMessage(t, body), "No such image: nosuch-gt:1") {
		t.Errorf("GET /images/nosuch-gt:1/json = %d %s", status, body)
	}
	status, _, body = e.api(t, http.MethodGet, "/images/Bad..Ref/json", nil)
	if status != http.StatusBadRequest || !strings.Contains(apiMessage(t, body), "invalid reference format") {
		t.Errorf("GET /images/Bad..Ref/json = %d %s, want 400 invalid reference format", status, body)
	}
	status, _, body = e.api(t, http.MethodPost, "/images/busybox/tag?repo=UPPER&tag=x", nil)
	if !strings.Contains(apiMessage(t, body), "invalid reference format") || (!e.External && status != http.StatusBadRequest) {
		// dockerd 20.10 answers 500 here; gantryd must answer 400.
		t.Errorf("POST /images/busybox/tag?repo=UPPER = %d %s, want 400 invalid reference format", status, body)
	}
}

func TestTagRmi(t *testing.T) {
	e := newEnv(t)
	bbID := e.mustDocker(t, "image", "inspect", "-f", "{{.Id}}", "busybox")
	repo := name("tag")
	e.mustDocker(t, "tag", "busybox", repo+":v1")
	if got := e.mustDocker(t, "image", "inspect", "-f", "{{.Id}}", repo+":v1"); got != bbID {
		t.Fatalf("tagged image ID = %s, want %s", got, bbID)
	}

	// Untag only: busybox still names the image.
	if r := e.docker(t, "rmi", repo+":v1"); r.Code != 0 || r.Stdout != "Untagged: "+repo+":v1\n" {
		t.Errorf("rmi of an extra tag:\n%s\nwant only Untagged", r)
	}
	if r := e.docker(t, "image", "inspect", "busybox"); r.Code != 0 {
		t.Fatalf("busybox gone after untagging another name:\n%s", r)
	}

	// Last tag: untag and delete.
	id := e.mustDocker(t, "import", busyboxTar, repo+":only")
	if r := e.docker(t, "rmi", repo+":only"); r.Code != 0 || r.Stdout != "Untagged: "+repo+":only\nDeleted: "+id+"\n" {
		t.Errorf("rmi of the only tag:\n%s\nwant Untagged then Deleted: %s", r, id)
	}

	// Conflict while a container uses it, then force.
	id = e.mustDocker(t, "import", busyboxTar, repo+":used")
	ctr := e.mustDocker(t, "create", repo+":used", "true")
	r := e.docker(t, "rmi", repo+":used")
	if r.Code != 1 || !strings.Contains(r.Stderr, "conflict") || !strings.Contains(r.Stderr, "container "+ctr[:12]) {
		t.Errorf("rmi of an image in use:\n%s\nwant exit 1 and a conflict naming container %s", r, ctr[:12])
	}
	_, err := e.client(t).ImageRemove(context.Background(), repo+":used", client.ImageRemoveOptions{})
	if !cerrdefs.IsConflict(err) {
		t.Errorf("Go ImageRemove of an image in use = %v, want a conflict (409)", err)
	}
	e.mustDocker(t, "rm", ctr)
	if r := e.docker(t, "rmi", id); r.Code != 0 || !strings.Contains(r.Stdout, "Deleted: "+id) {
		t.Errorf("rmi by ID after the container is gone:\n%s", r)
	}

	for _, tc := range []struct {
		name       string
		args       []string
		wantCode   int
		wantStderr string
	}{
		{"missing", []string{"rmi", "nosuch-gt:1"}, 1, "Error response from daemon: No such image: nosuch-gt:1\n"},
		{"tag missing source", []string{"tag", "nosuch-gt:1", repo + ":x"}, 1, "Error response from daemon: No such image: nosuch-gt:1\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.docker(t, tc.args...)
			if r.Code != tc.wantCode || r.Stderr != tc.wantStderr {
				t.Errorf("docker %v:\n%s\nwant exit %d, stderr %q", tc.args, r, tc.wantCode, tc.wantStderr)
			}
		})
	}
	_, err = e.client(t).ImageRemove(context.Background(), "nosuch-gt:1", client.ImageRemoveOptions{})
	if !cerrdefs.IsNotFound(err) {
		t.Errorf("Go ImageRemove of a missing image = %v, want not found (404)", err)
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
