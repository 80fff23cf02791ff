package dockerfile

import (
	"errors"
	"path"
	"strconv"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
)

// Mounts are the --mount options of a RUN that Expand returned, expanded:
// cache, bind, tmpfs, secret and ssh mounts.
func Mounts(c *instructions.RunCommand) []*instructions.Mount {
	if !hasFlag(c, "mount") {
		return nil
	}
	return instructions.GetMounts(c)
}

// Network is the --network of a RUN: "default", "none" or "host".
func Network(c *instructions.RunCommand) string {
	if !hasFlag(c, "network") {
		return instructions.NetworkDefault
	}
	return instructions.GetNetwork(c)
}

func hasFlag(c *instructions.RunCommand, name string) bool {
	for _, f := range c.FlagsUsed {
		if f == name {
			return true
		}
	}
	return false
}

// expandRun expands the --mount options of a RUN (the command itself is
// the shell's to expand) and refuses the mounts this builder cannot give.
func expandRun(c *instructions.RunCommand, word instructions.SingleWordExpander) (*instructions.RunCommand, error) {
	if !hasFlag(c, "mount") {
		return c, nil
	}
	x := *c
	if err := x.Expand(word); err != nil {
		return nil, err
	}
	ssh := 0
	for _, m := range instructions.GetMounts(&x) {
		switch m.Type {
		case instructions.MountTypeSSH:
			// BuildKit's defaults: the agent "default", a socket at
			// /run/buildkit/ssh_agent.N (N counting the ssh mounts).
			if m.CacheID == "" {
				m.CacheID = "default"
			}
			if m.Target == "" {
				m.Target = "/run/buildkit/ssh_agent." + strconv.Itoa(ssh)
			}
			ssh++
		case instructions.MountTypeSecret:
			if m.Env != nil {
				return nil, errors.New("RUN --mount=type=secret,env= is not supported\nhint: read the secret from its file, /run/secrets/<id> by default")
			}
			if m.CacheID == "" {
				m.CacheID = m.Source // source is the id's other name
				if m.CacheID == "" {
					m.CacheID = path.Base(m.Target)
				}
				m.Source = ""
			}
			if m.Target == "" {
				m.Target = "/run/secrets/" + path.Base(m.CacheID)
			}
		}
		if m.Target == "" {
			return nil, errors.New("mount target is required") // parseMount leaves that to the solver
		}
	}
	return &x, nil
}

// mountText is a mount as a --mount value in a fixed order, for keys and
// explanations.
func mountText(m *instructions.Mount) string {
	parts := []string{"type=" + string(m.Type), "target=" + m.Target}
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+"="+v)
		}
	}
	add("from", m.From)
	add("source", m.Source)
	add("id", m.CacheID)
	add("sharing", string(m.CacheSharing))
	if m.Type == instructions.MountTypeBind && !m.ReadOnly {
		add("rw", "true")
	}
	if m.Required {
		add("required", "true")
	}
	if m.SizeLimit > 0 {
		add("size", strconv.FormatInt(m.SizeLimit, 10))
	}
	for _, o := range []struct {
		k    string
		v    *uint64
		base int
	}{{"uid", m.UID, 10}, {"gid", m.GID, 10}, {"mode", m.Mode, 8}} {
		if o.v != nil {
			add(o.k, strconv.FormatUint(*o.v, o.base))
		}
	}
	return strings.Join(parts, ",")
}

// runFlags are the flags of a RUN that change what it does, as name and
// value.
func runFlags(c *instructions.RunCommand) [][2]string {
	var out [][2]string
	if n := Network(c); n != instructions.NetworkDefault {
		out = append(out, [2]string{"network", n})
	}
	for _, m := range Mounts(c) {
		out = append(out, [2]string{"mount " + m.Target, mountText(m)})
	}
	return out
}
