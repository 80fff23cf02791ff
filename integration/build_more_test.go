package integration

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// More build tests, for instructions that TestBuildInstructions uses only in
// passing: ADD of local archives and of URLs, COPY heredocs, SHELL,
// HEALTHCHECK, COPY --from of an image, and a build cancelled by its client.

// tarEntry is one entry of an archive written by tarWith.
type tarEntry struct {
	name, data string
	mode       int64
	dir        bool
}

// tarWith returns a tar archive of entries, in order, gzip-compressed when
// gz is set.
func tarWith(t *testing.T, gz bool, entries ...tarEntry) string {
	t.Helper()
	var buf bytes.Buffer
	var w io.Writer = &buf
	var zw *gzip.Writer
	if gz {
		zw = gzip.NewWriter(&buf)
		w = zw
	}
	tw := tar.NewWriter(w)
	for _, e := range entries {
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: e.name, Mode: e.mode, Size: int64(len(e.data)), ModTime: time.Unix(1600000000, 0)}
		if e.dir {
			hdr.Typeflag, hdr.Size = tar.TypeDir, 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, e.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return buf.String()
}

// gzipOf returns data gzip-compressed.
func gzipOf(t *testing.T, data string) string {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	io.WriteString(zw, data)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// TestBuildAddArchive checks that ADD extracts a local tar archive, plain or
// gzip-compressed, at the destination (created when missing, merged into an
// existing directory), keeping the modes of its entries; that COPY of the
// same archive copies it as a file; and that ADD copies as they are a file
// named .tar that is no archive and a compressed file that holds no tar.
func TestBuildAddArchive(t *testing.T) {
	e := newEnv(t)
	for _, prog := range buildClients {
		t.Run(prog, func(t *testing.T) {
			rnd := randHex(6)
			ctx := writeContext(t, map[string]string{
				"plain.tar": tarWith(t, false,
					tarEntry{name: "top.txt", data: "top-" + rnd + "\n", mode: 0o640},
					tarEntry{name: "d/", mode: 0o750, dir: true},
					tarEntry{name: "d/run.sh", data: "#!/bin/sh\necho run\n", mode: 0o755},
				),
				"packed.tar.gz": tarWith(t, true,
					tarEntry{name: "./gz.txt", data: "gz-" + rnd + "\n", mode: 0o644},
					tarEntry{name: "./sub/deep.txt", data: "deep\n", mode: 0o600},
				),
				"fake.tar":    "not a tar " + rnd + "\n",
				"note.txt.gz": gzipOf(t, "gzipped "+rnd+"\n"),
				"Dockerfile": `FROM busybox
RUN mkdir /existing && echo keep > /existing/keep
ADD plain.tar /untarred
ADD packed.tar.gz /existing/
ADD plain.tar packed.tar.gz /both/
COPY plain.tar /copied/
ADD fake.tar note.txt.gz /plainfiles/
`,
			})
			_, id := e.mustBuild(t, prog, ctx)
			got := e.runIn(t, id, `cd /; for f in untarred/top.txt untarred/d/run.sh existing/keep existing/gz.txt existing/sub/deep.txt both/top.txt both/gz.txt; do printf '%s=' $f; cat $f; done
stat -c '%n %a' untarred/top.txt untarred/d untarred/d/run.sh existing/sub/deep.txt
ls untarred existing both copied; cat /plainfiles/fake.tar; zcat /plainfiles/note.txt.gz`)
			want := strings.Join([]string{
				"untarred/top.txt=top-" + rnd,
				"untarred/d/run.sh=#!/bin/sh", "echo run",
				"existing/keep=keep",
				"existing/gz.txt=gz-" + rnd,
				"existing/sub/deep.txt=deep",
				"both/top.txt=top-" + rnd,
				"both/gz.txt=gz-" + rnd,
				"untarred/top.txt 640",
				"untarred/d 750",
				"untarred/d/run.sh 755",
				"existing/sub/deep.txt 600",
				"both:", "d", "gz.txt", "sub", "top.txt", "",
				"copied:", "plain.tar", "",
				"existing:", "gz.txt", "keep", "sub", "",
				"untarred:", "d", "top.txt",
				"not a tar " + rnd,
				"gzipped " + rnd,
			}, "\n")
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("files in the image (-want +got):\n%s", diff)
			}
		})
	}
}

// TestBuildAddURL checks that ADD of an http URL has the daemon download the
// file: into a directory under the URL's base name or to a file name, with
// mode 0600 and the Last-Modified time, as Docker does.
func TestBuildAddURL(t *testing.T) {
	e := newEnv(t)
	lastMod := time.Unix(1500000000, 0).UTC()
	var (
		mu      sync.Mutex
		served  []string
		version string // appended to every file served
	)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		served = append(served, r.URL.Path)
		mu.Unlock()
		body, ok := strings.CutPrefix(r.URL.Path, "/files/")
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Last-Modified", lastMod.Format(http.TimeFormat))
		mu.Lock()
		v := version
		mu.Unlock()
		fmt.Fprintf(w, "remote %s%s\n", body, v)
	}))
	srv.Listener.Close()
	srv.Listener = e.listenInDaemonNet(t)
	srv.Start()
	defer srv.Close()
	for _, prog := range buildClients {
		t.Run(prog, func(t *testing.T) {
			rnd := randHex(6)
			ctx := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\n" +
				"ADD " + srv.URL + "/files/a-" + rnd + ".txt /r/\n" +
				"ADD " + srv.URL + "/files/b-" + rnd + ".txt /named.txt\n"})
			_, id := e.mustBuild(t, prog, ctx)
			got := e.runIn(t, id, "cat /r/a-"+rnd+".txt /named.txt; stat -c '%n %a %u:%g %Y' /r/a-"+rnd+".txt /named.txt")
			mtime := strconv.FormatInt(lastMod.Unix(), 10)
			want := strings.Join([]string{
				"remote a-" + rnd + ".txt",
				"remote b-" + rnd + ".txt",
				"/r/a-" + rnd + ".txt 600 0:0 " + mtime,
				"/named.txt 600 0:0 " + mtime,
			}, "\n")
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("downloaded files (-want +got):\n%s", diff)
			}
			mu.Lock()
			if !slices.Contains(served, "/files/a-"+rnd+".txt") || !slices.Contains(served, "/files/b-"+rnd+".txt") {
				t.Errorf("the test server served %q", served)
			}
			mu.Unlock()

			// The cache key holds the downloaded content: an unchanged
			// rebuild downloads again and hits, new content misses.
			r, _ := e.mustBuild(t, prog, ctx)
			if got := cachedSteps(r.Stdout); !slices.Equal(got, []bool{false, true, true}) {
				t.Errorf("unchanged rebuild: cached steps %v\n%s", got, r.Stdout)
			}
			mu.Lock()
			version = " v2"
			mu.Unlock()
			defer func() { mu.Lock(); version = ""; mu.Unlock() }()
			r, id = e.mustBuild(t, prog, ctx)
			if got := cachedSteps(r.Stdout); !slices.Equal(got, []bool{false, false, false}) {
				t.Errorf("rebuild after the served content changed: cached steps %v\n%s", got, r.Stdout)
			}
			if got := e.runIn(t, id, "cat /named.txt"); got != "remote b-"+rnd+".txt v2" {
				t.Errorf("/named.txt after the change = %q", got)
			}

			// A URL that answers 404 fails the build, naming the URL.
			bad := srv.URL + "/missing-" + rnd
			r = e.build(t, prog, nil, "FROM busybox\nADD "+bad+" /x\n", "-")
			if r.Code == 0 || !strings.Contains(r.Stderr, bad) {
				t.Errorf("ADD of a URL answering 404: want a failure naming the URL:\n%s", r)
			}
		})
	}
}

