package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/coreos/go-systemd/v22/activation"
	"github.com/docker/go-connections/sockets"
	"github.com/docker/go-connections/tlsconfig"
	"golang.org/x/sys/unix"
)

// defaultSocket is the unix socket of -H unix:// and of no -H at all.
const defaultSocket = "/run/gantry.sock"

// hostSpec is one -H address, parsed: proto "unix" (addr a path), "tcp"
// (host:port) or "fd" (a file descriptor number, or "" or "*" for all that
// systemd passed).
type hostSpec struct{ proto, addr string }

func (h hostSpec) String() string { return h.proto + "://" + h.addr }

// parseHosts parses -H addresses as dockerd does: a bare host:port is TCP,
// a TCP address without a host is localhost, without a port 2375, or 2376
// with TLS.
func parseHosts(hosts []string, tlsOn bool) ([]hostSpec, error) {
	if len(hosts) == 0 {
		hosts = []string{"unix://" + defaultSocket}
	}
	var specs []hostSpec
	for _, h := range hosts {
		s, err := parseHost(strings.TrimSpace(h), tlsOn)
		if err != nil {
			return nil, err
		}
		specs = append(specs, s)
	}
	return specs, nil
}

func parseHost(h string, tlsOn bool) (hostSpec, error) {
	proto, addr, ok := strings.Cut(h, "://")
	switch {
	case h == "":
		proto, addr = "unix", defaultSocket
	case !ok:
		proto, addr = "tcp", h
	}
	switch proto {
	case "unix":
		if addr == "" {
			addr = defaultSocket
		}
		return hostSpec{proto, addr}, nil
	case "fd":
		return hostSpec{proto, addr}, nil
	case "tcp":
		u, err := url.Parse("tcp://" + addr)
		if err != nil {
			return hostSpec{}, fmt.Errorf("invalid bind address format: %s", h)
		}
		if u.Path != "" && u.Path != "/" {
			return hostSpec{}, fmt.Errorf("invalid bind address (%s): should not contain a path element", h)
		}
		host, port := u.Hostname(), u.Port()
		if host == "" {
			host = "localhost"
		}
		if port == "" {
			port = "2375"
			if tlsOn {
				port = "2376"
			}
		}
		if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
			return hostSpec{}, fmt.Errorf("invalid bind address format: %s", h)
		}
		return hostSpec{"tcp", net.JoinHostPort(host, port)}, nil
	default:
		return hostSpec{}, fmt.Errorf("invalid bind address format: %s", h)
	}
}

// tlsOn says the TCP and fd listeners serve TLS.
func (c *config) tlsOn() bool { return c.tls || c.tlsVerify }

// serverTLS is the listeners' TLS configuration, nil without TLS: the
// server's certificate, and with --tlsverify client certificates required
// and verified against --tlscacert alone.
func (c *config) serverTLS() (*tls.Config, error) {
	if !c.tlsOn() {
		return nil, nil
	}
	opts := tlsconfig.Options{CAFile: c.tlsCACert, CertFile: c.tlsCert, KeyFile: c.tlsKey, ExclusiveRootPools: true}
	if c.tlsVerify {
		opts.ClientAuth = tls.RequireAndVerifyClientCert
	}
	cfg, err := tlsconfig.Server(opts)
	if err != nil {
		return nil, fmt.Errorf("invalid TLS configuration: %w", err)
	}
	cfg.NextProtos = []string{"http/1.1"} // attach and exec hijack the connection
	return cfg, nil
}

// Docker's warnings about an API served on TCP without client certificates.
var plainTCPWarnings = []string{
	"Binding to IP address without --tlsverify is insecure and gives root access on this machine to everyone who has access to your network.",
	"Binding to an IP address, even on localhost, can also give access to scripts run in a browser. Be safe out there!",
}

// checkTCPAuth refuses a TCP address other than loopback without client
// certificates (--tlsverify), unless --tls=false or --tlsverify=false says
// so explicitly, as dockerd asks.
func (c *config) checkTCPAuth(specs []hostSpec) error {
	if c.tlsVerify {
		return nil
	}
	intent := (c.set["tls"] && !c.tls) || (c.set["tlsverify"] && !c.tlsVerify)
	for _, s := range specs {
		if s.proto != "tcp" || intent {
			continue
		}
		host, _, _ := net.SplitHostPort(s.addr)
		if !isLoopback(host) {
			return fmt.Errorf("-H %s: refusing to serve the API on a non-loopback address without --tlsverify\n"+
				"hint: that gives root on this machine to everyone who can reach the address; use --tlsverify with --tlscacert, --tlscert and --tlskey, "+
				"or say --tls=false (or --tlsverify=false) to accept it", s)
		}
	}
	return nil
}

