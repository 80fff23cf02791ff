package container

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
)

// VolumeMount is a volume a container mounts. The list is fixed when the
// container is created and kept in its record, so that the anonymous
// volumes made for it stay its own.
type VolumeMount struct {
	Name        string // the volume; for an anonymous one, set once it is created
	Destination string // clean absolute path in the container
	ReadOnly    bool
	// NoCopy keeps the image's content at Destination out of an empty volume.
	NoCopy bool
	// CopiedUp records that the image's content was copied into the volume
	// (or found it not empty, or had nothing to copy), which happens when
	// the container is created. As with Docker it happens once: a volume
	// the container empties later stays empty across restarts.
	CopiedUp bool `json:",omitempty"`
	// Anonymous volumes were created for this container (an image's VOLUME,
	// `-v /path`, --mount without a source); rm -v and --rm remove them.
	Anonymous bool
	Mode      string // as inspect shows it: the -v mode, "z" for a volume asked for by name or --mount, "" otherwise
	// Driver, Labels and DriverOpts are those of --mount type=volume, for
	// the volume it creates when missing.
	Driver     string            `json:",omitempty"`
	Labels     map[string]string `json:",omitempty"`
	DriverOpts map[string]string `json:",omitempty"`
	// Source is the host directory holding the volume's data; the daemon
	// sets it before building the spec.
	Source string `json:"-"`
}

// Volumes lists the volumes a container mounts, as Docker decides them:
// -v NAME:/path and --mount type=volume name volumes (without a source,
// --mount makes an anonymous one), and each path of cfg.Volumes (the
// image's VOLUME instructions, `-v /path`) that no bind, mount or tmpfs
// covers gets an anonymous volume; -v and VOLUME volumes take
// hc.VolumeDriver (--volume-driver). A spec that does not parse is an
// invalid-argument error, and so are a --mount bind whose source is missing
// and two -v, --mount or --tmpfs on one destination (as Docker, at create);
// volume names are checked when the volumes are created. VolumesFrom is the
// caller's to resolve.
func Volumes(cfg *container.Config, hc *container.HostConfig) ([]VolumeMount, error) {
	var out []VolumeMount
	taken, tmpfs := map[string]bool{}, map[string]bool{}
	for dst := range hc.Tmpfs {
		tmpfs[filepath.Clean(dst)] = true
	}
	for _, bind := range hc.Binds {
		src, dst, mode, err := specParseBind(bind)
		if err == nil && !filepath.IsAbs(dst) {
			typ := mount.TypeVolume
			if filepath.IsAbs(src) {
				typ = mount.TypeBind
			}
			err = fmt.Errorf("invalid mount config for type %q: invalid mount path: '%s' mount path must be absolute", typ, dst)
		}
		if err != nil {
			return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid volume specification: '%s': %v", bind, err))
		}
		if err := take(taken, tmpfs, dst); err != nil {
			return nil, err
		}
		if filepath.IsAbs(src) {
			continue
		}
		text := strings.Join(mode, ",")
		if text == "" {
			text = "z"
		}
		out = append(out, VolumeMount{
			Name: src, Destination: filepath.Clean(dst), Mode: text, Driver: hc.VolumeDriver,
			ReadOnly: slices.Contains(mode, "ro"), NoCopy: slices.Contains(mode, "nocopy"),
		})
	}
	for _, m := range hc.Mounts {
		if err := take(taken, tmpfs, m.Target); err != nil {
			return nil, err
		}
		switch m.Type {
		case mount.TypeBind:
			// Checked again at start; Docker refuses it at create already.
			if _, err := os.Stat(m.Source); filepath.IsAbs(m.Source) && err != nil {
				return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid mount config for type %q: bind source path does not exist: %s", m.Type, m.Source))
			}
		case mount.TypeVolume:
			vm, err := volumeMount(m)
			if err != nil {
				return nil, err
			}
			out = append(out, vm)
		}
	}
	maps.Copy(taken, tmpfs)
	for _, dst := range slices.Sorted(maps.Keys(cfg.Volumes)) {
		if !filepath.IsAbs(dst) {
			return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid volume specification: '%s': invalid mount path: '%s' mount path must be absolute", dst, dst))
		}
		if dst = filepath.Clean(dst); !taken[dst] {
			taken[dst] = true
			out = append(out, VolumeMount{Destination: dst, Anonymous: true, Driver: hc.VolumeDriver})
		}
	}
	return out, nil
}

// take records that a -v or --mount uses the destination dst; one that
// another -v, --mount or --tmpfs uses already is an invalid-argument error
// with Docker's text.
func take(taken, tmpfs map[string]bool, dst string) error {
	dst = filepath.Clean(dst)
	if taken[dst] || tmpfs[dst] {
		return errdefs.ErrInvalidArgument.WithMessage("Duplicate mount point: " + dst)
	}
	taken[dst] = true
	return nil
}

// volumeMount checks a --mount type=volume.
func volumeMount(m mount.Mount) (VolumeMount, error) {
	invalid := func(msg string) error {
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid mount config for type %q: %s", m.Type, msg))
	}
	if m.Target == "" {
		return VolumeMount{}, invalid("field Target must not be empty")
	}
	if !filepath.IsAbs(m.Target) {
		return VolumeMount{}, invalid(fmt.Sprintf("invalid mount path: '%s' mount path must be absolute", m.Target))
	}
	if m.BindOptions != nil {
		return VolumeMount{}, invalid("field BindOptions must not be specified")
	}
	if m.TmpfsOptions != nil {
		return VolumeMount{}, invalid("field TmpfsOptions must not be specified")
	}
	vm := VolumeMount{
		Name: m.Source, Destination: filepath.Clean(m.Target), ReadOnly: m.ReadOnly,
		Anonymous: m.Source == "", Mode: "z",
	}
	if o := m.VolumeOptions; o != nil {
		if o.Subpath != "" {
			return VolumeMount{}, errdefs.ErrNotImplemented.WithMessage("volume-subpath is not supported by gantry yet")
		}
		vm.NoCopy, vm.Labels = o.NoCopy, o.Labels
		if o.DriverConfig != nil {
			vm.Driver, vm.DriverOpts = o.DriverConfig.Name, o.DriverConfig.Options
		}
	}
	return vm, nil
}
