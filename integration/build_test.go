package integration

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The build tests run every build through both clients, the docker CLI and
// bin/gantry (which also runs against an external daemon: it is a client of
// the Engine API like the docker CLI). Each client's builds get their own
// random content, so that one client's builds do not hit the cache of the
// other's, nor of an earlier run against a long-lived dockerd. Checks of what
// only Gantry does (cache-miss explanations, skipping unneeded stages, no
// container left after a failure, heredocs, COPY --chmod) run against
// gantryd only.

var buildClients = []string{"docker", "gantry"}

// buildCmd returns the command line prefix of a client's build verb.
func (e *env) buildCmd(t *testing.T, prog string) []string {
	t.Helper()
	if prog == "gantry" {
		bin := filepath.Join(binDir, "gantry")
		if _, err := os.Stat(bin); err != nil {
			t.Skipf("%s not found: run make build first", bin)
		}
		return []string{bin, "-H", e.Host, "build"}
	}
	return []string{"docker", "build"}
}

// build runs `PROG build ARGS...` with extra environment variables (K=V).
func (e *env) build(t *testing.T, prog string, extraEnv []string, stdin string, args ...string) result {
	t.Helper()
	cmdline := append(e.buildCmd(t, prog), args...)
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, cmdline[0], cmdline[1:]...)
	cmd.Env = append(e.clientEnv(), extraEnv...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{Stdout: out.String(), Stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("%s: no exit within %v\n%s", strings.Join(cmdline, " "), commandTimeout, r)
	case errors.As(err, &ee):
		r.Code = ee.ExitCode()
	case err != nil:
		t.Fatalf("%s: %v", strings.Join(cmdline, " "), err)
	}
	return r
}

// mustBuild builds and fails the test unless the build succeeds; it returns
// the output and the short ID of the image built.
func (e *env) mustBuild(t *testing.T, prog string, args ...string) (result, string) {
	t.Helper()
	r := e.build(t, prog, nil, "", args...)
	id := builtID(r.Stdout)
	if r.Code != 0 || id == "" {
		t.Fatalf("%s build %s:\n%s", prog, strings.Join(args, " "), r)
	}
	return r, id
}

var builtRe = regexp.MustCompile(`(?m)^Successfully built ([0-9a-f]{12})$`)

// builtID returns the short image ID of "Successfully built ID", or "".
func builtID(out string) string {
	if m := builtRe.FindStringSubmatch(out); m != nil {
		return m[1]
	}
	return ""
}

// buildStep is one "Step N/M : INSTRUCTION" of classic builder output.
type buildStep struct {
	Text   string // the instruction as printed
	Cached bool   // " ---> Using cache" followed
	Out    []string
}

var stepRe = regexp.MustCompile(`^Step (\d+)/(\d+) : (.*)$`)

// parseSteps splits build output into steps.
func parseSteps(out string) []buildStep {
	var steps []buildStep
	for _, l := range lines(strings.ReplaceAll(out, "\r", "")) {
		if m := stepRe.FindStringSubmatch(l); m != nil {
			steps = append(steps, buildStep{Text: m[3]})
			continue
		}
		if len(steps) == 0 {
			continue
		}
		s := &steps[len(steps)-1]
		if l == " ---> Using cache" {
			s.Cached = true
		}
		s.Out = append(s.Out, l)
	}
	return steps
}

// cachedSteps returns, per step, whether it came from the cache.
func cachedSteps(out string) []bool {
	var c []bool
	for _, s := range parseSteps(out) {
		c = append(c, s.Cached)
	}
	return c
}

// writeContext writes a build context; a value of nil bytes for a name
// ending in "/" makes a directory.
func writeContext(t *testing.T, files map[string]string) string {
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

// tarOf returns a tar archive of name -> content.
func tarOf(t *testing.T, files map[string]string) string {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: n, Mode: 0o644, Size: int64(len(files[n]))}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(files[n]))
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// runIn runs sh -c script in image and returns its stdout.
func (e *env) runIn(t *testing.T, image, script string) string {
	t.Helper()
	return e.mustDocker(t, "run", "--rm", "--entrypoint", "/bin/sh", "-u", "0", image, "-c", script)
}

