package dockerfile

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
)

// Scope is the state one stage's instructions expand against, as it stands
// between two instructions: the environment (the base image's, then ENV),
// the ARGs declared in the stage, the SHELL and the working directory.
// Expand moves it past an instruction. A Scope belongs to one build of one
// stage and is not safe for concurrent use.
//
// The precedence is Docker's: an ENV hides an ARG of the same name; an ARG
// takes its --build-arg value, else its default, else the default of the
// global ARG of that name; a global ARG is visible in a stage only once the
// stage declares it again with `ARG NAME`; the predefined proxy args are
// visible when given with --build-arg.
type Scope struct {
	name     string // Dockerfile name, for errors
	lex      *shell.Lex
	args     *args
	env      []string
	declared map[string]*string // ARGs declared in the stage -> default
	shell    []string
	workdir  string
	budget   *budget // of the stage's expansions: see maxExpansion
}

// DefaultPath is the PATH a stage gets when its base image sets none, as
// Docker's classic builder does.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Scope starts the scope of a stage built on an image whose config is base
// (nil for scratch; for a stage built on another stage, the config that
// stage ended with). Only base's Env, Shell and WorkingDir are read; PATH is
// added to Env when base has none.
func (p *Plan) Scope(base *dockerspec.DockerOCIImageConfig) *Scope {
	s := &Scope{name: p.name, lex: shell.NewLex(p.escape), args: p.args, declared: map[string]*string{}, budget: newBudget()}
	if base != nil {
		s.env = slices.Clone(base.Env)
		s.shell = slices.Clone(base.Shell)
		s.workdir = base.WorkingDir
	}
	if !s.hasEnv("PATH") {
		s.env = append(s.env, "PATH="+DefaultPath)
	}
	return s
}

// Env is the environment the image config gets: the base image's and the
// ENV instructions', in order. ARGs are not in it.
func (s *Scope) Env() []string { return slices.Clone(s.env) }

// Shell is the SHELL in force: the last SHELL instruction's, the base
// image's, or ["/bin/sh", "-c"].
func (s *Scope) Shell() []string {
	if len(s.shell) == 0 {
		return []string{"/bin/sh", "-c"}
	}
	return slices.Clone(s.shell)
}

// WorkingDir is the absolute working directory in force ("" for none, which
// means /).
func (s *Scope) WorkingDir() string { return s.workdir }

// RunEnv is the environment a RUN sees: Env, then every ARG in scope with a
// value that no ENV hides (predefined proxy args included), sorted by name.
// Docker passes ARGs to RUN but does not keep them in the image.
func (s *Scope) RunEnv() []string {
	return append(s.Env(), s.argEnv(true)...)
}

