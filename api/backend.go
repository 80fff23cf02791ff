package api

import (
	"context"
	"io"
	"net"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/api/types/system"
	"github.com/moby/moby/api/types/volume"
)

// Errors returned by the backends carry a class from
// github.com/containerd/errdefs (not found, conflict, invalid argument,
// not modified, not implemented, unavailable); statusOf turns the class into
// the HTTP status and the error text becomes the body's "message".

// Filters is the decoded "filters" query parameter: {"name":{"web":true}}.
type Filters map[string]map[string]bool

// SystemBackend answers the system endpoints.
type SystemBackend interface {
	Info(ctx context.Context) (*system.Info, error)
	Version(ctx context.Context) (*system.VersionResponse, error)
}

// ImageListOptions are the query parameters of GET /images/json.
type ImageListOptions struct {
	All     bool
	Filters Filters // "reference" (glob on repo:tag), "dangling" ("true"/"false"), "label"
	// SharedSize asks for each image's SharedSize: the size of its layers
	// that other images use too (-1, not computed, without it).
	SharedSize bool
}

// ImageInspect is the answer to GET /images/{name}/json: the API's fields
// and two that dockerd 20.10 sends and newer APIs dropped, the local parent
// image ("" for none) and the container an image was committed from.
type ImageInspect struct {
	image.InspectResponse
	Parent    string
	Container string
}

// ImportOptions are the query parameters of POST /images/create?fromSrc=-.
type ImportOptions struct {
	Repo    string // may carry the tag ("me/img:1"), as the docker CLI sends it
	Tag     string
	Message string
	Changes []string // Dockerfile instructions applied to the config: CMD, ENV ...
}

// CommitOptions are the query parameters of POST /commit.
type CommitOptions struct {
	Container string
	Repo, Tag string
	Comment   string
	Author    string
	Changes   []string
	Pause     bool
	Config    *container.Config // optional request body: overrides merged into the image config
}

// ImageBackend answers the image endpoints.
type ImageBackend interface {
	// ImportImage stores the tar read from src (plain or compressed) as a
	// one-layer image and returns its ID ("sha256:..."). A src that is not a
	// tar is an invalid argument; nothing is stored then.
	ImportImage(ctx context.Context, src io.Reader, opts ImportOptions) (string, error)
	Images(ctx context.Context, opts ImageListOptions) ([]image.Summary, error)
	ImageInspect(ctx context.Context, name string) (*ImageInspect, error)
	ImageHistory(ctx context.Context, name string) ([]image.HistoryResponseItem, error)
	// TagImage points repo:tag (repo already normalised by the client or not) at name.
	TagImage(ctx context.Context, name, repo, tag string) error
	RemoveImage(ctx context.Context, name string, force, noPrune bool) ([]image.DeleteResponse, error)
	// Commit turns a container's changes into a new image and returns its ID.
	Commit(ctx context.Context, opts CommitOptions) (string, error)
}

// LoadOutput receives the JSON-message stream of POST /images/load. Its
// error means the client is gone.
type LoadOutput interface {
	Stream(text string) error                       // "Loaded image: busybox:latest\n"
	Progress(id string, current, total int64) error // "Loading layer", when not quiet
}

// ImageArchiveBackend answers docker save and docker load.
type ImageArchiveBackend interface {
	// SaveImages writes the images names refer to (references, IDs or ID
	// prefixes) to w as one tar archive. Every name is resolved before the
	// first write: a name that matches no image is a not-found error with
	// nothing written. An error after the first write leaves w holding a
	// truncated archive.
	SaveImages(ctx context.Context, names []string, w io.Writer) error
	// LoadImages stores the images of the archive read from src (a tar,
	// possibly compressed), tags them as the archive names them and reports
	// each to out, with progress unless quiet. A malformed, corrupt or
	// truncated archive is an invalid argument; no image is recorded then.
	LoadImages(ctx context.Context, src io.Reader, quiet bool, out LoadOutput) error
}

// ContainerListOptions are the query parameters of GET /containers/json.
type ContainerListOptions struct {
	All     bool
	Size    bool
	Limit   int
	Filters Filters // "status", "name", "id", "label", "exited", "ancestor"
}

