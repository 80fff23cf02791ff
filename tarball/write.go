package tarball

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/distribution/reference"
	"github.com/moby/go-archive/compression"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/gantry/gantry/internal/stream"
)

// Image is one image to write into an archive.
type Image struct {
	Config []byte                  // the config as stored; its digest is the image ID
	Refs   []reference.NamedTagged // the names it is saved under; none for an image named by ID
	Layers []Layer                 // base first, one per diff ID of the config
}

// Layer is one layer of an Image: its blob, as the content store keeps it,
// and what the blob holds once decompressed.
type Layer struct {
	DiffID digest.Digest // the sha256 of the uncompressed tar
	Size   int64         // length of the uncompressed tar; 0 if unknown, then the blob is read once more to learn it
	Blob   io.ReadSeeker // the uncompressed tar, or it compressed with gzip or zstd; owned by the caller
}

// Write writes images to w as one archive in the format Docker 25 writes:
// an OCI image layout (oci-layout, index.json, blobs/sha256/...) that also
// carries Docker's manifest.json and repositories files, so that docker
// load of any version and OCI tools read it. Layers are uncompressed tars
// named by their diff IDs (docker load before 23.0 cannot read zstd), each
// written once however many images share it.
//
// The metadata comes first and the layers last, base layers first, so that
// a reader can extract each layer as it arrives (Read does). Timestamps and
// modes are fixed: saving the same images twice gives the same bytes.
//
// Every layer is checked as it is written: its length against the size,
// and the digest of its uncompressed tar against the diff ID (hashing costs
// less than the gzip or zstd decompression it rides on). A blob that fails
// ends the archive with an error (w then holds a truncated archive, which
// the caller must not pass off as complete).
func Write(ctx context.Context, w io.Writer, images []Image) error {
	if err := sizeLayers(ctx, images); err != nil {
		return err
	}
	meta, err := metadata(images)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(w)
	for _, dir := range []string{ocispec.ImageBlobsDir + "/", ocispec.ImageBlobsDir + "/" + digest.SHA256.String() + "/"} {
		if err := tw.WriteHeader(header(dir, tar.TypeDir, 0)); err != nil {
			return err
		}
	}
	for _, f := range meta {
		if err := writeFile(tw, f.name, f.data); err != nil {
			return err
		}
	}
	written := map[digest.Digest]bool{}
	for _, img := range images {
		for _, l := range img.Layers {
			if written[l.DiffID] {
				continue
			}
			written[l.DiffID] = true
			if err := writeLayer(ctx, tw, l); err != nil {
				return err
			}
		}
	}
	return tw.Close()
}

// sizeLayers fills in, in images, the sizes of layers whose records predate
// them, by decompressing their blobs.
func sizeLayers(ctx context.Context, images []Image) error {
	for _, img := range images {
		for i, l := range img.Layers {
			if l.Size > 0 {
				continue
			}
			rc, err := openLayer(l)
			if err != nil {
				return err
			}
			n, err := io.Copy(io.Discard, stream.WithContext(ctx, rc))
			rc.Close()
			if err != nil {
				return fmt.Errorf("read layer %s: %w", l.DiffID, err)
			}
			img.Layers[i].Size = n
		}
	}
	return nil
}

type file struct {
	name string
	data []byte
}

