package builder

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"path"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/moby/sys/user"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/gantry/gantry/content"
	"github.com/gantry/gantry/dockerfile"
	"github.com/gantry/gantry/image"
	"github.com/gantry/gantry/layer"
)

// Config is what a Builder works with.
type Config struct {
	// Root is the directory of the cache records (<data-root>/builder).
	Root string
	// TmpDir is where step snapshots are staged; it must be on the
	// filesystem of the layer store.
	TmpDir  string
	Content *content.Store
	Layers  *layer.Store
	Images  *image.Store
	Runner  Runner
	GC      GC
	Log     *slog.Logger
	// IDMap, unless empty, runs RUN steps in user namespaces with this
	// mapping (the daemon's --userns-remap); see layer.WithIDMap.
	IDMap user.IdentityMapping
}

// GC is the garbage collection of the stores a Builder writes to. A step
// leases what it builds on (its parent's layers and blobs, the images it
// copies from) while it runs, and holds GC for reading only while it writes
// its layer and records its image, so that collection never sees a layer
// no image references yet.
type GC interface {
	// RLock holds collection off until RUnlock.
	RLock()
	RUnlock()
	// Lease keeps blobs and layers (by chain ID, with their parents) from
	// collection until release is called. What exists when Lease returns
	// stays until then. The caller must not hold RLock.
	Lease(blobs, chains []digest.Digest) (release func())
}

// Builder runs builds. It is safe for concurrent use.
type Builder struct {
	cfg      Config
	cache    *cache
	mounts   *cacheMounts
	contexts *contextPool // contexts left for the next build (ExtractContext)
	memo     *itemMemo    // the COPY sources' digests of unchanged synced contexts
}

// New returns a Builder keeping its cache records under cfg.Root.
func New(cfg Config) (*Builder, error) {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	c, err := newCache(cfg.Root)
	if err != nil {
		return nil, fmt.Errorf("open build cache: %w", err)
	}
	m, err := newCacheMounts(filepath.Join(cfg.Root, "mounts"))
	if err != nil {
		return nil, fmt.Errorf("open build cache mounts: %w", err)
	}
	ctxs, err := newContextPool(filepath.Join(cfg.Root, "received"), cfg.TmpDir)
	if err != nil {
		return nil, fmt.Errorf("open build contexts: %w", err)
	}
	return &Builder{cfg: cfg, cache: c, mounts: m, contexts: ctxs, memo: newItemMemo()}, nil
}

// Options are the parameters of one build.
type Options struct {
	// ContextDir is the extracted build context (see ExtractContext).
	ContextDir string
	// ContextSums are the digests ExtractContext took of its files (nil:
	// the files are read to digest them).
	ContextSums *ContextSums
	// Dockerfile is the Dockerfile's path inside the context ("" means
	// "Dockerfile").
	Dockerfile string
	// DockerfileData, when not nil, is the Dockerfile, which is not in the
	// context (gantry build -f - or a Dockerfile outside the context, sent
	// beside its synced context, as BuildKit's client sends it); Dockerfile
	// is then its name.
	DockerfileData []byte
	Tags           []string
	BuildArgs      map[string]string
	Labels         map[string]string
	Target         string
	NoCache        bool
	// Quiet prints only the image ID at the end (and everything on failure).
	Quiet bool
	// Network is the network of RUN steps: "host" or "none".
	Network  string
	ShmSize  int64
	Platform string
	// Pull fetches images FROM and COPY --from name that are missing, or
	// all of them when AlwaysPull; nil means they must be local.
	Pull       Puller
	AlwaysPull bool
	// CacheFrom are images (local, by name or ID) whose steps the build
	// may reuse, as dockerd's classic builder does with --cache-from.
	CacheFrom []string
	// Secrets are the build's secrets by id, for RUN --mount=type=secret:
	// mounted from memory, never in a layer, a key or the data root.
	Secrets map[string][]byte
	// SSH are the client's SSH agents for RUN --mount=type=ssh (nil: the
	// client forwards none, as the docker CLI).
	SSH SSHAgents
}

// SSHAgents reach the SSH agents a client forwards for a build (gantry
// build --ssh), by id ("default" unless named).
type SSHAgents interface {
	// Has says whether the client forwards an agent of that id.
	Has(id string) bool
	// Dial opens a connection to the agent id: the agent protocol's
	// bytes go through it to the client's agent.
	Dial(ctx context.Context, id string) (net.Conn, error)
}

// Output receives a build's progress: text for the user and, at the end of
// every stage, the ID of its image. An error from it (the client is gone)
// stops the build.
type Output interface {
	Stream(text string) error
	Aux(id string) error
}

