package main

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"net/netip"
	"os"
	"os/user"
	"slices"
	"strconv"
	"strings"

	"github.com/docker/go-units"
	"github.com/spf13/pflag"

	"github.com/gantry/gantry/daemon"
)

// config is gantryd's configuration once loaded: the options and the flag
// set that holds them, the command line's flags and daemon.json's keys
// applied.
type config struct {
	*options
	flags *pflag.FlagSet
	set   map[string]bool // flags given on the command line or in the file

	// What check derived from the options.
	lvl       slog.Level
	specs     []hostSpec
	tlsConfig *tls.Config // nil without TLS
}

// load parses args and then the configuration file, as dockerd: a key of
// the file sets the flag it names, a key that is also given as a flag, a
// key no flag has and a dockerd key Gantry does not implement are errors.
// The file may be missing unless --config-file names it.
func load(args []string) (*config, error) {
	flags, o := newFlags()
	if err := flags.Parse(args); err != nil {
		return nil, err
	}
	if flags.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q: gantryd takes flags only", flags.Arg(0))
	}
	c := &config{options: o, flags: flags, set: map[string]bool{}}
	flags.Visit(func(f *pflag.Flag) { c.set[f.Name] = true })
	if err := c.applyFile(o.configFile, flags.Changed("config-file")); err != nil {
		return nil, fmt.Errorf("unable to configure the Docker daemon with file %s: %w", o.configFile, err)
	}
	if err := c.check(); err != nil {
		return nil, err
	}
	return c, nil
}

// flatKeys are the keys whose value is an object of their own; the objects
// under other keys are flattened (dockerd's "tlsverify" may sit in an object).
var flatKeys = map[string]bool{
	"log-opts": true, "default-ulimits": true, "runtimes": true, "features": true, "builder": true,
	"default-network-opts": true, "cluster-store-opts": true,
}

// fixedKeys are dockerd keys that Gantry has no flag for because it always
// behaves one way: the file may state that value.
var fixedKeys = map[string]any{
	"ipv6":     false,
	"iptables": true,
	"ip-masq":  true,
}

// dockerdKeys are the keys of dockerd's daemon.json. Those Gantry has no
// flag for are refused as not implemented rather than as unknown.
var dockerdKeys = strings.Fields(`allow-direct-routing allow-nondistributable-artifacts api-cors-header
authorization-plugins bip bip6 bridge builder cdi-spec-dirs cgroup-parent cluster-advertise
cluster-store cluster-store-opts containerd containerd-namespace containerd-plugin-namespace
cri-containerd data-root debug default-address-pools default-cgroupns-mode default-gateway
default-gateway-v6 default-ipc-mode default-network-opts default-runtime default-shm-size
default-ulimits dns dns-opts dns-search exec-opts exec-root experimental features firewall-backend
fixed-cidr fixed-cidr-v6 group host-gateway-ip host-gateway-ips hosts http-proxy https-proxy icc
init init-path insecure-registries ip ip-forward ip-forward-no-drop ip-masq ip6tables iptables
ipv6 labels live-restore log-driver log-format log-level log-opts max-concurrent-downloads
max-concurrent-uploads max-download-attempts metrics-addr min-api-version mtu
network-control-plane-mtu network-diagnostic-port no-new-privileges no-proxy
node-generic-resources oom-score-adjust pidfile proxies raw-logs registry-mirrors runtimes
seccomp-profile selinux-enabled shutdown-timeout storage-driver storage-opts
swarm-default-advertise-addr swarm-raft-election-tick swarm-raft-heartbeat-tick tls tlscacert
tlscert tlskey tlsverify userland-proxy userland-proxy-path userns-remap`)

// keyOf is the daemon.json key of flag name ("" for none).
func keyOf(name string) string {
	if k, ok := fileKeys[name]; ok {
		return k
	}
	return name
}

// flagOf is the flag that daemon.json key names, or nil.
func (c *config) flagOf(key string) *pflag.Flag {
	var found *pflag.Flag
	c.flags.VisitAll(func(f *pflag.Flag) {
		if keyOf(f.Name) == key {
			found = f
		}
	})
	return found
}

