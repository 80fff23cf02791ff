package daemon

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/sys/user"

	gcontainer "github.com/gantry/gantry/container"
	"github.com/gantry/gantry/layer"
	"github.com/gantry/gantry/mount"
	gnetwork "github.com/gantry/gantry/network"
)

// defaultRemapUser is the user --userns-remap=default creates and uses,
// as dockerd's.
const defaultRemapUser = "dockremap"

// remapRangeSize is the size of the subordinate range given to a created
// dockremap, as dockerd gives.
const remapRangeSize = 65536

// loadRemap resolves --userns-remap: "default" (the user dockremap,
// created with a subordinate uid and gid range of its own when missing),
// or "user[:group]", by name or number, whose ranges in /etc/subuid and
// /etc/subgid become the mapping, container ids from 0 up.
func loadRemap(spec string) (user.IdentityMapping, error) {
	name, group, _ := strings.Cut(spec, ":")
	if name == "default" && group == "" {
		if err := ensureRemapUser(defaultRemapUser); err != nil {
			return user.IdentityMapping{}, fmt.Errorf("userns-remap: %w", err)
		}
		name = defaultRemapUser
	}
	if group == "" {
		group = name
	}
	usr, err := user.LookupUser(name)
	if err != nil {
		if n, nerr := strconv.Atoi(name); nerr == nil {
			usr, err = user.LookupUid(n)
		}
	}
	if err != nil {
		return user.IdentityMapping{}, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("userns-remap: user %q: %v", name, err))
	}
	grp, err := user.LookupGroup(group)
	if err != nil {
		if n, nerr := strconv.Atoi(group); nerr == nil {
			grp, err = user.LookupGid(n)
		}
	}
	if err != nil {
		return user.IdentityMapping{}, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("userns-remap: group %q: %v", group, err))
	}
	uids, err := subRanges("/etc/subuid", usr.Name, usr.Uid)
	if err != nil {
		return user.IdentityMapping{}, err
	}
	gids, err := subRanges("/etc/subgid", grp.Name, grp.Gid)
	if err != nil {
		return user.IdentityMapping{}, err
	}
	return user.IdentityMapping{UIDMaps: uids, GIDMaps: gids}, nil
}

// subRanges are the ranges file gives name (or its number id), one after
// the other from container id 0.
func subRanges(file, name string, id int) ([]user.IDMap, error) {
	subs, err := user.ParseSubIDFileFilter(file, func(s user.SubID) bool {
		return s.Name == name || s.Name == strconv.Itoa(id)
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("userns-remap: %w", err)
	}
	if len(subs) == 0 {
		return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("userns-remap: no subordinate ranges found for %q in %s", name, file))
	}
	var out []user.IDMap
	var next int64
	for _, s := range subs {
		out = append(out, user.IDMap{ID: next, ParentID: s.SubID, Count: s.Count})
		next += s.Count
	}
	return out, nil
}