// ExitError is a RUN step whose command exited with a non-zero code; the
// docker CLI exits with Code.
type ExitError struct {
	Command string
	Code    int
}

func (e *ExitError) Error() string {
	return fmt.Sprintf("The command '%s' returned a non-zero code: %d", e.Command, e.Code)
}

// ExitCode is the command's exit code.
func (e *ExitError) ExitCode() int { return e.Code }

// Build runs the Dockerfile of opts.ContextDir and returns the ID of the
// image built, after tagging it with opts.Tags. Errors found before the
// build starts (a Dockerfile that does not parse, a bad tag or target) are
// invalid-argument errors returned before anything is written to out;
// afterwards out has received the progress up to the failure, ending with
// the ID of the last step that succeeded. A failed or cancelled build tags
// nothing and leaves no container or mount behind; the images of the steps
// that succeeded stay, as cache.
func (b *Builder) Build(ctx context.Context, opts Options, out Output) (digest.Digest, error) {
	r, err := b.prepare(opts, out)
	if err != nil {
		return "", err
	}
	defer r.release()
	err = r.cacheSources(ctx)
	var id digest.Digest
	if err == nil {
		id, err = r.stages(ctx)
	}
	if err == nil {
		err = r.finish(ctx, id)
	}
	if err != nil {
		if r.lastID != "" {
			r.print("The last successful step was " + short(r.lastID) + "\n")
		}
		if q, ok := r.out.(*quietOutput); ok {
			q.flush()
		}
		return "", err
	}
	return id, nil
}

// run is the state of one build.
type run struct {
	b       *Builder
	opts    Options
	out     Output
	plan    *dockerfile.Plan
	ctxDir  string
	ignore  *dockerfile.Ignore
	tags    []reference.Named
	results map[int]*state // final state of each built stage, by Dockerfile index
	n       int            // current step number
	missed  bool           // a step missed the cache already
	lastID  digest.Digest  // the last image a step produced or reused
	outErr  error
	outMu   sync.Mutex // print is called by a RUN's stdout and stderr pumps at once
	// epoch is SOURCE_DATE_EPOCH: the time of every image and history
	// entry the build makes, and the latest mtime in its layers.
	epoch *time.Time
	// cacheFrom are the --cache-from images; reuse is the step of one of
	// them that the next commit records instead of running its own.
	cacheFrom []*image.Image
	reuse     *cachedStep
	// leases keep the base of each stage and every step's result until
	// the build ends, whether or not their images are removed meanwhile.
	leases []func()
}

// lease keeps the layers and blobs of s until the build ends.
func (r *run) lease(s *state) {
	r.leases = append(r.leases, r.b.cfg.GC.Lease(s.blobs(), s.chains()))
}

// release ends the build's leases.
func (r *run) release() {
	for _, release := range r.leases {
		release()
	}
	r.leases = nil
}

// loadLeased loads the image id and leases its layers and blobs for the
// rest of the build. The image is looked up again once leased: one removed
// meanwhile may have lost its layers, and is not found.
func (r *run) loadLeased(ctx context.Context, id digest.Digest) (*image.Image, error) {
	img, err := r.loadImage(ctx, id)
	if err != nil {
		return nil, err
	}
	r.lease(&state{layers: img.Layers, img: img.Config})
	if _, err := r.loadImage(ctx, id); err != nil {
		return nil, err
	}
	return img, nil
}

