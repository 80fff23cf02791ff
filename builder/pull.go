package builder

import (
	"context"
	"fmt"

	"github.com/containerd/errdefs"
	"github.com/opencontainers/go-digest"

	"github.com/gantry/gantry/image"
)

// Puller fetches the image ref names from its registry into the image
// store, writing the pull's progress to the build's output itself.
type Puller func(ctx context.Context, ref string) error

// resolveImage finds the image name (a FROM base or a COPY --from source)
// in the image store, pulling it first when it is missing, or always when
// the build asked to (--pull), as the classic builder does.
func (r *run) resolveImage(ctx context.Context, name string) (digest.Digest, error) {
	ref, err := image.ParseReference(name)
	if err != nil {
		return "", errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid base image %q: %v", name, err))
	}
	id, err := r.b.cfg.Images.Resolve(ctx, name)
	missing := errdefs.IsNotFound(err)
	if err != nil && !missing {
		return "", err
	}
	if r.opts.Pull == nil || (!missing && !r.opts.AlwaysPull) {
		if missing {
			return "", errdefs.ErrNotFound.WithMessage(fmt.Sprintf("pull access denied for %s: image not found locally", image.Familiar(ref)))
		}
		return id, nil
	}
	if err := r.opts.Pull(ctx, ref.String()); err != nil {
		return "", err
	}
	return r.b.cfg.Images.Resolve(ctx, name)
}
