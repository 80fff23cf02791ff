package integration

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The classic builder's and the image verbs' behaviour as dockerd 20.10
// shows it to a new user of the docker CLI (DOCKER_BUILDKIT=0). Every check
// here holds against dockerd too: GANTRY_TEST_DAEMON=/usr/sbin/dockerd go
// test ./integration -run TestClassic.

// TestClassicBuildOutput builds a Dockerfile with global ARGs, a volume a
// RUN writes into, a RUN writing to stderr, two HEALTHCHECKs, a COPY
// --chown into a new directory, an empty continuation line and a --label,
// and checks the stream and the image as dockerd makes them.
func TestClassicBuildOutput(t *testing.T) {
	e := newEnv(t)
	rnd := randHex(6)
	ctx := writeContext(t, map[string]string{
		"a.txt": rnd,
		"Dockerfile": `ARG BASE=busybox
ARG UNUSED=1
FROM $BASE AS one
VOLUME /data
RUN echo lost > /data/f && echo err-` + rnd + ` >&2 && echo out-` + rnd + `
HEALTHCHECK CMD true
HEALTHCHECK CMD false
COPY --chown=1001:1002 a.txt /o/x.txt
RUN echo a \

    b
FROM one
ENV X=` + rnd + `
`,
	})
	tag := name("classic") + ":1"
	r := e.build(t, "docker", nil, "", "--label", "acc.cli=from-cli", "--label", "acc.b=two words", "-t", tag, ctx)
	if r.Code != 0 {
		t.Fatalf("build:\n%s", r)
	}
	var steps []string
	// dockerd ends the red warning without a newline after it.
	for _, s := range parseSteps(strings.ReplaceAll(r.Stdout, "\x1b[0m", "\n")) {
		steps = append(steps, s.Text)
	}
	want := []string{
		"ARG BASE=busybox",
		"ARG UNUSED=1",
		"FROM $BASE AS one",
		"VOLUME /data",
		"RUN echo lost > /data/f && echo err-" + rnd + " >&2 && echo out-" + rnd,
		"HEALTHCHECK CMD true",
		"HEALTHCHECK CMD false",
		"COPY --chown=1001:1002 a.txt /o/x.txt",
		"RUN echo a     b",
		"FROM one",
		"ENV X=" + rnd,
		"LABEL acc.b=two words",
		"LABEL acc.cli=from-cli",
	}
	if diff := cmp.Diff(want, steps); diff != "" {
		t.Errorf("steps (-want +got):\n%s\n%s", diff, r)
	}
	if !strings.Contains(r.Stdout, "Step 1/13 : ARG BASE=busybox\n") {
		t.Errorf("global ARGs are not counted as steps:\n%s", r)
	}
	for _, s := range []string{
		"\x1b[91merr-" + rnd + "\n\x1b[0m", // stderr in red; stdout plain, in either order
		"out-" + rnd + "\n",
		"Note: overriding previous HEALTHCHECK: [CMD-SHELL true]\n",
		"\x1b[91m[WARNING]: Empty continuation line found in:\n    RUN echo a     b\n[WARNING]: Empty continuation lines will become errors in a future release.\n\x1b[0m",
	} {
		if !strings.Contains(r.Stdout+r.Stderr, s) {
			t.Errorf("the stream lacks %q:\n%s", s, r)
		}
	}
	if strings.Contains(r.Stdout, "\x1b[91mout-") {
		t.Errorf("stdout in red:\n%s", r)
	}
	if got := e.mustDocker(t, "image", "inspect", "-f", `{{json .Config.Env}} {{json .Config.Labels}}`, tag); got != `["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","X=`+rnd+`"] {"acc.b":"two words","acc.cli":"from-cli"}` {
		t.Errorf("env and labels: %s", got)
	}
	if got := e.runIn(t, tag, "ls -A /data; stat -c '%u:%g %a' /o /o/x.txt"); got != "1001:1002 755\n1001:1002 644" {
		t.Errorf("/data should be empty (the RUN wrote to the volume) and /o owned by 1001:1002: %q", got)
	}
}

