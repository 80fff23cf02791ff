// Package engine is gantry-buildkitd: BuildKit (github.com/moby/buildkit)
// embedded as dockerd embeds it, its control API served on /grpc and the
// client's session on /session (both upgraded to h2c), which gantryd
// forwards here (package buildkit).
//
// Its worker runs RUN steps with runc (BuildKit's runc executor, Docker's
// default seccomp profile) in network namespaces gantryd makes on its
// default bridge, on BuildKit's own overlay snapshotter and content store
// under Config.Root. The "moby" exporter, which buildx asks for with the
// docker driver, has gantryd record the built image in its own stores
// (Config.Import); FROM images gantryd has are read from it
// (Config.Images): first in the "local" resolve mode buildx asks for with
// the docker driver, after the registry in the default one.
package engine

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	ctdsnapshot "github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/plugins/snapshots/overlay"
	controlapi "github.com/moby/buildkit/api/services/control"
	"github.com/moby/buildkit/cache/remotecache"
	inlineremotecache "github.com/moby/buildkit/cache/remotecache/inline"
	localremotecache "github.com/moby/buildkit/cache/remotecache/local"
	registryremotecache "github.com/moby/buildkit/cache/remotecache/registry"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/control"
	"github.com/moby/buildkit/executor/oci"
	"github.com/moby/buildkit/frontend"
	dockerfile "github.com/moby/buildkit/frontend/dockerfile/builder"
	"github.com/moby/buildkit/frontend/gateway"
	"github.com/moby/buildkit/frontend/gateway/forwarder"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/solver"
	"github.com/moby/buildkit/solver/bboltcachestorage"
	"github.com/moby/buildkit/solver/pb"
	"github.com/moby/buildkit/util/db/boltutil"
	"github.com/moby/buildkit/util/network"
	"github.com/moby/buildkit/util/network/netproviders"
	"github.com/moby/buildkit/util/resolver"
	"github.com/moby/buildkit/worker"
	"github.com/moby/buildkit/worker/base"
	"github.com/moby/buildkit/worker/runc"
	"github.com/opencontainers/go-digest"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/net/http2"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/gantry/gantry/buildkit"
)

// Config is what the embedded engine is given.
type Config struct {
	// Root holds BuildKit's state: snapshots, content, cache and history
	// databases (<data-root>/buildkit).
	Root string
	// Network makes the network namespace of a RUN step on the default
	// network (the daemon's bridge); nil gives steps the host's network.
	Network network.Provider
	// Images answers FROM images from gantryd's image store (see the
	// package documentation); nil means registries only.
	Images LocalImages
	// Import has gantryd record an image the moby exporter built.
	Import ImportFunc
	// Link has gantryd link a snapshot to its layer instead of BuildKit
	// extracting a copy of it; nil extracts every layer.
	Link LinkFunc
	// Collect has gantryd collect its garbage after BuildKit pruned its
	// cache with filters or limits (buildx prune --filter, --keep-*): the
	// layers only BuildKit's snapshots kept go too. Nil does nothing.
	Collect func(ctx context.Context) error
	// Missing says which layers (chain IDs) gantryd has not, whose
	// snapshot directories the moby exporter then gives to Import; nil
	// gives none.
	Missing func(ctx context.Context, chains []digest.Digest) ([]digest.Digest, error)
	// Classic is gantryd's classic build cache, which the control API's
	// disk usage lists and its prune (with no filter nor limit) removes
	// beside BuildKit's, as dockerd's builder prune covers both; nil
	// leaves it out.
	Classic ClassicCache
	// DNS is the resolv.conf of RUN steps (gantryd's --dns, --dns-search,
	// --dns-opt); nil derives it from the host's, as BuildKit does.
	DNS *oci.DNSConfig
	Log *slog.Logger
}

// Engine is the embedded BuildKit.
type Engine struct {
	cfg Config
	run *running
}

// running is a started engine.
type running struct {
	controller *control.Controller
	sessions   *session.Manager
	grpc       *grpc.Server
	h2         *http2.Server
	worker     *gantryWorker
}

// Start starts BuildKit on cfg.Root.
func Start(cfg Config) (*Engine, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	e := &Engine{cfg: cfg}
	run, err := e.start()
	if err != nil {
		return nil, err
	}
	e.run = run
	return e, nil
}