// TestBuildInstructions builds a Dockerfile that uses every instruction the
// classic builder knows and checks the image's config and files.
func TestBuildInstructions(t *testing.T) {
	e := newEnv(t)
	for _, prog := range buildClients {
		t.Run(prog, func(t *testing.T) {
			rnd := randHex(6)
			ctx := writeContext(t, map[string]string{
				"a.txt":     "A\n",
				"b.txt":     "B\n",
				"dir/x":     "X\n",
				"dir/sub/y": "Y\n",
				"c1.conf":   "c1\n",
				"c2.conf":   "c2\n",
				"files.tar": tarOf(t, map[string]string{"t1.txt": "T1\n", "d/t2.txt": "T2\n"}),
				"Dockerfile": `ARG BASE=busybox
FROM ${BASE} AS base
RUN echo base-` + rnd + ` > /base
FROM scratch AS empty
COPY a.txt /from-scratch.txt
FROM base
MAINTAINER Gantry Tests <t@example.com>
ARG BASE
ARG VERSION=1
ARG FROMCLI
ENV E1=one E2="two words"
ENV E3 three four
LABEL l1=v1 "l2"="v 2"
EXPOSE 8080 53/udp
WORKDIR /w
WORKDIR rel
# a comment
RUN pwd > /pwd && echo "$BASE $VERSION $FROMCLI $E1 $E2 $E3" > /vars
RUN ["/bin/sh", "-c", "echo exec form > /exec"]
RUN echo one \
# a comment inside a continuation
    two > /cont
SHELL ["/bin/sh", "-c", "echo \"$0\" > /shelled && eval \"$0\""]
RUN echo shelled-` + rnd + ` > /run-out
SHELL ["/bin/sh", "-xc"]
COPY a.txt b.txt /files/
COPY dir /copied-dir
COPY dir/ /copied-dir2/
COPY *.conf /confs/
COPY a.txt /renamed.txt
COPY a.txt /newdir/
COPY --chown=1234:5678 a.txt /owned
COPY --chown=nobody:nogroup a.txt /owned-name
COPY --from=base /base /from-base
COPY --from=0 /base /from-index
COPY --from=empty /from-scratch.txt /
ADD files.tar /untarred/
ADD a.txt /added.txt
USER nobody
RUN id -u > /tmp/uid-name
USER 1000:1000
RUN echo "$(id -u):$(id -g)" > /tmp/ids
VOLUME /data
STOPSIGNAL SIGUSR1
HEALTHCHECK --interval=5s --timeout=2s --retries=4 CMD true
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat /vars"]
ONBUILD RUN echo onbuild > /tmp/onbuild
`,
			})
			tag := name("instr") + ":1"
			r := e.build(t, prog, []string{"FROMCLI=fromenv"}, "", "-t", tag, "--build-arg", "VERSION=2", "--build-arg", "FROMCLI", "--label", "l3=from-cli", ctx)
			if r.Code != 0 {
				t.Fatalf("build:\n%s", r)
			}
			if !strings.Contains(r.Stdout, "Successfully tagged "+tag) {
				t.Errorf("no 'Successfully tagged %s':\n%s", tag, r)
			}
			inspect := func(f string) string {
				return e.mustDocker(t, "image", "inspect", "-f", f, tag)
			}
			for _, c := range []struct{ field, want string }{
				{"{{json .Config.Entrypoint}}", `["/bin/sh","-c"]`},
				{"{{json .Config.Cmd}}", `["cat /vars"]`},
				{"{{json .Config.Shell}}", `["/bin/sh","-xc"]`},
				{"{{.Config.WorkingDir}}", "/w/rel"},
				{"{{.Config.User}}", "1000:1000"},
				{"{{json .Config.ExposedPorts}}", `{"53/udp":{},"8080/tcp":{}}`},
				{"{{json .Config.Volumes}}", `{"/data":{}}`},
				{"{{.Config.StopSignal}}", "SIGUSR1"},
				{"{{json .Config.Healthcheck}}", `{"Test":["CMD-SHELL","true"],"Interval":5000000000,"Timeout":2000000000,"Retries":4}`},
				{"{{json .Config.OnBuild}}", `["RUN echo onbuild > /tmp/onbuild"]`},
				{"{{.Author}}", "Gantry Tests <t@example.com>"},
				{`{{index .Config.Labels "l1"}}|{{index .Config.Labels "l2"}}|{{index .Config.Labels "l3"}}`, "v1|v 2|from-cli"},
			} {
				if got := inspect(c.field); got != c.want {
					t.Errorf("image %s = %s, want %s", c.field, got, c.want)
				}
			}
			env := inspect("{{json .Config.Env}}")
			for _, kv := range []string{`"E1=one"`, `"E2=two words"`, `"E3=three four"`} {
				if !strings.Contains(env, kv) {
					t.Errorf("Config.Env = %s, want %s in it", env, kv)
				}
			}
			got := e.runIn(t, tag, `cd /; for f in pwd vars exec cont shelled run-out from-base from-index from-scratch.txt files/a.txt files/b.txt copied-dir/x copied-dir/sub/y copied-dir2/x confs/c1.conf confs/c2.conf renamed.txt newdir/a.txt untarred/t1.txt untarred/d/t2.txt added.txt tmp/uid-name tmp/ids; do printf '%s=' $f; cat $f; done; stat -c '%n %u:%g' owned owned-name; ls -ld w/rel | cut -c1; ls files.tar untarred/files.tar tmp/onbuild 2>&1 | wc -l`)
			want := strings.Join([]string{
				"pwd=/w/rel",
				"vars=busybox 2 fromenv one two words three four",
				"exec=exec form",
				"cont=one two",
				"shelled=echo shelled-" + rnd + " > /run-out",
				"run-out=shelled-" + rnd,
				"from-base=base-" + rnd,
				"from-index=base-" + rnd,
				"from-scratch.txt=A",
				"files/a.txt=A", "files/b.txt=B",
				"copied-dir/x=X", "copied-dir/sub/y=Y", "copied-dir2/x=X",
				"confs/c1.conf=c1", "confs/c2.conf=c2",
				"renamed.txt=A", "newdir/a.txt=A",
				"untarred/t1.txt=T1", "untarred/d/t2.txt=T2",
				"added.txt=A",
				"tmp/uid-name=65534",
				"tmp/ids=1000:1000",
				"owned 1234:5678",
				"owned-name 65534:65534",
				"d",
				"3", // none of the three exists: ls prints an error for each
			}, "\n")
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("files in the image (-want +got):\n%s", diff)
			}
			if out := e.mustDocker(t, "run", "--rm", tag); out != "busybox 2 fromenv one two words three four" {
				t.Errorf("run with ENTRYPOINT+CMD printed %q", out)
			}

			// ONBUILD triggers run in a child build, not in the parent.
			child := writeContext(t, map[string]string{"Dockerfile": "FROM " + tag + "\nRUN cat /tmp/onbuild > /tmp/child\n"})
			_, id := e.mustBuild(t, prog, child)
			if out := e.runIn(t, id, "cat /tmp/child"); out != "onbuild" {
				t.Errorf("ONBUILD trigger in the child build: /child = %q", out)
			}
		})
	}
}

