package dockerfile

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
)

// Part is one named input of an instruction, for telling what changed
// between two builds of a step: a flag ("--chown"), a variable of ENV,
// ARG or LABEL (its name), a fixed part of RUN, COPY or ADD ("command",
// "sources", "destination", "heredoc"), or the instruction's whole
// argument (Name "").
type Part struct {
	Name  string `json:"n,omitempty"`
	Value string `json:"v"`
}

// Parts are the parts of an instruction Expand returned, in the order a
// reader meets them, given the scope as Expand left it. Two instructions
// of the same kind with the same Key have the same Parts.
func (s *Scope) Parts(cmd instructions.Command) []Part {
	var out []Part
	flag := func(name, value string) {
		if value != "" {
			out = append(out, Part{Name: "--" + name, Value: value})
		}
	}
	kv := func(kvs instructions.KeyValuePairs) {
		for _, p := range kvs {
			out = append(out, Part{Name: p.Key, Value: p.Value})
		}
	}
	sources := func(sd instructions.SourcesAndDest) {
		if len(sd.SourcePaths) > 0 {
			out = append(out, Part{Name: "sources", Value: strings.Join(sd.SourcePaths, " ")})
		}
		for _, sc := range sd.SourceContents {
			out = append(out, Part{Name: "heredoc " + sc.Path, Value: sc.Data})
		}
		out = append(out, Part{Name: "destination", Value: sd.DestPath})
	}
	switch c := cmd.(type) {
	case *instructions.RunCommand:
		for _, f := range runFlags(c) {
			flag(f[0], f[1])
		}
		args, script := s.RunArgs(c)
		out = append(out, Part{Name: "command", Value: strings.Join(args, " ")})
		if script != nil {
			out = append(out, Part{Name: "heredoc", Value: script.Data})
		}
	case *instructions.CopyCommand:
		flag("from", c.From)
		flag("chown", c.Chown)
		flag("chmod", c.Chmod)
		if c.Link {
			flag("link", "true")
		}
		if c.Parents {
			flag("parents", "true")
		}
		sources(c.SourcesAndDest)
	case *instructions.AddCommand:
		flag("chown", c.Chown)
		flag("chmod", c.Chmod)
		flag("checksum", c.Checksum)
		if c.Link {
			flag("link", "true")
		}
		sources(c.SourcesAndDest)
	case *instructions.EnvCommand:
		kv(c.Env)
	case *instructions.LabelCommand:
		kv(c.Labels)
	case *instructions.ArgCommand:
		for _, a := range c.Args {
			v := "(no default)"
			if a.Value != nil {
				v = *a.Value
			}
			out = append(out, Part{Name: a.Key, Value: v})
		}
	case *instructions.WorkdirCommand:
		out = append(out, Part{Value: c.Path})
	case *instructions.UserCommand:
		out = append(out, Part{Value: c.User})
	case *instructions.ShellCommand:
		out = append(out, Part{Value: fmt.Sprintf("%q", c.Shell)})
	case *instructions.CmdCommand:
		out = append(out, Part{Value: fmt.Sprintf("%q", s.Argv(c.ShellDependantCmdLine))})
	case *instructions.EntrypointCommand:
		out = append(out, Part{Value: fmt.Sprintf("%q", s.Argv(c.ShellDependantCmdLine))})
	case *instructions.HealthCheckCommand:
		if h := c.Health; h != nil {
			out = append(out, Part{Name: "command", Value: fmt.Sprintf("%q", h.Test)})
			for _, d := range []struct {
				name string
				v    time.Duration
			}{{"interval", h.Interval}, {"timeout", h.Timeout}, {"start-period", h.StartPeriod}, {"start-interval", h.StartInterval}} {
				if d.v != 0 {
					flag(d.name, d.v.String())
				}
			}
			if h.Retries != 0 {
				flag("retries", strconv.Itoa(h.Retries))
			}
		}
	default:
		_, text, _ := strings.Cut(s.comment(cmd), " ")
		out = append(out, Part{Value: text})
	}
	return out
}