// TestBuildCopyHeredoc covers COPY heredocs (gantryd only: the classic
// builder of dockerd rejects them): a file, several into a directory, the
// expansion of variables unless the delimiter is quoted, and --chmod.
func TestBuildCopyHeredoc(t *testing.T) {
	e := newEnv(t)
	if e.External {
		t.Skip("COPY heredocs need BuildKit; the classic builder of dockerd rejects them")
	}
	for _, prog := range buildClients {
		t.Run(prog, func(t *testing.T) {
			rnd := randHex(6)
			ctx := writeContext(t, map[string]string{"Dockerfile": `FROM busybox
ENV WHO=` + rnd + `
COPY <<EOF /f
hello $WHO
second line
EOF
COPY <<'EOF' /raw
hello $WHO
EOF
COPY <<one.txt <<two.txt /dir/
first
one.txt
second
two.txt
WORKDIR /w
COPY --chmod=0700 <<EOF rel
#!/bin/sh
EOF
`})
			_, id := e.mustBuild(t, prog, ctx)
			got := e.runIn(t, id, "cd /; for f in f raw dir/one.txt dir/two.txt w/rel; do printf '%s=' $f; cat $f; done; stat -c '%n %a %u:%g' f dir/one.txt w/rel")
			want := strings.Join([]string{
				"f=hello " + rnd, "second line",
				"raw=hello $WHO",
				"dir/one.txt=first",
				"dir/two.txt=second",
				"w/rel=#!/bin/sh",
				"f 644 0:0",
				"dir/one.txt 644 0:0",
				"w/rel 700 0:0",
			}, "\n")
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("files written by COPY heredocs (-want +got):\n%s", diff)
			}
			// An unchanged rebuild hits the cache; a changed heredoc misses.
			r, _ := e.mustBuild(t, prog, ctx)
			if got := cachedSteps(r.Stdout); !slices.Equal(got, []bool{false, true, true, true, true, true, true}) {
				t.Errorf("unchanged rebuild: cached steps %v\n%s", got, r.Stdout)
			}
			df := filepath.Join(ctx, "Dockerfile")
			b, err := os.ReadFile(df)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(df, bytes.Replace(b, []byte("second line"), []byte("changed line"), 1), 0o644); err != nil {
				t.Fatal(err)
			}
			r, id = e.mustBuild(t, prog, ctx)
			if got := cachedSteps(r.Stdout); !slices.Equal(got, []bool{false, true, false, false, false, false, false}) {
				t.Errorf("changed heredoc at step 3: cached steps %v\n%s", got, r.Stdout)
			}
			if got := e.runIn(t, id, "cat /f"); got != "hello "+rnd+"\nchanged line" {
				t.Errorf("/f after the change = %q", got)
			}
		})
	}
}