// TestBuildStartupCommand checks the shell and exec forms of CMD and
// ENTRYPOINT in every combination.
func TestBuildStartupCommand(t *testing.T) {
	e := newEnv(t)
	for _, prog := range buildClients {
		t.Run(prog, func(t *testing.T) {
			for _, tc := range []struct {
				name, lines, entrypoint, cmd, out string
			}{
				{"cmd shell", `CMD echo cmd-shell $HOME`, "null", `["/bin/sh","-c","echo cmd-shell $HOME"]`, "cmd-shell /root"},
				{"cmd exec", `CMD ["echo", "cmd-exec"]`, "null", `["echo","cmd-exec"]`, "cmd-exec"},
				{"entrypoint exec and cmd exec", "ENTRYPOINT [\"echo\", \"ep\"]\nCMD [\"arg\"]", `["echo","ep"]`, `["arg"]`, "ep arg"},
				{"entrypoint shell ignores cmd", "ENTRYPOINT echo ep-shell\nCMD [\"ignored\"]", `["/bin/sh","-c","echo ep-shell"]`, `["ignored"]`, "ep-shell"},
				{"entrypoint exec and cmd shell", "ENTRYPOINT [\"echo\"]\nCMD echo x", `["echo"]`, `["/bin/sh","-c","echo x"]`, "/bin/sh -c echo x"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					ctx := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nLABEL r=" + randHex(4) + "\n" + tc.lines + "\n"})
					_, id := e.mustBuild(t, prog, ctx)
					if got := e.mustDocker(t, "image", "inspect", "-f", "{{json .Config.Entrypoint}} {{json .Config.Cmd}}", id); got != tc.entrypoint+" "+tc.cmd {
						t.Errorf("entrypoint and cmd = %s, want %s %s", got, tc.entrypoint, tc.cmd)
					}
					if got := e.mustDocker(t, "run", "--rm", id); got != tc.out {
						t.Errorf("run printed %q, want %q", got, tc.out)
					}
				})
			}
		})
	}
}