// isLoopback says every address host names is a loopback one.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ips := []net.IP{net.ParseIP(host)}
	if ips[0] == nil {
		var err error
		if ips, err = net.LookupIP(host); err != nil || len(ips) == 0 {
			return false
		}
	}
	for _, ip := range ips {
		if !ip.IsLoopback() {
			return false
		}
	}
	return true
}

// listenNetwork opens the TCP and systemd (fd://) listeners, which leave
// nothing on disk: a port in use fails here, before anything is set up.
func listenNetwork(specs []hostSpec, tlsCfg *tls.Config) ([]net.Listener, error) {
	var ls []net.Listener
	fail := func(err error) ([]net.Listener, error) {
		closeAll(ls)
		return nil, err
	}
	for _, s := range specs {
		switch s.proto {
		case "tcp":
			l, err := sockets.NewTCPSocket(s.addr, tlsCfg)
			if err != nil {
				return fail(fmt.Errorf("-H %s: %w", s, err))
			}
			ls = append(ls, l)
		case "fd":
			fds, err := listenFD(s.addr, tlsCfg)
			if err != nil {
				return fail(err)
			}
			ls = append(ls, fds...)
		}
	}
	return ls, nil
}

// sdListenFdsStart is the first descriptor systemd passes (SD_LISTEN_FDS_START).
const sdListenFdsStart = 3

// activated is what systemd passed (LISTEN_FDS), read once.
var activated = sync.OnceValues(activation.Listeners)

// listenFD returns the sockets systemd passed: all of them for "" or "*",
// else the one with that descriptor number, as dockerd.
func listenFD(addr string, tlsCfg *tls.Config) ([]net.Listener, error) {
	all, err := activated()
	if err != nil {
		return nil, err
	}
	if len(all) == 0 {
		return nil, errors.New("no sockets found via socket activation: make sure the service was started by systemd")
	}
	var picked []net.Listener
	if addr == "" || addr == "*" {
		picked = all
	} else {
		n, err := strconv.Atoi(addr)
		if err != nil {
			return nil, fmt.Errorf("failed to parse systemd fd address: should be a number: %v", addr)
		}
		if i := n - sdListenFdsStart; i < 0 || i >= len(all) {
			return nil, errors.New("too few socket activated files passed in by systemd")
		} else if all[i] == nil {
			return nil, fmt.Errorf("failed to listen on systemd activated file: fd %d", n)
		} else {
			picked = []net.Listener{all[i]}
		}
	}
	for i, l := range picked {
		if l == nil {
			return nil, fmt.Errorf("failed to listen on systemd activated file: fd %d", sdListenFdsStart+i)
		}
		if tlsCfg != nil {
			if _, isUnix := l.(*net.UnixListener); !isUnix {
				picked[i] = tls.NewListener(l, tlsCfg)
			}
		}
	}
	return picked, nil
}

// listenUnix opens the unix sockets, owned by group (dockerd's behaviour:
// "" keeps gantryd's own group; the default group "docker" missing is a
// warning, another missing group an error), mode 0660 from the moment
// they exist. A stale socket of a gantryd that is gone is replaced.
func listenUnix(specs []hostSpec, group string, log *slog.Logger) ([]net.Listener, error) {
	var ls []net.Listener
	for _, s := range specs {
		if s.proto != "unix" {
			continue
		}
		gid := os.Getgid()
		if group != "" {
			g, err := lookupGroup(group)
			switch {
			case err == nil:
				gid = g
			case group == "docker":
				log.Warn(fmt.Sprintf("could not change group of unix socket %s: %v", s.addr, err))
			default:
				closeAll(ls)
				return nil, fmt.Errorf("could not change group of unix socket %s: %w", s.addr, err)
			}
		}
		l, err := newUnixSocket(s.addr, gid)
		if err != nil {
			closeAll(ls)
			return nil, fmt.Errorf("-H %s: %w", s, err)
		}
		ls = append(ls, l)
	}
	return ls, nil
}

// socketMask is the umask while a socket is bound: the socket file is born
// owner-only, whatever gantryd's umask, and only then given its group and
// mode 0660 (before it listens).
const socketMask = 0o177

// newUnixSocket creates the socket at path, owned by gantryd's user and
// gid, mode 0660.
func newUnixSocket(path string, gid int) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	if c, err := net.Dial("unix", path); err == nil {
		c.Close()
		return nil, errors.New("another daemon is listening there")
	}
	// The umask is the process's: no other goroutine creates files while
	// the listeners are being opened, before the daemon starts.
	old := unix.Umask(socketMask)
	defer unix.Umask(old)
	return sockets.NewUnixSocketWithOpts(path, sockets.WithChown(os.Getuid(), gid), sockets.WithChmod(0o660))
}

func closeAll(ls []net.Listener) {
	for _, l := range ls {
		l.Close()
	}
}
