package registry

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// FuzzManifest decodes arbitrary bytes as a registry's manifest answer
// with an arbitrary Content-Type, and picks from an index the manifest of
// an arbitrary platform ("os/arch/variant"), as Resolve does. Invariants:
// no panic; refusals are invalid-argument, not-found or not-implemented
// errors (never a 500); the kind is one of the four manifest media types;
// the manifest chosen is one of the index's, for the platform asked
// (after normalization) or, on arm, a lower variant it runs.
func FuzzManifest(f *testing.F) {
	f.Fuzz(func(t *testing.T, contentType string, body []byte, platform string) {
		mt, err := mediaTypeOf(contentType, body)
		if err != nil {
			if !errdefs.IsInvalidArgument(err) && !errdefs.IsNotImplemented(err) {
				t.Fatalf("mediaTypeOf: unclassified error %v", err)
			}
			return
		}
		doc := document{body: body, mediaType: mt}
		switch mt {
		case ocispec.MediaTypeImageIndex, mediaTypeDockerList:
			if !doc.isIndex() {
				t.Fatalf("%s is not an index", mt)
			}
		case ocispec.MediaTypeImageManifest, mediaTypeDockerManifest:
			if doc.isIndex() {
				t.Fatalf("%s is an index", mt)
			}
			var m ocispec.Manifest
			_ = json.Unmarshal(body, &m)
			return
		default:
			t.Fatalf("media type %q", mt)
		}
		parts := strings.SplitN(platform, "/", 3)
		var want ocispec.Platform
		want.OS = parts[0]
		if len(parts) > 1 {
			want.Architecture = parts[1]
		}
		if len(parts) > 2 {
			want.Variant = parts[2]
		}
		desc, err := choose(body, want)
		if err != nil {
			if !errdefs.IsInvalidArgument(err) && !errdefs.IsNotFound(err) {
				t.Fatalf("choose: unclassified error %v", err)
			}
			return
		}
		var index ocispec.Index
		if err := json.Unmarshal(body, &index); err != nil {
			t.Fatalf("choose took an index that does not decode: %v", err)
		}
		found := false
		for _, m := range index.Manifests {
			found = found || (m.Digest == desc.Digest && m.Size == desc.Size && m.MediaType == desc.MediaType)
		}
		if !found || desc.Platform == nil {
			t.Fatalf("chose %+v, not an entry with a platform of %s", desc, body)
		}
		if want.OS == "" {
			want.OS = "linux"
		}
		if want.Architecture == "" {
			want.Architecture = "amd64"
		}
		got, w := normalize(*desc.Platform), normalize(want)
		if got.os != w.os || got.arch != w.arch || (got.variant != w.variant && got.arch != "arm") {
			t.Fatalf("asked for %+v, chose %+v", w, got)
		}
	})
}
