package registry

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

// hostsFile is the name of containerd's per-registry host configuration:
// <CertsDir>/<host[:port]>/hosts.toml, or <CertsDir>/_default/hosts.toml
// for a registry without a directory of its own.
const (
	hostsFile   = "hosts.toml"
	defaultHost = "_default"
)

// The capabilities of a host: resolve a tag to a manifest, pull manifests
// and blobs by digest, push.
const (
	capPull    = "pull"
	capResolve = "resolve"
	capPush    = "push"
)

// hostsDoc is hosts.toml as containerd writes it. The top-level fields
// describe the server (the upstream registry); each [host."URL"] table a
// mirror tried before it, in the order of the file. Keys Gantry does not
// know, and the ones it does not implement (header, override_path = true),
// are refused.
type hostsDoc struct {
	Server string `toml:"server"`
	hostFields
	Host map[string]hostFields `toml:"host"`
}

type hostFields struct {
	Capabilities *[]string `toml:"capabilities"`
	SkipVerify   bool      `toml:"skip_verify"`
	CA           any       `toml:"ca"`     // a path or a list of paths
	Client       any       `toml:"client"` // a cert path, [cert, key], or a list of those
	Header       any       `toml:"header"`
	OverridePath bool      `toml:"override_path"`
}

// hostConfig is one host of a registry as configured: where it is, what it
// may be asked, and how to trust it.
type hostConfig struct {
	base         string // scheme://host[:port][/path], without the trailing /v2
	host         string // host[:port] of base
	capabilities []string
	tls          *tls.Config // nil for plain HTTP
}

func (h hostConfig) can(capability string) bool { return slices.Contains(h.capabilities, capability) }

// registryHosts is the configuration of one registry: its mirrors in order,
// then its server.
type registryHosts struct {
	mirrors []hostConfig
	server  hostConfig
}

// loadHosts reads the hosts.toml of the registry host (host[:port] as
// references name it: docker.io for Docker Hub), falling back to
// _default/hosts.toml. It returns nil when neither exists, or when there
// is no CertsDir. A file that does not parse, names an unknown key or
// capability, or asks for what Gantry does not do is an invalid-argument
// error naming the file.
func (c *Client) loadHosts(host string) (*registryHosts, error) {
	if c.cfg.CertsDir == "" {
		return nil, nil
	}
	for _, dir := range []string{hostsDirName(host), defaultHost} {
		dir = filepath.Join(c.cfg.CertsDir, dir)
		b, err := os.ReadFile(filepath.Join(dir, hostsFile))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read registry hosts: %w", err)
		}
		hosts, err := parseHosts(b, dir, host)
		if err != nil {
			return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("%s: %v", filepath.Join(dir, hostsFile), err))
		}
		return hosts, nil
	}
	return nil, nil
}

