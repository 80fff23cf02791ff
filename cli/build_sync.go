package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/moby/client"

	gclient "github.com/gantry/gantry/client"
	"github.com/gantry/gantry/ctxsync"
)

// syncContext is a local directory context that gantry build syncs to
// gantryd (POST /build/sync) instead of sending it whole as a tar.
type syncContext struct {
	root       string // absolute, symlinks resolved
	dockerfile string // slash-separated, inside root; its name when dockerfileData is set
	// dockerfileData is the Dockerfile when it is not in the context (from
	// stdin, or a path outside it): it goes in a header of the request.
	dockerfileData []byte
	excludes       []string // .dockerignore's patterns, with its exceptions
}

// errNoSync says the daemon does not offer POST /build/sync (dockerd, an
// older gantryd): the context goes as a tar.
var errNoSync = errors.New("the daemon does not sync build contexts")

// maxSyncDockerfile bounds a Dockerfile sent beside the synced context
// (in a header, api.DockerfileHeader): a larger one goes in a tar.
const maxSyncDockerfile = 256 << 10

// openSyncContext is the syncContext of the context argument arg when it
// is a local directory, else nil (stdin, a URL: a tar). A Dockerfile from
// stdin (read from stdin) or from outside the context goes beside the
// context, as BuildKit syncs it apart; one over maxSyncDockerfile makes
// the context a tar.
func openSyncContext(arg, dockerfile string, stdin io.Reader) (*syncContext, error) {
	if arg == "-" || strings.HasPrefix(arg, "http://") || strings.HasPrefix(arg, "https://") {
		return nil, nil
	}
	root, err := filepath.Abs(arg)
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(root); err != nil || !fi.IsDir() {
		return nil, nil // dirContext says what is wrong
	}
	if root, err = filepath.EvalSymlinks(root); err != nil {
		return nil, err
	}
	sc := &syncContext{root: root}
	if dockerfile == "-" {
		data, err := io.ReadAll(io.LimitReader(stdin, maxSyncDockerfile+1))
		if err != nil {
			return nil, fmt.Errorf("read Dockerfile from stdin: %w", err)
		}
		if len(data) > maxSyncDockerfile {
			return nil, errSyncDockerfile{io.MultiReader(bytes.NewReader(data), stdin)}
		}
		sc.dockerfile, sc.dockerfileData = "Dockerfile", data
	} else {
		rel, err := dockerfileRelPath(root, dockerfile)
		if err != nil {
			return nil, err
		}
		if rel == ".." || strings.HasPrefix(rel, "../") {
			data, err := readLimited(dockerfile, maxSyncDockerfile+1)
			if err != nil {
				return nil, err
			}
			if len(data) > maxSyncDockerfile {
				return nil, nil
			}
			sc.dockerfile, sc.dockerfileData = filepath.Base(dockerfile), data
		} else {
			sc.dockerfile = rel
		}
	}
	pm, err := readDockerignore(root, sc.dockerfile, sc.dockerfileData != nil)
	if err != nil {
		return nil, err
	}
	if pm != nil {
		for _, p := range pm.Patterns() {
			s := p.String()
			if p.Exclusion() {
				s = "!" + s
			}
			sc.excludes = append(sc.excludes, s)
		}
	}
	return sc, nil
}

// errSyncDockerfile is openSyncContext's answer to a Dockerfile on stdin
// too large to go beside the context: the context goes as a tar, the
// Dockerfile read from stdin, whose start was read already.
type errSyncDockerfile struct{ stdin io.Reader }

func (errSyncDockerfile) Error() string {
	return "the Dockerfile is too large to go beside the context"
}

