package cli

import (
	"bufio"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/spf13/pflag"
)

// containerFlags are the flags shared by run and create.
type containerFlags struct {
	name       string
	interact   bool
	tty        bool
	autoRemove bool
	env        []string
	envFiles   []string
	workdir    string
	user       string
	entrypoint string
	volumes    []string
	mounts     mountFlag
	tmpfs      []string
	network    string
	labels     []string
	hostname   string
	publish    []string
	publishAll bool
	expose     []string
	aliases    []string
	ip         string
	dns        []string
	security   []string
	host       hostFlags
	life       lifecycleFlags
	more       moreFlags
	// changed reports whether a flag was given; set by addContainerFlags.
	changed func(string) bool
}

func addContainerFlags(fl *pflag.FlagSet, f *containerFlags) {
	fl.SetInterspersed(false)
	// -h is --hostname here, so help has no shorthand (cobra would panic).
	fl.Bool("help", false, "Print usage")
	fl.StringVar(&f.name, "name", "", "Assign a name to the container")
	fl.BoolVarP(&f.interact, "interactive", "i", false, "Keep STDIN open even if not attached")
	fl.BoolVarP(&f.tty, "tty", "t", false, "Allocate a pseudo-TTY")
	fl.BoolVar(&f.autoRemove, "rm", false, "Automatically remove the container and its associated anonymous volumes when it exits")
	fl.StringArrayVarP(&f.env, "env", "e", nil, "Set environment variables")
	fl.StringArrayVar(&f.envFiles, "env-file", nil, "Read in a file of environment variables")
	fl.StringVarP(&f.workdir, "workdir", "w", "", "Working directory inside the container")
	fl.StringVarP(&f.user, "user", "u", "", "Username or UID (format: <name|uid>[:<group|gid>])")
	fl.StringVar(&f.entrypoint, "entrypoint", "", "Overwrite the default ENTRYPOINT of the image")
	fl.StringArrayVarP(&f.volumes, "volume", "v", nil, "Bind mount a volume")
	fl.Var(&f.mounts, "mount", "Attach a filesystem mount to the container")
	fl.StringArrayVar(&f.tmpfs, "tmpfs", nil, "Mount a tmpfs directory")
	fl.StringVar(&f.network, "network", "default", "Connect a container to a network")
	fl.StringArrayVarP(&f.labels, "label", "l", nil, "Set meta data on a container")
	fl.StringVarP(&f.hostname, "hostname", "h", "", "Container host name")
	fl.StringArrayVarP(&f.publish, "publish", "p", nil, "Publish a container's port(s) to the host")
	fl.BoolVarP(&f.publishAll, "publish-all", "P", false, "Publish all exposed ports to random ports")
	fl.StringArrayVar(&f.expose, "expose", nil, "Expose a port or a range of ports")
	fl.StringArrayVar(&f.aliases, "network-alias", nil, "Add network-scoped alias for the container")
	fl.StringVar(&f.ip, "ip", "", "IPv4 address (e.g., 172.30.100.104)")
	fl.StringArrayVar(&f.dns, "dns", nil, "Set custom DNS servers")
	fl.StringArrayVar(&f.security, "security-opt", nil, "Security Options")
	addHostFlags(fl, &f.host)
	addLifecycleFlags(fl, &f.life)
	addMoreFlags(fl, &f.more)
	f.changed = func(name string) bool { return fl.Changed(name) }
}

// containerConfig is everything POST /containers/create takes.
type containerConfig struct {
	config  *container.Config
	host    *container.HostConfig
	network *network.NetworkingConfig
	// platform (--platform) is the image's platform to pull and to check;
	// pull (--pull) is "missing", "always" or "never".
	platform, pull string
	// cidfile (--cidfile) is the file to write the new ID to; quiet (-q)
	// keeps a pull silent.
	cidfile string
	quiet   bool
}

