package daemon

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/docker/go-units"
	"github.com/moby/moby/api/types/container"
	evtypes "github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/storage"
	"github.com/opencontainers/go-digest"

	"github.com/gantry/gantry/api"
	gcontainer "github.com/gantry/gantry/container"
	"github.com/gantry/gantry/layer"
	"github.com/gantry/gantry/mount"
)

// refError makes a missing container or network that a create refers to
// (--link, --volumes-from, --network) a bad request with the same words,
// as dockerd answers there: the docker CLI takes a not found from create
// for a missing image and tries to pull it, hiding the reason.
func refError(err error) error {
	if errdefs.IsNotFound(err) {
		return errdefs.ErrInvalidArgument.WithMessage(err.Error())
	}
	return err
}

// CreateContainer implements POST /containers/create.
func (d *Daemon) CreateContainer(ctx context.Context, name string, cfg *container.Config, hc *container.HostConfig, nc *network.NetworkingConfig) (container.CreateResponse, error) {
	return d.createContainer(ctx, name, cfg, hc, nc, nil)
}

// createContainer creates a container; pod, when not nil, is the pod
// sandbox of a container made through the CRI (see gcontainer.Pod).
func (d *Daemon) createContainer(ctx context.Context, name string, cfg *container.Config, hc *container.HostConfig, nc *network.NetworkingConfig, pod *gcontainer.Pod) (container.CreateResponse, error) {
	if cfg == nil || cfg.Image == "" {
		return container.CreateResponse{}, errdefs.ErrInvalidArgument.WithMessage("no image specified: give an image name, e.g. busybox")
	}
	if hc == nil {
		hc = &container.HostConfig{}
	}
	if err := gcontainer.CheckCreate(cfg, hc, nc); err != nil {
		return container.CreateResponse{}, err
	}
	if pod == nil && hc.UTSMode.IsHost() {
		// The host's names are the container's: one given would be
		// dropped (a CRI pod on the node's network keeps the node's).
		for _, n := range []struct{ what, value string }{{"hostname", cfg.Hostname}, {"domainname", cfg.Domainname}} {
			if n.value != "" {
				return container.CreateResponse{}, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("conflicting options: %s and the UTS mode", n.what))
			}
		}
	}
	if err := gcontainer.CheckSupported(cfg, hc); err != nil {
		return container.CreateResponse{}, err
	}
	if nc != nil {
		for name, es := range nc.EndpointsConfig {
			if err := gcontainer.CheckEndpointSupported(name, es, hc.Links); err != nil {
				return container.CreateResponse{}, err
			}
		}
	}
	if err := d.checkUserns(hc); err != nil {
		return container.CreateResponse{}, err
	}
	if err := gcontainer.CheckRestartPolicy(hc.RestartPolicy, hc.AutoRemove); err != nil {
		return container.CreateResponse{}, err
	}
	if err := gcontainer.CheckHealthcheck(cfg.Healthcheck); err != nil {
		return container.CreateResponse{}, err
	}
	if _, err := gcontainer.ParseSecurityOpt(hc.SecurityOpt); err != nil {
		return container.CreateResponse{}, err
	}
	if err := checkHostResources(hc.Resources); err != nil {
		return container.CreateResponse{}, err
	}
	networks, warnings, err := d.createNetworking(cfg, hc, nc)
	if err != nil {
		return container.CreateResponse{}, refError(err)
	}
	mode := hc.NetworkMode
	hc.LogConfig = d.defaultLogConfig(hc.LogConfig)
	if _, err := gcontainer.ParseLogConfig(hc.LogConfig.Type, hc.LogConfig.Config); err != nil {
		return container.CreateResponse{}, err
	}
	img, err := d.resolveImage(ctx, cfg.Image)
	if err != nil {
		return container.CreateResponse{}, err
	}
	gcontainer.Merge(cfg, &img.Config.Config)
	if len(cfg.Entrypoint) == 0 && len(cfg.Cmd) == 0 {
		return container.CreateResponse{}, errdefs.ErrInvalidArgument.WithMessage("no command specified")
	}
	volumes, err := gcontainer.Volumes(cfg, hc)
	if err != nil {
		return container.CreateResponse{}, err
	}
	if volumes, err = d.volumesFrom(hc, volumes); err != nil {
		return container.CreateResponse{}, refError(err)
	}
	var chain digest.Digest
	for _, diffID := range img.Config.RootFS.DiffIDs {
		chain = layer.ChainID(chain, diffID)
	}
	var macs map[string]string
	for name, es := range networks {
		if len(es.MacAddress) > 0 {
			if es.MacAddress[0]&1 != 0 {
				return container.CreateResponse{}, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid MAC address %s: a multicast address", es.MacAddress))
			}
			if macs == nil {
				macs = map[string]string{}
			}
			macs[name] = es.MacAddress.String()
			es.MacAddress = nil
		}
	}
	c := &gcontainer.Container{
		MACs:       macs,
		Created:    time.Now().UTC(),
		Image:      cfg.Image,
		ImageID:    img.ID,
		Chain:      chain,
		Config:     cfg,
		HostConfig: hc,
		Networks:   networks,
		State:      gcontainer.State{Status: gcontainer.Created},
		Volumes:    volumes,
		Pod:        pod,
	}
	if err := d.containers.Add(c, name); err != nil {
		return container.CreateResponse{}, err
	}
	if cfg.Hostname == "" {
		cfg.Hostname = c.ID[:12]
		if mode == "host" {
			cfg.Hostname, _ = os.Hostname()
		}
	}
	c.Lock()
	defer c.Unlock()
	if err := d.createVolumes(ctx, c); err != nil {
		d.containers.Delete(c)
		return container.CreateResponse{}, err
	}
	if _, err := d.layers.Prepare(ctx, c.Dir(), c.Chain, d.snapshotOptions(c)...); err != nil {
		d.releaseVolumes(ctx, c, true)
		d.containers.Delete(c)
		return container.CreateResponse{}, fmt.Errorf("prepare rootfs: %w", err)
	}
	if err := d.copyUpVolumes(ctx, c); err != nil {
		d.releaseVolumes(ctx, c, true)
		d.layers.Release(ctx, c.Dir())
		d.containers.Delete(c)
		return container.CreateResponse{}, err
	}
	if err := d.containers.Save(c); err != nil {
		d.releaseVolumes(ctx, c, true)
		d.layers.Release(ctx, c.Dir())
		d.containers.Delete(c)
		return container.CreateResponse{}, err
	}
	d.containerEvent(c, evtypes.ActionCreate, nil)
	return container.CreateResponse{ID: c.ID, Warnings: append([]string{}, warnings...)}, nil
}