// BuildArgs are the build args a RUN uses, name -> value: the ARGs declared
// in the stage with a value that no ENV hides. They go into the RUN's cache
// key and history ("|1 VERSION=2 /bin/sh -c ..."); the predefined proxy args
// are left out unless declared, so a proxy change does not bust the cache.
func (s *Scope) BuildArgs() map[string]string {
	m := map[string]string{}
	for _, kv := range s.argEnv(false) {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

// argEnv lists the ARGs in scope with a value and not hidden by ENV, as
// sorted KEY=value; withBuiltin adds the predefined args not declared.
func (s *Scope) argEnv(withBuiltin bool) []string {
	var out []string
	add := func(name string, def *string) {
		if s.hasEnv(name) {
			return
		}
		if v, ok := s.args.value(name, def); ok {
			out = append(out, name+"="+v)
		}
	}
	for name, def := range s.declared {
		add(name, def)
	}
	if withBuiltin {
		for name := range builtin {
			if _, ok := s.declared[name]; !ok {
				add(name, nil)
			}
		}
	}
	slices.Sort(out)
	return out
}

func (s *Scope) hasEnv(name string) bool {
	for _, kv := range s.env {
		if k, _, _ := strings.Cut(kv, "="); k == name {
			return true
		}
	}
	return false
}

// Expand returns a copy of cmd with variables expanded the way the classic
// builder does, and moves the scope past it (ARG, ENV, SHELL and WORKDIR
// change the scope). cmd itself is not modified.
//
// What is expanded: ENV, ARG and LABEL keys and values; COPY and ADD sources,
// destination, --chown and --chmod, and the bodies of heredocs whose
// delimiter is not quoted; WORKDIR, which also becomes absolute against the
// previous working directory; USER; VOLUME; STOPSIGNAL; EXPOSE, whose words
// may split into several ports. RUN, CMD, ENTRYPOINT, HEALTHCHECK, SHELL,
// ONBUILD and MAINTAINER are returned as written: the shell expands RUN, in
// the environment RunEnv gives. An expansion error (`${X:?unset}`), and
// expansions of the stage substituting more than maxExpansion bytes in all,
// are invalid-argument errors naming the file and line (`Dockerfile:4:
// ...`).
func (s *Scope) Expand(cmd instructions.Command) (instructions.Command, error) {
	out, err := s.expand(cmd)
	if err != nil {
		return nil, invalidAt(s.name, line(cmd.Location()), err.Error())
	}
	return out, nil
}

func (s *Scope) expand(cmd instructions.Command) (instructions.Command, error) {
	env := s.budget.env(shell.EnvsFromSlice(append(s.Env(), s.argEnv(true)...)))
	word := func(w string) (string, error) {
		out, _, err := s.lex.ProcessWord(w, env)
		if err == nil {
			err = s.budget.check()
		}
		return out, err
	}
	switch c := cmd.(type) {
	case *instructions.EnvCommand:
		x := *c
		x.Env = slices.Clone(c.Env)
		if err := x.Expand(word); err != nil {
			return nil, err
		}
		for _, kv := range x.Env {
			s.env = setEnv(s.env, kv.Key, kv.Value)
		}
		return &x, nil
	case *instructions.ArgCommand:
		x := cloneArg(c)
		if err := x.Expand(word); err != nil {
			return nil, err
		}
		for _, kv := range x.Args {
			s.declared[kv.Key] = kv.Value
		}
		return x, nil
	case *instructions.LabelCommand:
		x := *c
		x.Labels = slices.Clone(c.Labels)
		return &x, x.Expand(word)
	case *instructions.CopyCommand:
		x := *c
		x.SourcesAndDest = cloneSources(c.SourcesAndDest)
		if err := x.Expand(word); err != nil {
			return nil, err
		}
		return &x, x.ExpandRaw(rawWord(env, s.budget))
	case *instructions.AddCommand:
		x := *c
		x.SourcesAndDest = cloneSources(c.SourcesAndDest)
		if err := x.Expand(word); err != nil {
			return nil, err
		}
		return &x, x.ExpandRaw(rawWord(env, s.budget))
	case *instructions.WorkdirCommand:
		x := *c
		if err := x.Expand(word); err != nil {
			return nil, err
		}
		if x.Path == "" {
			return nil, fmt.Errorf("WORKDIR requires a path")
		}
		if !path.IsAbs(x.Path) {
			x.Path = path.Join("/", s.workdir, x.Path)
		}
		s.workdir = x.Path
		return &x, nil
	case *instructions.UserCommand:
		x := *c
		return &x, x.Expand(word)
	case *instructions.VolumeCommand:
		x := *c
		x.Volumes = slices.Clone(c.Volumes)
		return &x, x.Expand(word)
	case *instructions.StopSignalCommand:
		x := *c
		return &x, x.Expand(word)
	case *instructions.ExposeCommand:
		x := *c
		x.Ports = nil
		for _, p := range c.Ports {
			words, err := s.lex.ProcessWords(p, env)
			if err == nil {
				err = s.budget.check()
			}
			if err != nil {
				return nil, err
			}
			x.Ports = append(x.Ports, words...)
		}
		return &x, nil
	case *instructions.ShellCommand:
		s.shell = slices.Clone(c.Shell)
		return c, nil
	case *instructions.RunCommand:
		return expandRun(c, word)
	case *instructions.CmdCommand, *instructions.EntrypointCommand,
		*instructions.HealthCheckCommand, *instructions.OnbuildCommand, *instructions.MaintainerCommand:
		return c, nil
	}
	return nil, fmt.Errorf("unsupported instruction %s", strings.ToUpper(cmd.Name()))
}

// rawWord expands heredoc bodies as BuildKit does: variables only, quotes
// and backslashes kept.
func rawWord(env shell.EnvGetter, b *budget) instructions.SingleWordExpander {
	lex := shell.NewLex('\\')
	lex.SkipProcessQuotes = true
	return func(w string) (string, error) {
		out, _, err := lex.ProcessWord(w, env)
		if err == nil {
			err = b.check()
		}
		return out, err
	}
}

func cloneArg(c *instructions.ArgCommand) *instructions.ArgCommand {
	x := *c
	x.Args = slices.Clone(c.Args)
	return &x
}

func cloneSources(s instructions.SourcesAndDest) instructions.SourcesAndDest {
	s.SourcePaths = slices.Clone(s.SourcePaths)
	s.SourceContents = slices.Clone(s.SourceContents)
	return s
}
