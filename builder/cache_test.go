package builder

import (
	"fmt"
	"testing"

	"github.com/opencontainers/go-digest"
)

func TestExplain(t *testing.T) {
	base := Inputs{Parent: "sha256:p", Instruction: `RUN "/bin/sh -c make"`, BuildArgs: map[string]string{"VERSION": "1"},
		Base: "busybox:latest", BaseImage: "sha256:b1"}
	files := func(m map[string]string) Inputs {
		in := base
		in.Instruction = `COPY "app/" "/app"`
		in.Sources = digest.Digest("sha256:" + m["app/main.go"] + m["app/new.go"] + fmt.Sprint(len(m)))
		in.Files = m
		return in
	}
	tests := []struct {
		name string
		old  *Inputs
		cur  func(in Inputs) Inputs
		want string
	}{
		{"first build", nil, func(in Inputs) Inputs { return in }, "no earlier build of this step"},
		{"instruction", &base, func(in Inputs) Inputs { in.Instruction = `RUN "/bin/sh -c make all"`; return in }, "RUN instruction changed"},
		{"build arg", &base, func(in Inputs) Inputs { in.BuildArgs = map[string]string{"VERSION": "2"}; return in }, "build arg VERSION changed (1 -> 2)"},
		{"build arg set", &base, func(in Inputs) Inputs { in.BuildArgs = map[string]string{"VERSION": "1", "A": "x"}; return in }, "build arg A changed (unset -> x)"},
		{"base image", &base, func(in Inputs) Inputs { in.Parent, in.BaseImage = "sha256:q", "sha256:b2"; return in }, "base image busybox:latest now points to a new image"},
		{"parent", &base, func(in Inputs) Inputs { in.Parent = "sha256:q"; return in }, "the previous step produced a different image"},
		{"same inputs", &base, func(in Inputs) Inputs { return in }, "the cached image is gone"},
		{"file changed", ptrTo(files(map[string]string{"app/main.go": "1", "app/x.go": "1"})),
			func(Inputs) Inputs { return files(map[string]string{"app/main.go": "2", "app/x.go": "1"}) }, "app/main.go changed"},
		{"file added", ptrTo(files(map[string]string{"app/main.go": "1"})),
			func(Inputs) Inputs { return files(map[string]string{"app/main.go": "1", "app/new.go": "1"}) }, "app/new.go added"},
		{"file removed", ptrTo(files(map[string]string{"app/main.go": "1", "app/new.go": "1"})),
			func(Inputs) Inputs { return files(map[string]string{"app/main.go": "1"}) }, "app/new.go removed"},
		{"several files", ptrTo(files(map[string]string{"app/main.go": "1", "app/new.go": "1"})),
			func(Inputs) Inputs { return files(map[string]string{"app/main.go": "2", "app/new.go": "2"}) }, "app/main.go changed (and 1 more file)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cur := tt.cur(base)
			if tt.old != nil && tt.old.Instruction != base.Instruction {
				cur = tt.cur(*tt.old)
			}
			name := "RUN"
			if cur.Files != nil {
				name = "COPY"
			}
			if got := explain(tt.old, cur, name); got != tt.want {
				t.Errorf("explain = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestKeyIgnoresExplanationInputs(t *testing.T) {
	a := Inputs{Parent: "sha256:p", Instruction: "CMD", Base: "x", BaseImage: "sha256:1", Files: map[string]string{"a": "1"}}
	b := a
	b.Base, b.BaseImage, b.Files = "y", "sha256:2", nil
	if a.Key() != b.Key() {
		t.Error("Base, BaseImage and Files changed the key")
	}
	b.Sources = "sha256:s"
	if a.Key() == b.Key() {
		t.Error("Sources did not change the key")
	}
}

func ptrTo[T any](v T) *T { return &v }
