package daemon

import (
	"context"
	"fmt"
	evtypes "github.com/moby/moby/api/types/events"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	mvolume "github.com/moby/moby/api/types/volume"
	"golang.org/x/sys/unix"

	"github.com/gantry/gantry/api"
	gcontainer "github.com/gantry/gantry/container"
	"github.com/gantry/gantry/volume"
)

// createVolumes finds or creates the volumes c mounts (named ones are
// created on first use, as Docker does), names its anonymous ones and
// records that c uses them. On error nothing is left behind.
func (d *Daemon) createVolumes(ctx context.Context, c *gcontainer.Container) error {
	for i := range c.Volumes {
		vm := &c.Volumes[i]
		v, err := d.volumes.Create(ctx, vm.Name, volume.CreateOptions{
			Driver: vm.Driver, Labels: vm.Labels, Options: vm.DriverOpts,
			Anonymous: vm.Anonymous, Reference: c.ID,
		})
		if err == nil {
			err = d.giveToRemapped(v.Mountpoint(), d.idmapOf(c.HostConfig))
		}
		if err != nil {
			c.Volumes = c.Volumes[:i]
			d.releaseVolumes(ctx, c, true)
			return err
		}
		vm.Name = v.Name
		d.volumeEvent(evtypes.ActionCreate, v.Name, nil)
	}
	return nil
}

// releaseVolumes records that c (being removed) no longer uses its
// volumes, and with removeAnonymous deletes the anonymous ones no other
// container uses (rm -v, --rm). Named volumes are always kept.
func (d *Daemon) releaseVolumes(ctx context.Context, c *gcontainer.Container, removeAnonymous bool) {
	for _, vm := range c.Volumes {
		d.volumes.Release(vm.Name, c.ID)
		if !removeAnonymous || !vm.Anonymous {
			continue
		}
		err := d.volumes.Remove(ctx, vm.Name)
		if err == nil {
			d.volumeEvent(evtypes.ActionDestroy, vm.Name, nil)
		} else if !errdefs.IsConflict(err) && !errdefs.IsNotFound(err) {
			d.log.Warn("remove anonymous volume", "container", c.ID, "volume", vm.Name, "error", err)
		}
	}
}

// referenceVolumes rebuilds, at boot, which containers use which volume.
func (d *Daemon) referenceVolumes() {
	for _, c := range d.containers.List() {
		for _, vm := range c.Volumes {
			if err := d.volumes.Reference(vm.Name, c.ID); err != nil {
				d.log.Warn("volume of container is gone", "container", c.ID, "volume", vm.Name, "error", err)
			}
		}
	}
}

// copyUpVolumes copies, as c is created, the image's content into each of
// its volumes that is empty and not nocopy, as dockerd does; c.Volumes
// records it, for the caller to save. The caller holds c.Lock.
func (d *Daemon) copyUpVolumes(ctx context.Context, c *gcontainer.Container) error {
	if !slices.ContainsFunc(c.Volumes, needsCopyUp) {
		return nil
	}
	fd, undo, err := d.openRootLocked(ctx, c, readRootfs)
	if err != nil {
		return err
	}
	defer undo()
	defer unix.Close(fd)
	return d.populateVolumes(ctx, c, "/proc/self/fd/"+strconv.Itoa(fd))
}

// needsCopyUp reports whether the image's content is still to be copied
// into the volume vm.
func needsCopyUp(vm gcontainer.VolumeMount) bool { return !vm.NoCopy && !vm.CopiedUp }

// populateVolumes copies the image's content from rootfs into those of c's
// volumes that need it (needsCopyUp) and records it in c.Volumes. It
// happens once per mount: a volume emptied later stays empty.
func (d *Daemon) populateVolumes(ctx context.Context, c *gcontainer.Container, rootfs string) error {
	for i := range c.Volumes {
		vm := &c.Volumes[i]
		if !needsCopyUp(*vm) {
			continue
		}
		if err := d.volumes.Populate(ctx, vm.Name, rootfs, vm.Destination); err != nil {
			return err
		}
		vm.CopiedUp = true
	}
	return nil
}