// toConfig builds the create request for image and args (the command), with
// the streams attached as docker does: all three with -i, none when detached.
func (f *containerFlags) toConfig(image string, args []string, detach bool, entrypointSet bool) (containerConfig, error) {
	env, err := f.environment()
	if err != nil {
		return containerConfig{}, err
	}
	labels := map[string]string{}
	for _, l := range f.labels {
		k, v, _ := strings.Cut(l, "=")
		labels[k] = v
	}
	exposed, bindings, err := parsePublish(f.publish)
	if err != nil {
		return containerConfig{}, err
	}
	binds, volumes := splitVolumes(f.volumes)
	if exposed, err = addExposed(exposed, f.expose); err != nil {
		return containerConfig{}, err
	}
	dns, err := parseDNS(f.dns)
	if err != nil {
		return containerConfig{}, err
	}
	endpoint, err := endpointSettings(f.aliases, f.ip)
	if err != nil {
		return containerConfig{}, err
	}
	security, err := parseSecurityOpts(f.security)
	if err != nil {
		return containerConfig{}, err
	}
	cfg := &container.Config{
		Volumes: volumes, Hostname: f.hostname, User: f.user, Tty: f.tty, Env: env, Image: image,
		WorkingDir: f.workdir, Labels: labels, ExposedPorts: exposed,
		AttachStdin: f.interact, OpenStdin: f.interact, StdinOnce: f.interact,
		AttachStdout: !detach, AttachStderr: !detach,
	}
	if len(args) > 0 {
		cfg.Cmd = args
	}
	if entrypointSet {
		if f.entrypoint == "" {
			cfg.Entrypoint = []string{""}
		} else {
			cfg.Entrypoint = []string{f.entrypoint}
		}
	}
	mode := f.network
	if mode == "" {
		mode = "default"
	}
	host := &container.HostConfig{
		Binds: binds, Mounts: f.mounts.mounts, Tmpfs: tmpfsMap(f.tmpfs), NetworkMode: container.NetworkMode(mode), PortBindings: bindings,
		PublishAllPorts: f.publishAll, DNS: dns, SecurityOpt: security,
		AutoRemove: f.autoRemove, RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyDisabled},
	}
	if err := f.host.apply(cfg, host, endpoint, f.changed); err != nil {
		return containerConfig{}, err
	}
	changed := f.changed
	if changed == nil {
		changed = func(string) bool { return false }
	}
	if err := f.life.apply(cfg, host, changed); err != nil {
		return containerConfig{}, err
	}
	if err := f.more.apply(cfg, host, endpoint, changed); err != nil {
		return containerConfig{}, err
	}
	netCfg := &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{mode: endpoint}}
	return containerConfig{config: cfg, host: host, network: netCfg, platform: f.host.platform, pull: f.host.pull,
		cidfile: f.more.cidfile, quiet: f.more.quiet}, nil
}

// splitVolumes sorts -v values as docker does: SOURCE:DESTINATION[:MODE]
// are binds (a host path or a volume name), a bare path asks for an
// anonymous volume.
func splitVolumes(specs []string) (binds []string, volumes map[string]struct{}) {
	for _, v := range specs {
		if strings.Contains(v, ":") {
			binds = append(binds, v)
			continue
		}
		if volumes == nil {
			volumes = map[string]struct{}{}
		}
		volumes[v] = struct{}{}
	}
	return binds, volumes
}

// tmpfsMap turns --tmpfs DESTINATION[:OPTIONS] values into the host
// config's map.
func tmpfsMap(specs []string) map[string]string {
	if len(specs) == 0 {
		return nil
	}
	out := map[string]string{}
	for _, t := range specs {
		dst, opts, _ := strings.Cut(t, ":")
		out[dst] = opts
	}
	return out
}

// environment is the --env-file contents followed by -e values; a bare NAME
// takes its value from the local environment and is dropped when unset.
func (f *containerFlags) environment() ([]string, error) {
	var raw []string
	for _, path := range f.envFiles {
		lines, err := readEnvFile(path)
		if err != nil {
			return nil, err
		}
		raw = append(raw, lines...)
	}
	raw = append(raw, f.env...)
	var env []string
	for _, e := range raw {
		if strings.Contains(e, "=") {
			env = append(env, e)
		} else if v, ok := os.LookupEnv(e); ok {
			env = append(env, e+"="+v)
		}
	}
	return env, nil
}