// Containers implements GET /containers/json.
func (d *Daemon) Containers(ctx context.Context, opts api.ContainerListOptions) ([]container.Summary, error) {
	match, err := containerFilter(opts.Filters, d.containers.Get)
	if err != nil {
		return nil, err
	}
	out := []container.Summary{}
	for _, c := range d.containers.List() {
		// The record as of its last change: a start or stop in progress,
		// which holds c's Lock, is not waited for.
		v := c.View()
		st := v.State
		name := v.Name
		ports, nets := portSummaries(v.Ports), copyNetworks(v.Networks)
		mounts := d.mountPoints(v.HostConfig, v.Volumes) // a start records the volumes' copy-up
		if !opts.All && opts.Limit <= 0 && !st.IsRunning() && st.Status != gcontainer.Restarting && len(opts.Filters["status"]) == 0 {
			continue
		}
		if !match(c, st, name) {
			continue
		}
		s := container.Summary{
			ID:              c.ID,
			Names:           []string{"/" + name},
			Image:           c.Image,
			ImageID:         c.ImageID.String(),
			Command:         c.Command(),
			Created:         c.Created.Unix(),
			Ports:           ports,
			Labels:          c.Config.Labels,
			State:           container.ContainerState(st.Status),
			Status:          statusText(st),
			Mounts:          mounts,
			NetworkSettings: &container.NetworkSettingsSummary{Networks: nets},
		}
		s.HostConfig.NetworkMode = string(c.HostConfig.NetworkMode)
		if opts.Size {
			if s.SizeRw, err = d.layers.Usage(ctx, c.Dir(), c.Chain); err != nil {
				return nil, err
			}
			s.SizeRootFs = s.SizeRw + d.chainSize(ctx, c.Chain)
		}
		out = append(out, s)
		if opts.Limit > 0 && len(out) == opts.Limit {
			break
		}
	}
	return out, nil
}

