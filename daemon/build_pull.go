package daemon

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"maps"
	"slices"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/jsonstream"

	"github.com/gantry/gantry/api"
	"github.com/gantry/gantry/builder"
	gimage "github.com/gantry/gantry/image"
	"github.com/gantry/gantry/internal/serveraddr"
	"github.com/gantry/gantry/registry"
)

// buildPuller pulls the base images of a build with the credentials of
// the build's X-Registry-Config header, writing the pulls' progress into
// the build's output (nothing when the build is quiet), as the classic
// builder does.
func (d *Daemon) buildPuller(opts api.BuildOptions, out api.BuildOutput) (builder.Puller, error) {
	auths, err := decodeRegistryConfig(opts.RegistryConfig)
	if err != nil {
		return nil, err
	}
	platform, err := parsePlatform(opts.Platform)
	if err != nil {
		return nil, err
	}
	var po api.ProgressOutput = buildProgress{out}
	if opts.Quiet {
		po = discard{}
	}
	return func(ctx context.Context, name string) error {
		ref, err := gimage.ParseReference(name)
		if err != nil {
			return err
		}
		_, err = d.pull(ctx, ref, platform, authFor(auths, reference.Domain(ref)), newProgress(po))
		return err
	}, nil
}

// buildProgress writes pull messages into a build's stream.
type buildProgress struct{ out api.BuildOutput }

func (b buildProgress) Write(m jsonstream.Message) error { return b.out.Progress(m) }

// decodeRegistryConfig decodes X-Registry-Config: base64url JSON of
// registry address -> credentials.
func decodeRegistryConfig(header string) (map[string]registry.Auth, error) {
	auths := map[string]registry.Auth{}
	if header == "" {
		return auths, nil
	}
	var data []byte
	var err error
	for _, enc := range []*base64.Encoding{base64.URLEncoding, base64.RawURLEncoding, base64.StdEncoding} {
		if data, err = enc.DecodeString(strings.TrimSpace(header)); err == nil {
			break
		}
	}
	if err == nil {
		err = json.Unmarshal(data, &auths)
	}
	if err != nil {
		return nil, errdefs.ErrInvalidArgument.WithMessage("invalid X-Registry-Config header: " + err.Error())
	}
	return auths, nil
}

// authFor picks the credentials for the registry host from auths, whose
// keys are addresses as the docker CLI writes them: "host[:port]",
// possibly with a scheme and a path, and Docker Hub's
// "https://index.docker.io/v1/". The key that is host itself comes first,
// then the others in sorted order.
func authFor(auths map[string]registry.Auth, host string) registry.Auth {
	if auth, ok := auths[host]; ok {
		return auth
	}
	want := serveraddr.Host(host)
	for _, key := range slices.Sorted(maps.Keys(auths)) {
		if serveraddr.Host(key) == want {
			return auths[key]
		}
	}
	return registry.Auth{}
}