func (b *Builder) prepare(opts Options, out Output) (*run, error) {
	name := opts.Dockerfile
	if name == "" {
		name = "Dockerfile"
	}
	clean := path.Clean("/" + name)[1:]
	data, err := opts.DockerfileData, error(nil)
	if data == nil {
		data, err = readFileInRoot(opts.ContextDir, clean)
		if err != nil && name == "Dockerfile" {
			data, err = readFileInRoot(opts.ContextDir, "dockerfile")
		}
	}
	if err != nil {
		return nil, errdefs.ErrInvalidArgument.WithMessage("Cannot locate specified Dockerfile: " + name)
	}
	// Parse errors name the file and line: `Dockerfile:3: unknown
	// instruction: RUNN (did you mean RUN?)`.
	df, err := dockerfile.Parse(path.Base(clean), strings.NewReader(string(data)))
	if err != nil {
		return nil, err
	}
	if len(opts.Labels) > 0 {
		if err := addLabels(df, opts.Labels); err != nil {
			return nil, err
		}
	}
	plan, err := df.Plan(opts.Target, opts.BuildArgs)
	if err != nil {
		return nil, err
	}
	if err := checkPlatform(opts.Platform); err != nil {
		return nil, err
	}
	for _, st := range plan.Stages {
		if err := checkPlatform(st.Platform); err != nil {
			return nil, fmt.Errorf("FROM --platform of stage %d: %w", st.Index, err)
		}
	}
	r := &run{b: b, opts: opts, out: out, plan: plan, ctxDir: opts.ContextDir, results: map[int]*state{}}
	if v, ok := opts.BuildArgs["SOURCE_DATE_EPOCH"]; ok && v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return nil, errdefs.ErrInvalidArgument.WithMessage("invalid SOURCE_DATE_EPOCH: " + v)
		}
		epoch := time.Unix(n, 0).UTC()
		r.epoch = &epoch
	}
	for _, t := range opts.Tags {
		ref, err := image.ParseReference(t)
		if err != nil {
			return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid reference format: %q", t))
		}
		if _, ok := ref.(reference.Digested); ok {
			return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid tag %q: a tag cannot carry a digest", t))
		}
		r.tags = append(r.tags, ref)
	}
	if data, err := readFileInRoot(opts.ContextDir, ".dockerignore"); err == nil {
		patterns, err := dockerfile.ReadIgnore(strings.NewReader(string(data)))
		if err == nil {
			r.ignore, _ = dockerfile.NewIgnore(patterns)
		}
	}
	// The client sends the Dockerfile and .dockerignore even when
	// .dockerignore excludes them; as with Docker, COPY and ADD then do not
	// see them.
	dropped := []string{clean, ".dockerignore"}
	if opts.DockerfileData != nil {
		dropped = dropped[1:] // not in the context
	}
	for _, f := range dropped {
		if r.ignore == nil {
			break
		}
		if excluded, _ := r.ignore.Excluded(f); excluded {
			if err := removeInRoot(opts.ContextDir, f); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("drop %s from the build context: %w", f, err)
			}
			opts.ContextSums.forget(f)
		}
	}
	if opts.Quiet {
		r.out = &quietOutput{out: out}
	}
	if len(df.Warnings) > 0 {
		// dockerd sends them on the build's stderr: in red.
		r.print(red(strings.Join(df.Warnings, "\n") + "\n"))
	}
	return r, nil
}

// addLabels adds the build's --label values to the last stage as LABEL
// instructions, one per label, as Docker's classic builder does.
func addLabels(df *dockerfile.Dockerfile, labels map[string]string) error {
	cmds, err := dockerfile.LabelCommands(labels)
	if err != nil {
		return err
	}
	last := &df.Stages[len(df.Stages)-1]
	last.Commands = append(slices.Clone(last.Commands), cmds...)
	return nil
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// print sends text to the output; the first error is kept and stops the
// build at the next step.
// checkPlatform accepts "" and the platform this builder builds for
// (linux, or linux/<arch of gantryd>, with an optional variant); anything
// else is an invalid-argument error rather than a silently wrong image.
func checkPlatform(platform string) error {
	if platform == "" {
		return nil
	}
	p := strings.Split(platform, "/")
	if p[0] != "linux" || (len(p) > 1 && p[1] != goruntime.GOARCH) {
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("platform %q is not supported: this builder builds for linux/%s", platform, goruntime.GOARCH))
	}
	return nil
}

func (r *run) print(text string) {
	r.outMu.Lock()
	defer r.outMu.Unlock()
	if r.outErr != nil {
		return
	}
	r.outErr = r.out.Stream(text)
}

// printErr is the error that stopped the output, if any.
func (r *run) printErr() error {
	r.outMu.Lock()
	defer r.outMu.Unlock()
	return r.outErr
}

// finish tags the image and prints the closing lines.
func (r *run) finish(ctx context.Context, id digest.Digest) error {
	if id == "" {
		return errdefs.ErrInvalidArgument.WithMessage("No image was generated. Is your Dockerfile empty?")
	}
	if len(r.plan.Unused) > 0 {
		r.print(fmt.Sprintf("[Warning] One or more build-args %v were not consumed\n", r.plan.Unused))
	}
	// The build finished: its images are kept like any other.
	done := []digest.Digest{id}
	for _, s := range r.results {
		done = append(done, s.id)
	}
	if err := r.b.cfg.Images.Finish(ctx, done...); err != nil {
		return err
	}
	if q, ok := r.out.(*quietOutput); ok {
		for _, ref := range r.tags {
			if err := r.b.cfg.Images.Tag(ctx, id, ref); err != nil {
				return err
			}
		}
		return q.out.Stream(id.String() + "\n")
	}
	if err := r.out.Aux(id.String()); err != nil {
		return err
	}
	r.print("Successfully built " + short(id) + "\n")
	for _, ref := range r.tags {
		if err := r.b.cfg.Images.Tag(ctx, id, ref); err != nil {
			return err
		}
		r.print("Successfully tagged " + image.Familiar(ref) + "\n")
	}
	return r.outErr
}

