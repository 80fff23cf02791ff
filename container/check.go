package container

import (
	"fmt"
	"net/netip"
	"path"
	"regexp"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
)

// maxHostnameLen is the kernel's limit on a host name and on a domain
// name (HOST_NAME_MAX, __NEW_UTS_LEN).
const maxHostnameLen = 64

// hostNameChars are the characters of a host name, a domain name, an
// --add-host name and a network or link alias: those of RFC 1123 names
// plus the underscore that container and service names use.
var hostNameChars = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// hostNameHint follows the error for a name outside hostNameChars.
const hostNameHint = "\nhint: a host name holds only letters, digits, '-', '.' and '_'"

// CheckCreate refuses, at create, a config whose names and addresses
// would not be what they say once written into the container's hostname,
// hosts and resolv.conf files (a newline in a host name adds a line to
// /etc/hosts), with dockerd's words where dockerd has a check: the
// hostname's length, --add-host entries, DNS search domains (DNS servers
// are addresses once decoded) and the working directory, which must be
// absolute (it is cleaned, as dockerd does). Errors are invalid-argument
// errors.
func CheckCreate(cfg *container.Config, hc *container.HostConfig, nc *network.NetworkingConfig) error {
	if err := checkCreate(cfg, hc, nc); err != nil {
		return errdefs.ErrInvalidArgument.WithMessage(err.Error())
	}
	return nil
}

func checkCreate(cfg *container.Config, hc *container.HostConfig, nc *network.NetworkingConfig) error {
	if cfg.WorkingDir != "" {
		if !path.IsAbs(cfg.WorkingDir) {
			return fmt.Errorf("the working directory '%s' is invalid, it needs to be an absolute path", cfg.WorkingDir)
		}
		cfg.WorkingDir = path.Clean(cfg.WorkingDir)
	}
	if err := checkUTSName("hostname", cfg.Hostname); err != nil {
		return err
	}
	if err := checkUTSName("domainname", cfg.Domainname); err != nil {
		return err
	}
	if hc == nil {
		return nil
	}
	for _, h := range hc.ExtraHosts {
		if err := checkExtraHost(h); err != nil {
			return err
		}
	}
	for _, s := range hc.DNSSearch {
		if err := checkDNSSearch(s); err != nil {
			return err
		}
	}
	for _, s := range hc.DNSOptions {
		if s == "" || strings.ContainsFunc(s, isSpaceOrControl) {
			return fmt.Errorf("invalid DNS option %q", s)
		}
	}
	for _, l := range hc.Links {
		_, alias, ok := strings.Cut(l, ":")
		if !ok {
			alias = l
		}
		alias = strings.TrimPrefix(alias, "/")
		if !hostNameChars.MatchString(alias[strings.LastIndex(alias, "/")+1:]) {
			return fmt.Errorf("invalid link %q: bad alias format%s", l, hostNameHint)
		}
	}
	if nc != nil {
		for name, es := range nc.EndpointsConfig {
			if es == nil {
				continue
			}
			if err := checkAliases(name, es.Aliases); err != nil {
				return err
			}
		}
	}
	return nil
}

// CheckAliases refuses network aliases (of a create, or of a network
// connect) that are no host names: they are written into the hosts files
// of the network's other members. Errors are invalid-argument errors.
func CheckAliases(network string, aliases []string) error {
	if err := checkAliases(network, aliases); err != nil {
		return errdefs.ErrInvalidArgument.WithMessage(err.Error())
	}
	return nil
}

func checkAliases(network string, aliases []string) error {
	for _, a := range aliases {
		if !hostNameChars.MatchString(a) {
			return fmt.Errorf("invalid alias format for network %s: %q%s", network, a, hostNameHint)
		}
	}
	return nil
}

// checkUTSName checks a hostname or domainname ("" is the default).
func checkUTSName(what, s string) error {
	switch {
	case s == "":
		return nil
	case len(s) > maxHostnameLen:
		return fmt.Errorf("%s %q is too long (maximum %d bytes)", what, s, maxHostnameLen)
	case !hostNameChars.MatchString(s):
		return fmt.Errorf("invalid %s format: %q%s", what, s, hostNameHint)
	}
	return nil
}

// checkExtraHost checks an --add-host entry: "name:address" (split at the
// first colon, so that an IPv6 address needs no brackets) or
// "name=address", the address an IP address or "host-gateway".
func checkExtraHost(s string) error {
	sep := ":"
	if strings.Contains(s, "=") {
		sep = "="
	}
	name, addr, ok := strings.Cut(s, sep)
	if !ok || name == "" {
		return fmt.Errorf("bad format for add-host: %q", s)
	}
	if !hostNameChars.MatchString(name) {
		return fmt.Errorf("bad format for add-host: %q%s", s, hostNameHint)
	}
	if addr == "host-gateway" {
		return nil
	}
	if _, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(addr, "["), "]")); err != nil {
		return fmt.Errorf("invalid IP address in add-host: %q", addr)
	}
	return nil
}

// checkDNSSearch checks a DNS search domain as Docker's --dns-search does:
// "." or labels of letters, digits and inner hyphens, a trailing dot
// allowed, shorter than 255 bytes, with a letter somewhere.
func checkDNSSearch(s string) error {
	s = strings.Trim(s, " ")
	if s == "." {
		return nil
	}
	bad := fmt.Errorf("%s is not a valid domain", s)
	name := strings.TrimSuffix(s, ".")
	if name == "" || len(name) >= 255 || !strings.ContainsFunc(name, isLetter) {
		return bad
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || label[0] == '-' || label[len(label)-1] == '-' ||
			strings.ContainsFunc(label, func(r rune) bool { return !isLetter(r) && !isDigit(r) && r != '-' }) {
			return bad
		}
	}
	return nil
}

func isSpaceOrControl(r rune) bool { return r <= ' ' || r == 0x7f }

func isLetter(r rune) bool { return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' }

func isDigit(r rune) bool { return r >= '0' && r <= '9' }