// TestBuildFromScratchAndEscape covers FROM scratch as the final stage, the
// escape directive, and a Dockerfile given with -f and on stdin.
func TestBuildFromScratchAndEscape(t *testing.T) {
	e := newEnv(t)
	for _, prog := range buildClients {
		t.Run(prog, func(t *testing.T) {
			rnd := randHex(6)
			ctx := writeContext(t, map[string]string{
				"a.txt":      rnd,
				"Dockerfile": "FROM scratch\nCOPY a.txt /a.txt\n",
				"other/esc.Dockerfile": "# escape=`\nFROM busybox\nRUN echo " + rnd + " `\n    two > /esc\n" +
					"RUN echo 'C:\\Windows\\back\\slash' > /bs\n",
			})
			_, id := e.mustBuild(t, prog, ctx)
			if got := e.mustDocker(t, "image", "inspect", "-f", "{{len .RootFS.Layers}} {{.Size}}", id); got != "1 "+strconv.Itoa(len(rnd)) {
				t.Errorf("FROM scratch + COPY of %d bytes: layers and size = %s", len(rnd), got)
			}
			_, id = e.mustBuild(t, prog, "-f", filepath.Join(ctx, "other/esc.Dockerfile"), ctx)
			if got := e.runIn(t, id, "cat /esc /bs"); got != rnd+" two\nC:\\Windows\\back\\slash" {
				t.Errorf("escape directive: /esc and /bs = %q", got)
			}
			// A Dockerfile on stdin: no context.
			r := e.build(t, prog, nil, "FROM busybox\nRUN echo stdin-"+rnd+" > /s\n", "-")
			if id = builtID(r.Stdout); r.Code != 0 || id == "" {
				t.Fatalf("build -:\n%s", r)
			}
			if got := e.runIn(t, id, "cat /s"); got != "stdin-"+rnd {
				t.Errorf("/s = %q", got)
			}
		})
	}
}

