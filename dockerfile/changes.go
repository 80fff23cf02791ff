package dockerfile

import (
	"fmt"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
)

// changeable are the instructions `docker commit -c` and `docker import -c`
// accept, as Docker does.
var changeable = map[string]bool{
	"cmd": true, "entrypoint": true, "env": true, "expose": true, "label": true,
	"onbuild": true, "stopsignal": true, "user": true, "volume": true, "workdir": true,
}

// ApplyChanges applies Dockerfile instructions such as `CMD ["sh"]` or
// `ENV A=b` to cfg, in order, expanding variables against cfg's environment
// as it stands at each change. An instruction that is not allowed or does not
// parse, or expansions substituting more than maxExpansion bytes in all, is
// an invalid-argument error naming it; cfg is then left unchanged.
func ApplyChanges(cfg *dockerspec.DockerOCIImageConfig, changes []string) error {
	next := *cfg
	next.Env = append([]string(nil), cfg.Env...)
	next.Labels = copyMap(cfg.Labels)
	next.ExposedPorts = copyMap(cfg.ExposedPorts)
	next.Volumes = copyMap(cfg.Volumes)
	b := newBudget()
	for _, change := range changes {
		if err := applyChange(&next, change, b); err != nil {
			return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid change %q: %v", change, err))
		}
	}
	entrypointResetsCmd(&next, changes)
	*cfg = next
	return nil
}

func applyChange(cfg *dockerspec.DockerOCIImageConfig, change string, b *budget) error {
	res, err := parser.Parse(strings.NewReader(change))
	if err != nil {
		return err
	}
	if len(res.AST.Children) != 1 {
		return fmt.Errorf("want exactly one instruction")
	}
	node := res.AST.Children[0]
	if !changeable[strings.ToLower(node.Value)] {
		return fmt.Errorf("%s is not a valid change command", strings.ToUpper(node.Value))
	}
	cmd, err := instructions.ParseCommand(node)
	if err != nil {
		return err
	}
	lex := shell.NewLex(res.EscapeToken)
	expand := func(word string) (string, error) {
		out, _, err := lex.ProcessWord(word, b.env(shell.EnvsFromSlice(cfg.Env)))
		if err == nil {
			err = b.check()
		}
		return out, err
	}
	if e, ok := cmd.(instructions.SupportsSingleWordExpansion); ok {
		if err := e.Expand(expand); err != nil {
			return err
		}
	}
	switch c := cmd.(type) {
	case *instructions.CmdCommand:
		cfg.Cmd = shellForm(cfg, c.ShellDependantCmdLine)
	case *instructions.EntrypointCommand:
		cfg.Entrypoint = shellForm(cfg, c.ShellDependantCmdLine)
	case *instructions.EnvCommand:
		for _, kv := range c.Env {
			cfg.Env = setEnv(cfg.Env, kv.Key, kv.Value)
		}
	case *instructions.ExposeCommand:
		if cfg.ExposedPorts == nil {
			cfg.ExposedPorts = map[string]struct{}{}
		}
		for _, p := range c.Ports {
			if !strings.Contains(p, "/") {
				p += "/tcp"
			}
			cfg.ExposedPorts[p] = struct{}{}
		}
	case *instructions.LabelCommand:
		if cfg.Labels == nil {
			cfg.Labels = map[string]string{}
		}
		for _, kv := range c.Labels {
			cfg.Labels[kv.Key] = kv.Value
		}
	case *instructions.OnbuildCommand:
		cfg.OnBuild = append(cfg.OnBuild, c.Expression)
	case *instructions.StopSignalCommand:
		cfg.StopSignal = c.Signal
	case *instructions.UserCommand:
		cfg.User = c.User
	case *instructions.VolumeCommand:
		if cfg.Volumes == nil {
			cfg.Volumes = map[string]struct{}{}
		}
		for _, v := range c.Volumes {
			cfg.Volumes[v] = struct{}{}
		}
	case *instructions.WorkdirCommand:
		dir := c.Path
		if !strings.HasPrefix(dir, "/") {
			dir = strings.TrimSuffix(cfg.WorkingDir, "/") + "/" + dir
		}
		cfg.WorkingDir = dir
	default:
		return fmt.Errorf("%s is not a valid change command", strings.ToUpper(node.Value))
	}
	return nil
}

// shellForm turns a shell-form command line into the image's shell
// invocation; exec form is kept as written.
func shellForm(cfg *dockerspec.DockerOCIImageConfig, line instructions.ShellDependantCmdLine) []string {
	if !line.PrependShell {
		return line.CmdLine
	}
	sh := cfg.Shell
	if len(sh) == 0 {
		sh = []string{"/bin/sh", "-c"}
	}
	return append(append([]string(nil), sh...), strings.Join(line.CmdLine, " "))
}

// setEnv sets key=value in env, replacing an existing entry for key.
func setEnv(env []string, key, value string) []string {
	for i, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); k == key {
			env[i] = key + "=" + value
			return env
		}
	}
	return append(env, key+"="+value)
}

func copyMap[V any](m map[string]V) map[string]V {
	if m == nil {
		return nil
	}
	out := make(map[string]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// entrypointResetsCmd applies dockerd's rule for commit and import
// changes to cfg, changed by changes: an ENTRYPOINT resets Cmd unless a
// CMD came before it.
func entrypointResetsCmd(cfg *dockerspec.DockerOCIImageConfig, changes []string) {
	cmdSet, reset := false, false
	for _, change := range changes {
		fields := strings.Fields(change)
		if len(fields) == 0 {
			continue
		}
		switch strings.ToUpper(fields[0]) {
		case "CMD":
			cmdSet, reset = true, false
		case "ENTRYPOINT":
			if !cmdSet {
				reset = true
			}
		}
	}
	if reset {
		cfg.Cmd = nil
	}
}
