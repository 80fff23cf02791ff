package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/distribution/reference"
	"github.com/docker/go-units"
	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/client"
	"github.com/moby/moby/client/pkg/jsonmessage"
	"github.com/spf13/cobra"

	gclient "github.com/gantry/gantry/client"
)

type buildOptions struct {
	context    string // PATH, URL or "-"
	tags       []string
	dockerfile string
	buildArgs  []string
	labels     []string
	noCache    bool
	target     string
	quiet      bool
	pull       bool
	network    string
	iidFile    string
	progress   string
	rm         bool
	forceRm    bool
	secrets    []string
	ssh        []string
	cacheFrom  []string
}

func newBuildCommand(c *Cli) *cobra.Command {
	var opts buildOptions
	cmd := &cobra.Command{
		Use:   "build [OPTIONS] PATH | URL | -",
		Short: "Build an image from a Dockerfile",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.context = args[0]
			return runBuild(cmd.Context(), c, opts)
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&opts.tags, "tag", "t", nil, `Name and optionally a tag in the "name:tag" format`)
	f.StringVarP(&opts.dockerfile, "file", "f", "", `Name of the Dockerfile (Default is "PATH/Dockerfile")`)
	f.StringArrayVar(&opts.buildArgs, "build-arg", nil, "Set build-time variables")
	f.StringArrayVar(&opts.labels, "label", nil, "Set metadata for an image")
	f.BoolVar(&opts.noCache, "no-cache", false, "Do not use cache when building the image")
	f.StringVar(&opts.target, "target", "", "Set the target build stage to build")
	f.BoolVarP(&opts.quiet, "quiet", "q", false, "Suppress the build output and print image ID on success")
	f.BoolVar(&opts.pull, "pull", false, "Always attempt to pull a newer version of the image")
	f.StringVar(&opts.network, "network", "default", "Set the networking mode for the RUN instructions during build")
	f.StringVar(&opts.iidFile, "iidfile", "", "Write the image ID to the file")
	f.StringVar(&opts.progress, "progress", "auto", "Set type of progress output (auto, plain, tty)")
	f.BoolVar(&opts.rm, "rm", true, "Remove intermediate containers after a successful build")
	f.BoolVar(&opts.forceRm, "force-rm", false, "Always remove intermediate containers")
	f.StringSliceVar(&opts.cacheFrom, "cache-from", nil, "Images to consider as cache sources")
	f.StringArrayVar(&opts.secrets, "secret", nil, `Secret to expose to RUN --mount=type=secret ("id=mysecret[,src=/local/secret]" or "id=mysecret,env=VAR")`)
	f.StringArrayVar(&opts.ssh, "ssh", nil, `SSH agent socket or keys to expose to RUN --mount=type=ssh ("default|<id>[=<socket>|<key>[,<key>]]")`)
	return cmd
}

