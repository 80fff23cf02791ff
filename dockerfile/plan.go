package dockerfile

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// Scratch is the base name of a stage that starts from an empty filesystem.
const Scratch = "scratch"

// Plan is what a build runs: the stages the target needs, in file order,
// with their bases and COPY --from sources resolved, and the build args.
type Plan struct {
	// Stages are the stages to build, in file order; the last is the target.
	Stages []Stage
	// Steps is the number of steps the classic builder counts for the
	// plan ("Step 3/8"): one per global ARG, one per FROM and one per
	// instruction.
	Steps int
	// GlobalArgs are the ARG instructions before the first FROM as
	// written, which the classic builder prints as the first steps
	// ("Step 1/9 : ARG BASE=busybox").
	GlobalArgs []string
	// Unused are the --build-arg names no ARG declares and that are not
	// predefined, sorted. Docker prints them as
	// `[Warning] One or more build-args [X] were not consumed`.
	Unused []string

	name   string // Dockerfile name, for errors
	escape rune
	args   *args
	budget *budget  // of the global ARGs, FROM lines and --from values
	names  []string // stage names by Dockerfile index, lower case ("" unnamed)
	global []string // global ARG names, for ResolveFrom
}

// Stage is one stage of a Plan.
type Stage struct {
	// Index is the stage's position in the Dockerfile, which is what
	// Ref.Stage and `COPY --from=<index>` refer to.
	Index int
	// Name is the stage's name in lower case (`AS Build` is "build"), or "".
	Name string
	// Base is what FROM names, after expanding global ARGs.
	Base Ref
	// Platform is the --platform of FROM after expansion, or "".
	Platform string
	// Source is the FROM line as written, for "Step 1/3 : FROM busybox".
	Source string
	// Commands are the stage's instructions, unexpanded; expand each with
	// the stage's Scope just before running it.
	Commands []instructions.Command
	// CopyFrom maps the index in Commands of each `COPY --from` to its source.
	CopyFrom map[int]Ref
	// MountFrom maps the index in Commands of each RUN with a `--mount
	// from=` to what each from value names.
	MountFrom map[int]map[string]Ref
}

// Ref is what FROM or COPY --from names: an earlier stage of the same
// Dockerfile, or an image.
type Ref struct {
	// Stage is the Dockerfile index of the stage, or -1 for an image.
	Stage int
	// Image is the image reference when Stage is -1 ("busybox:1.36", or
	// Scratch for none); "" otherwise.
	Image string
}

// IsStage reports whether r names a stage of the Dockerfile.
func (r Ref) IsStage() bool { return r.Stage >= 0 }

// Plan resolves the global ARGs with buildArgs (the --build-arg values;
// the predefined proxy args need no ARG), names the stages, resolves FROM
// and COPY --from, and selects the stages target needs (target "" means the
// last stage). Errors are invalid-argument errors in Docker's wording:
// `failed to reach build target x in Dockerfile`, `Dockerfile:4: base name (${B})
// should not be blank`, `Dockerfile:7: invalid stage index 5`.
func (d *Dockerfile) Plan(target string, buildArgs map[string]string) (*Plan, error) {
	lex := shell.NewLex(d.Escape)
	a := &args{overrides: buildArgs, meta: map[string]*string{}}
	p := &Plan{name: d.Name, escape: d.Escape, args: a, budget: newBudget()}
	for _, cmd := range d.Args {
		cmd := cloneArg(&cmd)
		env := p.budget.env(shell.EnvsFromSlice(a.metaEnv()))
		if err := cmd.Expand(func(word string) (string, error) {
			out, _, err := lex.ProcessWord(word, env)
			if err == nil {
				err = p.budget.check()
			}
			return out, err
		}); err != nil {
			return nil, invalidAt(d.Name, line(cmd.Location()), err.Error())
		}
		for _, kv := range cmd.Args {
			a.meta[kv.Key] = kv.Value
			p.global = append(p.global, kv.Key)
		}
		p.GlobalArgs = append(p.GlobalArgs, d.Args[len(p.GlobalArgs)].String())
	}
	p.Steps = len(p.GlobalArgs)

	all := make([]Stage, len(d.Stages))
	for i, st := range d.Stages {
		at := line(st.Location)
		if st.Name != "" && slices.Contains(p.names, st.Name) {
			return nil, invalidAt(d.Name, at, fmt.Sprintf("duplicate stage name %q", st.Name))
		}
		p.names = append(p.names, st.Name)
		base, err := p.expandGlobal(lex, st.BaseName)
		if err != nil {
			return nil, invalidAt(d.Name, at, err.Error())
		}
		if base == "" {
			return nil, invalidAt(d.Name, at, fmt.Sprintf("base name (%s) should not be blank", st.BaseName))
		}
		platform, err := p.expandGlobal(lex, st.Platform)
		if err != nil {
			return nil, invalidAt(d.Name, at, err.Error())
		}
		if st.Platform != "" && platform == "" {
			return nil, invalidAt(d.Name, at, fmt.Sprintf("empty platform value from expression %s", st.Platform))
		}
		s := Stage{
			Index:    i,
			Name:     st.Name,
			Base:     p.byName(base, i),
			Platform: platform,
			Source:   st.SourceCode,
			Commands: st.Commands,
		}
		for j, cmd := range st.Commands {
			if c, ok := cmd.(*instructions.RunCommand); ok {
				for _, m := range Mounts(c) {
					if m.From == "" {
						continue
					}
					ref, err := p.resolveFrom(lex, m.From, i)
					if err != nil {
						return nil, invalidAt(d.Name, line(c.Location()), err.Error())
					}
					if s.MountFrom == nil {
						s.MountFrom = map[int]map[string]Ref{}
					}
					if s.MountFrom[j] == nil {
						s.MountFrom[j] = map[string]Ref{}
					}
					s.MountFrom[j][m.From] = ref
				}
			}
			c, ok := cmd.(*instructions.CopyCommand)
			if !ok || c.From == "" {
				continue
			}
			ref, err := p.resolveFrom(lex, c.From, i)
			if err != nil {
				return nil, invalidAt(d.Name, line(c.Location()), err.Error())
			}
			if s.CopyFrom == nil {
				s.CopyFrom = map[int]Ref{}
			}
			s.CopyFrom[j] = ref
		}
		all[i] = s
	}

	last := len(all) - 1
	if target != "" {
		i, ok := instructions.HasStage(d.Stages, target)
		if !ok {
			return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("failed to reach build target %s in Dockerfile", target))
		}
		last = i
	}
	need := make([]bool, len(all))
	var mark func(i int)
	mark = func(i int) {
		if need[i] {
			return
		}
		need[i] = true
		if all[i].Base.IsStage() {
			mark(all[i].Base.Stage)
		}
		for _, ref := range all[i].CopyFrom {
			if ref.IsStage() {
				mark(ref.Stage)
			}
		}
		for _, refs := range all[i].MountFrom {
			for _, ref := range refs {
				if ref.IsStage() {
					mark(ref.Stage)
				}
			}
		}
	}
	mark(last)

	declared := map[string]bool{}
	for _, name := range p.global {
		declared[name] = true
	}
	for i, s := range all {
		if !need[i] {
			continue
		}
		p.Stages = append(p.Stages, s)
		p.Steps += 1 + len(s.Commands)
		for _, cmd := range s.Commands {
			if c, ok := cmd.(*instructions.ArgCommand); ok {
				for _, kv := range c.Args {
					declared[kv.Key] = true
				}
			}
		}
	}
	for name := range buildArgs {
		if !declared[name] && !builtin[name] {
			p.Unused = append(p.Unused, name)
		}
	}
	slices.Sort(p.Unused)
	return p, nil
}