// quietOutput keeps the progress of a quiet build, to be shown only if it
// fails.
type quietOutput struct {
	out  Output
	text strings.Builder
}

func (q *quietOutput) Stream(text string) error { q.text.WriteString(text); return nil }
func (q *quietOutput) Aux(string) error         { return nil }
func (q *quietOutput) flush()                   { q.out.Stream(q.text.String()) }

// state is a stage as it stands between two steps.
type state struct {
	id     digest.Digest // current image; "" before the first step of a scratch stage
	img    image.Config
	layers []ocispec.Descriptor
	scope  *dockerfile.Scope
	index  int  // the stage's Dockerfile index
	cmdSet bool // a CMD was set in this stage (ENTRYPOINT then keeps it)
	// for explanations of cache misses
	base      string
	baseImage digest.Digest
	lineage   string
}

// chain is the chain ID of the state's top layer.
func (s *state) chain() digest.Digest {
	var chain digest.Digest
	for _, d := range s.img.RootFS.DiffIDs {
		chain = layer.ChainID(chain, d)
	}
	return chain
}

// blobs are the digests of the state's layer blobs.
func (s *state) blobs() []digest.Digest {
	var out []digest.Digest
	for _, l := range s.layers {
		out = append(out, l.Digest)
	}
	return out
}

// chains is the state's top chain, for a lease: none for an empty rootfs.
func (s *state) chains() []digest.Digest {
	if c := s.chain(); c != "" {
		return []digest.Digest{c}
	}
	return nil
}

func (r *run) loadImage(ctx context.Context, id digest.Digest) (*image.Image, error) {
	return r.b.cfg.Images.Get(ctx, id)
}

// stages builds the plan's stages in order and returns the target's image.
func (r *run) stages(ctx context.Context) (digest.Digest, error) {
	for _, arg := range r.plan.GlobalArgs {
		r.header(arg)
	}
	var last *state
	for i, st := range r.plan.Stages {
		s, err := r.from(ctx, st)
		if err != nil {
			return "", err
		}
		for j, cmd := range st.Commands {
			if err := r.step(ctx, s, j, cmd, true); err != nil {
				return "", err
			}
		}
		r.results[st.Index] = s
		if i < len(r.plan.Stages)-1 && s.id != "" {
			if err := r.out.Aux(s.id.String()); err != nil {
				return "", err
			}
		}
		last = s
	}
	return last.id, nil
}

