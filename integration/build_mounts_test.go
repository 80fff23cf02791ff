package integration

import (
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// BuildKit's RUN --mount, RUN --network, COPY --parents, COPY --link and
// ADD --checksum, which gantryd's builder gives the classic API too (the
// docker CLI with DOCKER_BUILDKIT=0, gantry build). dockerd's classic
// builder refuses them, so these run against gantryd only.

func needGantryd(t *testing.T, e *env) {
	t.Helper()
	if e.External || e.d.isDockerd() {
		t.Skip("BuildKit's Dockerfile flags: dockerd's classic builder refuses them")
	}
}

// TestBuildRunMounts checks cache mounts (kept across builds, apart by id
// and owner, never in the image), bind mounts (from a stage, an image and
// the context, read-only or with writes thrown away, their content in the
// step's key), tmpfs mounts and RUN --network.
func TestBuildRunMounts(t *testing.T) {
	e := newEnv(t)
	needGantryd(t, e)
	for _, prog := range buildClients {
		t.Run(prog, func(t *testing.T) {
			rnd := randHex(6)
			ctx := writeContext(t, map[string]string{
				"src/h.txt": "hello-" + rnd,
				"Dockerfile": `FROM busybox AS tools
RUN echo tool-` + rnd + ` > /tool.txt
FROM busybox
ARG N=1
RUN --mount=type=cache,target=/cache,id=c-` + rnd + `,uid=1000,mode=0700 stat -c '%u %a' /cache > /cache-owner; ls /cache > /cache-before; echo $N > /cache/run-$N
RUN --mount=type=cache,target=/cache,id=other-` + rnd + ` ls /cache > /other
RUN --mount=type=bind,from=tools,source=/tool.txt,target=/t.txt --mount=type=bind,from=busybox,source=/bin,target=/bb cat /t.txt /bb/busybox > /dev/null && cat /t.txt > /from-stage
RUN --mount=type=bind,source=src,target=/s cat /s/h.txt > /from-context
RUN --mount=type=bind,source=src,target=/s,rw echo lost > /s/h.txt; echo new > /s/new; ls /s > /rw
RUN --mount=type=tmpfs,target=/tt,size=1m echo t > /tt/f; df -k /tt | tail -1 | awk '{print $2}' > /tmpfs-size
RUN --network=none ls /sys/class/net > /nets
`,
			})
			r1, id1 := e.mustBuild(t, prog, "--build-arg", "N=1", ctx)
			want := strings.Join([]string{
				"1000 700", "", "", "tool-" + rnd, "hello-" + rnd, "h.txt\nnew", "1024", "lo",
				"no /cache /tt /s /t.txt /bb",
			}, "\n")
			check := "cat /cache-owner; echo; cat /cache-before; echo; cat /other; cat /from-stage /from-context; echo; cat /rw /tmpfs-size /nets; " +
				"for p in /cache /tt /s /t.txt /bb; do [ -e $p ] && echo has $p; done; echo no /cache /tt /s /t.txt /bb"
			if got := e.runIn(t, id1, check); got != want {
				t.Errorf("first build:\n%s\nwant\n%s\n%s", got, want, r1)
			}
			if b, _ := os.ReadFile(filepath.Join(ctx, "src/h.txt")); string(b) != "hello-"+rnd {
				t.Errorf("a rw bind mount wrote to the context: %q", b)
			}
			// The cache mount keeps what the first build wrote; the other id
			// does not see it.
			_, id2 := e.mustBuild(t, prog, "--build-arg", "N=2", ctx)
			if got := e.runIn(t, id2, "cat /cache-before; echo; cat /other"); got != "run-1\n" {
				t.Errorf("second build: cache mount before the step %q, want run-1 and nothing in the other id", got)
			}
			// A bind mount's content is an input of its step.
			os.WriteFile(filepath.Join(ctx, "src/h.txt"), []byte("changed-"+rnd), 0o644)
			r3, id3 := e.mustBuild(t, prog, "--build-arg", "N=2", ctx)
			if got := e.runIn(t, id3, "cat /from-context"); got != "changed-"+rnd {
				t.Errorf("after a change of the bound file: %q\n%s", got, r3)
			}
			if !strings.Contains(r3.Stdout, "src/h.txt: content changed") {
				t.Errorf("no explanation naming src/h.txt:\n%s", r3)
			}
		})
	}
}

// TestBuildCopyFlags checks COPY --parents, COPY --link and ADD --checksum.
func TestBuildCopyFlags(t *testing.T) {
	e := newEnv(t)
	needGantryd(t, e)
	body := "remote " + randHex(6) + "\n"
	sum := fmt.Sprintf("sha256:%x", sha256.Sum256([]byte(body)))
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, body) }))
	srv.Listener.Close()
	srv.Listener = e.listenInDaemonNet(t)
	srv.Start()
	defer srv.Close()
	rnd := randHex(6)
	ctx := writeContext(t, map[string]string{
		"a/b/c.txt": "c-" + rnd, "x/y/z.txt": "z", "x/y/w.txt": "w", "l.txt": "l",
		"Dockerfile": "FROM busybox\nCOPY --parents a/b/c.txt x/./y/*.txt /dst/\nCOPY --link l.txt /linked/\nADD --checksum=" + sum + " " + srv.URL + "/f.txt /f.txt\n",
	})
	_, id := e.mustBuild(t, "docker", ctx)
	if got := e.runIn(t, id, "cd /dst && find . -type f | sort; cat /linked/l.txt /f.txt"); got != "./a/b/c.txt\n./y/w.txt\n./y/z.txt\nl"+body[:len(body)-1] {
		t.Errorf("COPY --parents, --link, ADD --checksum: %q", got)
	}
	bad := "sha256:" + strings.Repeat("0", 64)
	for _, tc := range []struct{ dockerfile, want string }{
		{"FROM busybox\nADD --checksum=" + bad + " " + srv.URL + "/f.txt /f.txt\n", "digest mismatch for " + srv.URL + "/f.txt: " + sum + " (expected: " + bad + ")"},
		{"FROM busybox\nADD --checksum=" + sum + " l.txt /l.txt\n", "checksum requires HTTP(S) or Git sources"},
		// The docker CLI forwards no agent: a required ssh mount fails as in BuildKit.
		{"FROM busybox\nRUN --mount=type=ssh,required=true true\n", `no SSH key "default" forwarded from the client`},
		{"FROM busybox\nRUN --network=host true\n", "network.host is not allowed"},
		{"FROM busybox\nRUN --mount=type=bind,source=nosuch,target=/x true\n", `"/nosuch": not found`},
		{"FROM busybox\nRUN --mount=type=bind,from=127.0.0.1:1/nosuch-stage,target=/x true\n", "failed to resolve source metadata for 127.0.0.1:1/nosuch-stage:latest: "},
	} {
		os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte(tc.dockerfile), 0o644)
		tag := name("bad") + ":1"
		r := e.build(t, "docker", nil, "", "-t", tag, ctx)
		if r.Code != 1 || !strings.Contains(r.Stderr, tc.want) {
			t.Errorf("%s: want exit 1 and %q:\n%s", tc.dockerfile, tc.want, r)
		}
		if r := e.docker(t, "image", "inspect", tag); r.Code == 0 {
			t.Errorf("a failed build tagged %s", tag)
		}
	}
}