// metadata returns the files that describe images, in the order they are
// written: the OCI layout files, Docker's files, then each image's config
// and OCI manifest.
func metadata(images []Image) ([]file, error) {
	index := ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{}}
	items := []manifestItem{}
	repos := map[string]map[string]string{}
	var blobs []file
	seen := map[digest.Digest]bool{}
	for _, img := range images {
		configDigest := digest.FromBytes(img.Config)
		m := ocispec.Manifest{
			Versioned: specs.Versioned{SchemaVersion: 2},
			MediaType: ocispec.MediaTypeImageManifest,
			Config:    ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: configDigest, Size: int64(len(img.Config))},
			Layers:    []ocispec.Descriptor{},
		}
		item := manifestItem{Config: blobPath(configDigest), RepoTags: []string{}, Layers: []string{}}
		for _, l := range img.Layers {
			m.Layers = append(m.Layers, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: l.DiffID, Size: l.Size})
			item.Layers = append(item.Layers, blobPath(l.DiffID))
		}
		data, err := json.Marshal(m)
		if err != nil {
			return nil, err
		}
		desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(data), Size: int64(len(data))}
		if len(img.Refs) == 0 {
			index.Manifests = append(index.Manifests, desc)
		}
		for _, ref := range img.Refs {
			named := desc
			named.Annotations = map[string]string{annotationImageName: ref.String(), ocispec.AnnotationRefName: ref.Tag()}
			index.Manifests = append(index.Manifests, named)
			item.RepoTags = append(item.RepoTags, reference.FamiliarString(ref))
			if len(img.Layers) > 0 {
				name := reference.FamiliarName(ref)
				if repos[name] == nil {
					repos[name] = map[string]string{}
				}
				repos[name][ref.Tag()] = img.Layers[len(img.Layers)-1].DiffID.Encoded()
			}
		}
		items = append(items, item)
		for _, b := range []file{{blobPath(configDigest), img.Config}, {blobPath(desc.Digest), data}} {
			if d, _ := blobDigest(b.name); !seen[d] {
				seen[d] = true
				blobs = append(blobs, b)
			}
		}
	}
	files := []file{{ocispec.ImageLayoutFile, []byte(`{"imageLayoutVersion":"` + ocispec.ImageLayoutVersion + `"}`)}}
	for _, f := range []struct {
		name string
		v    any
	}{{ocispec.ImageIndexFile, index}, {manifestFile, items}, {repositoriesFile, repos}} {
		if f.name == repositoriesFile && len(repos) == 0 {
			continue // as Docker: only named images have an entry
		}
		data, err := json.Marshal(f.v)
		if err != nil {
			return nil, err
		}
		files = append(files, file{f.name, append(data, '\n')})
	}
	return append(files, blobs...), nil
}

// writeLayer writes the uncompressed tar of l as blobs/sha256/<diff ID>,
// checking its length and its digest.
func writeLayer(ctx context.Context, tw *tar.Writer, l Layer) error {
	rc, err := openLayer(l)
	if err != nil {
		return err
	}
	defer rc.Close()
	if err := tw.WriteHeader(header(blobPath(l.DiffID), tar.TypeReg, l.Size)); err != nil {
		return err
	}
	v := l.DiffID.Verifier()
	n, err := io.Copy(io.MultiWriter(tw, v), stream.WithContext(ctx, rc))
	switch {
	case err != nil:
		return fmt.Errorf("write layer %s: %w", l.DiffID, err)
	case n != l.Size:
		return fmt.Errorf("write layer %s: its blob holds %d bytes, not %d", l.DiffID, n, l.Size)
	case !v.Verified():
		return fmt.Errorf("write layer %s: its blob does not hold the layer", l.DiffID)
	}
	return nil
}

// openLayer rewinds the blob of l and returns its uncompressed content.
func openLayer(l Layer) (io.ReadCloser, error) {
	if _, err := l.Blob.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("read layer %s: %w", l.DiffID, err)
	}
	rc, err := compression.DecompressStream(bufio.NewReaderSize(l.Blob, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("read layer %s: %w", l.DiffID, err)
	}
	return rc, nil
}

func writeFile(tw *tar.Writer, name string, data []byte) error {
	if err := tw.WriteHeader(header(name, tar.TypeReg, int64(len(data)))); err != nil {
		return err
	}
	_, err := io.Copy(tw, bytes.NewReader(data))
	return err
}

// header is the fixed tar header of an archive entry: owned by root, mode
// 0644 (0755 for directories), dated at the epoch, in the ustar format
// every tar reader knows.
func header(name string, typ byte, size int64) *tar.Header {
	mode := int64(0o644)
	if typ == tar.TypeDir {
		mode = 0o755
	}
	return &tar.Header{Typeflag: typ, Name: name, Size: size, Mode: mode, ModTime: time.Unix(0, 0), Format: tar.FormatUSTAR}
}