// repos are the repositories the build tags, sorted.
func (r *run) repos() []string {
	var out []string
	for _, ref := range r.tags {
		out = append(out, ref.Name())
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// header prints the step header, `Step 2/3 : RUN echo hi`.
func (r *run) header(text string) {
	r.n++
	r.print(fmt.Sprintf("Step %d/%d : %s", r.n, r.plan.Steps, text))
	r.print("\n")
}

// from starts a stage: its base image or stage, then the base's ONBUILD
// triggers.
func (r *run) from(ctx context.Context, st dockerfile.Stage) (*state, error) {
	r.header(st.Source)
	if r.outErr != nil {
		return nil, r.outErr
	}
	s := &state{index: st.Index}
	// The place of the stage, for explaining misses: the Dockerfile, the
	// repositories built, the stage, then its base (below).
	root := lineage(r.opts.Dockerfile, strings.Join(r.repos(), ","), strconv.Itoa(st.Index))
	switch {
	case st.Base.IsStage():
		prev := r.results[st.Base.Stage]
		if prev == nil {
			return nil, fmt.Errorf("stage %d was not built", st.Base.Stage)
		}
		s.id, s.layers, s.base, s.baseImage = prev.id, prev.layers, "", ""
		s.img = cloneConfig(prev.img)
		s.lineage = lineage(root, "stage", prev.lineage)
	case st.Base.Image == dockerfile.Scratch:
		s.img.Platform = ocispec.Platform{Architecture: goruntime.GOARCH, OS: "linux"}
		s.img.RootFS = ocispec.RootFS{Type: "layers"}
		s.lineage = lineage(root, "scratch")
	default:
		id, err := r.resolveImage(ctx, st.Base.Image)
		if err != nil {
			return nil, err
		}
		ref, err := image.ParseReference(st.Base.Image)
		if err != nil {
			return nil, err
		}
		img, err := r.loadLeased(ctx, id)
		if err != nil {
			return nil, err
		}
		s.id, s.img, s.layers = img.ID, img.Config, img.Layers
		s.base, s.baseImage = image.Familiar(ref), img.ID
		s.lineage = lineage(root, "image", ref.String())
	}
	s.scope = r.plan.Scope(&s.img.Config)
	// The scope adds the default PATH when the base has none, and so does
	// dockerd's classic builder to the config of every step's image.
	s.img.Config.Env = s.scope.Env()
	r.print(" ---> " + short(s.id) + "\n")
	if s.id != "" {
		r.lastID = s.id
	}
	triggers := s.img.Config.OnBuild
	if len(triggers) == 0 {
		return s, r.outErr
	}
	s.img.Config.OnBuild = nil
	cmds, err := dockerfile.ParseTriggers(triggers)
	if err != nil {
		return nil, err
	}
	r.print(fmt.Sprintf("# Executing %d build trigger%s\n", len(cmds), plural(len(cmds))))
	for _, cmd := range cmds {
		if err := r.step(ctx, s, -1, cmd, false); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// step runs one instruction of the stage s: from the cache when its key
// has a record, else for real.
func (r *run) step(ctx context.Context, s *state, idx int, cmd instructions.Command, header bool) error {
	if header {
		r.header(dockerfile.Source(cmd))
	}
	if r.outErr != nil {
		return r.outErr
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	x, err := s.scope.Expand(cmd)
	if err != nil {
		return err
	}
	if c, ok := x.(*instructions.HealthCheckCommand); ok && c.Health != nil {
		if old := s.img.Config.Healthcheck; old != nil && len(old.Test) > 0 && old.Test[0] != "NONE" {
			r.print(fmt.Sprintf("Note: overriding previous HEALTHCHECK: %v\n", old.Test))
		}
	}
	in := Inputs{
		Parent:      s.id,
		Instruction: s.scope.Key(x),
		BuildArgs:   s.scope.BuildArgs(),
		Base:        s.base,
		BaseImage:   s.baseImage,
		Source:      dockerfile.Source(cmd),
		Parts:       s.scope.Parts(x),
	}
	if _, ok := x.(*instructions.RunCommand); !ok {
		// Only a RUN sees build args; an ARG step's key is its text, as in
		// Docker, so a changed value misses at the first RUN that uses it.
		in.BuildArgs = nil
	}
	if len(in.BuildArgs) == 0 {
		in.BuildArgs = nil
	}
	if r.epoch != nil {
		// The same step at another epoch makes another image.
		in.Epoch = strconv.FormatInt(r.epoch.Unix(), 10)
	}
	lin := s.lineage
	s.lineage = lineage(lin, in.Instruction)

	var src *sourceSet
	switch c := x.(type) {
	case *instructions.RunCommand:
		// What a bind mount shows the command is an input, as a COPY's
		// sources are; a cache mount's content never is.
		if in.Sources, in.Files, err = r.mountSources(ctx, s, idx, c); err != nil {
			return err
		}
	case *instructions.CopyCommand:
		src, err = r.sources(ctx, s, idx, c.SourcesAndDest, copyFlags{from: c.From, parents: c.Parents})
	case *instructions.AddCommand:
		src, err = r.sources(ctx, s, idx, c.SourcesAndDest, copyFlags{add: true, checksum: c.Checksum, keepGit: c.KeepGitDir != nil && *c.KeepGitDir})
	}
	if err != nil {
		return err
	}
	if src != nil {
		defer src.close()
		in.Sources, in.Files = src.digest, src.files
	}
	key := in.Key()
	known, _ := r.b.cache.last(lin)
	if !r.opts.NoCache {
		if rec, ok := r.b.cache.get(key); ok {
			if img, err := r.loadLeased(ctx, rec.Image); err == nil {
				r.print(" ---> Using cache\n")
				s.id, s.img, s.layers = img.ID, img.Config, img.Layers
				r.afterStep(s, x)
				r.print(" ---> " + short(s.id) + "\n")
				r.lastID = s.id
				if err := r.b.cache.remember(lin, in, s.id); err != nil {
					r.b.cfg.Log.Warn("write build cache record", "error", err)
				}
				return r.outErr
			}
		}
		if cs := r.fromCacheSources(ctx, s, x, s.scope.CreatedBy(x, src.describeOr(""))); cs != nil {
			if err := r.reuseStep(ctx, s, x, cs); err != nil {
				return err
			}
			r.print(" ---> Using cache\n")
			r.lease(s)
			if err := r.b.cache.put(key, record{Image: s.id, Inputs: in}); err != nil {
				r.b.cfg.Log.Warn("write build cache record", "error", err)
			}
			if err := r.b.cache.remember(lin, in, s.id); err != nil {
				r.b.cfg.Log.Warn("write build cache record", "error", err)
			}
			r.print(" ---> " + short(s.id) + "\n")
			r.lastID = s.id
			return r.outErr
		}
		if !r.missed {
			r.missed = true
			r.print(fmt.Sprintf("cache miss at step %d (%s): %s\n", r.n, dockerfile.Source(cmd), explain(known, in, strings.ToUpper(cmd.Name()), r.around(s, idx, lin, known))))
		}
	}

	if err := r.execute(ctx, s, idx, x, src); err != nil {
		return err
	}
	r.lease(s)
	if err := r.b.cache.put(key, record{Image: s.id, Inputs: in}); err != nil {
		r.b.cfg.Log.Warn("write build cache record", "error", err)
	}
	if err := r.b.cache.remember(lin, in, s.id); err != nil {
		r.b.cfg.Log.Warn("write build cache record", "error", err)
	}
	r.print(" ---> " + short(s.id) + "\n")
	r.lastID = s.id
	return r.outErr
}

// around is what explains a miss at the place lin of step idx of the
// stage s besides the last build's record there (known).
func (r *run) around(s *state, idx int, lin string, known *Inputs) around {
	var a around
	for _, st := range r.plan.Stages {
		if st.Index == s.index && idx >= 0 && idx+1 < len(st.Commands) {
			a.next = dockerfile.Source(st.Commands[idx+1])
		}
	}
	if known != nil {
		a.oldNext, _ = r.b.cache.last(lineage(lin, known.Instruction))
	}
	return a
}

// afterStep updates the state's bookkeeping that is not in the image.
func (r *run) afterStep(s *state, x instructions.Command) {
	if _, ok := x.(*instructions.CmdCommand); ok {
		s.cmdSet = true
	}
}

// execute runs an instruction that missed the cache and moves s to the
// image it produced.
func (r *run) execute(ctx context.Context, s *state, idx int, x instructions.Command, src *sourceSet) error {
	defer r.afterStep(s, x)
	switch c := x.(type) {
	case *instructions.RunCommand:
		return r.runStep(ctx, s, idx, c)
	case *instructions.CopyCommand:
		return r.commit(ctx, s, x, nil, r.copyFunc(ctx, s, src, c.Chown, c.Chmod), src.describe())
	case *instructions.AddCommand:
		if err := src.ready(ctx); err != nil {
			return err
		}
		return r.commit(ctx, s, x, nil, r.copyFunc(ctx, s, src, c.Chown, c.Chmod), src.describe())
	case *instructions.WorkdirCommand:
		return r.withContainer(func() error {
			return r.commit(ctx, s, x, func(c *dockerspec.DockerOCIImageConfig) { c.WorkingDir = s.scope.WorkingDir() }, inPlace(workdirFunc(ctx, c.Path)), "")
		})
	}
	change, err := r.configChange(s, x)
	if err != nil {
		return err
	}
	return r.withContainer(func() error { return r.commit(ctx, s, x, change, nil, "") })
}

// reuseStep moves s to the image of the step x made from the step cs of
// a --cache-from image: the config x makes, cs's history entry and layer.
func (r *run) reuseStep(ctx context.Context, s *state, x instructions.Command, cs *cachedStep) error {
	defer r.afterStep(s, x)
	var change func(*dockerspec.DockerOCIImageConfig)
	switch x.(type) {
	case *instructions.RunCommand, *instructions.CopyCommand, *instructions.AddCommand:
	case *instructions.WorkdirCommand:
		change = func(c *dockerspec.DockerOCIImageConfig) { c.WorkingDir = s.scope.WorkingDir() }
	default:
		var err error
		if change, err = r.configChange(s, x); err != nil {
			return err
		}
	}
	r.reuse = cs
	defer func() { r.reuse = nil }()
	return r.commit(ctx, s, x, change, nil, "")
}

// withContainer prints the "Running in" and "Removing intermediate
// container" lines of the classic builder around fn, which stands for the
// container it created for the step.
func (r *run) withContainer(fn func() error) error {
	id := randomID()
	r.print(" ---> Running in " + id[:12] + "\n")
	if err := fn(); err != nil {
		return err
	}
	r.print("Removing intermediate container " + id[:12] + "\n")
	return nil
}

// configChange is the config change of an instruction that only sets
// configuration.
func (r *run) configChange(s *state, x instructions.Command) (func(*dockerspec.DockerOCIImageConfig), error) {
	switch c := x.(type) {
	case *instructions.EnvCommand:
		env := s.scope.Env()
		return func(cfg *dockerspec.DockerOCIImageConfig) { cfg.Env = env }, nil
	case *instructions.ArgCommand:
		return nil, nil
	case *instructions.LabelCommand:
		return func(cfg *dockerspec.DockerOCIImageConfig) {
			if cfg.Labels == nil {
				cfg.Labels = map[string]string{}
			}
			for _, kv := range c.Labels {
				cfg.Labels[kv.Key] = kv.Value
			}
		}, nil
	case *instructions.ExposeCommand:
		ports, err := exposedPorts(c.Ports)
		if err != nil {
			return nil, err
		}
		return func(cfg *dockerspec.DockerOCIImageConfig) {
			if cfg.ExposedPorts == nil {
				cfg.ExposedPorts = map[string]struct{}{}
			}
			for _, p := range ports {
				cfg.ExposedPorts[p] = struct{}{}
			}
		}, nil
	case *instructions.UserCommand:
		return func(cfg *dockerspec.DockerOCIImageConfig) { cfg.User = c.User }, nil
	case *instructions.StopSignalCommand:
		return func(cfg *dockerspec.DockerOCIImageConfig) { cfg.StopSignal = c.Signal }, nil
	case *instructions.VolumeCommand:
		for _, v := range c.Volumes {
			if strings.TrimSpace(v) == "" {
				return nil, errdefs.ErrInvalidArgument.WithMessage("VOLUME specified can not be an empty string")
			}
		}
		return func(cfg *dockerspec.DockerOCIImageConfig) {
			if cfg.Volumes == nil {
				cfg.Volumes = map[string]struct{}{}
			}
			for _, v := range c.Volumes {
				cfg.Volumes[v] = struct{}{}
			}
		}, nil
	case *instructions.HealthCheckCommand:
		return func(cfg *dockerspec.DockerOCIImageConfig) {
			cfg.Healthcheck = mergeHealthcheck(c.Health, cfg.Healthcheck)
		}, nil
	case *instructions.MaintainerCommand:
		return nil, nil // applied to the image's author in commit
	case *instructions.OnbuildCommand:
		return func(cfg *dockerspec.DockerOCIImageConfig) {
			cfg.OnBuild = append(slices.Clone(cfg.OnBuild), c.Expression)
		}, nil
	case *instructions.CmdCommand:
		argv := s.scope.Argv(c.ShellDependantCmdLine)
		return func(cfg *dockerspec.DockerOCIImageConfig) { cfg.Cmd = argv }, nil
	case *instructions.EntrypointCommand:
		argv := s.scope.Argv(c.ShellDependantCmdLine)
		keepCmd := s.cmdSet
		return func(cfg *dockerspec.DockerOCIImageConfig) {
			cfg.Entrypoint = argv
			if !keepCmd {
				cfg.Cmd = nil
			}
		}, nil
	case *instructions.ShellCommand:
		shell := slices.Clone(c.Shell)
		return func(cfg *dockerspec.DockerOCIImageConfig) { cfg.Shell = shell }, nil
	}
	return nil, errdefs.ErrNotImplemented.WithMessage(fmt.Sprintf("instruction %s is not supported", strings.ToUpper(x.Name())))
}

// mergeHealthcheck is the health check hc with the settings it leaves at
// zero ("inherit", in the image spec) taken from the parent image's old, as
// Docker's classic builder commits a HEALTHCHECK. HEALTHCHECK NONE inherits
// them too. hc is not modified.
func mergeHealthcheck(hc, old *dockerspec.HealthcheckConfig) *dockerspec.HealthcheckConfig {
	if hc == nil || old == nil {
		return hc
	}
	out := *hc
	out.Test = slices.Clone(hc.Test)
	if len(out.Test) == 0 {
		out.Test = slices.Clone(old.Test)
	}
	if out.Interval == 0 {
		out.Interval = old.Interval
	}
	if out.Timeout == 0 {
		out.Timeout = old.Timeout
	}
	if out.StartPeriod == 0 {
		out.StartPeriod = old.StartPeriod
	}
	if out.StartInterval == 0 {
		out.StartInterval = old.StartInterval
	}
	if out.Retries == 0 {
		out.Retries = old.Retries
	}
	return &out
}

// exposedPorts normalises EXPOSE words: "80" is "80/tcp", a range
// "8000-8002/udp" gives each port.
func exposedPorts(words []string) ([]string, error) {
	var out []string
	for _, w := range words {
		port, proto, _ := strings.Cut(w, "/")
		if proto == "" {
			proto = "tcp"
		}
		proto = strings.ToLower(proto)
		lo, hi, isRange := strings.Cut(port, "-")
		start, err1 := strconv.Atoi(lo)
		end := start
		var err2 error
		if isRange {
			end, err2 = strconv.Atoi(hi)
		}
		if err1 != nil || err2 != nil || start < 0 || end < start || end > 65535 {
			return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid containerPort: %s", port))
		}
		for p := start; p <= end; p++ {
			out = append(out, strconv.Itoa(p)+"/"+proto)
		}
	}
	return out, nil
}

// commit makes the step's image: the parent's config changed by change,
// plus, when fs is set, a layer holding what fs did to a snapshot of the
// parent's rootfs. s moves to the new image. GC is held for reading from
// the layer's writing to the image's record.
func (r *run) commit(ctx context.Context, s *state, x instructions.Command, change func(*dockerspec.DockerOCIImageConfig), fs stepFunc, sources string) error {
	img := cloneConfig(s.img)
	if change != nil {
		change(&img.Config)
	}
	if m, ok := x.(*instructions.MaintainerCommand); ok {
		img.Author = m.Maintainer
	}
	layers := slices.Clone(s.layers)
	if cs := r.reuse; cs != nil {
		// A step of a --cache-from image: its history entry and layer.
		r.reuse = nil
		img.Created = cs.history.Created
		img.History = append(img.History, cs.history)
		if !cs.history.EmptyLayer {
			img.RootFS.Type = "layers"
			img.RootFS.DiffIDs = append(img.RootFS.DiffIDs, cs.diffID)
			layers = append(layers, cs.blob)
		}
		data, err := json.Marshal(img)
		if err != nil {
			return err
		}
		r.b.cfg.GC.RLock()
		defer r.b.cfg.GC.RUnlock()
		id, err := r.b.cfg.Images.Create(ctx, data, layers, s.id, image.Unfinished())
		if err != nil {
			return fmt.Errorf("record image: %w", err)
		}
		s.id, s.img, s.layers = id, img, layers
		return nil
	}
	record := func() error {
		now := time.Now().UTC()
		if r.epoch != nil {
			now = *r.epoch
		}
		img.Created = &now
		img.History = append(img.History, ocispec.History{
			Created:    &now,
			CreatedBy:  s.scope.CreatedBy(x, sources),
			EmptyLayer: fs == nil,
		})
		data, err := json.Marshal(img)
		if err != nil {
			return err
		}
		id, err := r.b.cfg.Images.Create(ctx, data, layers, s.id, image.Unfinished())
		if err != nil {
			return fmt.Errorf("record image: %w", err)
		}
		s.id, s.img, s.layers = id, img, layers
		return nil
	}
	if fs == nil {
		r.b.cfg.GC.RLock()
		defer r.b.cfg.GC.RUnlock()
		return record()
	}
	var opts []layer.SnapshotOption
	if _, isRun := x.(*instructions.RunCommand); isRun && !r.b.cfg.IDMap.Empty() {
		opts = append(opts, layer.WithIDMap(r.b.cfg.IDMap))
	}
	return r.snapshot(ctx, s, fs, opts, func(l layer.Layer, blob ocispec.Descriptor) error {
		img.RootFS.Type = "layers"
		img.RootFS.DiffIDs = append(img.RootFS.DiffIDs, l.DiffID)
		layers = append(layers, blob)
		return record()
	})
}

// cloneConfig is a deep copy of c.
func cloneConfig(c image.Config) image.Config {
	b, err := json.Marshal(c)
	if err != nil {
		panic(err)
	}
	var out image.Config
	if err := json.Unmarshal(b, &out); err != nil {
		panic(err)
	}
	return out
}

// short is the 12-hex form of an image ID Docker prints ("" for none).
func short(id digest.Digest) string {
	if id == "" {
		return ""
	}
	h := id.Encoded()
	if len(h) > 12 {
		h = h[:12]
	}
	return h
}

// red is text as dockerd sends a build's stderr in its stream.
func red(text string) string { return "\x1b[91m" + text + "\x1b[0m" }

func randomID() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func readAllLimit(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, errors.New("file too large")
	}
	return b, nil
}
