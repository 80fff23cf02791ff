package dockerfile

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// Dockerfile is a parsed Dockerfile: its global ARGs and its stages of typed
// instructions, as buildkit's instructions package returns them (not yet
// expanded). It is not modified after Parse; Plan and Scope work on copies.
type Dockerfile struct {
	// Name is the file name used in error messages ("Dockerfile").
	Name string
	// Escape is the escape character (the `# escape=` directive; '\\' by
	// default). Variable expansion must use it.
	Escape rune
	// Args are the ARG instructions before the first FROM.
	Args []instructions.ArgCommand
	// Stages are the stages in file order; a stage's index is what
	// `COPY --from=<index>` refers to.
	Stages []instructions.Stage
	// Warnings are the lines of the parser's warnings as dockerd 20.10
	// prints them, for the builder to print: `[WARNING]: Empty
	// continuation line found in:`, the instruction indented by four
	// spaces, and a closing `[WARNING]: Empty continuation lines will
	// become errors in a future release.`
	Warnings []string
}

// Parse reads a Dockerfile from r (the caller owns r) and returns its stages.
// It accepts what BuildKit accepts (the escape directive, line
// continuations, comments, heredocs in RUN, COPY and ADD) and refuses the
// flags this builder cannot honour (RUN --mount, COPY --parents, ...).
//
// Every error is an invalid-argument error whose message names the file and
// line as `Dockerfile:3: unknown instruction: RUNN`; an empty file gives
// `the Dockerfile (Dockerfile) cannot be empty`, as Docker says.
func Parse(name string, r io.Reader) (*Dockerfile, error) {
	br := bufio.NewReader(r)
	if _, err := br.Peek(1); err == io.EOF {
		return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("the Dockerfile (%s) cannot be empty", name))
	} else if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	res, err := parser.Parse(br)
	if err != nil {
		return nil, locate(name, err)
	}
	stages, args, err := instructions.Parse(res.AST, nil)
	if err != nil {
		return nil, locate(name, err)
	}
	if len(stages) == 0 {
		return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("%s: dockerfile contains no stages to build", name))
	}
	for _, st := range stages {
		for _, cmd := range st.Commands {
			if err := supported(cmd); err != nil {
				return nil, invalidAt(name, line(cmd.Location()), err.Error())
			}
		}
	}
	d := &Dockerfile{Name: name, Escape: res.EscapeToken, Args: args, Stages: stages}
	for _, w := range res.Warnings {
		if text, ok := strings.CutPrefix(w.Short, "Empty continuation line found in: "); ok {
			d.Warnings = append(d.Warnings, "[WARNING]: Empty continuation line found in:", "    "+text)
		} else {
			d.Warnings = append(d.Warnings, "[WARNING]: "+w.Short)
		}
	}
	if len(d.Warnings) > 0 {
		d.Warnings = append(d.Warnings, "[WARNING]: Empty continuation lines will become errors in a future release.")
	}
	return d, nil
}

// ParseTriggers parses the ONBUILD triggers of a base image (its config's
// OnBuild list), which run first in a stage built FROM it. The commands are
// unexpanded; run them through the stage's Scope like any other. Errors are
// invalid-argument errors naming the trigger.
func ParseTriggers(triggers []string) ([]instructions.Command, error) {
	var cmds []instructions.Command
	for _, trigger := range triggers {
		res, err := parser.Parse(strings.NewReader(trigger))
		if err != nil {
			return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("ONBUILD trigger %q: %s", trigger, message(err)))
		}
		if len(res.AST.Children) != 1 {
			return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("ONBUILD trigger %q: should be a single expression", trigger))
		}
		node := res.AST.Children[0]
		switch strings.ToUpper(node.Value) {
		case "ONBUILD", "FROM", "MAINTAINER":
			return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("%s isn't allowed as an ONBUILD trigger", strings.ToUpper(node.Value)))
		}
		cmd, err := instructions.ParseCommand(node)
		if err == nil {
			err = supported(cmd)
		}
		if err != nil {
			return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("ONBUILD trigger %q: %s", trigger, message(err)))
		}
		cmds = append(cmds, cmd)
	}
	return cmds, nil
}

// supported refuses what buildkit's parser accepts but this builder cannot
// do: the BuildKit-only flags, and heredocs outside the shell form of RUN.
func supported(cmd instructions.Command) error {
	switch c := cmd.(type) {
	case *instructions.RunCommand:
		for _, f := range c.FlagsUsed {
			if f != "mount" && f != "network" {
				return fmt.Errorf("the --%s option of RUN is not supported", f)
			}
		}
		if len(c.Files) > 0 && !c.PrependShell {
			return errors.New("RUN accepts a heredoc only in its shell form")
		}
	case *instructions.CopyCommand:
		switch {
		case len(c.ExcludePatterns) > 0:
			return errors.New("the --exclude option of COPY is not supported")
		}
	case *instructions.AddCommand:
		switch {
		case c.Unpack != nil:
			return errors.New("the --unpack option of ADD is not supported")
		case len(c.ExcludePatterns) > 0:
			return errors.New("the --exclude option of ADD is not supported")
		}
	}
	return nil
}

// locate turns a buildkit parse error into `name:line: message`.
func locate(name string, err error) error {
	var le *parser.LocationError
	if errors.As(err, &le) && len(le.Locations) > 0 && len(le.Locations[0]) > 0 {
		return invalidAt(name, le.Locations[0][0].Start.Line, message(err))
	}
	return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("%s: %s", name, message(err)))
}

// message is the innermost useful text of a buildkit error, without the
// "dockerfile parse error on line N: " prefix that locate replaces.
func message(err error) string {
	var le *parser.LocationError
	if errors.As(err, &le) && le.Unwrap() != nil {
		err = le.Unwrap()
	}
	msg := err.Error()
	if rest, ok := strings.CutPrefix(msg, "dockerfile parse error on line "); ok {
		if _, after, ok := strings.Cut(rest, ": "); ok {
			msg = after
		}
	}
	return msg
}

// invalidAt is the invalid-argument error for a place in the Dockerfile.
func invalidAt(name string, line int, msg string) error {
	if line <= 0 {
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("%s: %s", name, msg))
	}
	return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("%s:%d: %s", name, line, msg))
}

// line is the first line of a location, or 0.
func line(loc []parser.Range) int {
	if len(loc) == 0 {
		return 0
	}
	return loc[0].Start.Line
}

// LabelCommands are the LABEL instructions dockerd's classic builder adds
// to the last stage for a build's --label values: one per label, sorted by
// key, shown as `LABEL k=v` and taken literally (no variable expansion).
func LabelCommands(labels map[string]string) ([]instructions.Command, error) {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	quote := strings.NewReplacer(`\`, `\\`, `"`, `\"`, `$`, `\$`).Replace
	var cmds []instructions.Command
	for _, k := range keys {
		v := labels[k]
		node := &parser.Node{
			Value:    "label",
			Original: "LABEL " + k + "=" + v,
			Next:     &parser.Node{Value: `"` + quote(k) + `"`, Next: &parser.Node{Value: `"` + quote(v) + `"`, Next: &parser.Node{Value: "="}}},
		}
		cmd, err := instructions.ParseCommand(node)
		if err != nil {
			return nil, errdefs.ErrInvalidArgument.WithMessage("invalid label: " + message(err))
		}
		cmds = append(cmds, cmd)
	}
	return cmds, nil
}