// statusText is the human status `docker ps` prints verbatim.
func statusText(st gcontainer.State) string {
	switch st.Status {
	case gcontainer.Running:
		if st.Health != nil {
			return "Up " + units.HumanDuration(time.Since(st.StartedAt)) + " (" + gcontainer.HealthText(st.Health) + ")"
		}
		return "Up " + units.HumanDuration(time.Since(st.StartedAt))
	case gcontainer.Paused:
		return "Up " + units.HumanDuration(time.Since(st.StartedAt)) + " (Paused)"
	case gcontainer.Restarting:
		return fmt.Sprintf("Restarting (%d) %s ago", st.ExitCode, units.HumanDuration(time.Since(st.FinishedAt)))
	case gcontainer.Exited:
		return fmt.Sprintf("Exited (%d) %s ago", st.ExitCode, units.HumanDuration(time.Since(st.FinishedAt)))
	case gcontainer.Removing:
		return "Removal In Progress"
	case gcontainer.Dead:
		return "Dead"
	}
	return "Created"
}

// containerFilter compiles the filters of GET /containers/json, dockerd's
// set: before and since name containers (lookup finds them); exited takes
// integers; isolation is "default" (or empty) for every container on Linux,
// as with dockerd; is-task=true matches nothing (no swarm).
func containerFilter(f api.Filters, lookup func(string) (*gcontainer.Container, error)) (func(c *gcontainer.Container, st gcontainer.State, name string) bool, error) {
	var nameRes []*regexp.Regexp
	var before, since *gcontainer.Container
	var publish, expose []network.PortRange
	for key, values := range f {
		switch key {
		case "before", "since":
			for v := range values {
				ref, err := lookup(v)
				if err != nil {
					return nil, err
				}
				if key == "before" {
					before = ref
				} else {
					since = ref
				}
			}
		case "publish", "expose":
			for v := range values {
				pr, err := network.ParsePortRange(v)
				if err != nil {
					return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid filter '%s=%s': %v", key, v, err))
				}
				if key == "publish" {
					publish = append(publish, pr)
				} else {
					expose = append(expose, pr)
				}
			}
		case "health":
			for v := range values {
				switch v {
				case "starting", "healthy", "unhealthy", "none":
				default:
					return nil, errdefs.ErrInvalidArgument.WithMessage("Unrecognised filter value for health: " + v)
				}
			}
		case "is-task":
			for v := range values {
				if v != "true" && v != "false" {
					return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid filter 'is-task=%s'", v))
				}
			}
		case "network", "volume":
		case "status":
			for v := range values {
				switch v {
				case "created", "restarting", "running", "removing", "paused", "exited", "dead":
				default:
					return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid filter 'status=%s'", v))
				}
			}
		case "name":
			for v := range values {
				re, err := regexp.Compile(v)
				if err != nil {
					return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid filter 'name=%s': %v", v, err))
				}
				nameRes = append(nameRes, re)
			}
		case "exited":
			for v := range values {
				if _, err := strconv.Atoi(v); err != nil {
					return nil, errdefs.ErrInvalidArgument.WithMessage(err.Error())
				}
			}
		case "id", "label", "ancestor", "isolation":
		default:
			return nil, errdefs.ErrInvalidArgument.WithMessage("invalid filter '" + key + "'")
		}
	}
	return func(c *gcontainer.Container, st gcontainer.State, name string) bool {
		if len(nameRes) > 0 {
			hit := false
			for _, re := range nameRes {
				hit = hit || re.MatchString(name) || re.MatchString("/"+name)
			}
			if !hit {
				return false
			}
		}
		if before != nil && !c.Created.Before(before.Created) || since != nil && !c.Created.After(since.Created) {
			return false
		}
		if !portsMatch(publish, c.HostConfig.PortBindings) || !portsMatch(expose, c.Config.ExposedPorts) {
			return false
		}
		return anyOf(f["status"], func(v string) bool { return v == string(st.Status) }) &&
			anyOf(f["health"], func(v string) bool { return v == healthStatus(st) }) &&
			anyOf(f["is-task"], func(v string) bool { return v == "false" }) &&
			anyOf(f["isolation"], func(v string) bool {
				iso := c.HostConfig.Isolation
				return v == string(iso) || (v == "" || v == "default") && (iso == "" || iso.IsDefault())
			}) &&
			anyOf(f["network"], func(v string) bool {
				c.Lock() // connect and disconnect change Networks
				defer c.Unlock()
				for n, ep := range c.Networks {
					if n == v || ep != nil && ep.NetworkID != "" && strings.HasPrefix(ep.NetworkID, v) {
						return true
					}
				}
				return false
			}) &&
			anyOf(f["volume"], func(v string) bool {
				for _, m := range c.Volumes {
					if m.Name == v || m.Destination == v {
						return true
					}
				}
				for _, b := range c.HostConfig.Binds {
					parts := strings.Split(b, ":")
					if len(parts) >= 2 && (parts[0] == v || parts[1] == v) {
						return true
					}
				}
				for _, m := range c.HostConfig.Mounts {
					if m.Source == v || m.Target == v {
						return true
					}
				}
				return false
			}) &&
			anyOf(f["id"], func(v string) bool { return strings.HasPrefix(c.ID, v) }) &&
			anyOf(f["exited"], func(v string) bool {
				return st.Status == gcontainer.Exited && v == strconv.Itoa(st.ExitCode)
			}) &&
			anyOf(f["ancestor"], func(v string) bool {
				return v == c.Image || strings.HasPrefix(c.ImageID.Encoded(), strings.TrimPrefix(v, "sha256:"))
			}) &&
			matchLabels(c.Config.Labels, f["label"])
	}, nil
}