// TestBuildCache checks the classic cache rules: an unchanged rebuild hits
// every step, a change at step k re-runs k and what follows, swapped RUN
// lines reuse only FROM, --no-cache re-runs everything.
func TestBuildCache(t *testing.T) {
	e := newEnv(t)
	for _, prog := range buildClients {
		t.Run(prog, func(t *testing.T) {
			rnd := randHex(6)
			// A base of its own, so that no earlier build (of the other
			// client) started from the same image.
			base := name("cachebase") + ":1"
			e.mustBuild(t, prog, "-t", base, writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nLABEL base=" + rnd + "\n"}))
			files := map[string]string{
				"a.txt":       "a\n",
				"app/main.go": "package main // 1\n",
				"app/util.go": "package main\n",
				"Dockerfile":  "FROM " + base + "\nRUN echo " + rnd + " > /r\nCOPY a.txt /a.txt\nCOPY app/ /app\nRUN cat /app/main.go > /main.copy\nCMD [\"cat\", \"/main.copy\"]\n",
			}
			ctx := writeContext(t, files)
			r1, id1 := e.mustBuild(t, prog, ctx)
			if got := cachedSteps(r1.Stdout); !slices.Equal(got, []bool{false, false, false, false, false, false}) {
				t.Errorf("first build: cached steps %v, want none\n%s", got, r1.Stdout)
			}
			if !e.External && !strings.Contains(r1.Stdout, "no earlier build of this step") {
				t.Errorf("first build does not say 'no earlier build of this step':\n%s", r1.Stdout)
			}

			r2, id2 := e.mustBuild(t, prog, ctx)
			if got := cachedSteps(r2.Stdout); !slices.Equal(got, []bool{false, true, true, true, true, true}) {
				t.Errorf("unchanged rebuild: cached steps %v, want all but FROM\n%s", got, r2.Stdout)
			}
			if id2 != id1 {
				t.Errorf("unchanged rebuild made %s, first build %s", id2, id1)
			}

			// A modification time alone is no change.
			old := time.Now().Add(-time.Hour)
			os.Chtimes(filepath.Join(ctx, "app/main.go"), old, old)
			if r, _ := e.mustBuild(t, prog, ctx); !slices.Equal(cachedSteps(r.Stdout), []bool{false, true, true, true, true, true}) {
				t.Errorf("rebuild after touching app/main.go: cached steps %v, want all but FROM\n%s", cachedSteps(r.Stdout), r.Stdout)
			}

			// A change at step 4.
			if err := os.WriteFile(filepath.Join(ctx, "app/main.go"), []byte("package main // 2\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			r3, id3 := e.mustBuild(t, prog, ctx)
			if got := cachedSteps(r3.Stdout); !slices.Equal(got, []bool{false, true, true, false, false, false}) {
				t.Errorf("after changing app/main.go (step 4): cached steps %v, want 2 and 3 only\n%s", got, r3.Stdout)
			}
			if out := e.mustDocker(t, "run", "--rm", id3); out != "package main // 2" {
				t.Errorf("run of the rebuilt image: %q", out)
			}
			if !e.External {
				if want := "cache miss at step 4 (COPY app/ /app): app/main.go: content changed"; !strings.Contains(r3.Stdout, want) {
					t.Errorf("no %q in the output:\n%s", want, r3.Stdout)
				}
			}

			// --no-cache re-runs every step.
			r4, _ := e.mustBuild(t, prog, "--no-cache", ctx)
			if got := cachedSteps(r4.Stdout); slices.Contains(got, true) {
				t.Errorf("--no-cache: cached steps %v\n%s", got, r4.Stdout)
			}
		})
	}
}

// TestBuildCacheSwap is the classic example: FROM, RUN add redis, RUN add
// gcc; with the two RUN lines swapped, only FROM is reused.
func TestBuildCacheSwap(t *testing.T) {
	e := newEnv(t)
	for _, prog := range buildClients {
		t.Run(prog, func(t *testing.T) {
			rnd := randHex(6)
			redis := "RUN echo add redis " + rnd + " >> /pkgs\n"
			gcc := "RUN echo add gcc " + rnd + " >> /pkgs\n"
			ctx := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\n" + redis + gcc})
			e.mustBuild(t, prog, ctx)
			if err := os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte("FROM busybox\n"+gcc+redis), 0o644); err != nil {
				t.Fatal(err)
			}
			r, id := e.mustBuild(t, prog, ctx)
			if got := cachedSteps(r.Stdout); !slices.Equal(got, []bool{false, false, false}) {
				t.Errorf("swapped RUN lines: cached steps %v, want none after FROM\n%s", got, r.Stdout)
			}
			if out := e.runIn(t, id, "cat /pkgs"); out != "add gcc "+rnd+"\nadd redis "+rnd {
				t.Errorf("/pkgs = %q", out)
			}
			if !e.External && !strings.Contains(r.Stdout, "cache miss at step 2 (RUN echo add gcc "+rnd+" >> /pkgs)") {
				t.Errorf("no explanation of the miss at step 2:\n%s", r.Stdout)
			}
		})
	}
}

// TestBuildCacheBuildArg checks that a changed --build-arg misses where the
// argument is used, and (gantryd) that the output says which argument.
func TestBuildCacheBuildArg(t *testing.T) {
	e := newEnv(t)
	for _, prog := range buildClients {
		t.Run(prog, func(t *testing.T) {
			rnd := randHex(6)
			ctx := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN echo " + rnd + " > /r\nARG VERSION\nRUN echo $VERSION > /v\n"})
			e.mustBuild(t, prog, "--build-arg", "VERSION=1", ctx)
			r, _ := e.mustBuild(t, prog, "--build-arg", "VERSION=1", ctx)
			if got := cachedSteps(r.Stdout); !slices.Equal(got, []bool{false, true, true, true}) {
				t.Errorf("same build arg: cached steps %v\n%s", got, r.Stdout)
			}
			r, id := e.mustBuild(t, prog, "--build-arg", "VERSION=2", ctx)
			if got := cachedSteps(r.Stdout); !slices.Equal(got, []bool{false, true, true, false}) {
				t.Errorf("VERSION 1 -> 2: cached steps %v, want the last RUN re-run\n%s", got, r.Stdout)
			}
			if out := e.runIn(t, id, "cat /v"); out != "2" {
				t.Errorf("/v = %q", out)
			}
			if !e.External && !strings.Contains(r.Stdout, "build arg VERSION changed (1 -> 2)") {
				t.Errorf("no 'build arg VERSION changed (1 -> 2)':\n%s", r.Stdout)
			}
		})
	}
}

// TestBuildTarget builds a stage of a multi-stage Dockerfile: stages after
// it are not built; on gantryd, neither are stages it does not need.
func TestBuildTarget(t *testing.T) {
	e := newEnv(t)
	for _, prog := range buildClients {
		t.Run(prog, func(t *testing.T) {
			rnd := randHex(6)
			ctx := writeContext(t, map[string]string{"Dockerfile": `FROM busybox AS base
RUN echo base-` + rnd + ` > /base
FROM busybox AS unrelated
RUN echo unrelated-` + rnd + ` > /u
FROM base AS target
RUN cat /base > /t
FROM busybox AS after
RUN echo after-` + rnd + `; exit 7
`})
			tag := name("target") + ":1"
			r, _ := e.mustBuild(t, prog, "--target", "target", "-t", tag, ctx)
			if strings.Contains(r.Stdout, "after-"+rnd) {
				t.Errorf("--target target built the stage after it:\n%s", r.Stdout)
			}
			if !e.External && strings.Contains(r.Stdout, "unrelated-"+rnd) {
				t.Errorf("--target target built a stage it does not need:\n%s", r.Stdout)
			}
			if out := e.runIn(t, tag, "cat /t"); out != "base-"+rnd {
				t.Errorf("/t = %q", out)
			}
			if r := e.build(t, prog, nil, "", "--target", "nosuch", ctx); r.Code == 0 {
				t.Errorf("--target nosuch succeeded:\n%s", r)
			}
		})
	}
}

// TestBuildDockerignore checks that excluded files are not sent, with `!`
// exceptions and `**`, and that a COPY of an excluded file fails naming it.
func TestBuildDockerignore(t *testing.T) {
	e := newEnv(t)
	for _, prog := range buildClients {
		t.Run(prog, func(t *testing.T) {
			files := map[string]string{
				".dockerignore":          "# comment\nsecret.txt\nlogs/\n**/*.tmp\n!keep.tmp\nnode_modules\n!node_modules/keep/k.js\nDockerfile\n",
				"Dockerfile":             "FROM busybox\nCOPY . /ctx\nRUN cd /ctx && find . | sort > /list && echo " + randHex(6),
				"secret.txt":             "s",
				"logs/a.log":             "l",
				"a.tmp":                  "t",
				"deep/er/b.tmp":          "t",
				"keep.tmp":               "k",
				"src/main.go":            "m",
				"node_modules/x/x.js":    "x",
				"node_modules/keep/k.js": "k",
				"fail.Dockerfile":        "FROM busybox\nCOPY secret.txt /\n",
			}
			for i := range 300 {
				files["many/f"+strconv.Itoa(i)] = strconv.Itoa(i)
			}
			ctx := writeContext(t, files)
			_, id := e.mustBuild(t, prog, ctx)
			got := lines(e.runIn(t, id, "cat /list | grep -v '^./many/f'; ls /ctx/many | wc -l"))
			// The daemon drops the Dockerfile from the context when
			// .dockerignore excludes it (the client sends it).
			want := []string{".", "./.dockerignore", "./deep", "./deep/er", "./fail.Dockerfile", "./keep.tmp", "./many",
				"./node_modules", "./node_modules/keep", "./node_modules/keep/k.js", "./src", "./src/main.go", "300"}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("context seen by COPY . (-want +got):\n%s", diff)
			}

			tag := name("ignored") + ":1"
			r := e.build(t, prog, nil, "", "-f", filepath.Join(ctx, "fail.Dockerfile"), "-t", tag, ctx)
			if r.Code != 1 || !strings.Contains(r.Stderr, "secret.txt") {
				t.Errorf("COPY of a file excluded by .dockerignore: want exit 1 and an error naming secret.txt:\n%s", r)
			}
			if !strings.Contains(r.Stderr, ".dockerignore") {
				t.Errorf("the error does not mention .dockerignore:\n%s", r)
			}
			if r := e.docker(t, "image", "inspect", tag); r.Code == 0 {
				t.Errorf("failed build tagged %s", tag)
			}
		})
	}
}

var shortIDRe = regexp.MustCompile(`^ ---> ([0-9a-f]{12})$`)

// TestBuildErrors covers a parse error, a failing RUN (exit code, the last
// good step's image, nothing tagged, no container left on gantryd) and a
// missing base image.
func TestBuildErrors(t *testing.T) {
	e := newEnv(t)
	for _, prog := range buildClients {
		t.Run(prog, func(t *testing.T) {
			rnd := randHex(6)
			t.Run("parse error", func(t *testing.T) {
				ctx := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN true\nRUNN echo hi\n"})
				r := e.build(t, prog, nil, "", ctx)
				if r.Code != 1 || !strings.Contains(r.Stderr, "unknown instruction: RUNN") || !strings.Contains(r.Stderr, "3") {
					t.Errorf("want exit 1 and an error naming line 3 and RUNN:\n%s", r)
				}
				if !e.External && !strings.Contains(r.Stderr, "Dockerfile:3: unknown instruction: RUNN") {
					t.Errorf("want 'Dockerfile:3: unknown instruction: RUNN':\n%s", r)
				}
			})
			t.Run("failing RUN", func(t *testing.T) {
				ctrsBefore := e.mustDocker(t, "ps", "-aq", "--no-trunc")
				ctx := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN echo " + rnd + " > /marker\nRUN echo before; exit 3\nCMD [\"true\"]\n"})
				tag := name("fail") + ":1"
				r := e.build(t, prog, nil, "", "-t", tag, ctx)
				if r.Code != 3 || !strings.Contains(r.Stderr, "returned a non-zero code: 3") || !strings.Contains(r.Stdout, "before\n") {
					t.Errorf("want exit 3, the RUN's output and 'returned a non-zero code: 3':\n%s", r)
				}
				if r := e.docker(t, "image", "inspect", tag); r.Code == 0 {
					t.Errorf("failed build tagged %s", tag)
				}
				// The last successful step's image is in the output.
				var last string
				for _, l := range lines(r.Stdout) {
					if m := shortIDRe.FindStringSubmatch(l); m != nil {
						last = m[1]
					}
				}
				if last == "" {
					t.Fatalf("no step ID in the output:\n%s", r)
				}
				if out := e.mustDocker(t, "run", "--rm", last, "cat", "/marker"); out != rnd {
					t.Errorf("docker run --rm %s cat /marker = %q", last, out)
				}
				if !e.External {
					// The stream (stdout) ends with it; the client prints the
					// error on stderr.
					all := lines(r.Stdout)
					if tail := strings.Join(all[max(0, len(all)-2):], "\n"); !strings.Contains(tail, last) {
						t.Errorf("the output does not end with the last successful step's ID %s:\n%s", last, r)
					}
					if after := e.mustDocker(t, "ps", "-aq", "--no-trunc"); after != ctrsBefore {
						t.Errorf("containers left after the failed build:\nbefore %q\nafter  %q", ctrsBefore, after)
					}
				}
			})
			t.Run("missing base image", func(t *testing.T) {
				ctx := writeContext(t, map[string]string{"Dockerfile": "FROM 127.0.0.1:1/nosuch/image:gt\n"})
				if r := e.build(t, prog, nil, "", ctx); r.Code != 1 || !strings.Contains(r.Stderr, "127.0.0.1:1") {
					t.Errorf("want exit 1 and an error naming the registry:\n%s", r)
				}
			})
		})
	}
}

