package registry

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
)

// Docker Hub: references name docker.io; its registry API lives elsewhere.
const (
	hubDomain = "docker.io"
	hubHost   = "registry-1.docker.io"
)

// pingTTL is how long what a ping learned (the scheme that answered, the
// auth challenge) is trusted before the next operation pings again.
const pingTTL = time.Minute

// endpoint is one registry or mirror as pinged: the base URL that answered
// and the auth challenge its /v2/ gave.
type endpoint struct {
	base   string // "https://host[:port]" (a mirror may add a path)
	host   string // host[:port]: the key of certs.d, tokens and schemes
	client *http.Client
	pinged time.Time

	mu         sync.Mutex
	challenges []challenge
}

func (ep *endpoint) url(path string) string { return ep.base + path }

func (ep *endpoint) challenge() []challenge {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	return ep.challenges
}

func (ep *endpoint) setChallenge(chs []challenge) {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	ep.challenges = chs
}

// registryHost is the host[:port] that serves a reference's domain.
func registryHost(domain string) string {
	if domain == hubDomain || domain == "index.docker.io" {
		return hubHost
	}
	return domain
}

// origin returns the pinged endpoint of a registry host. Secure hosts are
// spoken to over verified HTTPS only; insecure ones (loopback and
// Config.Insecure) as Docker does: HTTPS without verification first, plain
// HTTP when that fails at the transport.
func (c *Client) origin(ctx context.Context, host string) (*endpoint, error) {
	if ep := c.cached(host); ep != nil {
		return ep, nil
	}
	secure := !c.insecure(ctx, host)
	bases := []string{"https://" + host}
	if !secure {
		bases = append(bases, "http://"+host)
	}
	var err error
	for _, base := range bases {
		var ep *endpoint
		if ep, err = c.ping(ctx, base, host, secure); err == nil {
			c.remember(host, ep)
			return ep, nil
		}
		if ctx.Err() != nil || !isTransport(err) {
			break
		}
	}
	return nil, err
}

// mirror returns the pinged endpoint of a mirror base URL.
func (c *Client) mirror(ctx context.Context, base string) (*endpoint, error) {
	if ep := c.cached(base); ep != nil {
		return ep, nil
	}
	u, err := parseMirror(base)
	if err != nil {
		return nil, err
	}
	ep, err := c.ping(ctx, u.String(), u.Host, !c.insecure(ctx, u.Host))
	if err != nil {
		return nil, err
	}
	c.remember(base, ep)
	return ep, nil
}

func parseMirror(base string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSuffix(base, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid registry mirror %q: it must be an http or https URL", base))
	}
	return u, nil
}

func (c *Client) cached(key string) *endpoint {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ep := c.endpoints[key]; ep != nil && time.Since(ep.pinged) < pingTTL {
		return ep
	}
	return nil
}

func (c *Client) remember(key string, ep *endpoint) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.endpoints[key] = ep
}

// ping asks base for /v2/: 200 or 401 means a registry is there; a 401
// carries the challenge later requests answer.
func (c *Client) ping(ctx context.Context, base, host string, secure bool) (*endpoint, error) {
	hc, err := c.httpClient(host, secure)
	if err != nil {
		return nil, err
	}
	return c.pingWith(ctx, base, host, hc)
}

// pingWith pings base with the HTTP client hc.
func (c *Client) pingWith(ctx context.Context, base, host string, hc *http.Client) (*endpoint, error) {
	ep := &endpoint{base: base, host: host, client: hc, pinged: time.Now()}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ep.url("/v2/"), nil)
	if err != nil {
		return nil, errdefs.ErrInvalidArgument.WithMessage(err.Error())
	}
	c.setUserAgent(req)
	resp, err := hc.Do(req)
	if err != nil {
		return nil, classed{err, errdefs.ErrUnavailable}
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusUnauthorized:
		ep.challenges = parseChallenges(resp.Header)
	default:
		return nil, errdefs.ErrUnavailable.WithMessage(fmt.Sprintf("%s is not a registry: GET /v2/ answered %s", base, resp.Status))
	}
	return ep, nil
}

// isTransport says err is a failure to exchange HTTP at all (refused,
// TLS, a plain-HTTP server), after which Docker tries the next scheme.
func isTransport(err error) bool {
	var ue *url.Error
	return errors.As(err, &ue)
}

