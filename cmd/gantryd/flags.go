package main

import (
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/docker/go-units"
	"github.com/spf13/pflag"

	"github.com/gantry/gantry/daemon"
)

// options is how gantryd was configured: its flags, then the keys of
// daemon.json, which set the same flags (see fileKeys).
type options struct {
	configFile string
	validate   bool

	dataRoot, execRoot, runtime string
	logLevel, logFormat         string
	debug                       bool
	pidfile                     string

	hosts              []string
	group              string
	tls, tlsVerify     bool
	tlsCACert, tlsCert string
	tlsKey             string
	bip, defaultBindIP string
	dns, dnsSearch     []string
	dnsOpts            []string
	defaultUlimits     []string // name=soft[:hard]
	addressPools       []string // base=CIDR,size=N
	mirrors, insecure  []string
	registryCertsDir   string
	seccompProfile     string
	noNewPrivileges    bool
	usernsRemap        string
	liveRestore        bool
	init               bool
	initPath           string
	logDriver          string
	logOpts            []string // key=value
	cri                bool     // serve the CRI (Kubernetes) on criSocket
	criSocket          string   // "" is <exec-root>/cri.sock
	criStreamAddress   string   // host:port of the CRI's streaming server
	cniConfDir         string
	cniBinDirs         []string
}

// defaultConfigFile is where gantryd reads daemon.json unless
// --config-file says otherwise.
const defaultConfigFile = "/etc/gantry/daemon.json"

// newFlags defines gantryd's flags on a new flag set, with dockerd's names
// where dockerd has the option. A flag is also a daemon.json key: its long
// name, unless fileKeys gives another.
func newFlags() (*pflag.FlagSet, *options) {
	o := &options{}
	f := pflag.NewFlagSet("gantryd", pflag.ContinueOnError)
	f.SortFlags = false

	f.StringVar(&o.configFile, "config-file", defaultConfigFile, "daemon configuration file (daemon.json)")
	f.BoolVar(&o.validate, "validate", false, "validate the configuration (file and flags), print \"configuration OK\" and exit")

	f.StringVar(&o.dataRoot, "data-root", "/var/lib/gantry", "root directory of persistent state")
	f.StringVar(&o.execRoot, "exec-root", "/run/gantry", "root directory of runtime state")
	f.StringVar(&o.runtime, "runtime", "runc", "path of the OCI runtime binary")
	f.BoolVar(&o.liveRestore, "live-restore", true, "keep containers running while gantryd is down (false: stop them on shutdown)")
	f.StringVarP(&o.logLevel, "log-level", "l", "info", `log level: "debug", "info", "warn", "error"`)
	f.BoolVarP(&o.debug, "debug", "D", false, "log at debug level, whatever --log-level says, and serve /debug/pprof/ on the API")
	f.StringVar(&o.logFormat, "log-format", "text", `log format: "text" (key=value) or "json"`)
	f.StringVarP(&o.pidfile, "pidfile", "p", "", "write gantryd's PID to this file while it runs")

	f.StringArrayVarP(&o.hosts, "host", "H", []string{"unix:///run/gantry.sock"}, "address to serve the API on: unix://PATH, tcp://HOST:PORT, fd:// (repeatable)")
	f.StringVarP(&o.group, "group", "G", "docker", "group of the unix sockets (\"\": gantryd's own group)")
	certDir := dockerCertPath()
	f.BoolVar(&o.tls, "tls", false, "serve TCP with TLS; implied by --tlsverify")
	f.BoolVar(&o.tlsVerify, "tlsverify", os.Getenv("DOCKER_TLS_VERIFY") != "", "serve TCP with TLS and require client certificates signed by --tlscacert")
	f.StringVar(&o.tlsCACert, "tlscacert", filepath.Join(certDir, "ca.pem"), "trust client certificates signed only by this CA")
	f.StringVar(&o.tlsCert, "tlscert", filepath.Join(certDir, "cert.pem"), "path to the server's TLS certificate")
	f.StringVar(&o.tlsKey, "tlskey", filepath.Join(certDir, "key.pem"), "path to the server's TLS key")

	f.StringVar(&o.bip, "bip", "", "address and prefix of the default bridge (e.g. 172.18.0.1/16)")
	f.StringVar(&o.defaultBindIP, "default-bind-ip", "", "default IP address of published ports (default all addresses)")
	f.StringArrayVar(&o.addressPools, "default-address-pool", nil, "where networks without a subnet take one: base=CIDR,size=N, subnets of prefix length N cut from base (repeatable; default Docker's pools)")
	f.StringArrayVar(&o.dns, "dns", nil, "DNS server of containers and build steps that name none (repeatable)")
	f.StringArrayVar(&o.dnsSearch, "dns-search", nil, "DNS search domain of containers and build steps that name none (repeatable)")
	f.StringArrayVar(&o.dnsOpts, "dns-opt", nil, "DNS option of containers and build steps that name none (repeatable; daemon.json: dns-opts)")

	f.StringArrayVar(&o.mirrors, "registry-mirror", nil, "preferred Docker Hub mirror (repeatable)")
	f.StringArrayVar(&o.insecure, "insecure-registry", nil, "registry (host[:port] or CIDR) spoken to over plain HTTP (repeatable)")
	f.StringVar(&o.registryCertsDir, "registry-certs-dir", "/etc/gantry/certs.d", "per-registry configuration: <dir>/<host[:port]>/hosts.toml (mirrors, containerd's format), else ca.crt, client.cert, client.key")

	f.StringVar(&o.seccompProfile, "seccomp-profile", "builtin", `path of the default seccomp profile of containers, or "unconfined", or "builtin" (Docker's)`)
	f.BoolVar(&o.noNewPrivileges, "no-new-privileges", false, "set no-new-privileges by default for new containers")
	f.BoolVar(&o.init, "init", false, "run an init in every container (unless it says otherwise) to forward signals and reap processes")
	f.StringVar(&o.initPath, "init-path", "", "path of the init binary (default docker-init, else tini-static, in $PATH)")
	f.StringVar(&o.logDriver, "log-driver", "json-file", `default log driver of containers: "json-file", "local" or "none"`)
	f.StringArrayVar(&o.defaultUlimits, "default-ulimit", nil, "default ulimit of containers and build steps, name=soft[:hard] (repeatable; daemon.json: default-ulimits, dockerd's objects)")
	f.StringArrayVar(&o.logOpts, "log-opt", nil, "default log driver option of containers, key=value (repeatable; daemon.json: log-opts, an object)")
	f.BoolVar(&o.cri, "cri", true, "serve the CRI v1 (Kubernetes' container runtime interface) on --cri-socket")
	f.StringVar(&o.criSocket, "cri-socket", "", "unix socket of the CRI (default <exec-root>/cri.sock: /run/gantry/cri.sock)")
	f.StringVar(&o.criStreamAddress, "cri-stream-address", "127.0.0.1:0", "host:port of the CRI's streaming server (exec, attach, port-forward; port 0: any)")
	f.StringVar(&o.cniConfDir, "cni-conf-dir", "/etc/cni/net.d", "CNI network configurations of the CRI's pods (the first file is used)")
	f.StringArrayVar(&o.cniBinDirs, "cni-bin-dir", []string{"/opt/cni/bin", "/usr/lib/cni"}, "directory of CNI plugins (repeatable; daemon.json: cni-bin-dirs)")
	f.StringVar(&o.usernsRemap, "userns-remap", "", `user namespace remapping: "default" (user dockremap) or "user[:group]" with ranges in /etc/subuid and /etc/subgid`)
	return f, o
}