// TestBuildShell checks that SHELL (exec form) changes the shell of the RUN,
// CMD and ENTRYPOINT lines after it, and is kept in the image's config.
func TestBuildShell(t *testing.T) {
	e := newEnv(t)
	for _, prog := range buildClients {
		t.Run(prog, func(t *testing.T) {
			rnd := randHex(6)
			// The inner sh sees SHELL_MARK only when RUN goes through env. A
			// stage from busybox starts with the default shell; a stage from
			// the stage that set SHELL inherits it.
			ctx := writeContext(t, map[string]string{"Dockerfile": `FROM busybox AS shelled
RUN echo "before:${SHELL_MARK:-unset}" > /before
SHELL ["/bin/env", "SHELL_MARK=` + rnd + `", "/bin/sh", "-c"]
RUN echo "after:$SHELL_MARK" > /after
RUN ["/bin/sh", "-c", "echo exec:${SHELL_MARK:-unset} > /exec"]
CMD echo "cmd:$SHELL_MARK"
FROM busybox AS other
RUN echo "other:${SHELL_MARK:-unset}" > /other
FROM shelled
COPY --from=other /other /other
RUN echo "child:$SHELL_MARK" > /child
`})
			tag := name("shell") + ":1"
			e.mustBuild(t, prog, "--target", "shelled", "-t", tag, ctx)
			if got := e.runIn(t, tag, "cat /before /after /exec"); got != "before:unset\nafter:"+rnd+"\nexec:unset" {
				t.Errorf("RUN before SHELL, after it, and in exec form: %q", got)
			}
			shell := `["/bin/env","SHELL_MARK=` + rnd + `","/bin/sh","-c"]`
			if got := e.mustDocker(t, "image", "inspect", "-f", "{{json .Config.Shell}} {{json .Config.Cmd}}", tag); got != shell+` ["/bin/env","SHELL_MARK=`+rnd+`","/bin/sh","-c","echo \"cmd:$SHELL_MARK\""]` {
				t.Errorf("Config.Shell and Config.Cmd = %s", got)
			}
			if got := e.mustDocker(t, "run", "--rm", tag); got != "cmd:"+rnd {
				t.Errorf("run of the CMD in the SHELL's shell printed %q", got)
			}
			_, id := e.mustBuild(t, prog, ctx)
			if got := e.runIn(t, id, "cat /other /child"); got != "other:unset\nchild:"+rnd {
				t.Errorf("RUN in a stage from busybox, then in one from the SHELL's stage: %q", got)
			}
		})
	}
}

