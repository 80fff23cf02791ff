package dockerfile

import (
	"path"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
)

// FuzzPlan parses arbitrary text as a Dockerfile, plans it with a build
// arg and expands every instruction of every stage in its scope.
// Invariants: no panic; every error is an invalid-argument error (a 400
// naming the line); a stage's base and COPY --from sources are earlier
// stages or images; the step count is one per FROM and instruction; and
// what expansion produces is bounded by the input and maxExpansion, not
// exponential in it (`ENV A=$A$A` repeated).
func FuzzPlan(f *testing.F) {
	f.Fuzz(func(t *testing.T, text, arg string) {
		d, err := Parse("Dockerfile", strings.NewReader(text))
		if err != nil {
			mustBeInvalid(t, "parse", err)
			return
		}
		plan, err := d.Plan("", map[string]string{"V": arg, "HTTP_PROXY": arg})
		if err != nil {
			mustBeInvalid(t, "plan", err)
			return
		}
		steps := len(plan.GlobalArgs) // dockerd counts the ARGs before the first FROM as steps
		for _, st := range plan.Stages {
			steps += 1 + len(st.Commands)
			if st.Base.IsStage() && st.Base.Stage >= st.Index {
				t.Fatalf("stage %d is based on stage %d", st.Index, st.Base.Stage)
			}
			for i, ref := range st.CopyFrom {
				if ref.IsStage() && ref.Stage >= st.Index {
					t.Fatalf("stage %d copies from stage %d", st.Index, ref.Stage)
				}
				if _, ok := st.Commands[i].(*instructions.CopyCommand); !ok {
					t.Fatalf("CopyFrom[%d] is a %T", i, st.Commands[i])
				}
			}
		}
		if steps != plan.Steps {
			t.Fatalf("Steps is %d for %d global ARGs, FROMs and instructions", plan.Steps, steps)
		}
		bound := 3*maxExpansion + 4*(len(text)+len(arg)) + 1024
		for _, st := range plan.Stages {
			s := plan.Scope(nil)
			produced := 0
			for _, cmd := range st.Commands {
				x, err := s.Expand(cmd)
				if err != nil {
					mustBeInvalid(t, "expand", err)
					break
				}
				produced += expandedSize(x)
				if wd := s.WorkingDir(); wd != "" && !path.IsAbs(wd) {
					t.Fatalf("working directory %q is not absolute", wd)
				}
			}
			for _, kv := range s.RunEnv() {
				produced += len(kv)
			}
			if produced > bound {
				t.Fatalf("%d bytes of Dockerfile expanded to %d bytes", len(text)+len(arg), produced)
			}
		}
	})
}

// expandedSize is the size of what an expanded instruction holds.
func expandedSize(cmd instructions.Command) int {
	n := 0
	switch c := cmd.(type) {
	case *instructions.EnvCommand:
		for _, kv := range c.Env {
			n += len(kv.Key) + len(kv.Value)
		}
	case *instructions.LabelCommand:
		for _, kv := range c.Labels {
			n += len(kv.Key) + len(kv.Value)
		}
	case *instructions.ArgCommand:
		for _, kv := range c.Args {
			n += len(kv.Key)
			if kv.Value != nil {
				n += len(*kv.Value)
			}
		}
	case *instructions.CopyCommand:
		n += len(c.DestPath) + len(c.Chown) + len(c.Chmod)
		for _, p := range c.SourcePaths {
			n += len(p)
		}
		for _, sc := range c.SourceContents {
			n += len(sc.Data)
		}
	case *instructions.AddCommand:
		n += len(c.DestPath) + len(c.Chown) + len(c.Chmod)
		for _, p := range c.SourcePaths {
			n += len(p)
		}
		for _, sc := range c.SourceContents {
			n += len(sc.Data)
		}
	case *instructions.WorkdirCommand:
		n += len(c.Path)
	case *instructions.UserCommand:
		n += len(c.User)
	case *instructions.VolumeCommand:
		for _, v := range c.Volumes {
			n += len(v)
		}
	case *instructions.ExposeCommand:
		for _, p := range c.Ports {
			n += len(p)
		}
	case *instructions.StopSignalCommand:
		n += len(c.Signal)
	}
	return n
}

func mustBeInvalid(t *testing.T, what string, err error) {
	t.Helper()
	if !errdefs.IsInvalidArgument(err) {
		t.Fatalf("%s: error is not an invalid argument: %v", what, err)
	}
}

// FuzzIgnore compiles arbitrary .dockerignore text and matches a path.
// Invariants: no panic; "a", "./a" and "/a" get the same answer; and,
// when no pattern is an exception, what is under an excluded directory is
// excluded too (a parent's exclusion covers its children).
func FuzzIgnore(f *testing.F) {
	f.Fuzz(func(t *testing.T, text, p string) {
		patterns, err := ReadIgnore(strings.NewReader(text))
		if err != nil {
			return
		}
		ig, err := NewIgnore(patterns)
		if err != nil {
			mustBeInvalid(t, "compile", err)
			return
		}
		got, err := ig.Excluded(p)
		if err != nil {
			mustBeInvalid(t, "match", err)
			return
		}
		for _, alias := range []string{"./" + p, "/" + p} {
			if other, err := ig.Excluded(alias); err != nil || other != got {
				t.Fatalf("Excluded(%q) = %t, Excluded(%q) = %t, %v", p, got, alias, other, err)
			}
		}
		exceptions := false
		for _, pat := range patterns {
			exceptions = exceptions || strings.HasPrefix(pat, "!")
		}
		if got && !exceptions {
			if child, err := ig.Excluded(p + "/child"); err != nil || !child {
				t.Fatalf("%q is excluded but %q is not (%v); patterns %q", p, p+"/child", err, patterns)
			}
		}
	})
}