// runBuild is docker build with the classic builder: it prepares the context
// (a directory filtered by .dockerignore, a tar or a Dockerfile on stdin, or a
// URL the daemon fetches), streams it to POST /build and renders the JSON
// message stream. A build error ends the command with the code the daemon
// gave it (a failing RUN's own exit status), or 1.
func runBuild(ctx context.Context, c *Cli, opts buildOptions) error {
	query, err := opts.toQuery()
	if err != nil {
		return err
	}
	tty, err := opts.ttyOutput(c.Out)
	if err != nil {
		return err
	}
	if opts.iidFile != "" {
		if err := os.Remove(opts.iidFile); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("Removing image ID file: %w", err)
		}
	}
	// As docker's: the upload's progress line and the stream go to stdout,
	// or are kept and shown on stderr only when a quiet build fails.
	var keptProgress, kept bytes.Buffer
	out := io.Writer(&lockedWriter{w: c.Out})
	progressOut := out
	if opts.quiet {
		out, progressOut = &kept, &lockedWriter{w: &keptProgress}
	}
	failed := func(err error) error {
		if opts.quiet {
			fmt.Fprint(c.Err, keptProgress.String()+kept.String())
		}
		return err
	}

	api, err := c.Client()
	if err != nil {
		return err
	}
	// Secrets go in a header of the request alone: never in the context,
	// the query or anything the daemon writes.
	headers, err := secretsHeader(opts.secrets)
	if err != nil {
		return err
	}
	if headers != nil {
		if api, err = gclient.NewWithHeaders(gclient.ResolveHost(c.host), headers); err != nil {
			return err
		}
		defer api.Close()
	}
	// SSH agents stay here: gantryd reaches them through the sync's
	// connection while a RUN step runs.
	agents, err := parseSSH(opts.ssh)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	// A local directory is synced: gantryd keeps a copy of it and asks
	// for what changed since the last build (a daemon without that
	// endpoint gets the tar).
	var stream io.ReadCloser
	var sendErr func() error
	stdin := c.In
	sc, err := openSyncContext(opts.context, opts.dockerfile, stdin)
	var large errSyncDockerfile
	if errors.As(err, &large) {
		stdin, err = large.stdin, nil
	}
	if err != nil {
		return fmt.Errorf("unable to prepare context: %w", err)
	}
	if sc != nil {
		query.Dockerfile = sc.dockerfile
		stream, err = syncBuild(ctx, api, sc, query, headers, agents)
		if err != nil && !errors.Is(err, errNoSync) {
			return failed(err)
		}
		if stream == nil && opts.dockerfile == "-" {
			stdin = bytes.NewReader(sc.dockerfileData) // read already
		}
		sendErr = func() error { return nil }
	}
	if stream == nil && agents != nil {
		return errors.New("--ssh needs a context directory that gantryd syncs\nhint: the agents are forwarded on POST /build/sync, which a context from stdin or a URL and dockerd do not use")
	}
	if stream == nil {
		bctx, err := openBuildContext(opts.context, opts.dockerfile, stdin)
		if err != nil {
			return fmt.Errorf("unable to prepare context: %w", err)
		}
		defer bctx.Close()
		query.Dockerfile = bctx.dockerfile
		query.RemoteContext = bctx.remote
		sendErr = bctx.err
		var body io.Reader
		if bctx.body != nil {
			body = bctx.body
			if !tty {
				body = &sendProgress{r: bctx.body, out: progressOut}
			}
		}
		res, err := api.ImageBuild(ctx, body, query)
		if err != nil {
			if serr := bctx.err(); serr != nil {
				err = serr
			}
			return failed(err)
		}
		stream = res.Body
	}
	defer stream.Close()

	var imageID string
	aux := func(m jsonstream.Message) {
		var r build.Result
		if err := json.Unmarshal(*m.Aux, &r); err == nil && r.ID != "" {
			imageID = r.ID
		}
	}
	if tty && !opts.quiet {
		err = newStepPrinter(out).display(stream, aux)
	} else {
		err = jsonmessage.DisplayJSONMessagesStream(stream, out, 0, false, aux)
	}
	if err != nil {
		if serr := sendErr(); serr != nil {
			err = serr
		}
		return failed(err)
	}
	if opts.quiet {
		fmt.Fprint(c.Out, kept.String())
		if imageID == "" {
			imageID = strings.TrimSpace(kept.String())
		}
	}
	if opts.iidFile != "" {
		if imageID == "" {
			return fmt.Errorf("Server did not provide an image ID. Cannot write %s", opts.iidFile)
		}
		if err := os.WriteFile(opts.iidFile, []byte(imageID), 0o666); err != nil {
			return err
		}
	}
	return nil
}

// toQuery validates the options and turns them into the request parameters
// docker's classic builder client sends.
func (o buildOptions) toQuery() (client.ImageBuildOptions, error) {
	for _, t := range o.tags {
		if _, err := reference.ParseNormalizedNamed(t); err != nil {
			return client.ImageBuildOptions{}, statusError{code: 125, msg: fmt.Sprintf("invalid argument %q for \"-t, --tag\" flag: %v", t, err)}
		}
	}
	q := client.ImageBuildOptions{
		Tags:           o.tags,
		SuppressOutput: o.quiet,
		NoCache:        o.noCache,
		Remove:         o.rm || o.forceRm,
		ForceRemove:    o.forceRm,
		PullParent:     o.pull,
		NetworkMode:    o.network,
		Target:         o.target,
		BuildArgs:      buildArgsMap(o.buildArgs, os.LookupEnv),
		Labels:         labelsMap(o.labels),
		CacheFrom:      o.cacheFrom,
		AuthConfigs:    map[string]registry.AuthConfig{}, // X-Registry-Config: e30= ("{}"), as docker sends
		Version:        build.BuilderV1,
	}
	return q, nil
}

