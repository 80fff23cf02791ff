package daemon

import (
	"context"

	"github.com/moby/moby/api/types/container"
)

// initPaths are the mount points every container gets, which dockerd
// keeps in the init layer below a container's own: docker diff does not
// list them.
var initPaths = []string{"/dev", "/dev/pts", "/dev/shm", "/dev/console", "/proc", "/sys",
	"/.dockerenv", "/etc/resolv.conf", "/etc/hosts", "/etc/hostname", "/etc/mtab"}

// ContainerChanges implements GET /containers/{name}/changes (docker
// diff): the paths the container added, changed and deleted against its
// image, read from its read-write snapshot, running or not.
func (d *Daemon) ContainerChanges(ctx context.Context, name string) ([]container.FilesystemChange, error) {
	c, err := d.containers.Get(name)
	if err != nil {
		return nil, err
	}
	changes, err := d.layers.Changes(ctx, c.Dir(), c.Chain, initPaths)
	if err != nil {
		return nil, err
	}
	out := make([]container.FilesystemChange, len(changes))
	for i, ch := range changes {
		out[i] = container.FilesystemChange{Path: ch.Path, Kind: container.ChangeType(ch.Kind)}
	}
	return out, nil
}
