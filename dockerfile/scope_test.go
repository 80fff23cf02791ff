package dockerfile

import (
	"slices"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/google/go-cmp/cmp"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
)

// expandAll plans dockerfile and expands every command of its last stage
// in one Scope, returning the Scope and each command's Key.
func expandAll(t *testing.T, dockerfile string, buildArgs map[string]string, base *dockerspec.DockerOCIImageConfig) (*Scope, []string, error) {
	t.Helper()
	d, err := Parse("Dockerfile", strings.NewReader(dockerfile))
	if err != nil {
		t.Fatal(err)
	}
	p, err := d.Plan("", buildArgs)
	if err != nil {
		t.Fatal(err)
	}
	st := p.Stages[len(p.Stages)-1]
	s := p.Scope(base)
	var keys []string
	for _, cmd := range st.Commands {
		x, err := s.Expand(cmd)
		if err != nil {
			return s, keys, err
		}
		keys = append(keys, s.Key(x))
	}
	return s, keys, nil
}

func TestScopeExpand(t *testing.T) {
	busybox := &dockerspec.DockerOCIImageConfig{}
	busybox.Env = []string{"PATH=/bin", "HOME=/root"}
	withDir := &dockerspec.DockerOCIImageConfig{}
	withDir.Env = busybox.Env
	withDir.WorkingDir = "/home"
	tests := []struct {
		name       string
		dockerfile string
		buildArgs  map[string]string
		base       *dockerspec.DockerOCIImageConfig
		keys       []string
		env        []string
		runEnv     []string
		args       map[string]string
		workdir    string
		err        string
	}{
		{
			name:       "base env expands and default PATH is added for scratch",
			dockerfile: "FROM scratch\nENV X=$PATH",
			keys:       []string{"ENV X=" + DefaultPath},
			env:        []string{"PATH=" + DefaultPath, "X=" + DefaultPath},
		},
		{
			name:       "base image env",
			dockerfile: "FROM busybox\nLABEL home=$HOME\nWORKDIR sub",
			base:       withDir,
			keys:       []string{"LABEL home=/root", "WORKDIR /home/sub"},
			env:        []string{"PATH=/bin", "HOME=/root"},
			workdir:    "/home/sub",
		},
		{
			name:       "ENV replaces in place and expands against the previous env",
			dockerfile: "FROM busybox\nENV HOME=/h A=$HOME\nENV B=${HOME}",
			base:       busybox,
			keys:       []string{"ENV HOME=/h A=/root", "ENV B=/h"},
			env:        []string{"PATH=/bin", "HOME=/h", "A=/root", "B=/h"},
		},
		{
			name:       "global ARG invisible until redeclared",
			dockerfile: "ARG V=1\nFROM busybox\nLABEL before=[$V]\nARG V\nLABEL after=[$V]",
			base:       busybox,
			keys:       []string{"LABEL before=[]", "ARG V", "LABEL after=[1]"},
			env:        []string{"PATH=/bin", "HOME=/root"},
			runEnv:     []string{"PATH=/bin", "HOME=/root", "V=1"},
			args:       map[string]string{"V": "1"},
		},
		{
			name:       "build arg beats both defaults",
			dockerfile: "ARG V=1\nFROM busybox\nARG V=2\nLABEL v=$V",
			buildArgs:  map[string]string{"V": "3"},
			base:       busybox,
			keys:       []string{"ARG V=2", "LABEL v=3"},
			runEnv:     []string{"PATH=/bin", "HOME=/root", "V=3"},
			env:        []string{"PATH=/bin", "HOME=/root"},
			args:       map[string]string{"V": "3"},
		},
		{
			name:       "stage default beats global default",
			dockerfile: "ARG V=1\nFROM busybox\nARG V=2\nLABEL v=$V",
			base:       busybox,
			keys:       []string{"ARG V=2", "LABEL v=2"},
			env:        []string{"PATH=/bin", "HOME=/root"},
			runEnv:     []string{"PATH=/bin", "HOME=/root", "V=2"},
			args:       map[string]string{"V": "2"},
		},
		{
			name:       "ARG without any value is unset",
			dockerfile: "FROM busybox\nARG V\nLABEL v=${V:-unset}",
			base:       busybox,
			keys:       []string{"ARG V", "LABEL v=unset"},
			env:        []string{"PATH=/bin", "HOME=/root"},
		},
		{
			name:       "ENV hides ARG of the same name",
			dockerfile: "FROM busybox\nARG V=arg\nENV V=env\nLABEL v=$V",
			buildArgs:  map[string]string{"V": "cli"},
			base:       busybox,
			keys:       []string{"ARG V=arg", "ENV V=env", "LABEL v=env"},
			env:        []string{"PATH=/bin", "HOME=/root", "V=env"},
		},
		{
			name:       "ARG hidden by a base image ENV",
			dockerfile: "FROM busybox\nARG HOME=/arg\nLABEL h=$HOME",
			base:       busybox,
			keys:       []string{"ARG HOME=/arg", "LABEL h=/root"},
			env:        []string{"PATH=/bin", "HOME=/root"},
		},
		{
			name:       "proxy args reach RUN but not the cache until declared",
			dockerfile: "FROM busybox\nLABEL p=$HTTP_PROXY",
			buildArgs:  map[string]string{"HTTP_PROXY": "http://p", "no_proxy": "x"},
			base:       busybox,
			keys:       []string{"LABEL p=http://p"},
			env:        []string{"PATH=/bin", "HOME=/root"},
			runEnv:     []string{"PATH=/bin", "HOME=/root", "HTTP_PROXY=http://p", "no_proxy=x"},
		},
		{
			name:       "declared proxy arg is a build arg",
			dockerfile: "FROM busybox\nARG HTTP_PROXY",
			buildArgs:  map[string]string{"HTTP_PROXY": "http://p"},
			base:       busybox,
			keys:       []string{"ARG HTTP_PROXY"},
			env:        []string{"PATH=/bin", "HOME=/root"},
			runEnv:     []string{"PATH=/bin", "HOME=/root", "HTTP_PROXY=http://p"},
			args:       map[string]string{"HTTP_PROXY": "http://p"},
		},
		{
			name:       "RUN is not expanded",
			dockerfile: "FROM busybox\nARG V=1\nRUN echo $V ${V}",
			base:       busybox,
			keys:       []string{"ARG V=1", `RUN "/bin/sh -c echo $V ${V}"`},
			env:        []string{"PATH=/bin", "HOME=/root"},
			runEnv:     []string{"PATH=/bin", "HOME=/root", "V=1"},
			args:       map[string]string{"V": "1"},
		},
		{
			name:       "CMD and ENTRYPOINT are not expanded",
			dockerfile: "FROM busybox\nENV V=1\nCMD echo $V\nENTRYPOINT [\"$V\"]",
			base:       busybox,
			keys:       []string{"ENV V=1", `CMD ["/bin/sh" "-c" "echo $V"]`, `ENTRYPOINT ["$V"]`},
			env:        []string{"PATH=/bin", "HOME=/root", "V=1"},
		},
		{
			name:       "COPY flags, sources and destination",
			dockerfile: "FROM busybox\nARG U=app D=/dst\nCOPY --chown=$U:$U --chmod=0${M:-644} src/$U *.txt $D/",
			base:       busybox,
			keys:       []string{"ARG U=app D=/dst", `COPY --chown="app:app" --chmod="0644" "src/app" "*.txt" "/dst/"`},
			env:        []string{"PATH=/bin", "HOME=/root"},
			runEnv:     []string{"PATH=/bin", "HOME=/root", "D=/dst", "U=app"},
			args:       map[string]string{"U": "app", "D": "/dst"},
		},
		{
			name:       "COPY heredoc bodies expand unless quoted",
			dockerfile: "FROM busybox\nARG N=x\nCOPY <<a <<'b' /d/\n$N \"q\"\na\n$N\nb\n",
			base:       busybox,
			keys:       []string{"ARG N=x", `COPY <<"a"="x \"q\"\n" <<"b"="$N\n" "/d/"`},
			env:        []string{"PATH=/bin", "HOME=/root"},
			runEnv:     []string{"PATH=/bin", "HOME=/root", "N=x"},
			args:       map[string]string{"N": "x"},
		},
		{
			name:       "WORKDIR absolute, relative, cleaned",
			dockerfile: "FROM scratch\nWORKDIR /a\nWORKDIR b/../c\nWORKDIR /x/./y",
			keys:       []string{"WORKDIR /a", "WORKDIR /a/c", "WORKDIR /x/./y"},
			env:        []string{"PATH=" + DefaultPath},
			workdir:    "/x/./y",
		},
		{
			name:       "EXPOSE splits words",
			dockerfile: "FROM scratch\nENV PORTS=\"80 443/tcp\"\nEXPOSE $PORTS 53/udp",
			keys:       []string{"ENV PORTS=80 443/tcp", "EXPOSE 80 443/tcp 53/udp"},
			env:        []string{"PATH=" + DefaultPath, "PORTS=80 443/tcp"},
		},
		{
			name:       "USER VOLUME STOPSIGNAL",
			dockerfile: "FROM scratch\nENV U=1000 S=TERM\nUSER $U:$U\nVOLUME /v/$U\nSTOPSIGNAL SIG$S",
			keys:       []string{"ENV U=1000 S=TERM", "USER 1000:1000", "VOLUME [/v/1000]", "STOPSIGNAL SIGTERM"},
			env:        []string{"PATH=" + DefaultPath, "U=1000", "S=TERM"},
		},
		{
			name:       "escape directive",
			dockerfile: "# escape=`\nFROM scratch\nENV A=1\nLABEL a=`$A b=\\$A",
			keys:       []string{"ENV A=1", `LABEL a=$A b=\1`},
			env:        []string{"PATH=" + DefaultPath, "A=1"},
		},
		{
			name:       "expansion error names the line",
			dockerfile: "FROM scratch\n\nWORKDIR ${D:?required}",
			env:        []string{"PATH=" + DefaultPath},
			err:        `Dockerfile:3: failed to process "${D:?required}": D: required`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, keys, err := expandAll(t, tt.dockerfile, tt.buildArgs, tt.base)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err || !errdefs.IsInvalidArgument(err) {
					t.Fatalf("error %v, want invalid argument %q", err, tt.err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.keys, keys); diff != "" {
				t.Errorf("keys (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.env, s.Env()); diff != "" {
				t.Errorf("Env (-want +got):\n%s", diff)
			}
			runEnv := tt.runEnv
			if runEnv == nil {
				runEnv = tt.env
			}
			if diff := cmp.Diff(runEnv, s.RunEnv()); diff != "" {
				t.Errorf("RunEnv (-want +got):\n%s", diff)
			}
			args := tt.args
			if args == nil {
				args = map[string]string{}
			}
			if diff := cmp.Diff(args, s.BuildArgs()); diff != "" {
				t.Errorf("BuildArgs (-want +got):\n%s", diff)
			}
			if s.WorkingDir() != tt.workdir {
				t.Errorf("WorkingDir = %q, want %q", s.WorkingDir(), tt.workdir)
			}
		})
	}
}

// TestExpandCopies checks that Expand leaves the parsed Dockerfile alone, so
// one Dockerfile can be planned and built many times.
func TestExpandCopies(t *testing.T) {
	d, err := Parse("Dockerfile", strings.NewReader("FROM scratch\nENV A=1 B=$A\nCOPY <<EOF $A/ /$B\n$A\nEOF\nVOLUME $A\nARG X=$A\nLABEL l=$A"))
	if err != nil {
		t.Fatal(err)
	}
	before := make([]string, 0)
	p, err := d.Plan("", nil)
	if err != nil {
		t.Fatal(err)
	}
	s := p.Scope(nil)
	for _, cmd := range d.Stages[0].Commands {
		before = append(before, NewKey(cmd))
	}
	for _, cmd := range d.Stages[0].Commands {
		if _, err := s.Expand(cmd); err != nil {
			t.Fatal(err)
		}
	}
	var after []string
	for _, cmd := range d.Stages[0].Commands {
		after = append(after, NewKey(cmd))
	}
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("Expand changed the parsed commands (-before +after):\n%s", diff)
	}
}