// ResolveFrom resolves the value of a `COPY --from` that stage (a Dockerfile
// index) runs, for a COPY that does not come from the Dockerfile itself (an
// ONBUILD trigger of its base image): a stage index or name before stage,
// or else an image. An index that is not an earlier stage is an
// invalid-argument error.
func (p *Plan) ResolveFrom(from string, stage int) (Ref, error) {
	ref, err := p.resolveFrom(shell.NewLex(p.escape), from, stage)
	if err != nil {
		return Ref{}, errdefs.ErrInvalidArgument.WithMessage(err.Error())
	}
	return ref, nil
}

func (p *Plan) resolveFrom(lex *shell.Lex, from string, stage int) (Ref, error) {
	name, err := p.expandGlobal(lex, from)
	if err != nil {
		return Ref{}, err
	}
	if n, err := strconv.Atoi(name); err == nil {
		if n < 0 || n >= stage {
			return Ref{}, fmt.Errorf("invalid stage index %d", n)
		}
		return Ref{Stage: n}, nil
	}
	if name == "" {
		return Ref{}, fmt.Errorf("invalid from flag value %s", from)
	}
	return p.byName(name, stage), nil
}

// byName is the earlier stage called name (case-insensitive), else the
// image name.
func (p *Plan) byName(name string, before int) Ref {
	for i := range before {
		if p.names[i] != "" && strings.EqualFold(p.names[i], name) {
			return Ref{Stage: i}
		}
	}
	return Ref{Stage: -1, Image: name}
}

// expandGlobal expands word (a FROM base or platform, a --from) with the
// global ARGs and the predefined args, as the classic builder does.
func (p *Plan) expandGlobal(lex *shell.Lex, word string) (string, error) {
	if word == "" {
		return "", nil
	}
	out, _, err := lex.ProcessWord(word, p.budget.env(shell.EnvsFromSlice(p.args.metaEnv())))
	if err == nil {
		err = p.budget.check()
	}
	return out, err
}

// builtin are the predefined args: usable without an ARG, passed to RUN
// when given, and kept out of the history and cache key unless declared.
var builtin = map[string]bool{
	"HTTP_PROXY": true, "http_proxy": true,
	"HTTPS_PROXY": true, "https_proxy": true,
	"FTP_PROXY": true, "ftp_proxy": true,
	"NO_PROXY": true, "no_proxy": true,
	"ALL_PROXY": true, "all_proxy": true,
	// The build's timestamp (reproducible builds), as BuildKit has it; it
	// is the builder's, not the Dockerfile's.
	"SOURCE_DATE_EPOCH": true,
}

// args are the build args of a build: the --build-arg values and the global
// ARGs with their expanded defaults.
type args struct {
	overrides map[string]string
	meta      map[string]*string
}

// value is the value of an ARG declared with default def (nil: none): the
// --build-arg value, else def, else the global ARG's default.
func (a *args) value(name string, def *string) (string, bool) {
	if v, ok := a.overrides[name]; ok {
		return v, true
	}
	if def != nil {
		return *def, true
	}
	if v := a.meta[name]; v != nil {
		return *v, true
	}
	return "", false
}

// metaEnv is the environment global ARGs and FROM lines expand against:
// every global ARG with a value and every predefined arg given, sorted.
func (a *args) metaEnv() []string {
	var env []string
	for name := range a.meta {
		if v, ok := a.value(name, nil); ok {
			env = append(env, name+"="+v)
		}
	}
	for name := range builtin {
		if _, ok := a.meta[name]; ok {
			continue
		}
		if v, ok := a.overrides[name]; ok {
			env = append(env, name+"="+v)
		}
	}
	slices.Sort(env)
	return env
}