// applyFile reads the configuration file at path and sets the flags its
// keys name. A missing file is no error unless explicit.
func (c *config) applyFile(path string, explicit bool) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && !explicit {
		return nil
	}
	if err != nil {
		return err
	}
	data = bytes.TrimSpace(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")))
	if len(data) == 0 {
		return nil
	}
	var raw map[string]any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return err
	}
	values := map[string]any{}
	for k, v := range raw {
		if m, ok := v.(map[string]any); ok && !flatKeys[k] {
			for mk, mv := range m {
				values[mk] = mv
			}
			continue
		}
		values[k] = v
	}

	var unknown, unsupported, conflicts []string
	for _, key := range slices.Sorted(maps.Keys(values)) {
		f := c.flagOf(key)
		switch {
		case f != nil && c.set[f.Name]:
			conflicts = append(conflicts, fmt.Sprintf("%s: (from flag: %v, from file: %v)", key, f.Value, values[key]))
		case f != nil:
		case fixedKeys[key] != nil:
			if values[key] != fixedKeys[key] {
				unsupported = append(unsupported, fmt.Sprintf("%s (gantryd always runs with %q: %v)", key, key, fixedKeys[key]))
			}
		case slices.Contains(dockerdKeys, key):
			unsupported = append(unsupported, key)
		default:
			unknown = append(unknown, key)
		}
	}
	if len(unknown) > 0 {
		return fmt.Errorf("the following directives don't match any configuration option: %s", strings.Join(unknown, ", "))
	}
	if len(unsupported) > 0 {
		return fmt.Errorf("the following directives are dockerd's but gantryd does not implement them: %s\nhint: remove them from the file; gantryd refuses an option it would not honour", strings.Join(unsupported, ", "))
	}
	if len(conflicts) > 0 {
		return fmt.Errorf("the following directives are specified both as a flag and in the configuration file: %s", strings.Join(conflicts, ", "))
	}
	for _, key := range slices.Sorted(maps.Keys(values)) {
		if f := c.flagOf(key); f != nil {
			if err := setFromFile(c.flags, f, key, values[key]); err != nil {
				return err
			}
			c.set[f.Name] = true
		}
	}
	return nil
}

// setFromFile sets flag f to the JSON value v of key: a list for a
// repeatable flag, true or false for a boolean one, a string or a number
// otherwise.
func setFromFile(flags *pflag.FlagSet, f *pflag.Flag, key string, v any) error {
	_, repeatable := f.Value.(pflag.SliceValue)
	var items []string
	switch v := v.(type) {
	case []any:
		if !repeatable {
			return fmt.Errorf("invalid value for %q: %s: want a single value", key, jsonText(v))
		}
		for _, e := range v {
			if pool, isObject := e.(map[string]any); isObject && key == "default-address-pools" {
				s, err := addressPoolFromFile(pool)
				if err != nil {
					return fmt.Errorf("invalid value for %q: %w", key, err)
				}
				items = append(items, s)
				continue
			}
			s, ok := e.(string)
			if !ok {
				return fmt.Errorf("invalid value for %q: %s: want a list of strings", key, jsonText(v))
			}
			items = append(items, s)
		}
		if len(items) == 0 {
			return f.Value.(pflag.SliceValue).Replace(nil)
		}
	case map[string]any: // log-opts: {"key": "value", ...}
		if !repeatable {
			return fmt.Errorf("invalid value for %q: %s: want a single value", key, jsonText(v))
		}
		for _, k := range slices.Sorted(maps.Keys(v)) {
			if key == "default-ulimits" {
				s, err := ulimitFromFile(k, v[k])
				if err != nil {
					return fmt.Errorf("invalid value for %q: %w", key, err)
				}
				items = append(items, s)
				continue
			}
			s, ok := v[k].(string)
			if !ok {
				return fmt.Errorf("invalid value for %q: %s: want an object of strings", key, jsonText(v))
			}
			items = append(items, k+"="+s)
		}
		if len(items) == 0 {
			return f.Value.(pflag.SliceValue).Replace(nil)
		}
	case bool:
		if f.Value.Type() != "bool" {
			return fmt.Errorf("invalid value for %q: %v: want a %s", key, v, f.Value.Type())
		}
		items = []string{fmt.Sprint(v)}
	case string, json.Number:
		if repeatable || f.Value.Type() == "bool" {
			return fmt.Errorf("invalid value for %q: %s: want %s", key, jsonText(v), map[bool]string{true: "a list", false: "true or false"}[repeatable])
		}
		items = []string{fmt.Sprint(v)}
	default:
		return fmt.Errorf("invalid value for %q: %s", key, jsonText(v))
	}
	for _, s := range items {
		if err := flags.Set(f.Name, s); err != nil {
			return fmt.Errorf("invalid value for %q: %w", key, err)
		}
	}
	return nil
}

// ulimitFromFile is the --default-ulimit value of an entry of dockerd's
// "default-ulimits": "nofile": {"Name": "nofile", "Hard": 64000, "Soft": 64000}.
func ulimitFromFile(name string, v any) (string, error) {
	var u units.Ulimit
	data, _ := json.Marshal(v)
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&u); err != nil {
		return "", fmt.Errorf("%s: %s: want {\"Name\": %q, \"Hard\": n, \"Soft\": n}: %v", name, data, name, err)
	}
	if u.Name != "" && u.Name != name {
		return "", fmt.Errorf("%s: %s: the Name is not the key", name, data)
	}
	return fmt.Sprintf("%s=%d:%d", name, u.Soft, u.Hard), nil
}

