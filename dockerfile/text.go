package dockerfile

import (
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
)

// ScriptDir is where a RUN heredoc that starts with #! is mounted as a file.
const ScriptDir = "/dev/pipes"

// Script is the body of a RUN heredoc that starts with #!, which BuildKit
// runs as a program: the builder mounts it read-only, mode 0755, at
// ScriptDir/Name for the duration of the RUN.
type Script struct {
	Name string
	Data string
}

// Source is an instruction as written in the Dockerfile (its first line for
// a heredoc), for the step header `Step 2/3 : RUN echo hi > /x`.
func Source(cmd instructions.Command) string {
	if s, ok := cmd.(fmt.Stringer); ok {
		return s.String()
	}
	return strings.ToUpper(cmd.Name())
}

// Argv is the command line of a CMD or ENTRYPOINT (or a RUN without
// heredocs) as it goes into the config: exec form as written, shell form
// prefixed with Shell.
func (s *Scope) Argv(line instructions.ShellDependantCmdLine) []string {
	if !line.PrependShell || len(line.CmdLine) == 0 {
		return slices.Clone(line.CmdLine)
	}
	return append(s.Shell(), strings.Join(line.CmdLine, " "))
}

// RunArgs is the process a RUN starts, with heredocs handled as BuildKit
// does: a RUN that is a single heredoc runs its body with Shell (or, when
// the body starts with #!, runs the body as the returned Script); any other
// heredoc is handed to the shell whole. The environment is RunEnv.
func (s *Scope) RunArgs(c *instructions.RunCommand) ([]string, *Script) {
	if len(c.Files) == 0 || len(c.CmdLine) != 1 {
		return s.Argv(c.ShellDependantCmdLine), nil
	}
	line := c.ShellDependantCmdLine
	var script *Script
	if parser.MustParseHeredoc(line.CmdLine[0]) != nil {
		f := c.Files[0]
		data := f.Data
		if f.Chomp {
			data = parser.ChompHeredocContent(data)
		}
		if strings.HasPrefix(f.Data, "#!") {
			script = &Script{Name: f.Name, Data: data}
			data = path.Join(ScriptDir, f.Name)
		}
		line.CmdLine = []string{data}
	} else {
		full := line.CmdLine[0]
		for _, f := range c.Files {
			full += "\n" + f.Data + f.Name
		}
		line.CmdLine = []string{full}
	}
	return s.Argv(line), script
}

// CreatedBy is what the classic builder records as history.CreatedBy for an
// instruction Expand returned, given the scope as Expand left it:
//
//	RUN:      /bin/sh -c echo hi           |1 VERSION=2 /bin/sh -c echo hi
//	COPY/ADD: /bin/sh -c #(nop) COPY file:<sources> in /dest
//	WORKDIR:  /bin/sh -c #(nop) WORKDIR /abs
//	others:   /bin/sh -c #(nop)  CMD ["cat" "/x"]
//
// with Shell in place of /bin/sh -c. sources describes the content a COPY
// or ADD copied, as the builder computed it (Docker: "file:<hex>",
// "dir:<hex>", "multi:<hex>"); other instructions ignore it.
func (s *Scope) CreatedBy(cmd instructions.Command, sources string) string {
	nop := strings.Join(s.Shell(), " ") + " #(nop) "
	switch c := cmd.(type) {
	case *instructions.RunCommand:
		args, _ := s.RunArgs(c)
		if env := s.argEnv(false); len(env) > 0 {
			args = append(append([]string{"|" + strconv.Itoa(len(env))}, env...), args...)
		}
		return strings.Join(args, " ")
	case *instructions.CopyCommand:
		return nop + fmt.Sprintf("COPY %s in %s ", sources, c.DestPath)
	case *instructions.AddCommand:
		return nop + fmt.Sprintf("ADD %s in %s ", sources, c.DestPath)
	case *instructions.WorkdirCommand:
		return nop + "WORKDIR " + c.Path
	}
	return nop + " " + s.comment(cmd)
}