// insecure says host[:port] is spoken to without TLS verification: loopback
// (Docker's default insecure range 127.0.0.0/8, and ::1), a host listed in
// Config.Insecure, or one whose address is in a listed CIDR.
func (c *Client) insecure(ctx context.Context, host string) bool {
	name := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		name = h
	}
	if name == "localhost" {
		return true
	}
	var ips []net.IP
	resolved := false
	if ip := net.ParseIP(name); ip != nil {
		ips, resolved = []net.IP{ip}, true
	}
	_, insecure := c.settings()
	for _, entry := range insecure {
		_, cidr, err := net.ParseCIDR(entry)
		if err != nil {
			if strings.EqualFold(entry, host) || strings.EqualFold(entry, name) {
				return true
			}
			continue
		}
		if !resolved {
			// Docker also resolves names to match CIDRs.
			resolved = true
			addrs, _ := net.DefaultResolver.LookupIPAddr(ctx, name)
			for _, a := range addrs {
				ips = append(ips, a.IP)
			}
		}
		for _, ip := range ips {
			if cidr.Contains(ip) {
				return true
			}
		}
	}
	for _, ip := range ips {
		if ip.IsLoopback() {
			return true
		}
	}
	return false
}

// httpClient makes the HTTP client of one endpoint: verified TLS with the
// system roots and certs.d (read afresh at each ping, as Docker reads it per
// operation), or unverified TLS for an insecure host. A redirect to another
// host drops the Authorization header, since registries redirect blobs to
// storage that must not see the registry's credentials.
func (c *Client) httpClient(host string, secure bool) (*http.Client, error) {
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: !secure}
	if secure && c.cfg.CertsDir != "" {
		if err := loadCertsDir(tlsConfig, filepath.Join(c.cfg.CertsDir, host)); err != nil {
			return nil, err
		}
	}
	return c.transportClient(tlsConfig), nil
}

// transportClient makes an HTTP client with tlsConfig (nil: the default)
// that drops credentials on redirects to another host.
func (c *Client) transportClient(tlsConfig *tls.Config) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsConfig
	tr.MaxIdleConnsPerHost = 8
	if c.dial != nil {
		tr.DialContext = c.dial
	}
	return &http.Client{Transport: tr, CheckRedirect: dropAuthOffHost}
}

func dropAuthOffHost(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	if req.URL.Host != via[0].URL.Host {
		req.Header.Del("Authorization")
	}
	return nil
}

// loadCertsDir reads Docker's certs.d layout for one host: every *.crt is a
// CA trusted besides the system roots, and each client.cert has its
// client.key. A missing directory is no error.
func loadCertsDir(cfg *tls.Config, dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read registry certificates: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		path := filepath.Join(dir, name)
		switch filepath.Ext(name) {
		case ".crt":
			if cfg.RootCAs == nil {
				if cfg.RootCAs, err = x509.SystemCertPool(); err != nil {
					cfg.RootCAs = x509.NewCertPool()
				}
			}
			pem, err := os.ReadFile(path)
			if err != nil {
				return fmt.Errorf("read registry CA: %w", err)
			}
			if !cfg.RootCAs.AppendCertsFromPEM(pem) {
				return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("no certificate found in %s", path))
			}
		case ".cert":
			key := strings.TrimSuffix(path, ".cert") + ".key"
			if _, err := os.Stat(key); err != nil {
				return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("missing key %s for client certificate %s. CA certificates must use the extension .crt", filepath.Base(key), name))
			}
			pair, err := tls.LoadX509KeyPair(path, key)
			if err != nil {
				return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("load client certificate %s: %v", path, err))
			}
			cfg.Certificates = append(cfg.Certificates, pair)
		case ".key":
			cert := strings.TrimSuffix(path, ".key") + ".cert"
			if _, err := os.Stat(cert); err != nil {
				return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("missing client certificate %s for key %s", filepath.Base(cert), name))
			}
		}
	}
	return nil
}

func (c *Client) setUserAgent(req *http.Request) {
	if c.cfg.UserAgent != "" {
		req.Header.Set("User-Agent", c.cfg.UserAgent)
	}
}