// TestBuildHealthcheck checks that HEALTHCHECK is recorded in the image's
// config, in exec and shell form, with its options; over a base image's,
// with the options it does not give inherited, as Docker does; HEALTHCHECK
// NONE disables it.
func TestBuildHealthcheck(t *testing.T) {
	e := newEnv(t)
	for _, prog := range buildClients {
		t.Run(prog, func(t *testing.T) {
			rnd := randHex(6)
			tag := name("health") + ":1"
			ctx := writeContext(t, map[string]string{"Dockerfile": `FROM busybox
LABEL r=` + rnd + `
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=2 CMD ["/bin/test", "-e", "/tmp"]
`})
			e.mustBuild(t, prog, "-t", tag, ctx)
			hc := func(ref string) string {
				return e.mustDocker(t, "image", "inspect", "-f", "{{json .Config.Healthcheck}}", ref)
			}
			if got, want := hc(tag), `{"Test":["CMD","/bin/test","-e","/tmp"],"Interval":30000000000,"Timeout":3000000000,"StartPeriod":10000000000,"Retries":2}`; got != want {
				t.Errorf("exec form: Config.Healthcheck = %s, want %s", got, want)
			}
			// Without a health check in the base, what is not given stays
			// unset.
			_, id := e.mustBuild(t, prog, writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nLABEL r=" + rnd + "\nHEALTHCHECK --interval=1m CMD test -e /tmp || exit 1\n"}))
			if got, want := hc(id), `{"Test":["CMD-SHELL","test -e /tmp || exit 1"],"Interval":60000000000}`; got != want {
				t.Errorf("shell form: Config.Healthcheck = %s, want %s", got, want)
			}
			// A later HEALTHCHECK replaces the base's test and the options
			// it gives; it inherits the others (zero means inherit).
			_, id = e.mustBuild(t, prog, writeContext(t, map[string]string{"Dockerfile": "FROM " + tag + "\nHEALTHCHECK --interval=1m CMD test -e /tmp || exit 1\n"}))
			if got, want := hc(id), `{"Test":["CMD-SHELL","test -e /tmp || exit 1"],"Interval":60000000000,"Timeout":3000000000,"StartPeriod":10000000000,"Retries":2}`; got != want {
				t.Errorf("over the base's: Config.Healthcheck = %s, want %s", got, want)
			}
			_, id = e.mustBuild(t, prog, writeContext(t, map[string]string{"Dockerfile": "FROM " + tag + "\nHEALTHCHECK NONE\n"}))
			if got, want := hc(id), `{"Test":["NONE"],"Interval":30000000000,"Timeout":3000000000,"StartPeriod":10000000000,"Retries":2}`; got != want {
				t.Errorf("HEALTHCHECK NONE: Config.Healthcheck = %s, want %s", got, want)
			}
			// A container of the image has it too.
			ctr := name("health")
			e.mustDocker(t, "create", "--name", ctr, tag, "true")
			if got, want := e.mustDocker(t, "inspect", "-f", "{{json .Config.Healthcheck.Test}} {{.Config.Healthcheck.Interval}}", ctr), `["CMD","/bin/test","-e","/tmp"] 30s`; got != want {
				t.Errorf("container's Config.Healthcheck: %s, want %s", got, want)
			}
			e.mustDocker(t, "rm", ctr)
			// A bad option fails the build.
			r := e.build(t, prog, nil, "FROM busybox\nHEALTHCHECK --interval=nope CMD true\n", "-")
			if r.Code == 0 {
				t.Errorf("HEALTHCHECK --interval=nope succeeded:\n%s", r)
			}
		})
	}
}

// TestBuildCopyFromImage checks COPY --from with the name of an image that
// is not a stage: one imported and one built earlier. When the name points
// to another image, the step misses the cache.
func TestBuildCopyFromImage(t *testing.T) {
	e := newEnv(t)
	for _, prog := range buildClients {
		t.Run(prog, func(t *testing.T) {
			rnd := randHex(6)
			imported := name("imported") + ":1"
			importTar := func(content string) {
				t.Helper()
				tr := tarWith(t, false,
					tarEntry{name: "data/", mode: 0o755, dir: true},
					tarEntry{name: "data/x.txt", data: content, mode: 0o644},
					tarEntry{name: "data/sub/y.txt", data: "y-" + rnd, mode: 0o600},
				)
				if r := e.dockerIn(t, tr, "import", "-", imported); r.Code != 0 {
					t.Fatalf("docker import:\n%s", r)
				}
			}
			importTar("x1-" + rnd)
			built := name("built") + ":1"
			e.mustBuild(t, prog, "-t", built, writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN echo built-" + rnd + " > /made\n"}))

			ctx := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\n" +
				"COPY --from=" + imported + " /data/x.txt /x.txt\n" +
				"COPY --from=" + imported + " /data /datadir\n" +
				"COPY --from=" + built + " /made /made-copy\n"})
			_, id := e.mustBuild(t, prog, ctx)
			if got, want := e.runIn(t, id, "cat /x.txt; echo; cat /datadir/x.txt; echo; cat /datadir/sub/y.txt; echo; cat /made-copy; stat -c %a /datadir/sub/y.txt"),
				"x1-"+rnd+"\nx1-"+rnd+"\ny-"+rnd+"\nbuilt-"+rnd+"\n600"; got != want {
				t.Errorf("copied from images: %q, want %q", got, want)
			}
			r, _ := e.mustBuild(t, prog, ctx)
			if got := cachedSteps(r.Stdout); !slices.Equal(got, []bool{false, true, true, true}) {
				t.Errorf("unchanged rebuild: cached steps %v\n%s", got, r.Stdout)
			}
			importTar("x2-" + rnd)
			r, id = e.mustBuild(t, prog, ctx)
			if got := cachedSteps(r.Stdout); !slices.Equal(got, []bool{false, false, false, false}) {
				t.Errorf("after %s was re-imported: cached steps %v, want none\n%s", imported, got, r.Stdout)
			}
			if got := e.runIn(t, id, "cat /x.txt"); got != "x2-"+rnd {
				t.Errorf("/x.txt after the re-import = %q", got)
			}
			r = e.build(t, prog, nil, "FROM busybox\nCOPY --from="+imported+" /nosuch /x\n", "-")
			if r.Code == 0 || !strings.Contains(r.Stderr, "nosuch") {
				t.Errorf("COPY --from of a missing file: want a failure naming it:\n%s", r)
			}
		})
	}
}

