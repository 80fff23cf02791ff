package container

import (
	"fmt"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/sys/user"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// CheckUsernsMode refuses a user namespace mode other than the two
// dockerd knows: "" (remapped when the daemon remaps, else the host's)
// and "host" (the host's, opting out of remapping).
func CheckUsernsMode(mode container.UsernsMode) error {
	if !mode.Valid() {
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid USER mode: %v", mode))
	}
	return nil
}

// specIDMappings are m's ranges as the runtime spec's mappings; nil for
// an empty m.
func specIDMappings(m user.IdentityMapping) (uids, gids []specs.LinuxIDMapping) {
	conv := func(ranges []user.IDMap) []specs.LinuxIDMapping {
		var out []specs.LinuxIDMapping
		for _, r := range ranges {
			out = append(out, specs.LinuxIDMapping{ContainerID: uint32(r.ID), HostID: uint32(r.ParentID), Size: uint32(r.Count)})
		}
		return out
	}
	if m.Empty() {
		return nil, nil
	}
	return conv(m.UIDMaps), conv(m.GIDMaps)
}