// TestBuildOptions covers -q, --iidfile, --label, --network and a
// Dockerfile given on stdin with -f -.
func TestBuildOptions(t *testing.T) {
	e := newEnv(t)
	for _, prog := range buildClients {
		t.Run(prog, func(t *testing.T) {
			rnd := randHex(6)
			ctx := writeContext(t, map[string]string{"a.txt": rnd})
			iid := filepath.Join(t.TempDir(), "iid")
			os.WriteFile(iid, []byte("stale"), 0o644)
			df := "FROM busybox\nCOPY a.txt /\nRUN ls /sys/class/net > /nets\n"
			r := e.build(t, prog, nil, df, "-q", "--iidfile", iid, "--label", "k=v", "--network", "none", "-f", "-", ctx)
			if r.Code != 0 || !imageIDRe.MatchString(strings.TrimSpace(r.Stdout)) {
				t.Fatalf("build -q: want only the image ID on stdout:\n%s", r)
			}
			id := strings.TrimSpace(r.Stdout)
			if b, _ := os.ReadFile(iid); strings.TrimSpace(string(b)) != id {
				t.Errorf("--iidfile holds %q, want %q", b, id)
			}
			if got := e.mustDocker(t, "image", "inspect", "-f", `{{index .Config.Labels "k"}}`, id); got != "v" {
				t.Errorf("label k = %q", got)
			}
			if got := e.runIn(t, id, "cat /a.txt; echo; cat /nets"); got != rnd+"\nlo" {
				t.Errorf("files: %q, want the context file and only lo with --network none", got)
			}
			// A failing quiet build shows its output on stderr.
			r = e.build(t, prog, nil, "FROM busybox\nRUN echo quiet-fail; exit 4\n", "-q", "-")
			if r.Code != 4 || r.Stdout != "" || !strings.Contains(r.Stderr, "quiet-fail") {
				t.Errorf("failing build -q: want exit 4, nothing on stdout, the output on stderr:\n%s", r)
			}
		})
	}
}