// inspectHostConfig is hc as inspect shows it: the legacy links as
// dockerd lists them, "/<linked container's name>:/<name>/<alias>".
func (d *Daemon) inspectHostConfig(hc *container.HostConfig, name string) *container.HostConfig {
	if hc == nil || len(hc.Links) == 0 {
		return hc
	}
	out := *hc
	out.Links = make([]string, 0, len(hc.Links))
	for _, l := range hc.Links {
		child, alias, err := parseLink(l)
		if err != nil {
			out.Links = append(out.Links, l)
			continue
		}
		if c, err := d.containers.Get(child); err == nil {
			child = c.View().Name
		}
		out.Links = append(out.Links, "/"+child+":/"+name+"/"+alias)
	}
	return &out
}

// ContainerInspect implements GET /containers/{name}/json.
func (d *Daemon) ContainerInspect(ctx context.Context, name string, size bool) (*container.InspectResponse, error) {
	c, err := d.containers.Get(name)
	if err != nil {
		return nil, err
	}
	// The record as of its last change, without waiting for an operation
	// in progress (see gcontainer.View).
	v := c.View()
	st := v.State
	args := v.Args()
	resp := &container.InspectResponse{
		ID:      c.ID,
		Created: v.Created.Format(time.RFC3339Nano),
		Path:    args[0],
		Args:    args[1:],
		State: &container.State{
			Status:     container.ContainerState(st.Status),
			Running:    st.IsRunning() || st.Status == gcontainer.Restarting,
			Paused:     st.Status == gcontainer.Paused,
			Restarting: st.Status == gcontainer.Restarting,
			Dead:       st.Status == gcontainer.Dead,
			Pid:        st.Pid,
			ExitCode:   st.ExitCode,
			Error:      st.Error,
			StartedAt:  timeText(st.StartedAt),
			FinishedAt: timeText(st.FinishedAt),
			Health:     st.Health,
			OOMKilled:  st.OOMKilled,
		},
		Image:          v.ImageID.String(),
		ResolvConfPath: filePath(c, "resolv.conf"),
		HostnamePath:   filePath(c, "hostname"),
		HostsPath:      filePath(c, "hosts"),
		LogPath:        c.Log.Path(),
		Name:           "/" + v.Name,
		Driver:         d.layers.Driver(),
		Platform:       "linux",
		ExecIDs:        d.execs.Active(c.ID),
		RestartCount:   v.RestartCount,
		HostConfig:     d.inspectHostConfig(v.HostConfig, v.Name),
		GraphDriver:    &storage.DriverData{Name: d.layers.Driver(), Data: map[string]string{"MergedDir": rootfsPath(c)}},
		Mounts:         d.mountPoints(v.HostConfig, v.Volumes),
		Config:         v.Config,
		NetworkSettings: &container.NetworkSettings{
			SandboxID:  sandboxID(v),
			SandboxKey: sandboxKey(d.sandbox(c.ID)),
			Ports:      copyPorts(v.Ports),
			Networks:   copyNetworks(v.Networks),
		},
	}
	if size {
		rw, err := d.layers.Usage(ctx, c.Dir(), c.Chain)
		if err != nil {
			return nil, err
		}
		resp.SizeRw = &rw
		rootfs := rw + d.chainSize(ctx, c.Chain)
		resp.SizeRootFs = &rootfs
	}
	return resp, nil
}