// LogsOptions are the query parameters of GET /containers/{id}/logs.
type LogsOptions struct {
	Stdout, Stderr bool
	Follow         bool
	Tail           int       // lines from the end; -1 means all
	Since, Until   time.Time // zero means unbounded
}

// LogMessage is one line (or chunk) a container wrote.
type LogMessage struct {
	Stream string // "stdout" or "stderr"
	Time   time.Time
	Line   []byte // including its trailing newline, if it had one
}

// AttachOptions are the query parameters of POST /containers/{id}/attach.
type AttachOptions struct {
	Stdin, Stdout, Stderr bool
	Stream                bool
	Logs                  bool
	DetachKeys            string
	// GetStreams is called by the backend once it has found the container
	// and knows whether it has a TTY (multiplexed == !tty). It upgrades the
	// connection and returns stdin (the client's bytes; EOF when the client
	// half-closes) and the writers for the container's output.
	GetStreams func(multiplexed bool) (stdin io.ReadCloser, stdout, stderr io.Writer, err error)
}

// ContainerBackend answers the container endpoints.
type ContainerBackend interface {
	CreateContainer(ctx context.Context, name string, cfg *container.Config, hc *container.HostConfig, nc *network.NetworkingConfig) (container.CreateResponse, error)
	StartContainer(ctx context.Context, name string) error
	// StopContainer returns a not-modified error when the container is not running.
	StopContainer(ctx context.Context, name string, signal string, timeout *int) error
	KillContainer(ctx context.Context, name, signal string) error
	RestartContainer(ctx context.Context, name string, signal string, timeout *int) error
	RemoveContainer(ctx context.Context, name string, force, removeVolumes bool) error
	RenameContainer(ctx context.Context, name, newName string) error
	ResizeContainer(ctx context.Context, name string, height, width uint) error
	// WaitContainer checks the container and registers the wait at once; the
	// channel yields one response when the condition is met. The caller may
	// abandon the channel (client gone).
	WaitContainer(ctx context.Context, name string, condition container.WaitCondition) (<-chan container.WaitResponse, error)
	Containers(ctx context.Context, opts ContainerListOptions) ([]container.Summary, error)
	ContainerInspect(ctx context.Context, name string, size bool) (*container.InspectResponse, error)
	// ContainerLogs returns the container's log lines, and whether it has a
	// TTY (then the stream is raw, else multiplexed). The channel is closed
	// after the backlog, or, when following, once the container has stopped
	// and everything was sent, or ctx is done.
	ContainerLogs(ctx context.Context, name string, opts LogsOptions) (<-chan LogMessage, bool, error)
	// AttachContainer blocks until the attached streams end: the container
	// exited, the client detached, or ctx was cancelled.
	AttachContainer(ctx context.Context, name string, opts AttachOptions) error
}

// ExtractOptions are the query parameters of PUT /containers/{id}/archive.
type ExtractOptions struct {
	// NoOverwriteDirNonDir refuses to replace a directory with a
	// non-directory or the reverse.
	NoOverwriteDirNonDir bool
	// CopyUIDGID gives the files the container user's uid and gid (docker
	// cp -a), or keeps the tar's when the container has no user.
	CopyUIDGID bool
}

// ArchiveBackend answers docker cp (/containers/{id}/archive) and docker
// export. Paths are inside the container, resolved as its processes would
// resolve them, and never lead out of it. A missing path is a not-found
// error with dockerd's text ("Could not find the file P in container X").
type ArchiveBackend interface {
	// ContainerStatPath describes path, not following it when it is a symlink.
	ContainerStatPath(ctx context.Context, name, path string) (container.PathStat, error)
	// ContainerArchivePath returns an uncompressed tar of path and its
	// description. The caller closes the reader; the tar stops when ctx is done.
	ContainerArchivePath(ctx context.Context, name, path string) (io.ReadCloser, container.PathStat, error)
	// ContainerExtractToDir unpacks the tar (plain or compressed) read from
	// src into the directory path. A path that is not a directory is an
	// invalid argument, a read-only one a permission-denied error.
	ContainerExtractToDir(ctx context.Context, name, path string, src io.Reader, opts ExtractOptions) error
	// ContainerExport returns an uncompressed tar of the container's whole
	// filesystem. The caller closes the reader.
	ContainerExport(ctx context.Context, name string) (io.ReadCloser, error)
}

