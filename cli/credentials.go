package cli

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/registry"
)

// hubServer is the key of Docker Hub credentials in the config file.
const hubServer = "https://index.docker.io/v1/"

// credentials reads and writes registry credentials where the docker CLI
// keeps them: the "auths" of config.json in $DOCKER_CONFIG or ~/.docker,
// or the credential helper it names ("credsStore" for every registry,
// "credHelpers" per registry: docker-credential-<name> get/store/erase).
type credentials struct {
	path string
	raw  map[string]json.RawMessage // the whole file, so that writing keeps what we do not know
	cfg  struct {
		Auths       map[string]authEntry `json:"auths"`
		CredsStore  string               `json:"credsStore"`
		CredHelpers map[string]string    `json:"credHelpers"`
	}
}

type authEntry struct {
	Auth          string `json:"auth,omitempty"` // base64 of "user:password"
	IdentityToken string `json:"identitytoken,omitempty"`
}

// loadCredentials reads the config file; a missing one is empty.
func loadCredentials() (*credentials, error) {
	dir := os.Getenv("DOCKER_CONFIG")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return nil, err
		}
		dir = filepath.Join(home, ".docker")
	}
	c := &credentials{path: filepath.Join(dir, "config.json"), raw: map[string]json.RawMessage{}}
	data, err := os.ReadFile(c.path)
	if errors.Is(err, os.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, &c.raw); err != nil {
		return nil, fmt.Errorf("loading config file %s: %w", c.path, err)
	}
	if err := json.Unmarshal(data, &c.cfg); err != nil {
		return nil, fmt.Errorf("loading config file %s: %w", c.path, err)
	}
	return c, nil
}

// serverKey is the config-file key of the registry an image lives on.
func serverKey(image string) string {
	ref, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return hubServer // the daemon reports the bad reference
	}
	return normalizeServer(reference.Domain(ref))
}

// normalizeServer turns what a user types after `login` into the key:
// Docker Hub's URL, or host[:port] without scheme or path.
func normalizeServer(server string) string {
	host := strings.TrimPrefix(strings.TrimPrefix(server, "https://"), "http://")
	host, _, _ = strings.Cut(host, "/")
	switch host {
	case "", "docker.io", "index.docker.io", "registry-1.docker.io":
		return hubServer
	}
	return host
}

// helper names the credential helper for server, "" for the file itself.
func (c *credentials) helper(server string) string {
	if h := c.cfg.CredHelpers[server]; h != "" {
		return h
	}
	return c.cfg.CredsStore
}

// get returns the credentials stored for server; none is anonymous.
func (c *credentials) get(server string) (registry.AuthConfig, error) {
	auth := registry.AuthConfig{ServerAddress: server}
	if h := c.helper(server); h != "" {
		var out struct{ Username, Secret string }
		data, err := runHelper(h, "get", server)
		if err != nil {
			if strings.Contains(err.Error(), "credentials not found") {
				return auth, nil
			}
			return auth, err
		}
		if err := json.Unmarshal(data, &out); err != nil {
			return auth, fmt.Errorf("docker-credential-%s get: %w", h, err)
		}
		if out.Username == "<token>" {
			auth.IdentityToken = out.Secret
		} else {
			auth.Username, auth.Password = out.Username, out.Secret
		}
		return auth, nil
	}
	e, ok := c.cfg.Auths[server]
	if !ok {
		return auth, nil
	}
	auth.IdentityToken = e.IdentityToken
	if e.Auth != "" {
		data, err := base64.StdEncoding.DecodeString(e.Auth)
		if err != nil {
			return auth, fmt.Errorf("invalid auth of %s in %s: %w", server, c.path, err)
		}
		auth.Username, auth.Password, _ = strings.Cut(string(data), ":")
	}
	return auth, nil
}

// store saves auth for server (an identity token instead of the password
// when the registry issued one) and writes the file.
func (c *credentials) store(server string, auth registry.AuthConfig) error {
	if h := c.helper(server); h != "" {
		user, secret := auth.Username, auth.Password
		if auth.IdentityToken != "" {
			user, secret = "<token>", auth.IdentityToken
		}
		data, _ := json.Marshal(map[string]string{"ServerURL": server, "Username": user, "Secret": secret})
		if _, err := runHelper(h, "store", string(data)); err != nil {
			return err
		}
		return c.setAuths(server, &authEntry{}) // docker keeps an empty entry as the record of the login
	}
	e := authEntry{IdentityToken: auth.IdentityToken}
	if auth.IdentityToken == "" {
		e.Auth = base64.StdEncoding.EncodeToString([]byte(auth.Username + ":" + auth.Password))
	} else {
		e.Auth = base64.StdEncoding.EncodeToString([]byte(auth.Username + ":"))
	}
	return c.setAuths(server, &e)
}

// erase forgets the credentials of server; it reports whether there were
// any.
func (c *credentials) erase(server string) (bool, error) {
	_, had := c.cfg.Auths[server]
	if h := c.helper(server); h != "" {
		if _, err := runHelper(h, "erase", server); err != nil && !strings.Contains(err.Error(), "credentials not found") {
			return had, err
		}
		had = true
	}
	if _, ok := c.cfg.Auths[server]; !ok {
		return had, nil
	}
	return had, c.setAuths(server, nil)
}

// setAuths sets (or, with nil, removes) the auths entry of server and
// writes the file, keeping its other contents.
func (c *credentials) setAuths(server string, e *authEntry) error {
	if c.cfg.Auths == nil {
		c.cfg.Auths = map[string]authEntry{}
	}
	if e == nil {
		delete(c.cfg.Auths, server)
	} else {
		c.cfg.Auths[server] = *e
	}
	auths, err := json.Marshal(c.cfg.Auths)
	if err != nil {
		return err
	}
	c.raw["auths"] = auths
	data, err := json.MarshalIndent(c.raw, "", "\t")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(c.path), 0o700); err != nil {
		return err
	}
	tmp := c.path + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, c.path)
}

// runHelper runs docker-credential-<name> <verb> with input on stdin, as
// the credential-helper protocol says, and returns its stdout. Its own
// message is the error.
func runHelper(name, verb, input string) ([]byte, error) {
	cmd := exec.Command("docker-credential-"+name, verb)
	cmd.Stdin = strings.NewReader(input)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stdout.String() + " " + stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return nil, fmt.Errorf("docker-credential-%s %s: %s", name, verb, msg)
	}
	return stdout.Bytes(), nil
}

// encodeAuth is the X-Registry-Auth form of auth: base64url JSON.
func encodeAuth(auth registry.AuthConfig) (string, error) {
	data, err := json.Marshal(auth)
	if err != nil {
		return "", err
	}
	return base64.URLEncoding.EncodeToString(data), nil
}

// registryAuth is the X-Registry-Auth value for pulling or pushing image.
func registryAuth(image string) (string, error) {
	creds, err := loadCredentials()
	if err != nil {
		return "", err
	}
	auth, err := creds.get(serverKey(image))
	if err != nil {
		return "", err
	}
	return encodeAuth(auth)
}