// daemonConfig is what the daemon needs of the options (checked by load).
func (o *options) daemonConfig(log *slog.Logger) daemon.Config {
	cfg := daemon.Config{
		Root: o.dataRoot, ExecRoot: o.execRoot, Runtime: o.runtime, Log: log,
		BridgeIP:       o.bip,
		SeccompProfile: o.seccompProfile, NoNewPrivileges: o.noNewPrivileges,
		UsernsRemap: o.usernsRemap,
		LiveRestore: o.liveRestore,
		Init:        o.init, InitPath: o.initPath,
		LogDriver: o.logDriver, LogOpts: logOptMap(o.logOpts),
		RegistryMirrors: o.mirrors, InsecureRegistries: o.insecure, RegistryCertsDir: o.registryCertsDir,
	}
	if o.defaultBindIP != "" {
		cfg.DefaultBindIP, _ = netip.ParseAddr(o.defaultBindIP)
	}
	for _, s := range o.dns {
		a, _ := netip.ParseAddr(s)
		cfg.DNS = append(cfg.DNS, a)
	}
	cfg.DNSSearch, cfg.DNSOptions = o.dnsSearch, o.dnsOpts
	for _, s := range o.addressPools {
		if p, err := parseAddressPool(s); err == nil { // checked by load
			cfg.DefaultAddressPools = append(cfg.DefaultAddressPools, p)
		}
	}
	for _, s := range o.defaultUlimits {
		if u, err := units.ParseUlimit(s); err == nil { // checked by load
			cfg.DefaultUlimits = append(cfg.DefaultUlimits, u)
		}
	}
	return cfg
}

// fileKeys gives the daemon.json key of the flags whose key is not their
// long name: as dockerd, the plural for a repeatable flag, and dockerd's
// key for a flag Gantry names differently. A flag that should have no key
// maps to "".
var fileKeys = map[string]string{
	"config-file":          "",
	"validate":             "",
	"host":                 "hosts",
	"registry-mirror":      "registry-mirrors",
	"insecure-registry":    "insecure-registries",
	"default-bind-ip":      "ip",
	"log-opt":              "log-opts",
	"cni-bin-dir":          "cni-bin-dirs",
	"dns":                  "dns", // dockerd's keys, singular
	"dns-search":           "dns-search",
	"dns-opt":              "dns-opts",
	"default-ulimit":       "default-ulimits",
	"default-address-pool": "default-address-pools",
}

// logOptMap is the map of --log-opt key=value options (checked by
// checkLogConfig: every one has an "=").
func logOptMap(opts []string) map[string]string {
	if len(opts) == 0 {
		return nil
	}
	m := map[string]string{}
	for _, kv := range opts {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

// reloadable lists the flags whose new value a reload (SIGHUP) applies, as
// dockerd's reload does for the ones Gantry has; a reload that changes
// another one says it needs a restart.
var reloadable = map[string]bool{
	"debug":             true,
	"log-level":         true,
	"registry-mirror":   true,
	"insecure-registry": true,
}

// dockerCertPath is where dockerd looks for its TLS files by default:
// $DOCKER_CERT_PATH, else the docker CLI's configuration directory.
func dockerCertPath() string {
	if p := os.Getenv("DOCKER_CERT_PATH"); p != "" {
		return p
	}
	if p := os.Getenv("DOCKER_CONFIG"); p != "" {
		return p
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ".docker"
	}
	return filepath.Join(home, ".docker")
}