// TestClassicBuildErrors checks dockerd's words for --chown names that do
// not resolve and for a --target the Dockerfile lacks.
func TestClassicBuildErrors(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct{ name, dockerfile, args, want string }{
		{"chown group missing", "FROM busybox\nRUN echo app:x:1000:1000::/:/bin/sh >> /etc/passwd\nCOPY --chown=app a.txt /\n", "",
			"unable to convert uid/gid chown string to host mapping: can't find gid for group app: no such group: app"},
		{"chown user missing", "FROM busybox\nCOPY --chown=nosuch:root a.txt /\n", "",
			"unable to convert uid/gid chown string to host mapping: can't find uid for user nosuch: no such user: nosuch"},
		{"target missing", "FROM busybox AS a\nRUN true\n", "nosuch",
			"failed to reach build target nosuch in Dockerfile"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := writeContext(t, map[string]string{"a.txt": "a", "Dockerfile": tc.dockerfile})
			args := []string{ctx}
			if tc.args != "" {
				args = []string{"--target", tc.args, ctx}
			}
			r := e.build(t, "docker", nil, "", args...)
			if r.Code == 0 || !strings.Contains(r.Stderr, tc.want) {
				t.Errorf("want a failure saying %q:\n%s", tc.want, r)
			}
		})
	}
}

// TestClassicImageVerbs checks run -w, commit, import and rmi against what
// dockerd 20.10 does.
func TestClassicImageVerbs(t *testing.T) {
	e := newEnv(t)
	rnd := randHex(6)
	t.Run("workdir", func(t *testing.T) {
		if got := e.mustDocker(t, "run", "--rm", "-w", "/newdir-"+rnd, "-u", "1000", "busybox", "stat", "-c", "%u:%g", "."); got != "0:0" {
			t.Errorf("run -w /newdir -u 1000: the directory is owned by %s, want 0:0", got)
		}
		r := e.docker(t, "run", "--rm", "-w", "/etc/passwd", "busybox", "true")
		if r.Code != 125 || !strings.Contains(r.Stderr, "Cannot mkdir: /etc/passwd is not a directory") {
			t.Errorf("run -w on a file: want exit 125 and dockerd's words:\n%s", r)
		}
	})
	t.Run("commit", func(t *testing.T) {
		ctr := name("commit")
		e.mustDocker(t, "run", "--name", ctr, "busybox", "sh", "-c", "echo "+rnd+" > /f")
		t.Cleanup(func() { e.docker(t, "rm", "-f", ctr) })
		base := e.mustDocker(t, "image", "inspect", "-f", "{{.Id}}", "busybox")
		cid := e.mustDocker(t, "inspect", "-f", "{{.Id}}", ctr)
		id := e.mustDocker(t, "commit", "--change", `ENTRYPOINT ["echo"]`, ctr)
		t.Cleanup(func() { e.docker(t, "rmi", id) })
		var img struct {
			Parent, Container string
			Config            struct{ Cmd, Entrypoint []string }
		}
		if err := json.Unmarshal([]byte(e.mustDocker(t, "image", "inspect", "-f", "{{json .}}", id)), &img); err != nil {
			t.Fatal(err)
		}
		if img.Parent != base || img.Container != cid || img.Config.Cmd != nil || !cmp.Equal(img.Config.Entrypoint, []string{"echo"}) {
			t.Errorf("committed image: Parent %q Container %q Cmd %q Entrypoint %q; want %q, %q, null, [echo]", img.Parent, img.Container, img.Config.Cmd, img.Config.Entrypoint, base, cid)
		}
	})
	t.Run("import", func(t *testing.T) {
		tag := name("imp") + ":1"
		e.mustDocker(t, "import", "--change", "ENV X="+rnd, busyboxTar, tag)
		t.Cleanup(func() { e.docker(t, "rmi", tag) })
		if got := e.mustDocker(t, "image", "inspect", "-f", "{{.Comment}}", tag); got != "Imported from -" {
			t.Errorf("import: Comment %q, want %q", got, "Imported from -")
		}
	})
	t.Run("rmi", func(t *testing.T) {
		ctx := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN echo " + rnd + " > /a\nLABEL x=" + rnd + "\nRUN echo 2 > /b\n"})
		tag := name("rmi") + ":1"
		e.mustBuild(t, "docker", "-t", tag, ctx)
		out := e.mustDocker(t, "rmi", tag)
		// The image, the LABEL step's and the first RUN's images, and the
		// two layers of the RUN steps, each after the image that held it.
		var kinds []string
		for _, l := range lines(out) {
			kind, _, _ := strings.Cut(l, ":")
			kinds = append(kinds, kind)
		}
		if want := []string{"Untagged", "Deleted", "Deleted", "Deleted", "Deleted", "Deleted"}; !cmp.Equal(kinds, want) {
			t.Errorf("rmi of a built image: got\n%s\nwant the image, its intermediate parents and their layers (%d lines)", out, len(want))
		}
		r := e.docker(t, "rmi", "nosuch-"+rnd)
		if r.Code != 1 || r.Stderr != "Error response from daemon: No such image: nosuch-"+rnd+":latest\n" {
			t.Errorf("rmi nosuch:\n%s", r)
		}
	})
}
