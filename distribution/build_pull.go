package distribution

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"maps"
	"slices"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	gimage "github.com/gantry/gantry/image"
	"github.com/gantry/gantry/internal/serveraddr"
	"github.com/gantry/gantry/registry"
)

// BuildPuller returns what pulls the base images of a build (FROM, COPY
// --from) for platform with the credentials of the build's
// X-Registry-Config header (registryConfig), writing the pulls' progress
// to out (nil: nowhere, for quiet builds), as the classic builder does.
// A header that does not decode, or a bad platform, is an
// invalid-argument error.
func (d *Engine) BuildPuller(registryConfig, platform string, out Output) (func(ctx context.Context, name string) error, error) {
	auths, err := decodeRegistryConfig(registryConfig)
	if err != nil {
		return nil, err
	}
	p, err := ParsePlatform(platform)
	if err != nil {
		return nil, err
	}
	if out == nil {
		out = discard{}
	}
	return func(ctx context.Context, name string) error {
		ref, err := gimage.ParseReference(name)
		if err != nil {
			return err
		}
		_, err = d.pull(ctx, ref, p, authFor(auths, reference.Domain(ref)), newProgress(out))
		return err
	}, nil
}

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