func timeText(t time.Time) string {
	if t.IsZero() {
		return "0001-01-01T00:00:00Z"
	}
	return t.Format(time.RFC3339Nano)
}

// RenameContainer implements POST /containers/{name}/rename.
func (d *Daemon) RenameContainer(ctx context.Context, name, newName string) error {
	c, err := d.containers.Get(name)
	if err != nil {
		return err
	}
	oldName := c.Name
	if err := d.containers.Rename(c, newName); err != nil {
		return err
	}
	d.containerEvent(c, evtypes.ActionRename, map[string]string{"oldName": oldName})
	return nil
}

// RemoveContainer implements DELETE /containers/{name}; removeVolumes (-v)
// removes the container's anonymous volumes too.
func (d *Daemon) RemoveContainer(ctx context.Context, name string, force, removeVolumes bool) error {
	c, err := d.containers.Get(name)
	if err != nil {
		return err
	}
	if st := c.Snapshot(); st.Status == gcontainer.Restarting {
		if !force {
			return errdefs.ErrConflict.WithMessage(fmt.Sprintf("You cannot remove a restarting container %s. Stop the container before attempting removal or force remove", c.ID))
		}
		c.Lock()
		c.CancelRestart()
		c.Unlock()
	} else if st.IsRunning() {
		if !force {
			return errdefs.ErrConflict.WithMessage(fmt.Sprintf("You cannot remove a running container %s. Stop the container before attempting removal or force remove", c.ID))
		}
		if err := d.kill(ctx, c, "SIGKILL"); err != nil && !errdefs.IsConflict(err) {
			return err
		}
		<-c.Wait(ctx, container.WaitConditionNotRunning)
	}
	return d.removeStopped(ctx, c, removeVolumes)
}

// removeStopped removes a container that is not running: its mounts,
// snapshot, record and directory, and its references to volumes (with
// removeVolumes, its anonymous volumes).
func (d *Daemon) removeStopped(ctx context.Context, c *gcontainer.Container, removeVolumes bool) error {
	c.Lock()
	if err := c.WaitCopy(ctx); err != nil {
		c.Unlock()
		return err
	}
	if c.State.Status == gcontainer.Removing {
		// Being removed already (AutoRemove after a kill): done when that is.
		c.Unlock()
		select {
		case <-c.Removed():
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	defer c.Unlock()
	switch st := c.State; {
	case st.IsRunning():
		return errdefs.ErrConflict.WithMessage(fmt.Sprintf("You cannot remove a running container %s. Stop the container before attempting removal or force remove", c.ID))
	}
	prev := c.State.Status
	c.SetRemoving()
	err := mount.Unmount(rootfsPath(c))
	if err == nil {
		err = d.layers.Release(ctx, c.Dir())
	}
	if err == nil {
		// Before the record goes, so that a waiter for the removal finds
		// the anonymous volumes gone too.
		d.releaseVolumes(ctx, c, removeVolumes)
		err = d.containers.Delete(c)
	}
	if err != nil {
		c.SetStatus(prev)
		return fmt.Errorf("remove container %s: %w", c.ID, err)
	}
	d.execs.RemoveContainer(c.ID)
	d.resetRestarts(c.ID)
	d.containerEvent(c, evtypes.ActionDestroy, nil)
	return nil
}

// anyOf reports whether a filter's values are empty (no filter) or ok holds
// for one of them: values of one filter key are alternatives.
func anyOf(values map[string]bool, ok func(string) bool) bool {
	if len(values) == 0 {
		return true
	}
	for v := range values {
		if ok(v) {
			return true
		}
	}
	return false
}

// portsMatch reports whether ranges is empty or one of ports is in one of
// the ranges (same protocol).
func portsMatch[V any](ranges []network.PortRange, ports map[network.Port]V) bool {
	if len(ranges) == 0 {
		return true
	}
	for p := range ports {
		for _, r := range ranges {
			if p.Proto() == r.Proto() && p.Num() >= r.Start() && p.Num() <= r.End() {
				return true
			}
		}
	}
	return false
}