// hostsDirName is the directory of a registry under CertsDir: the name in
// references (docker.io, not registry-1.docker.io), as containerd's. A name
// that could leave CertsDir is given a directory that cannot exist.
func hostsDirName(host string) string {
	if host == "index.docker.io" {
		host = hubDomain
	}
	if host == "" || host == "." || host == ".." || strings.ContainsAny(host, `/\`) {
		return "\x00invalid"
	}
	return host
}

// parseHosts decodes one hosts.toml; dir resolves relative CA and client
// certificate paths; host is the registry's name, the default server being
// https://<its registry host>.
func parseHosts(b []byte, dir, host string) (*registryHosts, error) {
	var doc hostsDoc
	dec := toml.NewDecoder(bytes.NewReader(b)).DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		var strict *toml.StrictMissingError
		if errors.As(err, &strict) {
			return nil, fmt.Errorf("unsupported key: %s", strings.TrimSpace(strict.String()))
		}
		return nil, err
	}
	order, err := hostOrder(b)
	if err != nil {
		return nil, err
	}
	server := doc.Server
	if server == "" {
		server = "https://" + registryHost(host)
	}
	hosts := &registryHosts{}
	if hosts.server, err = newHostConfig(server, doc.hostFields, dir); err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	for _, name := range order {
		h, err := newHostConfig(name, doc.Host[name], dir)
		if err != nil {
			return nil, fmt.Errorf("host %q: %w", name, err)
		}
		hosts.mirrors = append(hosts.mirrors, h)
	}
	return hosts, nil
}

// hostOrder lists the [host."URL"] tables of a hosts.toml in the order of
// the file (decoding into a map loses it, and mirrors are tried in order).
func hostOrder(b []byte) ([]string, error) {
	var order []string
	p := unstable.Parser{}
	p.Reset(b)
	for p.NextExpression() {
		e := p.Expression()
		var key unstable.Iterator
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			key = e.Children()
		case unstable.KeyValue:
			key = e.Key()
		default:
			continue
		}
		var parts []string
		for key.Next() {
			parts = append(parts, string(key.Node().Data))
		}
		if len(parts) >= 2 && parts[0] == "host" && !slices.Contains(order, parts[1]) {
			order = append(order, parts[1])
		}
	}
	return order, p.Error()
}

// newHostConfig checks one host's fields and makes its TLS configuration.
func newHostConfig(rawURL string, f hostFields, dir string) (hostConfig, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return hostConfig{}, fmt.Errorf("%q is not an http or https URL", rawURL)
	}
	if f.Header != nil {
		return hostConfig{}, errors.New("header is not supported by gantry")
	}
	if f.OverridePath {
		return hostConfig{}, errors.New("override_path is not supported by gantry")
	}
	// containerd appends /v2 to the path unless it ends with it; Gantry's
	// requests name /v2/... themselves.
	p := strings.TrimSuffix(path.Clean("/"+u.Path), "/")
	p = strings.TrimSuffix(p, "/v2")
	h := hostConfig{base: u.Scheme + "://" + u.Host + p, host: u.Host}
	if f.Capabilities == nil {
		h.capabilities = []string{capPull, capResolve, capPush}
	} else {
		for _, cp := range *f.Capabilities {
			if cp != capPull && cp != capResolve && cp != capPush {
				return hostConfig{}, fmt.Errorf("unknown capability %q: it must be pull, resolve or push", cp)
			}
		}
		h.capabilities = slices.Clone(*f.Capabilities)
		if h.can(capResolve) && !h.can(capPull) {
			return hostConfig{}, errors.New(`capability "resolve" without "pull" is not supported by gantry: the host that resolves a tag also serves its content`)
		}
	}
	cas, err := stringList(f.CA, "ca")
	if err != nil {
		return hostConfig{}, err
	}
	clients, err := clientPairs(f.Client)
	if err != nil {
		return hostConfig{}, err
	}
	if u.Scheme == "http" {
		if f.SkipVerify || len(cas) > 0 || len(clients) > 0 {
			return hostConfig{}, errors.New("skip_verify, ca and client need an https URL")
		}
		return h, nil
	}
	h.tls = &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: f.SkipVerify}
	for _, ca := range cas {
		pem, err := os.ReadFile(relTo(dir, ca))
		if err != nil {
			return hostConfig{}, fmt.Errorf("read ca: %w", err)
		}
		if h.tls.RootCAs == nil {
			if h.tls.RootCAs, err = x509.SystemCertPool(); err != nil {
				h.tls.RootCAs = x509.NewCertPool()
			}
		}
		if !h.tls.RootCAs.AppendCertsFromPEM(pem) {
			return hostConfig{}, fmt.Errorf("no certificate found in %s", ca)
		}
	}
	for _, pair := range clients {
		cert, key := relTo(dir, pair[0]), pair[1]
		if key == "" {
			return hostConfig{}, fmt.Errorf("client certificate %s has no key: give [cert, key]", pair[0])
		}
		kp, err := tls.LoadX509KeyPair(cert, relTo(dir, key))
		if err != nil {
			return hostConfig{}, fmt.Errorf("load client certificate %s: %w", pair[0], err)
		}
		h.tls.Certificates = append(h.tls.Certificates, kp)
	}
	return h, nil
}

// stringList reads a TOML value that is a string or a list of strings.
func stringList(v any, key string) ([]string, error) {
	switch v := v.(type) {
	case nil:
		return nil, nil
	case string:
		return []string{v}, nil
	case []any:
		var out []string
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("%s: want a string or a list of strings", key)
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, fmt.Errorf("%s: want a string or a list of strings", key)
}

// clientPairs reads containerd's client key: "cert" (refused later: a key
// is needed), ["cert", "key"], or a list of those.
func clientPairs(v any) ([][2]string, error) {
	bad := errors.New(`client: want "cert.pem", ["cert.pem", "key.pem"] or a list of those`)
	pairOf := func(v any) ([2]string, bool) {
		switch v := v.(type) {
		case string:
			return [2]string{v, ""}, true
		case []any:
			l, err := stringList(v, "client")
			if err != nil || len(l) == 0 || len(l) > 2 {
				return [2]string{}, false
			}
			if len(l) == 1 {
				return [2]string{l[0], ""}, true
			}
			return [2]string{l[0], l[1]}, true
		}
		return [2]string{}, false
	}
	switch v := v.(type) {
	case nil:
		return nil, nil
	case string:
		p, _ := pairOf(v)
		return [][2]string{p}, nil
	case []any:
		if _, err := stringList(v, "client"); err == nil {
			p, ok := pairOf(v)
			if !ok {
				return nil, bad
			}
			return [][2]string{p}, nil
		}
		var out [][2]string
		for _, e := range v {
			p, ok := pairOf(e)
			if !ok {
				return nil, bad
			}
			out = append(out, p)
		}
		return out, nil
	}
	return nil, bad
}

func relTo(dir, p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}

// configured returns the pinged endpoint of a host of a hosts.toml.
func (c *Client) configured(ctx context.Context, h hostConfig) (*endpoint, error) {
	key := "hosts.toml " + h.base
	if ep := c.cached(key); ep != nil {
		return ep, nil
	}
	ep, err := c.pingWith(ctx, h.base, h.host, c.transportClient(h.tls))
	if err != nil {
		return nil, err
	}
	c.remember(key, ep)
	return ep, nil
}

// pullEndpoints returns, in the order to try them, the endpoints that may
// serve a pull from domain: the hosts.toml mirrors that may resolve a tag
// (pull by digest, when byDigest), then for Docker Hub the
// --registry-mirror URLs, then the server (hosts.toml's, else the registry
// itself). Each is pinged when its turn comes.
func (c *Client) pullEndpoints(domain string, byDigest bool) ([]func(context.Context) (*endpoint, error), error) {
	hosts, err := c.loadHosts(domain)
	if err != nil {
		return nil, err
	}
	need := capResolve
	if byDigest {
		need = capPull
	}
	var steps []func(context.Context) (*endpoint, error)
	if hosts != nil {
		for _, h := range hosts.mirrors {
			if h.can(need) {
				steps = append(steps, func(ctx context.Context) (*endpoint, error) { return c.configured(ctx, h) })
			}
		}
	}
	if domain == hubDomain {
		mirrors, _ := c.settings()
		for _, m := range mirrors {
			steps = append(steps, func(ctx context.Context) (*endpoint, error) { return c.mirror(ctx, m) })
		}
	}
	switch {
	case hosts == nil:
		steps = append(steps, func(ctx context.Context) (*endpoint, error) { return c.origin(ctx, registryHost(domain)) })
	case hosts.server.can(need):
		steps = append(steps, func(ctx context.Context) (*endpoint, error) { return c.configured(ctx, hosts.server) })
	case len(steps) == 0:
		return nil, errdefs.ErrNotFound.WithMessage(fmt.Sprintf("no host of %s may %s: see its %s", domain, need, hostsFile))
	}
	return steps, nil
}

// pullFrom tries fn at each endpoint of pullEndpoints in turn, falling back
// to the next when an endpoint fails in any way, and returns the first
// success or the last failure.
func pullFrom[T any](ctx context.Context, c *Client, ref reference.Named, fn func(*endpoint) (T, error)) (T, error) {
	var zero T
	_, byDigest := ref.(reference.Digested)
	steps, err := c.pullEndpoints(reference.Domain(ref), byDigest)
	if err != nil {
		return zero, err
	}
	for _, step := range steps {
		var ep *endpoint
		if ep, err = step(ctx); err == nil {
			var v T
			if v, err = fn(ep); err == nil {
				return v, nil
			}
		}
		if ctx.Err() != nil {
			return zero, err
		}
	}
	return zero, err
}

// server returns the endpoint of a registry's server: hosts.toml's when it
// names one, else the registry itself. capability, when not empty, is what
// the server must allow.
func (c *Client) server(ctx context.Context, domain, capability string) (*endpoint, error) {
	hosts, err := c.loadHosts(domain)
	if err != nil {
		return nil, err
	}
	if hosts == nil {
		return c.origin(ctx, registryHost(domain))
	}
	if capability != "" && !hosts.server.can(capability) {
		return nil, errdefs.ErrPermissionDenied.WithMessage(fmt.Sprintf("the server of %s may not %s: see its %s", domain, capability, hostsFile))
	}
	return c.configured(ctx, hosts.server)
}

// pushEndpoint returns where a push to domain goes: the first hosts.toml
// mirror with the push capability, else the server.
func (c *Client) pushEndpoint(ctx context.Context, domain string) (*endpoint, error) {
	hosts, err := c.loadHosts(domain)
	if err != nil {
		return nil, err
	}
	if hosts != nil {
		for _, h := range hosts.mirrors {
			if h.can(capPush) {
				return c.configured(ctx, h)
			}
		}
	}
	return c.server(ctx, domain, capPush)
}