func readEnvFile(path string) ([]string, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open env file: %w", err)
	}
	defer fh.Close()
	var lines []string
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		line := strings.TrimLeft(sc.Text(), " \t")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		lines = append(lines, line)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read env file %s: %w", path, err)
	}
	return lines, nil
}

// addExposed adds the --expose ports (PORT[/PROTO] or a range) to exposed.
func addExposed(exposed network.PortSet, specs []string) (network.PortSet, error) {
	for _, spec := range specs {
		pr, err := network.ParsePortRange(spec)
		if err != nil {
			return nil, fmt.Errorf("invalid range format for --expose: %s, error: %w", spec, err)
		}
		if exposed == nil {
			exposed = network.PortSet{}
		}
		for p := range pr.All() {
			exposed[p] = struct{}{}
		}
	}
	return exposed, nil
}

// parseDNS checks the --dns addresses.
func parseDNS(specs []string) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, s := range specs {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%s is not an ip address", s)
		}
		out = append(out, a)
	}
	return out, nil
}

// parsePublish parses -p specs: [[ip:]hostPort:]containerPort[/proto], with
// an IPv6 ip in brackets and a container port range allowed.
func parsePublish(specs []string) (network.PortSet, network.PortMap, error) {
	if len(specs) == 0 {
		return nil, nil, nil
	}
	exposed, bindings := network.PortSet{}, network.PortMap{}
	for _, spec := range specs {
		rest, proto, _ := strings.Cut(spec, "/")
		var ip, hostPort, ctrPort string
		if i := strings.LastIndex(rest, ":"); i >= 0 {
			ctrPort = rest[i+1:]
			rest = rest[:i]
			if j := strings.LastIndex(rest, ":"); j >= 0 {
				ip, hostPort = strings.Trim(rest[:j], "[]"), rest[j+1:]
			} else {
				hostPort = rest
			}
		} else {
			ctrPort = rest
		}
		if proto != "" {
			ctrPort += "/" + proto
		}
		pr, err := network.ParsePortRange(ctrPort)
		if err != nil {
			return nil, nil, fmt.Errorf("invalid port spec %q: %w", spec, err)
		}
		var hr network.PortRange
		if hostPort != "" {
			if hr, err = network.ParsePortRange(hostPort); err != nil {
				return nil, nil, fmt.Errorf("invalid hostPort: %s", hostPort)
			}
		}
		hostPorts, ok := pairHostPorts(pr, hr)
		if !ok {
			ctr, _, _ := strings.Cut(ctrPort, "/")
			return nil, nil, fmt.Errorf("invalid ranges specified for container and host Ports: %s and %s", ctr, hostPort)
		}
		var addr netip.Addr
		if ip != "" {
			if addr, err = netip.ParseAddr(ip); err != nil {
				return nil, nil, fmt.Errorf("invalid IP address %q in %q: %w", ip, spec, err)
			}
		}
		i := 0
		for p := range pr.All() {
			exposed[p] = struct{}{}
			bindings[p] = append(bindings[p], network.PortBinding{HostIP: addr, HostPort: hostPorts[i]})
			i++
		}
	}
	return exposed, bindings, nil
}

// pairHostPorts is the HostPort of each port of the container range, as
// docker's nat.ParsePortSpecs gives them: ranges of equal length pair up
// port by port; a single container port takes a host range whole (the
// daemon binds its first free port); any host port is "" with no host
// range (hr zero). Ranges of different lengths do not pair (false).
func pairHostPorts(pr, hr network.PortRange) ([]string, bool) {
	n := int(pr.End()-pr.Start()) + 1
	out := make([]string, n)
	switch {
	case hr.IsZero():
	case hr.End()-hr.Start() == pr.End()-pr.Start():
		for i := range out {
			out[i] = strconv.Itoa(int(hr.Start()) + i)
		}
	case n == 1:
		out[0] = fmt.Sprintf("%d-%d", hr.Start(), hr.End())
	default:
		return nil, false
	}
	return out, true
}