// Key is the text of an instruction Expand returned, for cache keys and for
// telling which instruction changed. It holds everything the instruction
// itself contributes after expansion (flags, heredoc bodies, RUN's command
// line) but not what the builder keys separately: the build args of a RUN
// (BuildArgs), the content of COPY and ADD sources, the parent image and the
// config.
func (s *Scope) Key(cmd instructions.Command) string {
	switch c := cmd.(type) {
	case *instructions.RunCommand:
		args, script := s.RunArgs(c)
		key := "RUN "
		for _, f := range runFlags(c) {
			name, _, _ := strings.Cut(f[0], " ")
			key += "--" + name + "=" + strconv.Quote(f[1]) + " "
		}
		key += strconv.Quote(strings.Join(args, " "))
		if script != nil {
			key += " script " + strconv.Quote(script.Data)
		}
		return key
	case *instructions.CopyCommand:
		flags := flagText("from", c.From) + flagText("chown", c.Chown) + flagText("chmod", c.Chmod)
		if c.Link {
			flags += "--link "
		}
		if c.Parents {
			flags += "--parents "
		}
		return "COPY " + flags + sourcesKey(c.SourcesAndDest)
	case *instructions.AddCommand:
		flags := flagText("chown", c.Chown) + flagText("chmod", c.Chmod) + flagText("checksum", c.Checksum)
		if c.KeepGitDir != nil {
			flags += "--keep-git-dir=" + strconv.FormatBool(*c.KeepGitDir) + " "
		}
		if c.Link {
			flags += "--link "
		}
		return "ADD " + flags + sourcesKey(c.SourcesAndDest)
	case *instructions.WorkdirCommand:
		return "WORKDIR " + c.Path
	}
	return s.comment(cmd)
}

// comment is the classic builder's commit comment for an instruction that
// only changes the config.
func (s *Scope) comment(cmd instructions.Command) string {
	switch c := cmd.(type) {
	case *instructions.ArgCommand:
		var b strings.Builder
		b.WriteString("ARG")
		for _, kv := range c.Args {
			b.WriteString(" " + kv.Key)
			if kv.Value != nil {
				b.WriteString("=" + *kv.Value)
			}
		}
		return b.String()
	case *instructions.CmdCommand:
		return fmt.Sprintf("CMD %q", s.Argv(c.ShellDependantCmdLine))
	case *instructions.EntrypointCommand:
		return fmt.Sprintf("ENTRYPOINT %q", s.Argv(c.ShellDependantCmdLine))
	case *instructions.EnvCommand:
		return "ENV" + pairs(c.Env)
	case *instructions.ExposeCommand:
		return "EXPOSE " + strings.Join(c.Ports, " ")
	case *instructions.HealthCheckCommand:
		return "HEALTHCHECK " + healthText(c.Health)
	case *instructions.LabelCommand:
		return "LABEL" + pairs(c.Labels)
	case *instructions.MaintainerCommand:
		return "MAINTAINER " + c.Maintainer
	case *instructions.OnbuildCommand:
		return "ONBUILD " + c.Expression
	case *instructions.ShellCommand:
		return fmt.Sprintf("SHELL %v", c.Shell)
	case *instructions.StopSignalCommand:
		return "STOPSIGNAL " + c.Signal
	case *instructions.UserCommand:
		return "USER " + c.User
	case *instructions.VolumeCommand:
		return fmt.Sprintf("VOLUME %v", c.Volumes)
	}
	return Source(cmd)
}

// healthText is fmt's %q of the health config, which the classic builder
// records: &{["CMD-SHELL" "true"] "30s" "0s" "0s" "0s" '\x03'}.
func healthText(h *dockerspec.HealthcheckConfig) string {
	if h == nil {
		return "<nil>"
	}
	return fmt.Sprintf("&{%q %q %q %q %q %s}", h.Test, h.Interval.String(), h.Timeout.String(),
		h.StartPeriod.String(), h.StartInterval.String(), strconv.QuoteRune(rune(h.Retries)))
}

func pairs(kvs instructions.KeyValuePairs) string {
	var b strings.Builder
	for _, kv := range kvs {
		b.WriteString(" " + kv.Key + "=" + kv.Value)
	}
	return b.String()
}

func flagText(name, value string) string {
	if value == "" {
		return ""
	}
	return "--" + name + "=" + strconv.Quote(value) + " "
}

// sourcesKey lists sources, heredoc names and bodies, and the destination,
// each quoted so that no two different lists give the same text.
func sourcesKey(sd instructions.SourcesAndDest) string {
	var b strings.Builder
	for _, src := range sd.SourcePaths {
		b.WriteString(strconv.Quote(src) + " ")
	}
	for _, sc := range sd.SourceContents {
		b.WriteString("<<" + strconv.Quote(sc.Path) + "=" + strconv.Quote(sc.Data) + " ")
	}
	b.WriteString(strconv.Quote(sd.DestPath))
	return b.String()
}
