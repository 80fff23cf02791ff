package cri

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/cri-streaming/pkg/streaming"

	"github.com/gantry/gantry/api"
	gcontainer "github.com/gantry/gantry/container"
	"github.com/gantry/gantry/events"
)

// Backend is what the CRI services need of gantryd (package daemon): its
// image store and registry client, and its containers. The CRI's
// containers are gantryd's, with a gcontainer.Pod.
type Backend interface {
	Images(ctx context.Context, opts api.ImageListOptions) ([]image.Summary, error)
	ImageInspect(ctx context.Context, name string) (*api.ImageInspect, error)
	PullImage(ctx context.Context, opts api.PullOptions, out api.ProgressOutput) error
	RemoveImage(ctx context.Context, name string, force, noPrune bool) ([]image.DeleteResponse, error)

	// CreatePodContainer creates a container in a pod; the network mode
	// is none (the pod's namespace replaces it) or host.
	CreatePodContainer(ctx context.Context, name string, cfg *container.Config, hc *container.HostConfig, pod gcontainer.Pod) (string, error)
	StartContainer(ctx context.Context, name string) error
	StopContainer(ctx context.Context, name string, signal string, timeout *int) error
	RemoveContainer(ctx context.Context, name string, force, removeVolumes bool) error
	ContainerInspect(ctx context.Context, name string, size bool) (*container.InspectResponse, error)
	Containers(ctx context.Context, opts api.ContainerListOptions) ([]container.Summary, error)
	// PodContainers are the newest views of the containers with a
	// gcontainer.Pod, of pod sandboxID ("" for all), newest first.
	PodContainers(sandboxID string) []*gcontainer.View
	// PodContainer is the newest view of container name (an ID, its
	// prefix, or a name), with or without a gcontainer.Pod.
	PodContainer(name string) (*gcontainer.View, error)
	ReopenContainerLog(ctx context.Context, name string) error
	ResizeContainer(ctx context.Context, name string, height, width uint) error
	UpdateContainer(ctx context.Context, name string, cfg container.UpdateConfig) (container.UpdateResponse, error)
	AttachContainer(ctx context.Context, name string, opts api.AttachOptions) error
	ContainerStats(ctx context.Context, name string, stream, oneShot bool) (<-chan *container.StatsResponse, error)

	CreateExec(ctx context.Context, name string, cfg container.ExecCreateRequest) (string, error)
	StartExec(ctx context.Context, id string, opts api.ExecStartOptions) error
	ExecInspect(ctx context.Context, id string) (*container.ExecInspectResponse, error)
	ResizeExec(ctx context.Context, id string, height, width uint) error

	// SubscribeEvents subscribes to gantryd's events from now on.
	SubscribeEvents(since time.Time) ([]events.Message, *events.Subscription)
}

// Config is how the CRI services are set up.
type Config struct {
	Root    string // their records: <data-root>/cri
	RunDir  string // pinned network namespaces: <exec-root>/cri
	Monitor string // the gantry-monitor binary, also the pods' pause process
	ImageFS string // the directory of the image layers, for ImageFsInfo
	// CNIConfDir and CNIBinDirs are where CNI network configurations and
	// plugins are found (/etc/cni/net.d; /opt/cni/bin, /usr/lib/cni).
	CNIConfDir string
	CNIBinDirs []string
	Log        *slog.Logger
}

// Service implements the CRI's runtime and image services.
type Service struct {
	runtimeapi.UnimplementedRuntimeServiceServer
	runtimeapi.UnimplementedImageServiceServer

	cfg       Config
	b         Backend
	log       *slog.Logger
	cni       *cni
	pods      *podStore
	stream    streaming.Server // nil until StartStreaming
	streamErr error            // why StartStreaming failed

	mu       sync.Mutex        // guards reserved
	reserved map[string]string // pod name attempts being made: key -> pod ID

	list listCache // ListContainers' messages and their encodings
}

// New opens the CRI's records under cfg.Root and adopts the pods a
// previous gantryd left: their namespaces and pause processes stay.
func New(ctx context.Context, cfg Config, b Backend) (*Service, error) {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	for _, dir := range []string{cfg.Root, cfg.RunDir} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
	}
	pods, err := openPodStore(filepath.Join(cfg.Root, "sandboxes"))
	if err != nil {
		return nil, fmt.Errorf("open pod sandboxes: %w", err)
	}
	s := &Service{cfg: cfg, b: b, log: cfg.Log, pods: pods, reserved: map[string]string{},
		cni: newCNI(cfg.CNIConfDir, cfg.CNIBinDirs, filepath.Join(cfg.RunDir, "cni-cache"))}
	s.adopt(ctx)
	return s, nil
}

// Register serves both services on srv.
func (s *Service) Register(srv *grpc.Server) {
	runtimeapi.RegisterRuntimeServiceServer(srv, s)
	runtimeapi.RegisterImageServiceServer(srv, s)
}

// NewServer is a gRPC server of the CRI services whose errors carry the
// gRPC codes of their errdefs classes (statusOf).
func (s *Service) NewServer() *grpc.Server {
	srv := grpc.NewServer(grpc.ForceServerCodec(listCodec{&s.list}), grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		resp, err := h(ctx, req)
		if err != nil {
			s.log.Debug("cri request failed", "method", info.FullMethod, "error", err)
			return nil, statusOf(err)
		}
		return resp, nil
	}))
	s.Register(srv)
	return srv
}

func nowNano() int64 { return time.Now().UnixNano() }