// BuildOptions are the query parameters of POST /build.
type BuildOptions struct {
	Tags        []string
	Dockerfile  string             // path inside the context; "" means Dockerfile
	BuildArgs   map[string]*string // nil values are args given without a value
	Labels      map[string]string
	Target      string
	NoCache     bool
	Remove      bool // rm (default true); intermediate containers are always removed
	ForceRemove bool
	Pull        bool
	Quiet       bool
	NetworkMode string
	ShmSize     int64
	Platform    string
	// CacheFrom are the images of --cache-from (the cachefrom parameter).
	CacheFrom []string
	// RegistryConfig is the X-Registry-Config header (base64 JSON of
	// registry credentials), kept for pulls of base images.
	RegistryConfig string
	// Secrets are the build's secrets by id, from the X-Gantry-Build-Secrets
	// header that gantry build --secret sends (base64 JSON of id -> base64
	// content): for RUN --mount=type=secret, kept in memory only.
	Secrets map[string][]byte
	// SSH are the ids of the SSH agents the client forwards, from the
	// X-Gantry-Build-SSH header (gantry build --ssh; POST /build/sync
	// only): RUN --mount=type=ssh reaches them through the connection
	// (SSHForwarder).
	SSH []string `json:"-"`
	// DockerfileData is the Dockerfile when it is not in the synced
	// context (a Dockerfile from stdin or from outside the context), from
	// the X-Gantry-Build-Dockerfile header (base64; POST /build/sync
	// only); Dockerfile is then its name.
	DockerfileData []byte `json:"-"`
}

// DockerfileHeader carries BuildOptions.DockerfileData.
const DockerfileHeader = "X-Gantry-Build-Dockerfile"

// SSHHeader names the SSH agents the client of POST /build/sync forwards
// (BuildOptions.SSH), comma-separated; with it, the connection after the
// sync is a yamux session (the client's end is the yamux client): the
// server opens the first stream for the build's JSON-message stream, then
// one stream per connection to an agent, whose first line is the agent's
// id; the agent protocol's bytes follow both ways.
const SSHHeader = "X-Gantry-Build-SSH"

// SSHAgents reach the agents a client forwards (builder.SSHAgents).
type SSHAgents interface {
	Has(id string) bool
	Dial(ctx context.Context, id string) (net.Conn, error)
}

// SSHForwarder is what the out of BuildSync also is when the client
// forwards agents: ForwardSSH, called once after the sync, switches the
// connection to the session SSHHeader describes (out writes on its first
// stream from then on) and returns the agents and a channel closed when
// the client leaves.
type SSHForwarder interface {
	ForwardSSH() (SSHAgents, <-chan struct{}, error)
}

// SecretsHeader carries a build's secrets (BuildOptions.Secrets); the
// gantry client sends it (client.SecretsHeader, client.EncodeSecrets).
const SecretsHeader = "X-Gantry-Build-Secrets"

// BuildOutput receives a build's JSON-message stream: text ({"stream":...})
// and the image ID of each stage ({"aux":{"ID":...}}). Its error means the
// client is gone.
type BuildOutput interface {
	Stream(text string) error
	Aux(id string) error
	// Progress writes a progress message, such as those of a pull of a
	// base image.
	Progress(m jsonstream.Message) error
}

// BuildBackend answers POST /build.
type BuildBackend interface {
	// Build reads the context tar from src and builds it, writing progress
	// to out. An error returned before anything was written to out is
	// answered as an HTTP error (a Dockerfile that does not parse is an
	// invalid argument); after that it ends the stream as its error message,
	// whose code is the ExitCode() of the error when it has one (a failing
	// RUN's exit code).
	Build(ctx context.Context, src io.Reader, opts BuildOptions, out BuildOutput) error
	// BuildSync is Build of a context the client syncs (POST /build/sync,
	// gantry build): the sync's packets are read from r and answered on
	// w (package ctxsync), into the server's copy of the context key;
	// the build's progress then goes to out, which writes on w after the
	// sync. Its errors are Build's.
	BuildSync(ctx context.Context, key string, r io.Reader, w io.Writer, opts BuildOptions, out BuildOutput) error
}