func (e *Engine) start() (*running, error) {
	if err := os.MkdirAll(e.cfg.Root, 0o700); err != nil {
		return nil, err
	}
	sm, err := session.NewManager()
	if err != nil {
		return nil, err
	}
	snapshotter := runc.SnapshotterFactory{
		Name: "overlayfs",
		New: func(root string) (ctdsnapshot.Snapshotter, error) {
			return overlay.NewSnapshotter(root, overlay.AsynchronousRemove)
		},
	}
	opt, err := runc.NewWorkerOpt(e.cfg.Root, snapshotter, false, oci.ProcessSandbox, nil, nil,
		netproviders.Opt{Mode: "host"}, e.cfg.DNS, "", "", false, nil, "", "", nil)
	if err != nil {
		return nil, err
	}
	if e.cfg.Network != nil {
		opt.NetworkProviders[pb.NetMode_UNSET] = e.cfg.Network
	}
	hosts := resolver.NewRegistryConfig(nil)
	opt.RegistryHosts = hosts
	if e.cfg.Images != nil {
		opt.ImageStore = &imageStore{local: e.cfg.Images, content: opt.ContentStore, dir: buildkit.ContentDir(e.cfg.Root)}
	}
	if e.cfg.Link != nil {
		opt.Applier = &linkApplier{Applier: opt.Applier, link: e.cfg.Link, log: e.cfg.Log}
	}
	bw, err := base.NewWorker(context.TODO(), opt)
	if err != nil {
		return nil, err
	}
	w := &gantryWorker{Worker: bw, importFn: e.cfg.Import, missing: e.cfg.Missing}
	wc := &worker.Controller{}
	if err := wc.Add(w); err != nil {
		return nil, err
	}
	gw, err := gateway.NewGatewayFrontend(wc.Infos(), nil)
	if err != nil {
		return nil, err
	}
	frontends := map[string]frontend.Frontend{
		"dockerfile.v0": forwarder.NewGatewayForwarder(wc.Infos(), dockerfile.Build),
		"gateway.v0":    gw,
	}
	cacheStorage, err := bboltcachestorage.NewStore(filepath.Join(e.cfg.Root, "cache.db"))
	if err != nil {
		return nil, err
	}
	historyDB, err := boltutil.SafeOpen(filepath.Join(e.cfg.Root, "history.db"), 0o600, &bolt.Options{
		FreelistType:   bolt.FreelistMapType,
		NoFreelistSync: true,
	})
	if err != nil {
		return nil, err
	}
	c, err := control.NewController(control.Opt{
		SessionManager:   sm,
		WorkerController: wc,
		Frontends:        frontends,
		ResolveCacheExporterFuncs: map[string]remotecache.ResolveCacheExporterFunc{
			"registry": registryremotecache.ResolveCacheExporterFunc(sm, hosts),
			"local":    localremotecache.ResolveCacheExporterFunc(sm),
			"inline":   inlineremotecache.ResolveCacheExporterFunc(),
		},
		ResolveCacheImporterFuncs: map[string]remotecache.ResolveCacheImporterFunc{
			"registry": registryremotecache.ResolveCacheImporterFunc(sm, w.ContentStore(), hosts),
			"local":    localremotecache.ResolveCacheImporterFunc(sm),
		},
		CacheManager:   solver.NewCacheManager(context.TODO(), "local", cacheStorage, worker.NewCacheResultStorage(wc)),
		HistoryDB:      historyDB,
		CacheStore:     cacheStorage,
		LeaseManager:   w.LeaseManager(),
		ContentStore:   w.ContentStore(),
		GarbageCollect: w.GarbageCollect,
	})
	if err != nil {
		return nil, err
	}
	srv := grpc.NewServer(grpc.StreamInterceptor(e.afterPrune), grpc.UnaryInterceptor(e.withClassic))
	c.Register(srv)
	return &running{controller: c, sessions: sm, grpc: srv, h2: &http2.Server{}, worker: w}, nil
}

// ClassicCache is gantryd's classic build cache (buildkit.Host's
// ClassicCache and PruneClassicCache; a prune collects garbage after).
type ClassicCache interface {
	List(ctx context.Context) ([]buildkit.CacheRecord, error)
	Prune(ctx context.Context, all bool) ([]buildkit.CacheRecord, error)
}

const (
	pruneMethod     = "/moby.buildkit.v1.Control/Prune"
	diskUsageMethod = "/moby.buildkit.v1.Control/DiskUsage"
)