// NewKey is Key in a fresh scope, which expands nothing it is given.
func NewKey(cmd instructions.Command) string {
	return (&Scope{}).Key(cmd)
}

// TestExpansionBound: expansions that double a variable at each line stop
// with an error at maxExpansion instead of asking for 2^40 bytes, in a
// stage, in global ARGs and in commit/import changes.
func TestExpansionBound(t *testing.T) {
	doubling := strings.Repeat("ENV A=$A$A\n", 40)
	d, err := Parse("Dockerfile", strings.NewReader("FROM scratch\nENV A=0123456789abcdef\n"+doubling))
	if err != nil {
		t.Fatal(err)
	}
	plan, err := d.Plan("", nil)
	if err != nil {
		t.Fatal(err)
	}
	s := plan.Scope(nil)
	var expErr error
	for _, cmd := range plan.Stages[0].Commands {
		if _, expErr = s.Expand(cmd); expErr != nil {
			break
		}
	}
	if expErr == nil || !errdefs.IsInvalidArgument(expErr) || !strings.Contains(expErr.Error(), "variable expansion exceeds the limit of 16777216 bytes (16 MiB)") {
		t.Errorf("stage: %v", expErr)
	}
	if n := len(strings.Join(s.Env(), "")); n > 2*maxExpansion {
		t.Errorf("the environment grew to %d bytes", n)
	}

	d, err = Parse("Dockerfile", strings.NewReader("ARG A=0123456789abcdef\n"+strings.Repeat("ARG A=$A$A\n", 40)+"FROM scratch\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Plan("", nil); err == nil || !strings.Contains(err.Error(), "variable expansion exceeds") {
		t.Errorf("global ARGs: %v", err)
	}

	var cfg dockerspec.DockerOCIImageConfig
	cfg.Env = []string{"A=0123456789abcdef"}
	if err := ApplyChanges(&cfg, slices.Repeat([]string{"ENV A=$A$A"}, 40)); err == nil || !strings.Contains(err.Error(), "variable expansion exceeds") {
		t.Errorf("changes: %v", err)
	}
}
