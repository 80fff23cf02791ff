package daemon

import (
	"context"
	"github.com/distribution/reference"
	evtypes "github.com/moby/moby/api/types/events"

	"github.com/moby/moby/api/types/jsonstream"
	mregistry "github.com/moby/moby/api/types/registry"

	"github.com/gantry/gantry/api"
	"github.com/gantry/gantry/builder"
	"github.com/gantry/gantry/distribution"
	"github.com/gantry/gantry/registry"
)

// PullImage implements POST /images/create?fromImage= (distribution.Pull).
func (d *Daemon) PullImage(ctx context.Context, opts api.PullOptions, out api.ProgressOutput) error {
	ref, err := distribution.ParseReference(opts.Image, opts.Tag)
	if err != nil {
		return err
	}
	platform, err := distribution.ParsePlatform(opts.Platform)
	if err != nil {
		return err
	}
	if err := d.distribution.Pull(ctx, ref, platform, opts.Auth, out); err != nil {
		return err
	}
	d.imageEvent(evtypes.ActionPull, reference.FamiliarString(ref), reference.FamiliarString(ref))
	return nil
}

// PushImage implements POST /images/{name}/push: the tag asked for, or
// every tag of the repository when none is.
func (d *Daemon) PushImage(ctx context.Context, opts api.PushOptions, out api.ProgressOutput) error {
	if err := d.distribution.Push(ctx, opts.Name, opts.Tag, opts.Auth, out); err != nil {
		return err
	}
	name := opts.Name
	if opts.Tag != "" {
		name += ":" + opts.Tag
	}
	d.imageEvent(evtypes.ActionPush, name, name)
	return nil
}

// Login implements POST /auth.
func (d *Daemon) Login(ctx context.Context, auth registry.Auth) (string, error) {
	return d.registry.Login(ctx, auth)
}

// buildPuller pulls the base images of a build with the credentials of
// the build's X-Registry-Config header, writing the pulls' progress into
// the build's output (nothing when the build is quiet).
func (d *Daemon) buildPuller(opts api.BuildOptions, out api.BuildOutput) (builder.Puller, error) {
	var po distribution.Output = buildProgress{out}
	if opts.Quiet {
		po = nil
	}
	return d.distribution.BuildPuller(opts.RegistryConfig, opts.Platform, po)
}

// buildProgress writes pull messages into a build's stream.
type buildProgress struct{ out api.BuildOutput }

func (b buildProgress) Write(m jsonstream.Message) error { return b.out.Progress(m) }

var _ api.RegistryBackend = (*Daemon)(nil)

// DistributionInspect implements GET /distribution/{name}/json: the
// registry's descriptor of the manifest name points at, and its platforms.
func (d *Daemon) DistributionInspect(ctx context.Context, name string, auth registry.Auth) (*mregistry.DistributionInspect, error) {
	ref, err := distribution.ParseReference(name, "")
	if err != nil {
		return nil, err
	}
	desc, platforms, err := d.registry.Describe(ctx, ref, auth)
	if err != nil {
		return nil, err
	}
	return &mregistry.DistributionInspect{Descriptor: desc, Platforms: platforms}, nil
}
