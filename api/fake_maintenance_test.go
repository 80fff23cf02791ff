package api

import (
	"context"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/registry"
)

// The fake backend has no filesystem nor cgroups: these answer as a
// daemon without containers or images to act on does.

func (b *fakeBackend) PauseContainer(_ context.Context, name string) error {
	_, err := b.container(name)
	if err != nil {
		return err
	}
	return errdefs.ErrNotImplemented.WithMessage("the fake backend cannot pause")
}

func (b *fakeBackend) UnpauseContainer(ctx context.Context, name string) error {
	return b.PauseContainer(ctx, name)
}

func (b *fakeBackend) ContainerChanges(_ context.Context, name string) ([]container.FilesystemChange, error) {
	if _, err := b.container(name); err != nil {
		return nil, err
	}
	return []container.FilesystemChange{{Path: "/tmp", Kind: container.ChangeModify}, {Path: "/tmp/new", Kind: container.ChangeAdd}}, nil
}

func (b *fakeBackend) UpdateContainer(_ context.Context, name string, _ container.UpdateConfig) (container.UpdateResponse, error) {
	if _, err := b.container(name); err != nil {
		return container.UpdateResponse{}, err
	}
	return container.UpdateResponse{}, nil
}

func (b *fakeBackend) ContainersPrune(context.Context, Filters) (*container.PruneReport, error) {
	return &container.PruneReport{}, nil
}

func (b *fakeBackend) ImagesPrune(context.Context, Filters) (*image.PruneReport, error) {
	return &image.PruneReport{}, nil
}

func (b *fakeBackend) BuildCachePrune(context.Context, BuildCachePruneOptions) (*build.CachePruneReport, error) {
	return &build.CachePruneReport{}, nil
}

func (b *fakeBackend) DiskUsage(context.Context, DiskUsageOptions) (*DiskUsage, error) {
	return &DiskUsage{}, nil
}

func (b *fakeBackend) DistributionInspect(context.Context, string, registry.AuthConfig) (*registry.DistributionInspect, error) {
	return nil, errdefs.ErrNotFound.WithMessage("manifest unknown: manifest unknown")
}
