package api

import (
	"context"
	"io"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/system"
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
	ImageInspect(ctx context.Context, name string) (*image.InspectResponse, error)
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
	// RegistryConfig is the X-Registry-Config header (base64 JSON of
	// registry credentials), kept for pulls of base images.
	RegistryConfig string
}

// BuildOutput receives a build's JSON-message stream: text ({"stream":...})
// and the image ID of each stage ({"aux":{"ID":...}}). Its error means the
// client is gone.
type BuildOutput interface {
	Stream(text string) error
	Aux(id string) error
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
}

// Backend is everything the API server needs from gantryd.
type Backend interface {
	SystemBackend
	ImageBackend
	ImageArchiveBackend
	ContainerBackend
	BuildBackend
}