// mountVolumes returns c's volumes with the host directories to bind, with
// the container's rootfs mounted at rootfs. The image's content went into
// them at create (copyUpVolumes); a container whose record predates that
// (an older gantryd copied at every start) gets its copy here, once. The
// caller holds c.Lock and saves c.
func (d *Daemon) mountVolumes(ctx context.Context, c *gcontainer.Container, rootfs string) ([]gcontainer.VolumeMount, error) {
	if err := d.populateVolumes(ctx, c, rootfs); err != nil {
		return nil, err
	}
	out := slices.Clone(c.Volumes)
	for i := range out {
		v, err := d.volumes.Get(out[i].Name)
		if err != nil {
			return nil, err
		}
		out[i].Source = v.Mountpoint()
		d.volumeEvent(evtypes.ActionMount, v.Name, map[string]string{
			"container": c.ID, "destination": out[i].Destination,
			"read/write": strconv.FormatBool(!out[i].ReadOnly), "propagation": "",
		})
	}
	return out, nil
}

// mountPoints describes c's binds, --mount binds and tmpfs, and volumes as
// inspect and ps show them.
func (d *Daemon) mountPoints(hc *container.HostConfig, volumes []gcontainer.VolumeMount) []container.MountPoint {
	out := []container.MountPoint{}
	for _, b := range hc.Binds {
		parts := strings.Split(b, ":")
		if len(parts) < 2 || !strings.HasPrefix(parts[0], "/") {
			continue
		}
		mp := container.MountPoint{Type: mount.TypeBind, Source: parts[0], Destination: parts[1], RW: true, Propagation: "rprivate"}
		if len(parts) > 2 {
			mp.Mode = parts[2]
			mp.RW = !slices.Contains(strings.Split(parts[2], ","), "ro")
			if p := bindPropagation(parts[2]); p != "" {
				mp.Propagation = mount.Propagation(p)
			}
		}
		out = append(out, mp)
	}
	for _, m := range hc.Mounts {
		mp := container.MountPoint{Type: m.Type, Source: m.Source, Destination: m.Target, RW: !m.ReadOnly}
		switch m.Type {
		case mount.TypeBind:
			mp.Propagation = mount.PropagationRPrivate
			if m.BindOptions != nil && m.BindOptions.Propagation != "" {
				mp.Propagation = m.BindOptions.Propagation
			}
		case mount.TypeTmpfs:
		default:
			continue // volumes below
		}
		out = append(out, mp)
	}
	for _, vm := range volumes {
		mp := container.MountPoint{
			Type: mount.TypeVolume, Name: vm.Name, Destination: vm.Destination,
			Driver: volume.Driver, Mode: vm.Mode, RW: !vm.ReadOnly,
		}
		if v, err := d.volumes.Get(vm.Name); err == nil {
			mp.Source = v.Mountpoint()
		}
		out = append(out, mp)
	}
	return out
}

// bindPropagation is the propagation named in a bind's mode, if any.
func bindPropagation(mode string) string {
	for _, m := range strings.Split(mode, ",") {
		switch m {
		case "private", "rprivate", "shared", "rshared", "slave", "rslave":
			return m
		}
	}
	return ""
}

// Volumes implements GET /volumes.
func (d *Daemon) Volumes(ctx context.Context, filters api.Filters) ([]mvolume.Volume, error) {
	match, err := volumeFilter(filters, "dangling", "name", "label", "driver")
	if err != nil {
		return nil, err
	}
	out := []mvolume.Volume{}
	for _, v := range d.volumes.List() {
		if match(v, len(d.volumes.Users(v.Name)) > 0) {
			out = append(out, volumeInfo(v))
		}
	}
	return out, nil
}

// VolumeCreate implements POST /volumes/create.
func (d *Daemon) VolumeCreate(ctx context.Context, req mvolume.CreateRequest) (*mvolume.Volume, error) {
	if req.ClusterVolumeSpec != nil {
		return nil, errdefs.ErrNotImplemented.WithMessage("cluster volumes need swarm, which gantry does not have")
	}
	v, err := d.volumes.Create(ctx, req.Name, volume.CreateOptions{Driver: req.Driver, Labels: req.Labels, Options: req.DriverOpts})
	if err == nil {
		err = d.giveToRemapped(v.Mountpoint(), d.idmap)
	}
	if err != nil {
		return nil, err
	}
	d.volumeEvent(evtypes.ActionCreate, v.Name, nil)
	info := volumeInfo(v)
	return &info, nil
}

