package dockerfile

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
)

// TestCreatedBy checks the history text of the last instruction of each
// Dockerfile against what Docker's classic builder records (transcripts
// 02a, 02f and 03c under shared/reference/api-transcripts).
func TestCreatedBy(t *testing.T) {
	tests := []struct {
		name, dockerfile string
		buildArgs        map[string]string
		base             []string // base image Shell
		want             string
	}{
		{name: "RUN shell form", dockerfile: "FROM busybox\nRUN echo hi > /x", want: "/bin/sh -c echo hi > /x"},
		{name: "RUN exec form", dockerfile: "FROM busybox\nRUN [\"echo\", \"hi\"]", want: "echo hi"},
		{name: "RUN with a build arg", dockerfile: "FROM busybox\nARG VERSION=1\nRUN make", buildArgs: map[string]string{"VERSION": "2"}, want: "|1 VERSION=2 /bin/sh -c make"},
		{name: "RUN with sorted build args", dockerfile: "FROM busybox\nARG B=2 A=1\nRUN make", want: "|2 A=1 B=2 /bin/sh -c make"},
		{name: "RUN with undeclared proxy", dockerfile: "FROM busybox\nRUN make", buildArgs: map[string]string{"HTTP_PROXY": "p"}, want: "/bin/sh -c make"},
		{name: "RUN in the base image's shell", dockerfile: "FROM busybox\nRUN make", base: []string{"/bin/bash", "-c"}, want: "/bin/bash -c make"},
		{name: "CMD exec form", dockerfile: "FROM busybox\nCMD [\"cat\",\"/x\"]", want: `/bin/sh -c #(nop)  CMD ["cat" "/x"]`},
		{name: "CMD shell form", dockerfile: "FROM busybox\nCMD cat /x", want: `/bin/sh -c #(nop)  CMD ["/bin/sh" "-c" "cat /x"]`},
		{name: "ENTRYPOINT", dockerfile: "FROM busybox\nENTRYPOINT [\"/app\"]", want: `/bin/sh -c #(nop)  ENTRYPOINT ["/app"]`},
		{name: "ARG", dockerfile: "FROM busybox AS base\nARG GREETING=hello", want: "/bin/sh -c #(nop)  ARG GREETING=hello"},
		{name: "ENV", dockerfile: "FROM busybox\nENV A=1 B=\"two words\"", want: "/bin/sh -c #(nop)  ENV A=1 B=two words"},
		{name: "LABEL", dockerfile: "FROM busybox\nLABEL a=b", want: "/bin/sh -c #(nop)  LABEL a=b"},
		{name: "EXPOSE", dockerfile: "FROM busybox\nEXPOSE 80 53/udp", want: "/bin/sh -c #(nop)  EXPOSE 53/udp 80"},
		{name: "VOLUME", dockerfile: "FROM busybox\nVOLUME /a /b", want: "/bin/sh -c #(nop)  VOLUME [/a /b]"},
		{name: "USER", dockerfile: "FROM busybox\nUSER nobody", want: "/bin/sh -c #(nop)  USER nobody"},
		{name: "STOPSIGNAL", dockerfile: "FROM busybox\nSTOPSIGNAL 9", want: "/bin/sh -c #(nop)  STOPSIGNAL 9"},
		{name: "MAINTAINER", dockerfile: "FROM busybox\nMAINTAINER me", want: "/bin/sh -c #(nop)  MAINTAINER me"},
		{name: "ONBUILD", dockerfile: "FROM busybox\nONBUILD RUN make", want: "/bin/sh -c #(nop)  ONBUILD RUN make"},
		{name: "SHELL uses the new shell", dockerfile: "FROM busybox\nSHELL [\"/bin/bash\", \"-c\"]", want: "/bin/bash -c #(nop)  SHELL [/bin/bash -c]"},
		{name: "HEALTHCHECK", dockerfile: "FROM busybox\nHEALTHCHECK --interval=5s CMD true", want: `/bin/sh -c #(nop)  HEALTHCHECK &{["CMD-SHELL" "true"] "5s" "0s" "0s" "0s" '\x00'}`},
		{name: "HEALTHCHECK NONE", dockerfile: "FROM busybox\nHEALTHCHECK NONE", want: `/bin/sh -c #(nop)  HEALTHCHECK &{["NONE"] "0s" "0s" "0s" "0s" '\x00'}`},
		{name: "WORKDIR", dockerfile: "FROM busybox\nWORKDIR /a\nWORKDIR b", want: "/bin/sh -c #(nop) WORKDIR /a/b"},
		{name: "COPY", dockerfile: "FROM busybox\nCOPY a /dst/", want: "/bin/sh -c #(nop) COPY file:abc in /dst/ "},
		{name: "ADD", dockerfile: "FROM busybox\nADD a.tar /dst", want: "/bin/sh -c #(nop) ADD file:abc in /dst "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var base *dockerspec.DockerOCIImageConfig
			if tt.base != nil {
				base = &dockerspec.DockerOCIImageConfig{}
				base.Shell = tt.base
			}
			d, err := Parse("Dockerfile", strings.NewReader(tt.dockerfile))
			if err != nil {
				t.Fatal(err)
			}
			p, err := d.Plan("", tt.buildArgs)
			if err != nil {
				t.Fatal(err)
			}
			s := p.Scope(base)
			var last instructions.Command
			for _, cmd := range p.Stages[0].Commands {
				if last, err = s.Expand(cmd); err != nil {
					t.Fatal(err)
				}
			}
			if got := s.CreatedBy(last, "file:abc"); got != tt.want {
				t.Errorf("CreatedBy =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestRunArgs(t *testing.T) {
	tests := []struct {
		name, dockerfile string
		args             []string
		script           *Script
	}{
		{name: "shell form", dockerfile: "FROM a\nRUN echo  hi", args: []string{"/bin/sh", "-c", "echo  hi"}},
		{name: "exec form", dockerfile: "FROM a\nRUN [\"echo\", \"hi\"]", args: []string{"echo", "hi"}},
		{name: "SHELL", dockerfile: "FROM a\nSHELL [\"/bin/bash\", \"-o\", \"pipefail\", \"-c\"]\nRUN a | b", args: []string{"/bin/bash", "-o", "pipefail", "-c", "a | b"}},
		{name: "heredoc body runs in the shell", dockerfile: "FROM a\nRUN <<EOF\necho 1\necho 2\nEOF", args: []string{"/bin/sh", "-c", "echo 1\necho 2\n"}},
		{name: "chomped heredoc", dockerfile: "FROM a\nRUN <<-EOF\n\techo 1\n\tEOF", args: []string{"/bin/sh", "-c", "echo 1\n"}},
		{
			name:       "shebang heredoc is a script",
			dockerfile: "FROM a\nRUN <<py\n#!/usr/bin/python3\nprint(1)\npy",
			args:       []string{"/bin/sh", "-c", "/dev/pipes/py"},
			script:     &Script{Name: "py", Data: "#!/usr/bin/python3\nprint(1)\n"},
		},
		{name: "heredoc inside a command", dockerfile: "FROM a\nRUN cat <<EOF >/f\nx\nEOF", args: []string{"/bin/sh", "-c", "cat <<EOF >/f\nx\nEOF"}},
		{name: "two heredocs", dockerfile: "FROM a\nRUN cat <<A <<B\n1\nA\n2\nB", args: []string{"/bin/sh", "-c", "cat <<A <<B\n1\nA\n2\nB"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Parse("Dockerfile", strings.NewReader(tt.dockerfile))
			if err != nil {
				t.Fatal(err)
			}
			p, err := d.Plan("", nil)
			if err != nil {
				t.Fatal(err)
			}
			s := p.Scope(nil)
			var run *instructions.RunCommand
			for _, cmd := range p.Stages[0].Commands {
				x, err := s.Expand(cmd)
				if err != nil {
					t.Fatal(err)
				}
				if r, ok := x.(*instructions.RunCommand); ok {
					run = r
				}
			}
			args, script := s.RunArgs(run)
			if diff := cmp.Diff(tt.args, args); diff != "" {
				t.Errorf("args (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.script, script); diff != "" {
				t.Errorf("script (-want +got):\n%s", diff)
			}
		})
	}
}