// processesWith lists the host processes whose command line contains s.
func processesWith(s string) []string {
	var out []string
	dirs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, f := range dirs {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		cmdline := strings.ReplaceAll(string(b), "\x00", " ")
		if strings.Contains(cmdline, s) {
			out = append(out, filepath.Base(filepath.Dir(f))+": "+cmdline)
		}
	}
	return out
}

// TestBuildCancel kills the client of a build while a RUN step runs: within
// a few seconds the step's process is gone, no container is left, nothing
// is tagged and, on gantryd, nothing stays mounted or staged under the data
// root.
func TestBuildCancel(t *testing.T) {
	e := newEnv(t)
	for _, prog := range buildClients {
		t.Run(prog, func(t *testing.T) {
			rnd := randHex(6)
			ctrsBefore := e.mustDocker(t, "ps", "-aq", "--no-trunc")
			tag := name("cancel") + ":1"
			ctx := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN echo started-" + rnd + " && sleep 30 && echo done-" + rnd + "\n"})
			cmdline := append(e.buildCmd(t, prog), "-t", tag, ctx)
			cmd := exec.Command(cmdline[0], cmdline[1:]...)
			cmd.Env = e.clientEnv()
			var errb bytes.Buffer
			cmd.Stderr = &errb
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			killed := false
			defer func() {
				if !killed {
					cmd.Process.Kill()
					cmd.Wait()
				}
			}()
			// Wait for the step's output: the RUN has started.
			started := make(chan string, 1)
			go func() {
				var seen strings.Builder
				sc := bufio.NewScanner(stdout)
				for sc.Scan() {
					seen.WriteString(sc.Text() + "\n")
					if strings.Contains(sc.Text(), "started-"+rnd) && !strings.Contains(sc.Text(), "echo") {
						started <- ""
						io.Copy(io.Discard, stdout)
						return
					}
				}
				started <- seen.String()
			}()
			select {
			case out := <-started:
				if out != "" {
					cmd.Wait()
					t.Fatalf("the build ended before its RUN step printed started-%s:\nstdout: %s\nstderr: %s", rnd, out, errb.String())
				}
			case <-time.After(time.Minute):
				t.Fatalf("the RUN step did not start within a minute; stderr: %s", errb.String())
			}
			if len(processesWith("sleep 30 && echo done-"+rnd)) == 0 {
				t.Fatalf("no process runs the RUN step's command")
			}
			cmd.Process.Signal(syscall.SIGKILL)
			cmd.Wait()
			killed = true

			poll(t, 5*time.Second, "the RUN step's process ends", func() (bool, string) {
				p := processesWith("sleep 30 && echo done-" + rnd)
				return len(p) == 0, strings.Join(p, "\n")
			})
			poll(t, 5*time.Second, "no container is left", func() (bool, string) {
				after := e.mustDocker(t, "ps", "-aq", "--no-trunc")
				return after == ctrsBefore, "before " + strconv.Quote(ctrsBefore) + ", after " + strconv.Quote(after)
			})
			if !e.External {
				poll(t, 5*time.Second, "nothing mounted or staged under the data root", func() (bool, string) {
					m := e.leftoverMounts()
					tmp, err := os.ReadDir(filepath.Join(e.Root, "tmp"))
					if err != nil {
						return false, err.Error()
					}
					var names []string
					for _, d := range tmp {
						names = append(names, d.Name())
					}
					return len(m) == 0 && len(names) == 0, fmt.Sprintf("mounts %q, in tmp %q", m, names)
				})
			}
			if r := e.docker(t, "image", "inspect", tag); r.Code == 0 {
				t.Errorf("cancelled build tagged %s", tag)
			}

			// The daemon still builds: the same Dockerfile, without the
			// sleep, succeeds.
			ctx2 := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN echo after-cancel-" + rnd + "\n"})
			e.mustBuild(t, prog, ctx2)
		})
	}
}

// TestBuildCacheSurvivesRestart: the cache records are on disk, so a
// rebuild after gantryd restarts hits every step.
func TestBuildCacheSurvivesRestart(t *testing.T) {
	e := newEnv(t)
	e.needPrivateDaemon(t)
	dir := writeContext(t, map[string]string{
		"Dockerfile": "FROM busybox\nCOPY f /f\nRUN echo " + randHex(4) + " > /r\nCMD [\"cat\", \"/r\"]\n",
		"f":          "content\n",
	})
	_, first := e.mustBuild(t, "docker", dir)
	e.stopDaemon(t)
	e.startDaemon(t)
	r, again := e.mustBuild(t, "docker", dir)
	if diff := cmp.Diff([]bool{false, true, true, true}, cachedSteps(r.Stdout)); diff != "" || again != first { // FROM is never "Using cache"
		t.Errorf("rebuild after a restart: image %s, want %s; cached steps (-want +got):\n%s\n%s", again, first, diff, r)
	}
}
