package daemon

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"

	gcontainer "github.com/gantry/gantry/container"
)

// volumesFrom resolves --volumes-from name[:ro|:rw] at create, as dockerd
// does: the new container mounts each volume and bind of the named
// containers at the same destination, read-only with :ro, read-write with
// :rw, else as the source has it. Its own -v, --mount and --tmpfs win over
// them, and they win over its anonymous volumes (an image's VOLUME, -v
// /path). volumes are those Volumes decided; binds are appended to
// hc.Binds (so inspect's HostConfig lists them; Mounts is as dockerd's).
// An unknown container is dockerd's not-found error.
func (d *Daemon) volumesFrom(hc *container.HostConfig, volumes []gcontainer.VolumeMount) ([]gcontainer.VolumeMount, error) {
	if len(hc.VolumesFrom) == 0 {
		return volumes, nil
	}
	own := map[string]bool{}
	for _, v := range volumes {
		if !v.Anonymous {
			own[v.Destination] = true
		}
	}
	for _, b := range hc.Binds {
		if parts := strings.Split(b, ":"); len(parts) >= 2 {
			own[filepath.Clean(parts[1])] = true
		}
	}
	for _, m := range hc.Mounts {
		own[filepath.Clean(m.Target)] = true
	}
	for dst := range hc.Tmpfs {
		own[filepath.Clean(dst)] = true
	}
	var fromVols []gcontainer.VolumeMount
	var fromBinds []string
	from := map[string]bool{}
	for _, spec := range hc.VolumesFrom {
		name, mode, _ := strings.Cut(spec, ":")
		switch mode {
		case "", "ro", "rw":
		default:
			return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid mode: %s", mode))
		}
		src, err := d.containers.Get(name)
		if err != nil {
			return nil, err
		}
		src.Lock()
		srcVols, srcHC := slices.Clone(src.Volumes), src.HostConfig
		src.Unlock()
		take := func(dst string) bool {
			dst = filepath.Clean(dst)
			if own[dst] || from[dst] {
				return false
			}
			from[dst] = true
			return true
		}
		for _, v := range srcVols {
			if !take(v.Destination) {
				continue
			}
			ro := v.ReadOnly
			if mode != "" {
				ro = mode == "ro"
			}
			fromVols = append(fromVols, gcontainer.VolumeMount{Name: v.Name, Destination: v.Destination, ReadOnly: ro, CopiedUp: true, Mode: v.Mode})
		}
		for _, b := range srcHC.Binds {
			parts := strings.Split(b, ":")
			if len(parts) < 2 || !filepath.IsAbs(parts[0]) || !take(parts[1]) {
				continue
			}
			var opts []string
			if len(parts) > 2 {
				opts = slices.DeleteFunc(strings.Split(parts[2], ","), func(o string) bool { return o == "ro" || o == "rw" })
			}
			if mode != "" {
				opts = append(opts, mode)
			} else if len(parts) > 2 && slices.Contains(strings.Split(parts[2], ","), "ro") {
				opts = append(opts, "ro")
			}
			bind := parts[0] + ":" + parts[1]
			if len(opts) > 0 {
				bind += ":" + strings.Join(opts, ",")
			}
			fromBinds = append(fromBinds, bind)
		}
		for _, m := range srcHC.Mounts {
			if m.Type != mount.TypeBind || !take(m.Target) {
				continue
			}
			bind := m.Source + ":" + m.Target
			if (mode == "" && m.ReadOnly) || mode == "ro" {
				bind += ":ro"
			}
			fromBinds = append(fromBinds, bind)
		}
	}
	volumes = slices.DeleteFunc(volumes, func(v gcontainer.VolumeMount) bool { return v.Anonymous && from[v.Destination] })
	hc.Binds = append(hc.Binds, fromBinds...)
	return append(volumes, fromVols...), nil
}