// ensureRemapUser creates the system user name unless it exists, and
// gives it a subordinate uid and gid range of remapRangeSize above every
// range /etc/subuid and /etc/subgid hold (from 100000), unless it has one.
func ensureRemapUser(name string) error {
	if _, err := user.LookupUser(name); err != nil {
		if out, err := exec.Command("useradd", "--system", "--shell", "/bin/false", "--no-create-home", "--user-group", name).CombinedOutput(); err != nil {
			return fmt.Errorf("create user %s: useradd: %v: %s", name, err, strings.TrimSpace(string(out)))
		}
	}
	var missing []string
	for flag, file := range map[string]string{"--add-subuids": "/etc/subuid", "--add-subgids": "/etc/subgid"} {
		own, err := user.ParseSubIDFileFilter(file, func(s user.SubID) bool { return s.Name == name })
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		if len(own) == 0 {
			missing = append(missing, flag)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	start := int64(100000)
	for _, file := range []string{"/etc/subuid", "/etc/subgid"} {
		all, err := user.ParseSubIDFileFilter(file, func(user.SubID) bool { return true })
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		for _, s := range all {
			start = max(start, s.SubID+s.Count)
		}
	}
	r := fmt.Sprintf("%d-%d", start, start+remapRangeSize-1)
	args := []string{}
	for _, flag := range missing {
		args = append(args, flag, r)
	}
	if out, err := exec.Command("usermod", append(args, name)...).CombinedOutput(); err != nil {
		return fmt.Errorf("give %s subordinate ids: usermod: %v: %s", name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// setupRemap checks that this host can remap (overlay2, Linux 6.8) and
// that the remapped root can reach the data root, as dockerd checks, and
// lets it search (not list) the directories that lead to containers'
// rootfs, their files and volumes: the data root, containers/, volumes/
// and tmp/ (build steps) get o+x.
func (d *Daemon) setupRemap() error {
	if d.layers.Driver() != "overlay2" || !mount.OverlayLayersByOne() {
		return errdefs.ErrNotImplemented.WithMessage(fmt.Sprintf("userns-remap: layers shift with idmapped overlay layers, which need the overlay2 storage driver (here %s) and Linux 6.8 or later (fsconfig lowerdir+)", d.layers.Driver()))
	}
	uid, gid := d.idmap.RootPair()
	for dir := filepath.Dir(d.cfg.Root); dir != "/"; dir = filepath.Dir(dir) {
		if !searchable(dir, uid, gid) {
			return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("a subdirectory in your graphroot path (%s) restricts access to the remapped root uid/gid; please fix by allowing 'o+x' permissions on existing directories", d.cfg.Root))
		}
	}
	for _, dir := range []string{d.cfg.Root, filepath.Join(d.cfg.Root, "containers"), filepath.Join(d.cfg.Root, "volumes"), filepath.Join(d.cfg.Root, "tmp")} {
		fi, err := os.Stat(dir)
		if err != nil {
			return err
		}
		if err := os.Chmod(dir, fi.Mode().Perm()|0o001); err != nil {
			return err
		}
	}
	return nil
}

// searchable reports whether uid:gid may search dir.
func searchable(dir string, uid, gid int) bool {
	fi, err := os.Stat(dir)
	if err != nil {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return false
	}
	perm := fi.Mode().Perm()
	switch {
	case int(st.Uid) == uid:
		return perm&0o100 != 0
	case int(st.Gid) == gid:
		return perm&0o010 != 0
	}
	return perm&0o001 != 0
}

// idmapOf is the mapping of a container with host config hc: the
// daemon's, unless it does not remap or hc opts out (--userns=host).
func (d *Daemon) idmapOf(hc *container.HostConfig) user.IdentityMapping {
	if hc != nil && hc.UsernsMode.IsHost() {
		return user.IdentityMapping{}
	}
	return d.idmap
}

// checkUserns refuses an invalid --userns and, remapped, --privileged
// and the host's network, PID or IPC namespace, whose sysfs, proc or
// mqueue a container's user namespace may not mount: dockerd refuses them
// too without --userns=host.
func (d *Daemon) checkUserns(hc *container.HostConfig) error {
	if err := gcontainer.CheckUsernsMode(hc.UsernsMode); err != nil {
		return err
	}
	if d.idmapOf(hc).Empty() {
		return nil
	}
	switch {
	case hc.Privileged:
		return errdefs.ErrInvalidArgument.WithMessage("privileged mode is incompatible with user namespaces.  You must run the container in the host namespace when running privileged mode")
	case hc.NetworkMode.IsHost():
		return errdefs.ErrInvalidArgument.WithMessage("cannot share the host's network namespace when user namespaces are enabled")
	case hc.PidMode.IsHost():
		return errdefs.ErrInvalidArgument.WithMessage("cannot share the host PID namespace when user namespaces are enabled")
	case hc.IpcMode.IsHost():
		return errdefs.ErrInvalidArgument.WithMessage("cannot share the host IPC namespace when user namespaces are enabled")
	}
	return nil
}

// shareWithRemapped gives the remapped root of a container c the
// directory of c's files (search only: the rootfs mount point, hostname,
// hosts and resolv.conf, which it owns, as dockerd makes them).
func (d *Daemon) shareWithRemapped(c *gcontainer.Container) error {
	idm := d.idmapOf(c.HostConfig)
	if idm.Empty() {
		return nil
	}
	uid, gid := idm.RootPair()
	if err := os.Chown(c.Dir(), 0, gid); err != nil {
		return err
	}
	if err := os.Chmod(c.Dir(), 0o710); err != nil {
		return err
	}
	for _, name := range []string{"hostname", "hosts", "resolv.conf"} {
		if err := os.Lchown(filePath(c, name), uid, gid); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// snapshotOptions are the layer options of c's snapshot.
func (d *Daemon) snapshotOptions(c *gcontainer.Container) []layer.SnapshotOption {
	if idm := d.idmapOf(c.HostConfig); !idm.Empty() {
		return []layer.SnapshotOption{layer.WithIDMap(idm)}
	}
	return nil
}

// giveToRemapped makes the data directory of a volume, when it is empty
// and still root's, belong to the remapped root of mapping idm, as dockerd
// creates volumes when it remaps: the container's root can write in it.
func (d *Daemon) giveToRemapped(data string, idm user.IdentityMapping) error {
	if idm.Empty() {
		return nil
	}
	var st syscall.Stat_t
	if err := syscall.Lstat(data, &st); err != nil {
		return err
	}
	if st.Uid != 0 || st.Gid != 0 {
		return nil
	}
	f, err := os.Open(data)
	if err != nil {
		return err
	}
	names, err := f.Readdirnames(1)
	f.Close()
	if len(names) > 0 || (err != nil && !errors.Is(err, io.EOF)) {
		return err
	}
	uid, gid := idm.RootPair()
	return os.Lchown(data, uid, gid)
}

// sandboxOptions are the options of c's network sandbox: remapped, its
// namespace belongs to a user namespace of c's mapping, which c joins.
func (d *Daemon) sandboxOptions(c *gcontainer.Container) []gnetwork.SandboxOption {
	if idm := d.idmapOf(c.HostConfig); !idm.Empty() {
		return []gnetwork.SandboxOption{gnetwork.WithUserNS(idm)}
	}
	return nil
}

// userNSToJoin is the user namespace a remapped container c joins, the
// one that owns the network namespace it joins (so that it may mount its
// sysfs): its sandbox's, or that of the container etc whose namespace it
// shares; "" for none (not remapped) or a new one (--network none).
func (d *Daemon) userNSToJoin(c, etc *gcontainer.Container) (string, error) {
	if d.idmapOf(c.HostConfig).Empty() {
		return "", nil
	}
	mode := c.HostConfig.NetworkMode
	switch {
	case mode.IsContainer():
		if d.idmapOf(etc.HostConfig).Empty() {
			return "", errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("cannot share the network namespace of container %s, which runs with the host's user namespace (--userns=host), from a container with user namespace remapping", etc.Name))
		}
		return fmt.Sprintf("/proc/%d/ns/user", etc.Snapshot().Pid), nil
	case sandboxed(mode):
		sb, err := d.networks.Sandbox(c.ID)
		if err != nil {
			return "", err
		}
		return sb.UserNSPath, nil
	}
	return "", nil
}
