package client

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"

	moby "github.com/moby/moby/client"
)

// DefaultHost is the daemon address used when neither -H nor GANTRY_HOST is set.
const DefaultHost = "unix:///run/gantry.sock"

// HostEnv names the environment variable that overrides DefaultHost.
const HostEnv = "GANTRY_HOST"

// Client is the Engine API client; it is moby's client, so every call takes an
// XxxOptions value and returns an XxxResult.
type Client = moby.Client

// ResolveHost returns flagHost when it is set, else $GANTRY_HOST, else DefaultHost.
// DOCKER_HOST is deliberately ignored.
func ResolveHost(flagHost string) string {
	if flagHost != "" {
		return flagHost
	}
	if h := os.Getenv(HostEnv); h != "" {
		return h
	}
	return DefaultHost
}

// New returns a client for host (a unix://, tcp:// or npipe:// address) that
// negotiates the API version with the daemon on its first request, and falls
// back to 1.24 when the daemon does not advertise one. It does not contact the
// daemon; an invalid address is the only error.
func New(host string) (*Client, error) {
	return NewWithHeaders(host, nil)
}

// NewWithHeaders is New with HTTP headers sent on every request.
func NewWithHeaders(host string, headers map[string]string) (*Client, error) {
	c, err := moby.New(
		moby.WithHost(host),
		moby.WithAPIVersionNegotiation(),
		moby.WithUserAgent("Gantry-Client (linux)"),
		moby.WithHTTPHeaders(headers),
	)
	if err != nil {
		return nil, fmt.Errorf("client for %s: %w", host, err)
	}
	return c, nil
}

// SecretsHeader is the request header of POST /build that carries gantry
// build's --secret values to gantryd, so that they never enter the build
// context or the query: base64 of a JSON object of id -> base64 content.
const SecretsHeader = "X-Gantry-Build-Secrets"

// SSHHeader names the SSH agents gantry build --ssh forwards (api.SSHHeader).
const SSHHeader = "X-Gantry-Build-SSH"

// DockerfileHeader carries a Dockerfile that is not in the synced context
// (api.DockerfileHeader).
const DockerfileHeader = "X-Gantry-Build-Dockerfile"

// EncodeSecrets is the SecretsHeader value of secrets.
func EncodeSecrets(secrets map[string][]byte) (string, error) {
	b, err := json.Marshal(secrets) // []byte values marshal as base64
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(b), nil
}