// afterPrune completes a Prune of the control API (buildx prune, `docker
// builder prune` with buildx) once BuildKit removed its records and
// snapshots: with no filter nor limit, gantryd prunes the classic
// builder's cache too, and its records removed are sent on the stream
// after BuildKit's (buildx counts them in its total); gantryd then
// collects its garbage, the layers only BuildKit's snapshots linked
// included.
func (e *Engine) afterPrune(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if info.FullMethod != pruneMethod {
		return handler(srv, ss)
	}
	rs := &recvStream{ServerStream: ss}
	if err := handler(srv, rs); err != nil {
		return err
	}
	ctx := context.WithoutCancel(ss.Context())
	req := rs.prune
	if req != nil && e.cfg.Classic != nil && noFilter(req.Filter) && req.KeepDuration == 0 &&
		req.ReservedSpace == 0 && req.MaxUsedSpace == 0 && req.MinFreeSpace == 0 {
		recs, err := e.cfg.Classic.Prune(ctx, req.All)
		if err != nil {
			return err
		}
		for _, r := range recs {
			if err := ss.SendMsg(usageRecord(r)); err != nil {
				return err
			}
		}
		return nil
	}
	if e.cfg.Collect != nil {
		if err := e.cfg.Collect(ctx); err != nil {
			e.cfg.Log.Warn("garbage collection after prune", "error", err)
		}
	}
	return nil
}

// recvStream keeps the request of a Prune stream.
type recvStream struct {
	grpc.ServerStream
	prune *controlapi.PruneRequest
}

func (s *recvStream) RecvMsg(m any) error {
	err := s.ServerStream.RecvMsg(m)
	if req, ok := m.(*controlapi.PruneRequest); ok && err == nil {
		s.prune = req
	}
	return err
}

// withClassic adds the classic builder's cache records to the control
// API's disk usage (buildx du) when no filter asks for BuildKit's only.
func (e *Engine) withClassic(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	resp, err := handler(ctx, req)
	if err != nil || info.FullMethod != diskUsageMethod || e.cfg.Classic == nil {
		return resp, err
	}
	du, ok1 := resp.(*controlapi.DiskUsageResponse)
	r, ok2 := req.(*controlapi.DiskUsageRequest)
	if !ok1 || !ok2 || !noFilter(r.Filter) {
		return resp, nil
	}
	recs, err := e.cfg.Classic.List(ctx)
	if err != nil {
		return nil, err
	}
	for _, rec := range recs {
		du.Record = append(du.Record, usageRecord(rec))
	}
	return du, nil
}

// noFilter reports whether filters filter nothing (buildx sends its
// filters joined in one string, "" for none).
func noFilter(filters []string) bool {
	for _, f := range filters {
		if f != "" {
			return false
		}
	}
	return true
}

// usageRecord is a classic cache record as the control API lists one.
func usageRecord(r buildkit.CacheRecord) *controlapi.UsageRecord {
	return &controlapi.UsageRecord{
		ID:          r.ID,
		Size:        r.Size,
		CreatedAt:   timestamppb.New(r.Created),
		LastUsedAt:  timestamppb.New(r.Created),
		UsageCount:  1,
		Description: "classic build: " + r.Description,
		RecordType:  string(client.UsageRecordTypeRegular),
		Shared:      r.Shared,
		Parents:     r.Parents,
	}
}

// ServeGRPC answers POST /grpc: the connection is upgraded to h2c and
// carries BuildKit's control API (solve, status, prune, disk usage, ...).
func (e *Engine) ServeGRPC(w http.ResponseWriter, r *http.Request) error {
	run := e.run
	h, ok := w.(http.Hijacker)
	if !ok {
		return errors.New("connection cannot be hijacked")
	}
	nc, brw, err := h.Hijack()
	if err != nil {
		return err
	}
	_ = nc.SetDeadline(time.Time{})
	var conn net.Conn = nc
	if brw.Reader.Buffered() > 0 { // the client's first bytes, read with the request
		conn = &bufferedConn{Conn: nc, r: brw.Reader}
	}
	defer conn.Close()
	resp := &http.Response{
		StatusCode: http.StatusSwitchingProtocols,
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     http.Header{"Connection": {"Upgrade"}, "Upgrade": {"h2c"}},
	}
	if err := resp.Write(conn); err != nil {
		return nil
	}
	run.h2.ServeConn(conn, &http2.ServeConnOpts{Context: r.Context(), Handler: run.grpc})
	return nil
}

// ServeSession answers POST /session: the client's session (context
// files, secrets, ssh, auth, exported files) over an upgraded connection.
func (e *Engine) ServeSession(w http.ResponseWriter, r *http.Request) error {
	return e.run.sessions.HandleHTTPRequest(r.Context(), w, r)
}

// Close stops the engine.
func (e *Engine) Close() error {
	e.run.grpc.Stop()
	return e.run.controller.Close()
}

// bufferedConn is a hijacked connection whose first bytes wait in r.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }
