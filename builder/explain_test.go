package builder

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

// TestMissExplanations builds a Dockerfile, changes one thing (the
// Dockerfile, a context file, an option), builds again and checks the
// cache-miss line names the change from what to what. Each kind of change
// is one case, on a fresh builder.
func TestMissExplanations(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("builds mount snapshots: needs root")
	}
	const copyApp = "FROM base\nCOPY app/ /app/\n"
	tests := []struct {
		name          string
		before, after string            // Dockerfiles; after "" is before
		args          map[string]string // --build-arg of the second build
		change        func(e *testEnv)  // between the builds
		want          string            // the miss line of the second build
	}{
		{name: "first build", before: "", after: "FROM base\nRUN echo a > /a\n",
			want: "cache miss at step 2 (RUN echo a > /a): no earlier build of this step"},
		{name: "ENV value", before: "FROM base\nENV E=1\n", after: "FROM base\nENV E=2\n",
			want: "cache miss at step 2 (ENV E=2): ENV E: 1 -> 2"},
		{name: "ENV variable added", before: "FROM base\nENV E=1\n", after: "FROM base\nENV E=1 F=2\n",
			want: "cache miss at step 2 (ENV E=1 F=2): ENV F: unset -> 2"},
		{name: "ENV variable removed", before: "FROM base\nENV E=1 F=2\n", after: "FROM base\nENV E=1\n",
			want: "cache miss at step 2 (ENV E=1): ENV F: 2 -> unset"},
		{name: "ENV expanded from a build arg", before: "FROM base\nARG V=1\nENV E=$V\n", args: map[string]string{"V": "2"},
			want: "cache miss at step 3 (ENV E=$V): ENV E: 1 -> 2"},
		{name: "LABEL value", before: "FROM base\nLABEL x=1\n", after: "FROM base\nLABEL x=2\n",
			want: "cache miss at step 2 (LABEL x=2): LABEL x: 1 -> 2"},
		{name: "ARG default", before: "FROM base\nARG V=1\n", after: "FROM base\nARG V=2\n",
			want: "cache miss at step 2 (ARG V=2): ARG V: 1 -> 2"},
		{name: "RUN command", before: "FROM base\nRUN echo a > /a\n", after: "FROM base\nRUN echo b > /a\n",
			want: "cache miss at step 2 (RUN echo b > /a): RUN command: /bin/sh -c echo a > /a -> /bin/sh -c echo b > /a"},
		{name: "RUN long command, clipped", before: "FROM base\nRUN echo " + strings.Repeat("x", 100) + "1 > /a\n", after: "FROM base\nRUN echo " + strings.Repeat("x", 100) + "2 > /a\n",
			want: "cache miss at step 2 (RUN echo " + strings.Repeat("x", 100) + "2 > /a): RUN command: ..." + strings.Repeat("x", 20) + "1 > /a -> ..." + strings.Repeat("x", 20) + "2 > /a"},
		{name: "RUN exec form", before: "FROM base\nRUN [\"echo\", \"a\"]\n", after: "FROM base\nRUN echo a\n",
			want: "cache miss at step 2 (RUN echo a): RUN command: echo a -> /bin/sh -c echo a"},
		{name: "RUN heredoc body", before: "FROM base\nRUN <<EOF\n#!/bin/sh\necho a\nEOF\n", after: "FROM base\nRUN <<EOF\n#!/bin/sh\necho b\nEOF\n",
			want: `cache miss at step 2 (RUN <<EOF): RUN heredoc: "#!/bin/sh\necho a\n" -> "#!/bin/sh\necho b\n"`},
		{name: "WORKDIR", before: "FROM base\nWORKDIR /a\n", after: "FROM base\nWORKDIR /b\n",
			want: "cache miss at step 2 (WORKDIR /b): WORKDIR /a -> /b"},
		{name: "USER", before: "FROM base\nUSER 1\n", after: "FROM base\nUSER 2\n",
			want: "cache miss at step 2 (USER 2): USER 1 -> 2"},
		{name: "SHELL", before: "FROM base\nSHELL [\"/bin/sh\", \"-c\"]\n", after: "FROM base\nSHELL [\"/bin/bash\", \"-c\"]\n",
			want: `cache miss at step 2 (SHELL ["/bin/bash", "-c"]): SHELL ["/bin/sh" "-c"] -> ["/bin/bash" "-c"]`},
		{name: "CMD", before: "FROM base\nCMD [\"a\"]\n", after: "FROM base\nCMD [\"b\"]\n",
			want: `cache miss at step 2 (CMD ["b"]): CMD ["a"] -> ["b"]`},
		{name: "ENTRYPOINT", before: "FROM base\nENTRYPOINT a\n", after: "FROM base\nENTRYPOINT b\n",
			want: `cache miss at step 2 (ENTRYPOINT b): ENTRYPOINT ["/bin/sh" "-c" "a"] -> ["/bin/sh" "-c" "b"]`},
		{name: "EXPOSE", before: "FROM base\nEXPOSE 80\n", after: "FROM base\nEXPOSE 81\n",
			want: "cache miss at step 2 (EXPOSE 81): EXPOSE 80 -> 81"},
		{name: "VOLUME", before: "FROM base\nVOLUME /a\n", after: "FROM base\nVOLUME /b\n",
			want: "cache miss at step 2 (VOLUME /b): VOLUME [/a] -> [/b]"},
		{name: "STOPSIGNAL", before: "FROM base\nSTOPSIGNAL SIGTERM\n", after: "FROM base\nSTOPSIGNAL SIGINT\n",
			want: "cache miss at step 2 (STOPSIGNAL SIGINT): STOPSIGNAL SIGTERM -> SIGINT"},
		{name: "HEALTHCHECK", before: "FROM base\nHEALTHCHECK CMD true\n", after: "FROM base\nHEALTHCHECK --retries=5 CMD true\n",
			want: "cache miss at step 2 (HEALTHCHECK --retries=5 CMD true): HEALTHCHECK --retries: unset -> 5"},
		{name: "HEALTHCHECK command", before: "FROM base\nHEALTHCHECK CMD true\n", after: "FROM base\nHEALTHCHECK CMD false\n",
			want: `cache miss at step 2 (HEALTHCHECK CMD false): HEALTHCHECK command: ["CMD-SHELL" "true"] -> ["CMD-SHELL" "false"]`},
		{name: "ONBUILD", before: "FROM base\nONBUILD RUN a\n", after: "FROM base\nONBUILD RUN b\n",
			want: "cache miss at step 2 (ONBUILD RUN b): ONBUILD RUN a -> RUN b"},
		{name: "MAINTAINER", before: "FROM base\nMAINTAINER a\n", after: "FROM base\nMAINTAINER b\n",
			want: "cache miss at step 2 (MAINTAINER b): MAINTAINER a -> b"},
		{name: "COPY --chown added", before: "FROM base\nCOPY a.txt /a\n", after: "FROM base\nCOPY --chown=1000:1000 a.txt /a\n",
			want: "cache miss at step 2 (COPY --chown=1000:1000 a.txt /a): COPY --chown: unset -> 1000:1000"},
		{name: "COPY --chown owner", before: "FROM base\nCOPY --chown=0:0 a.txt /a\n", after: "FROM base\nCOPY --chown=1000:1000 a.txt /a\n",
			want: "cache miss at step 2 (COPY --chown=1000:1000 a.txt /a): COPY --chown: 0:0 -> 1000:1000"},
		{name: "COPY --chmod", before: "FROM base\nCOPY --chmod=644 a.txt /a\n", after: "FROM base\nCOPY --chmod=755 a.txt /a\n",
			want: "cache miss at step 2 (COPY --chmod=755 a.txt /a): COPY --chmod: 644 -> 755"},
		{name: "COPY --from", before: "FROM base AS one\nFROM base AS two\nFROM base\nCOPY --from=one /etc/base /a\n", after: "FROM base AS one\nFROM base AS two\nFROM base\nCOPY --from=two /etc/base /a\n",
			want: "cache miss at step 3 (COPY --from=two /etc/base /a): COPY --from: one -> two"},
		{name: "COPY sources", before: "FROM base\nCOPY a.txt /d/\n", after: "FROM base\nCOPY b.txt /d/\n",
			want: "cache miss at step 2 (COPY b.txt /d/): COPY sources: a.txt -> b.txt"},
		{name: "COPY destination", before: "FROM base\nCOPY a.txt /a\n", after: "FROM base\nCOPY a.txt /b\n",
			want: "cache miss at step 2 (COPY a.txt /b): COPY destination: /a -> /b"},
		{name: "COPY heredoc", before: "FROM base\nCOPY <<EOF /h\nx\nEOF\n", after: "FROM base\nCOPY <<EOF /h\ny\nEOF\n",
			want: `cache miss at step 2 (COPY <<EOF /h): COPY heredoc EOF: "x\n" -> "y\n"`},
		{name: "file content", before: copyApp, change: func(e *testEnv) { e.write("app/a.txt", "changed") },
			want: "cache miss at step 2 (COPY app/ /app/): app/a.txt: content changed"},
		{name: "file mode", before: copyApp, change: func(e *testEnv) { os.Chmod(filepath.Join(e.ctxDir, "app/a.txt"), 0o755) },
			want: "cache miss at step 2 (COPY app/ /app/): app/a.txt: mode 0644 -> 0755"},
		{name: "file owner", before: copyApp, change: func(e *testEnv) { os.Chown(filepath.Join(e.ctxDir, "app/a.txt"), 1000, 1000) },
			want: "cache miss at step 2 (COPY app/ /app/): app/a.txt: owner 0:0 -> 1000:1000"},
		{name: "file content and mode", before: copyApp, change: func(e *testEnv) {
			e.write("app/a.txt", "changed")
			os.Chmod(filepath.Join(e.ctxDir, "app/a.txt"), 0o600)
		}, want: "cache miss at step 2 (COPY app/ /app/): app/a.txt: content changed, mode 0644 -> 0600"},
		{name: "file becomes a symlink", before: copyApp, change: func(e *testEnv) {
			os.Remove(filepath.Join(e.ctxDir, "app/a.txt"))
			os.Symlink("b.txt", filepath.Join(e.ctxDir, "app/a.txt"))
		}, want: "cache miss at step 2 (COPY app/ /app/): app/a.txt: content changed, type file -> symlink"},
		{name: "file added", before: copyApp, change: func(e *testEnv) { e.write("app/c.txt", "c") },
			want: "cache miss at step 2 (COPY app/ /app/): app/c.txt added"},
		{name: "file removed", before: copyApp, change: func(e *testEnv) { os.Remove(filepath.Join(e.ctxDir, "app/b.txt")) },
			want: "cache miss at step 2 (COPY app/ /app/): app/b.txt removed"},
		{name: ".dockerignore", before: copyApp, change: func(e *testEnv) {
			e.write(".dockerignore", "app/b.txt\n")
			os.Remove(filepath.Join(e.ctxDir, "app/b.txt")) // the client leaves it out
		}, want: "cache miss at step 2 (COPY app/ /app/): app/b.txt removed"},
		{name: "several files", before: copyApp, change: func(e *testEnv) {
			e.write("app/a.txt", "changed")
			e.write("app/b.txt", "changed")
		}, want: "cache miss at step 2 (COPY app/ /app/): app/a.txt: content changed (and 1 more file)"},
		{name: "build arg", before: "FROM base\nARG V=1\nRUN echo $V > /v\n", args: map[string]string{"V": "2"},
			want: "cache miss at step 3 (RUN echo $V > /v): build arg V changed (1 -> 2)"},
		{name: "RUN --network", before: "FROM base\nRUN echo a > /a\n", after: "FROM base\nRUN --network=none echo a > /a\n",
			want: "cache miss at step 2 (RUN --network=none echo a > /a): RUN --network: unset -> none"},
		{name: "cache mount options", before: "FROM base\nRUN --mount=type=cache,target=/c echo a > /a\n", after: "FROM base\nRUN --mount=type=cache,target=/c,id=x echo a > /a\n",
			want: "cache miss at step 2 (RUN --mount=type=cache,target=/c,id=x echo a > /a): RUN --mount /c: type=cache,target=/c -> type=cache,target=/c,id=x"},
		{name: "cache mount content is no input", before: "FROM base\nARG V=1\nRUN --mount=type=cache,target=/c echo $V > /v\n", args: map[string]string{"V": "2"},
			want: "cache miss at step 3 (RUN --mount=type=cache,target=/c echo $V > /v): build arg V changed (1 -> 2)"},
		{name: "bind mount content", before: "FROM base\nRUN --mount=type=bind,source=app,target=/s echo a > /a\n", change: func(e *testEnv) { e.write("app/a.txt", "changed") },
			want: "cache miss at step 2 (RUN --mount=type=bind,source=app,target=/s echo a > /a): app/a.txt: content changed"},
		{name: "SOURCE_DATE_EPOCH", before: "FROM base\nRUN echo a > /a\n", args: map[string]string{"SOURCE_DATE_EPOCH": "1700000000"},
			want: "cache miss at step 2 (RUN echo a > /a): SOURCE_DATE_EPOCH: unset -> 1700000000"},
		{name: "instruction inserted", before: "FROM base\nENV A=1\nRUN echo a > /a\n", after: "FROM base\nENV A=1\nLABEL x=1\nRUN echo a > /a\n",
			want: "cache miss at step 3 (LABEL x=1): instruction inserted before this step: LABEL x=1"},
		{name: "instruction removed", before: "FROM base\nENV A=1\nLABEL x=1\nRUN echo a > /a\n", after: "FROM base\nENV A=1\nRUN echo a > /a\n",
			want: "cache miss at step 3 (RUN echo a > /a): instruction removed before this step: LABEL x=1"},
		{name: "instructions swapped", before: "FROM base\nENV A=1\nENV B=2\n", after: "FROM base\nENV B=2\nENV A=1\n",
			want: "cache miss at step 2 (ENV B=2): instructions swapped: ENV B=2 now before ENV A=1"},
		{name: "instruction replaced", before: "FROM base\nLABEL x=1\n", after: "FROM base\nENV x=1\n",
			want: "cache miss at step 2 (ENV x=1): instruction changed: LABEL x=1 -> ENV x=1"},
		{name: "base image retagged", before: "FROM base\nRUN echo a > /a\n", change: func(e *testEnv) {
			e.baseID = e.baseImage("base:latest", "two")
		}, want: "cache miss at step 2 (RUN echo a > /a): base image base:latest now points to a new image (OLD -> NEW)"},
		{name: "cached image gone", before: "FROM base\nLABEL gone=1\n", change: func(e *testEnv) {
			if _, err := e.images.Remove(context.Background(), e.lastID.String(), true, true, func(digest.Digest) (string, bool, bool) { return "", false, false }); err != nil {
				e.t.Fatal(err)
			}
		}, want: "cache miss at step 2 (LABEL gone=1): the cached image is gone"},
	}
	if len(tests) < 30 {
		t.Fatalf("%d kinds of change, want at least 30", len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t)
			e.write("a.txt", "a")
			e.write("b.txt", "b")
			e.write("app/a.txt", "a")
			e.write("app/b.txt", "b")
			oldBase, _ := e.images.Resolve(context.Background(), "base:latest")
			if tt.before != "" {
				_, e.lastID = e.mustBuild(tt.before, Options{})
			}
			if tt.change != nil {
				tt.change(e)
			}
			after := tt.after
			if after == "" {
				after = tt.before
			}
			out, _ := e.mustBuild(after, Options{BuildArgs: tt.args})
			want := strings.NewReplacer("OLD", short(oldBase), "NEW", short(e.baseID)).Replace(tt.want)
			if got := missLine(out); got != want {
				t.Errorf("miss line\n got %q\nwant %q\n%s", got, want, out)
			}
		})
	}
}

// TestExplainUnreachable covers the explanations a build cannot provoke
// in a test: a record of an older gantryd (no parts), and a parent that
// changed alone.
func TestExplainUnreachable(t *testing.T) {
	old := Inputs{Parent: "sha256:aaaaaaaaaaaaaaaa", Instruction: `RUN "/bin/sh -c make"`}
	cur := old
	cur.Instruction = `RUN "/bin/sh -c make all"`
	if got, want := explain(&old, cur, "RUN", around{}), "RUN instruction changed"; got != want {
		t.Errorf("a record without parts: %q, want %q", got, want)
	}
	cur = old
	cur.Parent = "sha256:bbbbbbbbbbbbbbbb"
	if got, want := explain(&old, cur, "RUN", around{}), "the previous step produced a different image (aaaaaaaaaaaa -> bbbbbbbbbbbb)"; got != want {
		t.Errorf("parent: %q, want %q", got, want)
	}
}