// ttyOutput says whether the step-per-line display is used.
func (o buildOptions) ttyOutput(out io.Writer) (bool, error) {
	switch o.progress {
	case "auto", "":
		_, isTerm := terminalFd(out)
		return isTerm, nil
	case "plain":
		return false, nil
	case "tty":
		return true, nil
	}
	return false, statusError{code: 125, msg: fmt.Sprintf("invalid argument %q for \"--progress\" flag: must be auto, plain or tty", o.progress)}
}

// buildArgsMap turns --build-arg values into the buildargs parameter: K=V
// sets K, a bare K takes K's value from the environment, or null (the
// Dockerfile's default) when K is not set there, as docker does.
//
// SOURCE_DATE_EPOCH in the environment is sent as a build arg unless one
// is given, as buildx does, so that the build is reproducible.
func buildArgsMap(args []string, lookup func(string) (string, bool)) map[string]*string {
	epoch, hasEpoch := lookup("SOURCE_DATE_EPOCH")
	if len(args) == 0 && !hasEpoch {
		return nil
	}
	m := make(map[string]*string, len(args)+1)
	defer func() {
		if _, given := m["SOURCE_DATE_EPOCH"]; hasEpoch && !given {
			m["SOURCE_DATE_EPOCH"] = &epoch
		}
	}()
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			if env, set := lookup(k); set {
				v, ok = env, true
			}
		}
		if ok {
			m[k] = &v
		} else {
			m[k] = nil
		}
	}
	return m
}

// labelsMap turns --label K=V values into a map; a bare K is an empty label.
func labelsMap(labels []string) map[string]string {
	if len(labels) == 0 {
		return nil
	}
	m := make(map[string]string, len(labels))
	for _, l := range labels {
		k, v, _ := strings.Cut(l, "=")
		m[k] = v
	}
	return m
}

// sendProgress counts the context bytes as they are sent and, at the end,
// prints docker's (non-terminal) line "Sending build context to Docker
// daemon  2.048kB".
type sendProgress struct {
	r    io.Reader
	out  io.Writer
	n    int64
	done bool
}

func (s *sendProgress) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	s.n += int64(n)
	if err != nil && n == 0 && !s.done {
		s.done = true
		fmt.Fprintf(s.out, "Sending build context to Docker daemon %8v\r\r\n", units.HumanSize(float64(s.n)))
	}
	return n, err
}

// lockedWriter serializes writes from the upload and the stream display.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// maxSecret is the size limit of a secret, BuildKit's.
const maxSecret = 500 << 10

// encodeSecrets reads the --secret values (id=ID with src=FILE or
// env=VAR) and encodes them for the build request's header.
func encodeSecrets(specs []string, readFile func(string) ([]byte, error), lookup func(string) (string, bool)) (string, error) {
	secrets := map[string][]byte{}
	for _, spec := range specs {
		var id, src, env string
		for _, field := range strings.Split(spec, ",") {
			k, v, _ := strings.Cut(field, "=")
			switch strings.ToLower(k) {
			case "id":
				id = v
			case "src", "source":
				src = v
			case "env":
				env = v
			case "type":
				if v != "file" && v != "env" {
					return "", fmt.Errorf("invalid secret %q: unsupported type %q", spec, v)
				}
			default:
				return "", fmt.Errorf("invalid secret %q: unexpected key %q", spec, k)
			}
		}
		if id == "" {
			return "", fmt.Errorf("invalid secret %q: id= is required", spec)
		}
		var data []byte
		switch {
		case src != "":
			b, err := readFile(src)
			if err != nil {
				return "", fmt.Errorf("secret %s: %w", id, err)
			}
			data = b
		case env != "":
			v, ok := lookup(env)
			if !ok {
				return "", fmt.Errorf("secret %s: environment variable %s is not set", id, env)
			}
			data = []byte(v)
		default:
			return "", fmt.Errorf("invalid secret %q: src= or env= is required", spec)
		}
		if len(data) > maxSecret {
			return "", fmt.Errorf("secret %s: larger than 500 KiB", id)
		}
		secrets[id] = data
	}
	return gclient.EncodeSecrets(secrets)
}