// TestBuildSecrets checks gantry build --secret: the secret is in the
// RUN step's file (/run/secrets/<id> or its target, mode 0400 unless
// given), in no layer, no cache key (a new value hits the cache) and
// nowhere under the data root; a required secret that was not given is
// BuildKit's error, an optional one is left out (the docker CLI sends none).
func TestBuildSecrets(t *testing.T) {
	e := newEnv(t)
	needGantryd(t, e)
	e.needGantry(t)
	value := "s3cr3t-" + randHex(8)
	file := filepath.Join(t.TempDir(), "tok")
	os.WriteFile(file, []byte(value), 0o600)
	ctx := writeContext(t, map[string]string{"Dockerfile": `FROM busybox
RUN --mount=type=secret,id=tok sha256sum /run/secrets/tok | cut -c1-64 > /ok && stat -c %a /run/secrets/tok > /mode
RUN --mount=type=secret,id=env,target=/etc/the-env,mode=0440,uid=65534 cat /etc/the-env > /env && stat -c '%a %u' /etc/the-env > /env-mode
RUN --mount=type=secret,id=absent ls /run/secrets > /absent 2>&1 || echo gone > /absent
`})
	r := e.build(t, "gantry", []string{"THE_ENV=from-env"}, "", "--secret", "id=tok,src="+file, "--secret", "id=env,env=THE_ENV", ctx)
	id := builtID(r.Stdout)
	if r.Code != 0 || id == "" {
		t.Fatalf("build with secrets:\n%s", r)
	}
	sum := fmt.Sprintf("%x", sha256.Sum256([]byte(value)))
	if got := e.runIn(t, id, "cat /ok /mode /env; echo; cat /env-mode /absent; ls -A /run 2>/dev/null | wc -l"); got != sum+"\n400\nfrom-env\n440 65534\ngone\n0" {
		t.Errorf("secrets in RUN: %q", got)
	}
	if out, _ := exec.Command("grep", "-rl", value, e.Root).CombinedOutput(); len(out) > 0 {
		t.Errorf("the secret is on the daemon's disk: %s", out)
	}
	// Another value is no change to the step.
	os.WriteFile(file, []byte("other"), 0o600)
	r = e.build(t, "gantry", []string{"THE_ENV=from-env"}, "", "--secret", "id=tok,src="+file, "--secret", "id=env,env=THE_ENV", ctx)
	if got := cachedSteps(r.Stdout); r.Code != 0 || len(got) != 4 || !got[1] {
		t.Errorf("a new secret value missed the cache (%v):\n%s", got, r)
	}
	os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte("FROM busybox\nRUN --mount=type=secret,id=nope,required true\n"), 0o644)
	r = e.build(t, "docker", nil, "", ctx)
	if r.Code != 1 || !strings.Contains(r.Stderr, "secret nope: not found") {
		t.Errorf("a required secret not given: want exit 1 and BuildKit's words:\n%s", r)
	}
}
