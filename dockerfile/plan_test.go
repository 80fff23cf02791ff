package dockerfile

import (
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/google/go-cmp/cmp"
)

func TestPlan(t *testing.T) {
	type stage struct {
		Index    int
		Name     string
		Base     Ref
		Platform string
		CopyFrom map[int]Ref
	}
	tests := []struct {
		name       string
		dockerfile string
		target     string
		buildArgs  map[string]string
		want       []stage
		steps      int
		unused     []string
		err        string
	}{
		{
			name:       "single stage",
			dockerfile: "FROM busybox\nRUN true\nCMD x",
			want:       []stage{{Index: 0, Base: Ref{Stage: -1, Image: "busybox"}}},
			steps:      3,
		},
		{
			name:       "scratch",
			dockerfile: "FROM scratch\nCOPY a /",
			want:       []stage{{Index: 0, Base: Ref{Stage: -1, Image: Scratch}}},
			steps:      2,
		},
		{
			name:       "FROM with global args and defaults",
			dockerfile: "ARG BASE=alpine\nARG TAG=3.19\nFROM ${BASE}:${TAG}",
			want:       []stage{{Base: Ref{Stage: -1, Image: "alpine:3.19"}}},
			steps:      3, // the global ARGs are steps
		},
		{
			name:       "build arg overrides a global default",
			dockerfile: "ARG TAG=3.19\nFROM alpine:$TAG",
			buildArgs:  map[string]string{"TAG": "edge"},
			want:       []stage{{Base: Ref{Stage: -1, Image: "alpine:edge"}}},
			steps:      2, // the global ARGs are steps
		},
		{
			name:       "global default refers to an earlier global",
			dockerfile: "ARG V=1\nARG IMG=app:v$V\nFROM $IMG",
			buildArgs:  map[string]string{"V": "2"},
			want:       []stage{{Base: Ref{Stage: -1, Image: "app:v2"}}},
			steps:      3, // the global ARGs are steps
		},
		{
			name:       "platform expands",
			dockerfile: "ARG P=linux/arm64\nFROM --platform=$P busybox",
			want:       []stage{{Base: Ref{Stage: -1, Image: "busybox"}, Platform: "linux/arm64"}},
			steps:      2, // the global ARGs are steps
		},
		{
			name:       "FROM a previous stage, case-insensitive",
			dockerfile: "FROM busybox AS Base\nRUN a\nFROM BASE\nRUN b",
			want: []stage{
				{Index: 0, Name: "base", Base: Ref{Stage: -1, Image: "busybox"}},
				{Index: 1, Base: Ref{Stage: 0}},
			},
			steps: 4,
		},
		{
			name:       "FROM a later stage name is an image",
			dockerfile: "FROM later\nFROM busybox AS later",
			target:     "0",
			err:        `failed to reach build target 0 in Dockerfile`,
		},
		{
			name:       "last stage needs only what it uses",
			dockerfile: "FROM a AS one\nFROM b AS two\nFROM c AS three\nCOPY --from=one /x /x\nCOPY --from=img:1 /y /y",
			want: []stage{
				{Index: 0, Name: "one", Base: Ref{Stage: -1, Image: "a"}},
				{Index: 2, Name: "three", Base: Ref{Stage: -1, Image: "c"}, CopyFrom: map[int]Ref{0: {Stage: 0}, 1: {Stage: -1, Image: "img:1"}}},
			},
			steps: 4,
		},
		{
			name:       "target by name with index dependency",
			dockerfile: "FROM a\nFROM b AS two\nCOPY --from=0 /x /x\nFROM two AS three\nFROM d",
			target:     "THREE",
			want: []stage{
				{Index: 0, Base: Ref{Stage: -1, Image: "a"}},
				{Index: 1, Name: "two", Base: Ref{Stage: -1, Image: "b"}, CopyFrom: map[int]Ref{0: {Stage: 0}}},
				{Index: 2, Name: "three", Base: Ref{Stage: 1}},
			},
			steps: 4,
		},
		{
			name:       "COPY --from with a global arg",
			dockerfile: "ARG SRC=build\nFROM a AS build\nFROM b\nCOPY --from=$SRC /x /x",
			want: []stage{
				{Index: 0, Name: "build", Base: Ref{Stage: -1, Image: "a"}},
				{Index: 1, Base: Ref{Stage: -1, Image: "b"}, CopyFrom: map[int]Ref{0: {Stage: 0}}},
			},
			steps: 4, // the global ARGs are steps
		},
		{
			name:       "unused build args",
			dockerfile: "ARG G\nFROM a AS first\nARG S\nFROM b AS skipped\nARG T",
			target:     "first",
			buildArgs:  map[string]string{"G": "1", "S": "2", "T": "3", "X": "4", "HTTP_PROXY": "p", "no_proxy": "n"},
			want:       []stage{{Index: 0, Name: "first", Base: Ref{Stage: -1, Image: "a"}}},
			steps:      3, // the global ARGs are steps
			unused:     []string{"T", "X"},
		},
		{
			name:       "proxy args expand FROM without ARG",
			dockerfile: "FROM registry/${HTTP_PROXY}",
			buildArgs:  map[string]string{"HTTP_PROXY": "p"},
			want:       []stage{{Base: Ref{Stage: -1, Image: "registry/p"}}},
			steps:      1,
		},
		{name: "unknown target", dockerfile: "FROM a AS b", target: "x", err: `failed to reach build target x in Dockerfile`},
		{name: "blank base", dockerfile: "ARG B\nFROM $B", err: "Dockerfile:2: base name ($B) should not be blank"},
		{name: "blank platform", dockerfile: "ARG P\nFROM --platform=$P a", err: "Dockerfile:2: empty platform value from expression $P"},
		{name: "duplicate stage name", dockerfile: "FROM a AS x\nFROM b AS X", err: `Dockerfile:2: duplicate stage name "x"`},
		{name: "index of a later stage", dockerfile: "FROM a\nCOPY --from=1 /x /x\nFROM b", err: "Dockerfile:2: invalid stage index 1"},
		{name: "index of the current stage", dockerfile: "FROM a\nFROM b\nCOPY --from=1 /x /x", err: "Dockerfile:3: invalid stage index 1"},
		{name: "bad expansion in FROM", dockerfile: "FROM ${X:?nobase}", err: `Dockerfile:1: failed to process "${X:?nobase}": X: nobase`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Parse("Dockerfile", strings.NewReader(tt.dockerfile))
			if err != nil {
				t.Fatal(err)
			}
			p, err := d.Plan(tt.target, tt.buildArgs)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err || !errdefs.IsInvalidArgument(err) {
					t.Fatalf("Plan error %v, want invalid argument %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []stage
			for _, st := range p.Stages {
				got = append(got, stage{Index: st.Index, Name: st.Name, Base: st.Base, Platform: st.Platform, CopyFrom: st.CopyFrom})
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("stages (-want +got):\n%s", diff)
			}
			if p.Steps != tt.steps {
				t.Errorf("Steps = %d, want %d", p.Steps, tt.steps)
			}
			if diff := cmp.Diff(tt.unused, p.Unused); diff != "" {
				t.Errorf("Unused (-want +got):\n%s", diff)
			}
		})
	}
}

func TestResolveFrom(t *testing.T) {
	d, err := Parse("Dockerfile", strings.NewReader("FROM a AS build\nFROM b\nFROM c"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := d.Plan("", nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, from string
		stage      int
		want       Ref
		err        string
	}{
		{name: "name", from: "Build", stage: 2, want: Ref{Stage: 0}},
		{name: "index", from: "1", stage: 2, want: Ref{Stage: 1}},
		{name: "image", from: "busybox:1", stage: 2, want: Ref{Stage: -1, Image: "busybox:1"}},
		{name: "own index", from: "2", stage: 2, err: "invalid stage index 2"},
		{name: "negative", from: "-1", stage: 2, err: "invalid stage index -1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := p.ResolveFrom(tt.from, tt.stage)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err || !errdefs.IsInvalidArgument(err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("ResolveFrom = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}
