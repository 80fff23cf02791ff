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
	"slices"
	"strings"

	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/registry"

	"github.com/gantry/gantry/internal/atomicfile"
	"github.com/gantry/gantry/internal/serveraddr"
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
		Auths       map[string]json.RawMessage `json:"auths"` // each entry as written, so that writing keeps its other fields
		CredsStore  string                     `json:"credsStore"`
		CredHelpers map[string]string          `json:"credHelpers"`
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
	switch host := serveraddr.Host(server); host {
	case "", serveraddr.Hub:
		return hubServer
	default:
		return host
	}
}

// helper names the credential helper for server, "" for the file itself.
func (c *credentials) helper(server string) string {
	if h := c.cfg.CredHelpers[server]; h != "" {
		return h
	}
	return c.cfg.CredsStore
}

// keys returns the config-file keys that name the registry server (a
// normalized key): server itself first, then the auths keys that
// normalize to it (the docker CLI may store "https://host:5000" or a URL
// with a path), sorted.
func (c *credentials) keys(server string) []string {
	keys := []string{server}
	var others []string
	for k := range c.cfg.Auths {
		if k != server && normalizeServer(k) == server {
			others = append(others, k)
		}
	}
	slices.Sort(others)
	return append(keys, others...)
}

// get returns the credentials stored for server, under its key or, as the
// docker CLI's file store, another key naming the same host; none is
// anonymous.
func (c *credentials) get(server string) (registry.AuthConfig, error) {
	for _, k := range c.keys(server) {
		auth, found, err := c.getKey(k)
		if err != nil || found {
			auth.ServerAddress = server
			return auth, err
		}
	}
	return registry.AuthConfig{ServerAddress: server}, nil
}

// getKey returns the credentials stored under the config-file key, and
// whether there are any.
func (c *credentials) getKey(key string) (registry.AuthConfig, bool, error) {
	var auth registry.AuthConfig
	if h := c.helper(key); h != "" {
		var out struct{ Username, Secret string }
		data, err := runHelper(h, "get", key)
		if err != nil {
			if strings.Contains(err.Error(), "credentials not found") {
				return auth, false, nil
			}
			return auth, false, err
		}
		if err := json.Unmarshal(data, &out); err != nil {
			return auth, false, fmt.Errorf("docker-credential-%s get: %w", h, err)
		}
		if out.Username == "<token>" {
			auth.IdentityToken = out.Secret
		} else {
			auth.Username, auth.Password = out.Username, out.Secret
		}
		return auth, true, nil
	}
	raw, ok := c.cfg.Auths[key]
	if !ok {
		return auth, false, nil
	}
	var e authEntry
	if err := json.Unmarshal(raw, &e); err != nil {
		return auth, false, fmt.Errorf("invalid auths entry of %s in %s: %w", key, c.path, err)
	}
	auth.IdentityToken = e.IdentityToken
	if e.Auth != "" {
		data, err := base64.StdEncoding.DecodeString(e.Auth)
		if err != nil {
			return auth, false, fmt.Errorf("invalid auth of %s in %s: %w", key, c.path, err)
		}
		auth.Username, auth.Password, _ = strings.Cut(string(data), ":")
	}
	return auth, true, nil
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

// erase forgets the credentials of server, under every key that names it
// (keys), as docker logout does: it reports false, erasing nothing, when
// the file has no entry for it. A credential helper that fails to erase is
// only reported to warn; the file is written without the entries.
func (c *credentials) erase(server string, warn func(error)) (bool, error) {
	var found []string
	for _, k := range c.keys(server) {
		if _, ok := c.cfg.Auths[k]; ok {
			found = append(found, k)
		}
	}
	if len(found) == 0 {
		return false, nil
	}
	for _, k := range found {
		if h := c.helper(k); h != "" {
			if _, err := runHelper(h, "erase", k); err != nil && !strings.Contains(err.Error(), "credentials not found") {
				warn(err)
			}
		}
		delete(c.cfg.Auths, k)
	}
	return true, c.writeAuths()
}

// setAuths replaces the auths entry of server by e and writes the file,
// keeping its other contents.
func (c *credentials) setAuths(server string, e *authEntry) error {
	data, err := json.Marshal(e)
	if err != nil {
		return err
	}
	if c.cfg.Auths == nil {
		c.cfg.Auths = map[string]json.RawMessage{}
	}
	c.cfg.Auths[server] = data
	return c.writeAuths()
}

// writeAuths writes the file with the auths entries of c, keeping its
// other contents. A symlinked file is written at its target; the file
// keeps its mode (0600 when new). The file is replaced atomically.
func (c *credentials) writeAuths() error {
	auths, err := json.Marshal(c.cfg.Auths)
	if err != nil {
		return err
	}
	c.raw["auths"] = auths
	data, err := json.MarshalIndent(c.raw, "", "\t")
	if err != nil {
		return err
	}
	path := c.path
	if target, err := filepath.EvalSymlinks(path); err == nil {
		path = target
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	mode := os.FileMode(0o600)
	if fi, err := os.Stat(path); err == nil {
		mode = fi.Mode().Perm()
	}
	return atomicfile.Write(path, append(data, '\n'), mode)
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