// TestBuildGantryProgress checks gantry build's per-step display.
func TestBuildGantryProgress(t *testing.T) {
	e := newEnv(t)
	rnd := randHex(6)
	ctx := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN echo " + rnd + "\nCMD [\"true\"]\n"})
	r := e.build(t, "gantry", nil, "", "--progress=tty", ctx)
	stepLine := regexp.MustCompile(`^#(\d) (.*)  (CACHED|\d+\.\d\ds)  [0-9a-f]{12}$`)
	var got []string
	for _, l := range lines(r.Stdout) {
		if m := stepLine.FindStringSubmatch(l); m != nil {
			got = append(got, m[1]+" "+m[2]+" "+strings.Trim(m[3], "0123456789."))
		}
	}
	want := []string{"1 FROM busybox s", "2 RUN echo " + rnd + " s", "3 CMD [\"true\"] s"}
	if r.Code != 0 || !slices.Equal(got, want) {
		t.Errorf("first build: step lines %q, want %q\n%s", got, want, r)
	}
	if !strings.Contains(r.Stdout, "#2 "+rnd+"\n") {
		t.Errorf("the RUN's output is not shown under its step:\n%s", r.Stdout)
	}
	r = e.build(t, "gantry", nil, "", "--progress=tty", ctx)
	got = nil
	for _, l := range lines(r.Stdout) {
		if m := stepLine.FindStringSubmatch(l); m != nil {
			got = append(got, m[1]+" "+m[3])
		}
	}
	if len(got) != 3 || got[1] != "2 CACHED" || got[2] != "3 CACHED" {
		t.Errorf("cached build: step lines %q\n%s", got, r)
	}
	if r := e.build(t, "gantry", nil, "", "--progress=fancy", ctx); r.Code != 125 {
		t.Errorf("--progress=fancy: want exit 125:\n%s", r)
	}
}

// TestBuildBeyondClassic covers what BuildKit accepts and the classic
// builder does not: heredocs and COPY --chmod (gantryd only).
func TestBuildBeyondClassic(t *testing.T) {
	e := newEnv(t)
	if e.External {
		t.Skip("heredocs and COPY --chmod need BuildKit; the classic builder of dockerd rejects them")
	}
	for _, prog := range buildClients {
		t.Run(prog, func(t *testing.T) {
			rnd := randHex(6)
			ctx := writeContext(t, map[string]string{"a.txt": "a", "Dockerfile": `FROM busybox
RUN <<EOF
echo heredoc-` + rnd + ` > /h1
echo line2 >> /h1
EOF
COPY <<EOF /h2
hello heredoc
EOF
COPY --chmod=0751 a.txt /moded
`})
			_, id := e.mustBuild(t, prog, ctx)
			if got := e.runIn(t, id, "cat /h1 /h2; stat -c %a /moded"); got != "heredoc-"+rnd+"\nline2\nhello heredoc\n751" {
				t.Errorf("heredocs and --chmod: %q", got)
			}
		})
	}
}