// syncBuild asks gantryd for POST /build/sync with the build's query and
// headers, syncs the context over the upgraded connection (package
// ctxsync) and returns the build's JSON-message stream, which the caller
// reads to its end and closes. errNoSync means the daemon has no such
// endpoint; an error response is returned as the docker CLI words one.
func syncBuild(ctx context.Context, api *client.Client, sc *syncContext, q client.ImageBuildOptions, headers map[string]string, agents sshAgents) (io.ReadCloser, error) {
	conn, err := api.Dialer()(ctx)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	ok := false
	defer func() {
		if !ok {
			stop()
			conn.Close()
		}
	}()
	req, err := http.NewRequest(http.MethodPost, "/build/sync?"+syncQuery(q, ctxsync.Key(sc.root)).Encode(), http.NoBody)
	if err != nil {
		return nil, err
	}
	req.Host = "gantry"
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "gantry-context-sync")
	req.Header.Set("User-Agent", "Gantry-Client (linux)")
	auth, _ := json.Marshal(q.AuthConfigs)
	req.Header.Set("X-Registry-Config", base64.URLEncoding.EncodeToString(auth))
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	if agents != nil {
		req.Header.Set(gclient.SSHHeader, agents.ids())
	}
	if sc.dockerfileData != nil {
		req.Header.Set(gclient.DockerfileHeader, base64.StdEncoding.EncodeToString(sc.dockerfileData))
	}
	if err := req.Write(conn); err != nil {
		return nil, err
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return nil, err
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		resp.Body.Close()
		return nil, errNoSync
	case resp.StatusCode != http.StatusSwitchingProtocols:
		defer resp.Body.Close()
		var e struct{ Message string }
		if json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&e) != nil || e.Message == "" {
			e.Message = resp.Status
		}
		return nil, fmt.Errorf("Error response from daemon: %s", e.Message)
	}
	rest, err := ctxsync.Send(ctx, readWriter{br, conn}, sc.root, sc.excludes)
	if err != nil {
		// gantryd refused what was sent, or this side could not read
		// the context (worded as BuildKit's client words it).
		if msg, ok := strings.CutPrefix(err.Error(), "error from receiver: "); ok {
			return nil, fmt.Errorf("Error response from daemon: %s", msg)
		}
		return nil, fmt.Errorf("error from sender: %w", err)
	}
	end := func() error { stop(); return conn.Close() }
	if agents != nil {
		// The connection is a session carrying the output and the
		// agents' connections, unless gantryd failed before it (its
		// error message: JSON).
		br := bufio.NewReader(rest)
		if b, err := br.Peek(1); err == nil && b[0] != '{' {
			out, err := agents.forward(readWriteCloser{br, conn})
			if err != nil {
				return nil, err
			}
			ok = true
			return readCloser{out, func() error { out.Close(); return end() }}, nil
		}
		rest = br
	}
	ok = true
	return readCloser{rest, end}, nil
}

// readWriter reads from r (the connection's reader, which may have read
// ahead) and writes to the connection.
type readWriter struct {
	r io.Reader
	net.Conn
}

func (rw readWriter) Read(p []byte) (int, error) { return rw.r.Read(p) }

// readWriteCloser reads from r and writes to and closes the connection.
type readWriteCloser struct {
	r io.Reader
	io.WriteCloser
}

func (rw readWriteCloser) Read(p []byte) (int, error) { return rw.r.Read(p) }

// syncQuery is POST /build's query for q, as the Engine API client
// writes it, and the context's key.
func syncQuery(q client.ImageBuildOptions, key string) url.Values {
	v := url.Values{}
	v["t"] = q.Tags
	set := func(k string, b bool) {
		if b {
			v.Set(k, "1")
		}
	}
	set("q", q.SuppressOutput)
	set("nocache", q.NoCache)
	set("forcerm", q.ForceRemove)
	set("pull", q.PullParent)
	if q.Remove {
		v.Set("rm", "1")
	} else {
		v.Set("rm", "0")
	}
	for k, s := range map[string]string{"networkmode": q.NetworkMode, "target": q.Target, "dockerfile": q.Dockerfile} {
		if s != "" {
			v.Set(k, s)
		}
	}
	for k, x := range map[string]any{"buildargs": q.BuildArgs, "labels": q.Labels, "cachefrom": q.CacheFrom} {
		if b, err := json.Marshal(x); err == nil && string(b) != "null" {
			v.Set(k, string(b))
		}
	}
	v.Set("version", "1")
	v.Set("context", key)
	return v
}

// secretsHeader is the header map carrying --secret values, or nil.
func secretsHeader(secrets []string) (map[string]string, error) {
	if len(secrets) == 0 {
		return nil, nil
	}
	h, err := encodeSecrets(secrets, os.ReadFile, os.LookupEnv)
	if err != nil {
		return nil, err
	}
	return map[string]string{gclient.SecretsHeader: h}, nil
}