// VolumeBackend answers the volume endpoints. Unknown volumes are not-found
// errors ("get NAME: no such volume"); removing a volume a container uses
// is a conflict.
type VolumeBackend interface {
	// Volumes lists the volumes matching the filters "dangling", "name",
	// "label" and "driver"; another filter is an invalid argument.
	Volumes(ctx context.Context, filters Filters) ([]volume.Volume, error)
	// VolumeCreate creates a volume, or returns the existing one of that name.
	VolumeCreate(ctx context.Context, req volume.CreateRequest) (*volume.Volume, error)
	VolumeInspect(ctx context.Context, name string) (*volume.Volume, error)
	// VolumeRemove with force ignores an unknown volume.
	VolumeRemove(ctx context.Context, name string, force bool) error
	// VolumesPrune removes unused anonymous volumes, every unused one with
	// the filter all=true, narrowed by "label" and "label!".
	VolumesPrune(ctx context.Context, filters Filters) (*volume.PruneReport, error)
}

// PullOptions are the parameters of POST /images/create?fromImage=.
type PullOptions struct {
	Image    string // fromImage: a repository, possibly with a tag or digest
	Tag      string // a tag or a digest; "" means latest unless Image has one
	Platform string // "os/arch[/variant]"; "" means the daemon's
	Auth     registry.AuthConfig
}

// PushOptions are the parameters of POST /images/{name}/push.
type PushOptions struct {
	Name string // the repository, possibly with a tag
	Tag  string // "" pushes every tag of the repository
	Auth registry.AuthConfig
}

// ProgressOutput receives a pull's or push's JSON messages. Its error means
// the client is gone.
type ProgressOutput interface {
	Write(m jsonstream.Message) error
}

// RegistryBackend answers pulls, pushes and logins.
type RegistryBackend interface {
	// PullImage pulls an image, writing progress to out. An error returned
	// before anything was written to out is answered as an HTTP error.
	PullImage(ctx context.Context, opts PullOptions, out ProgressOutput) error
	// PushImage pushes an image, writing progress to out, as PullImage.
	PushImage(ctx context.Context, opts PushOptions, out ProgressOutput) error
	// Login checks auth with the registry it names and returns the identity
	// token the registry issued, if any. Refused credentials are an
	// unauthorized error.
	Login(ctx context.Context, auth registry.AuthConfig) (string, error)
}

// NetworkBackend answers the network endpoints. Networks are named by
// name, full ID or unambiguous ID prefix; an unknown one is not found
// ("network X not found"), the predefined ones (bridge, host, none) cannot
// be created or removed (permission denied), a network in use cannot be
// removed (conflict).
type NetworkBackend interface {
	Networks(ctx context.Context, filters Filters) ([]network.Summary, error)
	NetworkInspect(ctx context.Context, name string) (*network.Inspect, error)
	CreateNetwork(ctx context.Context, req network.CreateRequest) (network.CreateResponse, error)
	RemoveNetwork(ctx context.Context, name string) error
	// ConnectNetwork joins a running container to the network at once; a
	// stopped one joins it at its next start.
	ConnectNetwork(ctx context.Context, name string, req network.ConnectRequest) error
	DisconnectNetwork(ctx context.Context, name string, req network.DisconnectRequest) error
	// PruneNetworks removes the user-defined networks no container is
	// using and returns their names.
	PruneNetworks(ctx context.Context, filters Filters) (network.PruneReport, error)
}

// Backend is everything the API server needs from gantryd.
type Backend interface {
	SystemBackend
	ImageBackend
	ImageArchiveBackend
	ContainerBackend
	BuildBackend
	VolumeBackend
	RegistryBackend
	ArchiveBackend
	NetworkBackend
	ExecBackend
	EventsBackend
	StatsBackend
	MaintenanceBackend
}
