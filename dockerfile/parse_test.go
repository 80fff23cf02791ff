package dockerfile

import (
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/google/go-cmp/cmp"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
)

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, file, text, want string
	}{
		{"empty", "Dockerfile", "", "the Dockerfile (Dockerfile) cannot be empty"},
		{"empty other name", "build/app.Dockerfile", "", "the Dockerfile (build/app.Dockerfile) cannot be empty"},
		{"unknown instruction", "Dockerfile", "FROM busybox\nRUN true\nRUNN echo", "Dockerfile:3: unknown instruction: RUNN (did you mean RUN?)"},
		{"unknown instruction no suggestion", "Dockerfile", "FROM busybox\nFROBNICATE x", "Dockerfile:2: unknown instruction: FROBNICATE"},
		{"instruction before FROM", "Dockerfile", "RUN true\nFROM busybox", "Dockerfile:1: no build stage in current context"},
		{"unknown flag", "Dockerfile", "FROM busybox\nCOPY --frm=a x y", "Dockerfile:2: unknown flag: --frm (did you mean from?)"},
		{"flag missing value", "Dockerfile", "FROM busybox\nCOPY --chown x y", "Dockerfile:2: missing a value on flag: --chown"},
		{"FROM arguments", "Dockerfile", "FROM busybox AS", "Dockerfile:1: FROM requires either one or three arguments"},
		{"bad stage name", "Dockerfile", "FROM busybox AS 1st", `Dockerfile:1: invalid name for build stage: "1st", name can't start with a number or contain symbols`},
		{"SHELL not JSON", "Dockerfile", "FROM busybox\nSHELL bash -c", "Dockerfile:2: SHELL requires the arguments to be in JSON form"},
		{"JSON not strings", "Dockerfile", "FROM busybox\nCMD [\"a\", 1]", "Dockerfile:2: when using JSON array syntax, arrays must be comprised of strings only"},
		{"COPY one argument", "Dockerfile", "FROM busybox\nCOPY x", "Dockerfile:2: COPY requires at least two arguments, but only one was provided. Destination could not be determined"},
		{"WORKDIR two arguments", "Dockerfile", "FROM busybox\nWORKDIR", "Dockerfile:2: WORKDIR requires exactly one argument"},
		{"ENV without value", "Dockerfile", "FROM busybox\nENV A", "Dockerfile:2: ENV must have two arguments"},
		{"ONBUILD ONBUILD", "Dockerfile", "FROM busybox\nONBUILD ONBUILD RUN x", "Dockerfile:2: Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"},
		{"RUN --security", "Dockerfile", "FROM busybox\n\nRUN --security=insecure true", "Dockerfile:3: the --security option of RUN is not supported"},
		{"RUN --network bad", "Dockerfile", "FROM busybox\nRUN --network=bridge true", "Dockerfile:2: invalid network mode \"bridge\""},
		{"unterminated heredoc", "Dockerfile", "FROM busybox\nRUN <<EOF\necho", "Dockerfile:2: unterminated heredoc"},
		{"heredoc as destination", "Dockerfile", "FROM busybox\nCOPY a <<EOF\nx\nEOF", "Dockerfile:2: COPY cannot accept a heredoc as a destination"},
		{"comments only", "Dockerfile", "# a\n# b\n", "Dockerfile:2: file with no instructions"},
		{"ARG only", "Dockerfile", "ARG A=1\n", "Dockerfile: dockerfile contains no stages to build"},
		{"two escape directives", "Dockerfile", "# escape=`\n# escape=`\nFROM busybox", "Dockerfile:1: only one escape parser directive can be used"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.file, strings.NewReader(tt.text))
			if err == nil {
				t.Fatalf("Parse succeeded, want %q", tt.want)
			}
			if diff := cmp.Diff(tt.want, err.Error()); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
			if !errdefs.IsInvalidArgument(err) {
				t.Errorf("error %v is not an invalid-argument error", err)
			}
		})
	}
}

func TestParse(t *testing.T) {
	text := "# escape=`\nARG BASE=busybox\nFROM $BASE AS One\nRUN echo a `\n  b\n\nFROM one\nRUN <<EOF\necho hi\nEOF\n"
	d, err := Parse("Dockerfile", strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	type stage struct {
		Name, Base string
		Commands   []string
	}
	var got []stage
	for _, st := range d.Stages {
		s := stage{Name: st.Name, Base: st.BaseName}
		for _, c := range st.Commands {
			s.Commands = append(s.Commands, Source(c))
		}
		got = append(got, s)
	}
	want := []stage{
		{Name: "one", Base: "$BASE", Commands: []string{"RUN echo a   b"}},
		{Name: "", Base: "one", Commands: []string{"RUN <<EOF"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stages (-want +got):\n%s", diff)
	}
	if d.Escape != '`' || len(d.Args) != 1 || d.Args[0].Args[0].Key != "BASE" {
		t.Errorf("escape %q, args %+v", d.Escape, d.Args)
	}
	run := d.Stages[1].Commands[0].(*instructions.RunCommand)
	if len(run.Files) != 1 || run.Files[0].Data != "echo hi\n" {
		t.Errorf("heredoc files %+v", run.Files)
	}
}

func TestParseTriggers(t *testing.T) {
	tests := []struct {
		name     string
		triggers []string
		want     []string // sources of the commands
		err      string
	}{
		{name: "none"},
		{name: "two", triggers: []string{"COPY . /src", "RUN make"}, want: []string{"COPY . /src", "RUN make"}},
		{name: "heredoc", triggers: []string{"RUN <<EOF\necho hi\nEOF"}, want: []string{"RUN <<EOF"}},
		{name: "FROM", triggers: []string{"FROM busybox"}, err: "FROM isn't allowed as an ONBUILD trigger"},
		{name: "two expressions", triggers: []string{"RUN a\nRUN b"}, err: `ONBUILD trigger "RUN a\nRUN b": should be a single expression`},
		{name: "unknown", triggers: []string{"RUNN x"}, err: `ONBUILD trigger "RUNN x": unknown instruction: RUNN (did you mean RUN?)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmds, err := ParseTriggers(tt.triggers)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err || !errdefs.IsInvalidArgument(err) {
					t.Fatalf("error %v, want invalid argument %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range cmds {
				got = append(got, Source(c))
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("commands (-want +got):\n%s", diff)
			}
		})
	}
}
