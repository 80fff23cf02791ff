package engine

import (
	"context"

	controlapi "github.com/moby/buildkit/api/services/control"
	"google.golang.org/grpc"
)

// Prune removes BuildKit's build cache that no build uses (all: also
// what is shared with or kept for future builds' cache hits, as `docker
// buildx prune --all`), through the controller's own Prune, as buildx's
// prune does over gRPC. It returns the records removed and their size.
func (e *Engine) Prune(ctx context.Context, all bool) (records int, reclaimed int64, err error) {
	s := &pruneStream{ctx: ctx}
	err = e.run.controller.Prune(&controlapi.PruneRequest{All: all}, s)
	return s.records, s.size, err
}

// pruneStream is the controller's Prune stream, in process: it adds the
// records up.
type pruneStream struct {
	grpc.ServerStream // not used by Prune but for Send and Context
	ctx               context.Context
	records           int
	size              int64
}

func (s *pruneStream) Send(r *controlapi.UsageRecord) error {
	s.records++
	s.size += r.Size
	return nil
}

func (s *pruneStream) Context() context.Context { return s.ctx }