// unmountVolumeEvents says that the volumes of c, which exited, are no
// longer mounted.
func (d *Daemon) unmountVolumeEvents(c *gcontainer.Container) {
	for _, vm := range c.Volumes {
		d.volumeEvent(evtypes.ActionUnmount, vm.Name, map[string]string{"container": c.ID})
	}
}

// VolumeInspect implements GET /volumes/{name}.
func (d *Daemon) VolumeInspect(ctx context.Context, name string) (*mvolume.Volume, error) {
	v, err := d.volumes.Get(name)
	if err != nil {
		return nil, err
	}
	info := volumeInfo(v)
	return &info, nil
}

// VolumeRemove implements DELETE /volumes/{name}: with force, an unknown
// volume is not an error (one in use still is), as with Docker.
func (d *Daemon) VolumeRemove(ctx context.Context, name string, force bool) error {
	err := d.volumes.Remove(ctx, name)
	if force && errdefs.IsNotFound(err) {
		return nil
	}
	if err == nil {
		d.volumeEvent(evtypes.ActionDestroy, name, nil)
	}
	return err
}

// VolumesPrune implements POST /volumes/prune: the unused anonymous
// volumes, or with the filter all=true every unused volume (Docker 23+),
// narrowed by label and label! filters.
func (d *Daemon) VolumesPrune(ctx context.Context, filters api.Filters) (*mvolume.PruneReport, error) {
	match, err := volumeFilter(filters, "label", "label!", "all")
	if err != nil {
		return nil, err
	}
	all := filters["all"]["true"] || filters["all"]["1"]
	names, space, err := d.volumes.Prune(ctx, func(v volume.Volume) bool {
		return (all || v.Anonymous) && match(v, false)
	})
	if names == nil {
		names = []string{}
	}
	for _, name := range names {
		d.volumeEvent(evtypes.ActionDestroy, name, nil)
	}
	if err == nil {
		d.pruneEvent(evtypes.VolumeEventType, space)
	}
	return &mvolume.PruneReport{VolumesDeleted: names, SpaceReclaimed: space}, err
}

// volumeFilter compiles the filters of the volume endpoints, allowing the
// keys given; the returned function takes a volume and whether it is used.
func volumeFilter(f api.Filters, keys ...string) (func(v volume.Volume, used bool) bool, error) {
	var names []*regexp.Regexp
	for key, values := range f {
		if !slices.Contains(keys, key) {
			return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("Invalid filter '%s'", key))
		}
		for v := range values {
			switch key {
			case "dangling", "all":
				switch v {
				case "true", "false", "1", "0":
				default:
					return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("Invalid filter '%s=[%s]'", key, v))
				}
			case "name":
				re, err := regexp.Compile(v)
				if err != nil {
					return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("Invalid filter 'name=[%s]': %v", v, err))
				}
				names = append(names, re)
			}
		}
	}
	return func(v volume.Volume, used bool) bool {
		if len(f["dangling"]) > 0 {
			dangling := f["dangling"]["true"] || f["dangling"]["1"]
			if dangling == used {
				return false
			}
		}
		if len(names) > 0 && !slices.ContainsFunc(names, func(re *regexp.Regexp) bool { return re.MatchString(v.Name) }) {
			return false
		}
		if len(f["driver"]) > 0 && !f["driver"][v.Driver] {
			return false
		}
		if len(f["label!"]) > 0 && matchLabels(v.Labels, f["label!"]) {
			return false
		}
		return matchLabels(v.Labels, f["label"])
	}, nil
}

// volumeInfo is a volume as the API shows it.
func volumeInfo(v volume.Volume) mvolume.Volume {
	return mvolume.Volume{
		Name: v.Name, Driver: v.Driver, Mountpoint: v.Mountpoint(), Scope: "local",
		CreatedAt: v.CreatedAt.Local().Format(time.RFC3339), Labels: v.Labels, Options: v.Options,
	}
}
