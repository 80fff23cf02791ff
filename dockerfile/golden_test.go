package dockerfile

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// TestGolden parses, plans and expands every testdata/golden/*.Dockerfile
// the way the builder will (a loop over the plan's stages, each instruction
// expanded just before it runs) and compares a transcript with the .golden
// file beside it. Lines `# test: build-arg K=V` and `# test: target X` in a
// Dockerfile set the build's options.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/golden/*.Dockerfile")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden Dockerfiles: %v", err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".Dockerfile")
		t.Run(name, func(t *testing.T) {
			got := transcript(t, file)
			goldenFile := strings.TrimSuffix(file, ".Dockerfile") + ".golden"
			if *update {
				if err := os.WriteFile(goldenFile, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(goldenFile)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("%s mismatch (-want +got):\n%s", goldenFile, diff)
			}
		})
	}
}

// transcript runs the front end over one Dockerfile as a builder would.
func transcript(t *testing.T, file string) string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	target, buildArgs := options(string(data))
	var b strings.Builder
	fail := func(err error) string {
		fmt.Fprintf(&b, "error: %v\n", err)
		return b.String()
	}

	d, err := Parse("Dockerfile", strings.NewReader(string(data)))
	if err != nil {
		return fail(err)
	}
	for _, w := range d.Warnings {
		fmt.Fprintf(&b, "warning: %s\n", w)
	}
	p, err := d.Plan(target, buildArgs)
	if err != nil {
		return fail(err)
	}
	if len(p.Unused) > 0 {
		fmt.Fprintf(&b, "[Warning] One or more build-args %v were not consumed\n", p.Unused)
	}

	// The config each built stage ends with, as the builder would keep it.
	results := map[int]*dockerspec.DockerOCIImageConfig{}
	step := 0
	for _, a := range p.GlobalArgs {
		step++
		fmt.Fprintf(&b, "Step %d/%d : %s\n", step, p.Steps, a)
	}
	for _, st := range p.Stages {
		step++
		fmt.Fprintf(&b, "Step %d/%d : %s\n", step, p.Steps, st.Source)
		fmt.Fprintf(&b, "  stage %d name=%q base=%s platform=%q\n", st.Index, st.Name, refText(st.Base), st.Platform)
		var base *dockerspec.DockerOCIImageConfig
		switch {
		case st.Base.IsStage():
			base = results[st.Base.Stage]
		case st.Base.Image != Scratch:
			base = &dockerspec.DockerOCIImageConfig{}
			base.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root"}
		}
		scope := p.Scope(base)
		var shell []string // the config's Shell: set only by SHELL, as the builder does
		if base != nil {
			shell = base.Shell
		}
		for i, cmd := range st.Commands {
			step++
			fmt.Fprintf(&b, "Step %d/%d : %s\n", step, p.Steps, Source(cmd))
			x, err := scope.Expand(cmd)
			if err != nil {
				return fail(err)
			}
			fmt.Fprintf(&b, "  key: %s\n", scope.Key(x))
			fmt.Fprintf(&b, "  created by: %s\n", scope.CreatedBy(x, "file:SOURCES"))
			if c, ok := x.(*instructions.ShellCommand); ok {
				shell = c.Shell
			}
			if ref, ok := st.CopyFrom[i]; ok {
				fmt.Fprintf(&b, "  from: %s\n", refText(ref))
			}
			if run, ok := x.(*instructions.RunCommand); ok {
				args, script := scope.RunArgs(run)
				fmt.Fprintf(&b, "  args: %q\n", args)
				if script != nil {
					fmt.Fprintf(&b, "  script %s: %q\n", script.Name, script.Data)
				}
				fmt.Fprintf(&b, "  env: %q\n", scope.RunEnv())
				fmt.Fprintf(&b, "  build args: %v\n", scope.BuildArgs())
			}
		}
		cfg := &dockerspec.DockerOCIImageConfig{}
		cfg.Env = scope.Env()
		cfg.WorkingDir = scope.WorkingDir()
		cfg.Shell = shell
		results[st.Index] = cfg
		fmt.Fprintf(&b, "  end: env=%q workdir=%q shell=%q\n", cfg.Env, cfg.WorkingDir, cfg.Shell)
	}
	return b.String()
}

func refText(r Ref) string {
	if r.IsStage() {
		return fmt.Sprintf("stage %d", r.Stage)
	}
	return fmt.Sprintf("image %q", r.Image)
}

// options reads the `# test:` lines of a golden Dockerfile.
func options(data string) (target string, buildArgs map[string]string) {
	buildArgs = map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(data))
	for sc.Scan() {
		opt, ok := strings.CutPrefix(sc.Text(), "# test: ")
		if !ok {
			continue
		}
		switch key, value, _ := strings.Cut(opt, " "); key {
		case "target":
			target = value
		case "build-arg":
			k, v, _ := strings.Cut(value, "=")
			buildArgs[k] = v
		}
	}
	return target, buildArgs
}