// addressPoolFromFile is the --default-address-pool value of an entry of
// dockerd's "default-address-pools": {"base": "10.10.0.0/16", "size": 24}.
func addressPoolFromFile(v map[string]any) (string, error) {
	var p struct {
		Base string
		Size json.Number
	}
	data, _ := json.Marshal(v)
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil || p.Base == "" || p.Size == "" {
		return "", fmt.Errorf(`%s: want {"base": "CIDR", "size": N}`, data)
	}
	return "base=" + p.Base + ",size=" + p.Size.String(), nil
}

// parseAddressPool reads a --default-address-pool value, dockerd's
// "base=CIDR,size=N", and checks the pool.
func parseAddressPool(s string) (daemon.AddressPool, error) {
	var p daemon.AddressPool
	var haveBase, haveSize bool
	for _, field := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(field, "=")
		if !ok {
			return p, fmt.Errorf("invalid field '%s' must be a key=value pair", field)
		}
		switch strings.ToLower(k) {
		case "base":
			base, err := netip.ParsePrefix(v)
			if err != nil {
				return p, fmt.Errorf("invalid base prefix %q: %w", v, err)
			}
			p.Base, haveBase = base, true
		case "size":
			size, err := strconv.Atoi(v)
			if err != nil {
				return p, fmt.Errorf("invalid size value: %q (must be integer): %w", s, err)
			}
			p.Size, haveSize = size, true
		default:
			return p, fmt.Errorf("unexpected key '%s' in '%s'", k, field)
		}
	}
	if !haveBase || !haveSize {
		return p, fmt.Errorf("%q: want base=CIDR,size=N", s)
	}
	return p, daemon.CheckAddressPool(p)
}

// check validates what the flags and the file say together, without
// touching anything: the log level, the API addresses and their TLS files,
// the socket group, the default bind address.
func (c *config) check() error {
	var err error
	if c.lvl, err = c.level(); err != nil {
		return err
	}
	if c.logFormat != "text" && c.logFormat != "json" {
		return fmt.Errorf("invalid log format: %s", c.logFormat)
	}
	if c.specs, err = parseHosts(c.hosts, c.tlsOn()); err != nil {
		return err
	}
	if c.tlsConfig, err = c.serverTLS(); err != nil {
		return err
	}
	if err := c.checkTCPAuth(c.specs); err != nil {
		return err
	}
	// dockerd's check, made before anything exists: an explicit group other
	// than "docker" must exist.
	if c.group != "" && c.group != "docker" {
		if _, err := lookupGroup(c.group); err != nil {
			for _, s := range c.specs {
				if s.proto == "unix" {
					return fmt.Errorf("could not change group of unix socket %s: %w", s.addr, err)
				}
			}
		}
	}
	if c.defaultBindIP != "" {
		if _, err := netip.ParseAddr(c.defaultBindIP); err != nil {
			return fmt.Errorf("--default-bind-ip %q: %w", c.defaultBindIP, err)
		}
	}
	for _, s := range c.addressPools {
		if _, err := parseAddressPool(s); err != nil {
			return fmt.Errorf("--default-address-pool %s: %w", s, err)
		}
	}
	for _, s := range c.defaultUlimits {
		if _, err := units.ParseUlimit(s); err != nil {
			return fmt.Errorf("--default-ulimit %s: %w", s, err)
		}
	}
	for _, s := range c.dns {
		if _, err := netip.ParseAddr(s); err != nil {
			return fmt.Errorf("IP address is not correctly formatted: %s", s)
		}
	}
	if err := daemon.CheckDNSDefaults(c.dnsSearch, c.dnsOpts); err != nil {
		return err
	}
	for _, kv := range c.logOpts {
		if !strings.Contains(kv, "=") {
			return fmt.Errorf("invalid key value pair format in log-opt: %q", kv)
		}
	}
	if err := daemon.CheckLogConfig(c.logDriver, logOptMap(c.logOpts)); err != nil {
		return err
	}
	return nil
}

// level is the log level the configuration asks for.
func (c *config) level() (slog.Level, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.logLevel)); err != nil {
		return 0, fmt.Errorf("invalid logging level: %s", c.logLevel)
	}
	if c.debug {
		lvl = slog.LevelDebug
	}
	return lvl, nil
}

// lookupGroup resolves a group name, or a numeric group ID, to its ID.
func lookupGroup(name string) (int, error) {
	g, err := user.LookupGroup(name)
	if err != nil {
		var err2 error
		if g, err2 = user.LookupGroupId(name); err2 != nil {
			return 0, err
		}
	}
	return strconv.Atoi(g.Gid)
}

// changes lists the flags whose value differs between c and next, by
// daemon.json key, split into those a reload applies and the others.
func (c *config) changes(next *config) (applied, needRestart []string) {
	next.flags.VisitAll(func(f *pflag.Flag) {
		old := c.flags.Lookup(f.Name)
		if old == nil || old.Value.String() == f.Value.String() || keyOf(f.Name) == "" {
			return
		}
		if reloadable[f.Name] {
			applied = append(applied, keyOf(f.Name))
		} else {
			needRestart = append(needRestart, keyOf(f.Name))
		}
	})
	return applied, needRestart
}

func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
