package tarball

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"sort"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/google/go-cmp/cmp"
	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// memStore is an in-memory LayerStore: it keeps each layer tar by chain ID
// and notes how much of the archive had been read at each Apply.
type memStore struct {
	tars    map[digest.Digest][]byte
	applied []int64 // archive bytes read when each Apply started
	archive *countingReader
}

func newMemStore() *memStore { return &memStore{tars: map[digest.Digest][]byte{}} }

func (m *memStore) Apply(_ context.Context, parent digest.Digest, r io.Reader) (StoredLayer, error) {
	if m.archive != nil {
		m.applied = append(m.applied, m.archive.n)
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return StoredLayer{}, fmt.Errorf("apply layer: read: %w", err)
	}
	if _, err := tar.NewReader(bytes.NewReader(data)).Next(); err != nil {
		return StoredLayer{}, errdefs.ErrInvalidArgument.WithMessage("invalid layer tar: " + err.Error())
	}
	diffID := digest.FromBytes(data)
	chain := chainID(parent, diffID)
	m.tars[chain] = data
	return StoredLayer{ChainID: chain, DiffID: diffID, Blob: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: diffID, Size: int64(len(data))}}, nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// layerTar is a layer holding the given files (name -> content).
func layerTar(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(files[n])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		io.WriteString(tw, files[n])
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// bigLayer is a layer with one file of n random bytes, too big to be kept
// in memory by Read.
func bigLayer(t *testing.T, n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return layerTar(t, map[string]string{"big": string(b)})
}

func configFor(t *testing.T, cmd string, layers ...[]byte) []byte {
	t.Helper()
	c := ocispec.Image{Platform: ocispec.Platform{OS: "linux", Architecture: runtime.GOARCH}, RootFS: ocispec.RootFS{Type: "layers"}}
	c.Config.Cmd = []string{cmd}
	for _, l := range layers {
		c.RootFS.DiffIDs = append(c.RootFS.DiffIDs, digest.FromBytes(l))
	}
	data, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func zstdBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	return enc.EncodeAll(b, nil)
}

func gzipBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func tagged(t *testing.T, name string) reference.NamedTagged {
	t.Helper()
	ref, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		t.Fatal(err)
	}
	return reference.TagNameOnly(ref).(reference.NamedTagged)
}

// summary is what a test compares of a loaded image: its config's command,
// its layers' content and its names.
type summary struct {
	Cmd    string
	Layers []string // digests of the layer tars the store holds
	Refs   []string
}

func summarize(t *testing.T, imgs []Loaded) []summary {
	t.Helper()
	var out []summary
	for _, img := range imgs {
		var c ocispec.Image
		if err := json.Unmarshal(img.Config, &c); err != nil {
			t.Fatal(err)
		}
		s := summary{Cmd: strings.Join(c.Config.Cmd, " ")}
		for _, l := range img.Layers {
			s.Layers = append(s.Layers, l.Digest.String())
		}
		for _, r := range img.Refs {
			s.Refs = append(s.Refs, reference.FamiliarString(r))
		}
		out = append(out, s)
	}
	return out
}

func digests(layers ...[]byte) []string {
	var out []string
	for _, l := range layers {
		out = append(out, digest.FromBytes(l).String())
	}
	return out
}

func TestWriteReadRoundTrip(t *testing.T) {
	base := bigLayer(t, 3<<20)
	mid := layerTar(t, map[string]string{"etc/a": "a"})
	other := layerTar(t, map[string]string{"etc/b": "b"})
	// Blobs as the content store keeps them: zstd, and one gzip; the size of
	// one is unknown, as in records older than the size.
	images := func() []Image {
		return []Image{
			{Config: configFor(t, "one", base, mid), Refs: []reference.NamedTagged{tagged(t, "me/one:1"), tagged(t, "me/one:latest")}, Layers: []Layer{
				{DiffID: digest.FromBytes(base), Size: int64(len(base)), Blob: bytes.NewReader(zstdBytes(t, base))},
				{DiffID: digest.FromBytes(mid), Blob: bytes.NewReader(gzipBytes(t, mid))},
			}},
			{Config: configFor(t, "two", base, other), Layers: []Layer{
				{DiffID: digest.FromBytes(base), Size: int64(len(base)), Blob: bytes.NewReader(zstdBytes(t, base))},
				{DiffID: digest.FromBytes(other), Size: int64(len(other)), Blob: bytes.NewReader(other)},
			}},
		}
	}
	var archive bytes.Buffer
	if err := Write(context.Background(), &archive, images()); err != nil {
		t.Fatal(err)
	}
	var again bytes.Buffer
	if err := Write(context.Background(), &again, images()); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(archive.Bytes(), again.Bytes()) {
		t.Error("two saves of the same images differ")
	}

	// Layers are uncompressed, named by diff ID, each written once.
	entries := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(archive.Bytes()))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, dup := entries[hdr.Name]; dup {
			t.Errorf("entry %s written twice", hdr.Name)
		}
		entries[hdr.Name], _ = io.ReadAll(tr)
	}
	for _, l := range [][]byte{base, mid, other} {
		if got := entries[blobPath(digest.FromBytes(l))]; !bytes.Equal(got, l) {
			t.Errorf("layer %s is not stored uncompressed under its diff ID", digest.FromBytes(l))
		}
	}
	var items []manifestItem
	if err := json.Unmarshal(entries[manifestFile], &items); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"me/one:1", "me/one:latest"}, items[0].RepoTags); diff != "" {
		t.Errorf("manifest.json RepoTags (-want +got):\n%s", diff)
	}
	var index ocispec.Index
	if err := json.Unmarshal(entries[ocispec.ImageIndexFile], &index); err != nil {
		t.Fatal(err)
	}
	if len(index.Manifests) != 3 || index.Manifests[0].Annotations[annotationImageName] != "docker.io/me/one:1" ||
		index.Manifests[1].Annotations[ocispec.AnnotationRefName] != "latest" || index.Manifests[2].Annotations != nil {
		t.Errorf("index.json manifests = %+v", index.Manifests)
	}
	if got := string(entries[repositoriesFile]); got != fmt.Sprintf(`{"me/one":{"1":"%[1]s","latest":"%[1]s"}}`+"\n", digest.FromBytes(mid).Encoded()) {
		t.Errorf("repositories = %s", got)
	}

	store := newMemStore()
	store.archive = &countingReader{r: bytes.NewReader(archive.Bytes())}
	loaded, err := Read(context.Background(), store.archive, t.TempDir(), store, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []summary{
		{Cmd: "one", Layers: digests(base, mid), Refs: []string{"me/one:1", "me/one:latest"}},
		{Cmd: "two", Layers: digests(base, other)},
	}
	if diff := cmp.Diff(want, summarize(t, loaded)); diff != "" {
		t.Errorf("loaded (-want +got):\n%s", diff)
	}
	// Write puts the metadata first, so Read stores the layers as they
	// stream in: the 3 MB base layer before most of the archive was read.
	if len(store.applied) != 3 || store.applied[0] >= int64(archive.Len()/2) {
		t.Errorf("layers applied at archive offsets %v of %d, want the first one early", store.applied, archive.Len())
	}
}

// tarFile is an entry of a hand-made archive.
type tarFile struct {
	name, link string // link: a symlink target
	data       []byte
}

func makeTar(t *testing.T, files []tarFile) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		hdr := &tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.data)), Typeflag: tar.TypeReg}
		if f.link != "" {
			hdr = &tar.Header{Name: f.name, Linkname: f.link, Mode: 0o777, Typeflag: tar.TypeSymlink}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		tw.Write(f.data)
	}
	tw.Close()
	return buf.Bytes()
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// dockerLegacyArchive is what docker save of Docker 20.10 writes: a
// directory per layer, the config beside them, manifest.json after all of
// them, a symlink for a layer two images share at different v1 IDs; here
// one layer is gzip-compressed, as docker load accepts.
func dockerLegacyArchive(t *testing.T, base, top []byte) []byte {
	cfg1 := configFor(t, "one", base, top)
	cfg2 := configFor(t, "two", base)
	hex1, hex2 := digest.FromBytes(cfg1).Encoded(), digest.FromBytes(cfg2).Encoded()
	v1a, v1b, v1c := strings.Repeat("a", 64), strings.Repeat("b", 64), strings.Repeat("c", 64)
	manifest := []manifestItem{
		{Config: hex1 + ".json", RepoTags: []string{"legacy/one:1"}, Layers: []string{v1a + "/layer.tar", v1b + "/layer.tar"}},
		{Config: hex2 + ".json", RepoTags: nil, Layers: []string{v1c + "/layer.tar"}},
	}
	return makeTar(t, []tarFile{
		{name: v1a + "/VERSION", data: []byte("1.0")},
		{name: v1a + "/json", data: []byte(`{"id":"` + v1a + `"}`)},
		{name: v1a + "/layer.tar", data: base},
		{name: v1b + "/VERSION", data: []byte("1.0")},
		{name: v1b + "/layer.tar", data: gzipBytes(t, top)},
		{name: v1c + "/layer.tar", link: "../" + v1a + "/layer.tar"},
		{name: hex1 + ".json", data: cfg1},
		{name: hex2 + ".json", data: cfg2},
		{name: manifestFile, data: mustJSON(t, manifest)},
		{name: repositoriesFile, data: []byte(`{"legacy/one":{"1":"` + v1b + `"}}`)},
	})
}

func TestReadDockerLegacy(t *testing.T) {
	base, top := bigLayer(t, 2<<20), layerTar(t, map[string]string{"x": "1"})
	store := newMemStore()
	loaded, err := Read(context.Background(), bytes.NewReader(dockerLegacyArchive(t, base, top)), t.TempDir(), store, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []summary{
		{Cmd: "one", Layers: digests(base, top), Refs: []string{"legacy/one:1"}},
		{Cmd: "two", Layers: digests(base)},
	}
	if diff := cmp.Diff(want, summarize(t, loaded)); diff != "" {
		t.Errorf("loaded (-want +got):\n%s", diff)
	}
	if !bytes.Equal(store.tars[digest.FromBytes(base)], base) {
		t.Error("the base layer was not stored as it was in the archive")
	}
}

// ociArchive is a plain OCI layout, as skopeo or buildkit write it, with
// no manifest.json: a zstd layer, one image named by containerd's
// annotation, one only by a tag (so unnamed), and one behind a
// multi-platform index named by an OCI ref name that is a reference.
func ociArchive(t *testing.T, layer []byte) []byte {
	zl := zstdBytes(t, layer)
	cfg := configFor(t, "oci", layer)
	m := mustJSON(t, ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
		Config: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(cfg), Size: int64(len(cfg))},
		Layers: []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageLayerZstd, Digest: digest.FromBytes(zl), Size: int64(len(zl))}},
	})
	mdesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(m), Size: int64(len(m))}
	other := mdesc
	other.Digest = digest.FromString("another platform")
	other.Platform = &ocispec.Platform{OS: "linux", Architecture: "s390x-not-here"}
	here := mdesc
	here.Platform = &ocispec.Platform{OS: "linux", Architecture: runtime.GOARCH}
	nested := mustJSON(t, ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{other, here}})
	named := func(d ocispec.Descriptor, a map[string]string) ocispec.Descriptor { d.Annotations = a; return d }
	index := ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{
		named(mdesc, map[string]string{annotationImageName: "docker.io/library/oci:1", ocispec.AnnotationRefName: "1"}),
		named(mdesc, map[string]string{ocispec.AnnotationRefName: "latest"}),
		named(ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromBytes(nested), Size: int64(len(nested))},
			map[string]string{ocispec.AnnotationRefName: "example.com/multi:2"}),
	}}
	return makeTar(t, []tarFile{
		{name: "./" + ocispec.ImageLayoutFile, data: []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{name: "./" + blobPath(digest.FromBytes(zl)), data: zl},
		{name: "./" + blobPath(digest.FromBytes(cfg)), data: cfg},
		{name: "./" + blobPath(mdesc.Digest), data: m},
		{name: "./" + blobPath(digest.FromBytes(nested)), data: nested},
		{name: "./" + ocispec.ImageIndexFile, data: mustJSON(t, index)},
	})
}

func TestReadOCILayout(t *testing.T) {
	layer := bigLayer(t, 2<<20)
	var progress []string
	report := func(id string, current, total int64) {
		progress = append(progress, fmt.Sprintf("%s %v", id, current == total))
	}
	// docker load takes compressed archives too.
	archive := gzipBytes(t, ociArchive(t, layer))
	loaded, err := Read(context.Background(), bytes.NewReader(archive), t.TempDir(), newMemStore(), report)
	if err != nil {
		t.Fatal(err)
	}
	want := []summary{{Cmd: "oci", Layers: digests(layer), Refs: []string{"oci:1", "example.com/multi:2"}}}
	if diff := cmp.Diff(want, summarize(t, loaded)); diff != "" {
		t.Errorf("loaded (-want +got):\n%s", diff)
	}
	id := digest.FromBytes(layer).Encoded()[:12]
	if len(progress) < 2 || progress[0] != id+" false" || progress[len(progress)-1] != id+" true" {
		t.Errorf("progress = %v, want from %s 0 to done", progress, id)
	}
}

func TestReadErrors(t *testing.T) {
	base, top := bigLayer(t, 2<<20), layerTar(t, map[string]string{"x": "1"})
	var saved bytes.Buffer
	err := Write(context.Background(), &saved, []Image{{Config: configFor(t, "one", base, top), Refs: []reference.NamedTagged{tagged(t, "me/one:1")}, Layers: []Layer{
		{DiffID: digest.FromBytes(base), Size: int64(len(base)), Blob: bytes.NewReader(base)},
		{DiffID: digest.FromBytes(top), Size: int64(len(top)), Blob: bytes.NewReader(top)},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	lying := configFor(t, "lies", top) // says its layer is top, but the archive holds base
	tests := []struct {
		name    string
		archive []byte
		want    string
	}{
		{"truncated in a layer", saved.Bytes()[:saved.Len()/2], "unexpected EOF"},
		{"truncated legacy archive", dockerLegacyArchive(t, base, top)[:1<<20], "unexpected EOF"},
		{"not a tar", []byte("this is not an archive, but long enough to have a header block ..."), "read image archive"},
		{"empty tar", makeTar(t, nil), "neither manifest.json nor index.json"},
		{"diff ID mismatch", makeTar(t, []tarFile{
			{name: "l.tar", data: base},
			{name: "c.json", data: lying},
			{name: manifestFile, data: mustJSON(t, []manifestItem{{Config: "c.json", Layers: []string{"l.tar"}}})},
		}), "invalid diffID for layer 0: expected \"" + digest.FromBytes(top).String()},
		{"layer count mismatch", makeTar(t, []tarFile{
			{name: "c.json", data: lying},
			{name: manifestFile, data: mustJSON(t, []manifestItem{{Config: "c.json"}})},
		}), "layers length mismatch: expected 1, got 0"},
		{"layer missing", makeTar(t, []tarFile{
			{name: "c.json", data: lying},
			{name: manifestFile, data: mustJSON(t, []manifestItem{{Config: "c.json", Layers: []string{"gone/layer.tar"}}})},
		}), "gone/layer.tar is missing"},
		{"blob does not match its digest", makeTar(t, []tarFile{
			{name: blobPath(digest.FromBytes(top)), data: top},
			{name: blobPath(digest.FromString("x")), data: configFor(t, "c", top)},
			{name: manifestFile, data: mustJSON(t, []manifestItem{{Config: blobPath(digest.FromString("x")), Layers: []string{blobPath(digest.FromBytes(top))}}})},
		}), "has digest"},
		{"corrupt gzip layer", makeTar(t, []tarFile{
			{name: "l.tar", data: gzipBytes(t, top)[:40]},
			{name: "c.json", data: configFor(t, "c", top)},
			{name: manifestFile, data: mustJSON(t, []manifestItem{{Config: "c.json", Layers: []string{"l.tar"}}})},
		}), "read layer l.tar"},
		{"entry leaving the archive", makeTar(t, []tarFile{{name: "../evil", data: []byte("x")}}), "leaves the archive"},
		{"bad tag", makeTar(t, []tarFile{
			{name: "c.json", data: configFor(t, "c")},
			{name: manifestFile, data: mustJSON(t, []manifestItem{{Config: "c.json", RepoTags: []string{"Bad Name"}}})},
		}), "repository tag \"Bad Name\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			loaded, err := Read(context.Background(), bytes.NewReader(tt.archive), t.TempDir(), newMemStore(), nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !errdefs.IsInvalidArgument(err) {
				t.Errorf("Read = %v, want an invalid-argument error with %q", err, tt.want)
			}
			if loaded != nil {
				t.Errorf("Read returned images %v with its error", loaded)
			}
		})
	}
}

func TestWriteRefusesABadBlob(t *testing.T) {
	good, bad := layerTar(t, map[string]string{"a": "1"}), layerTar(t, map[string]string{"a": "2"})
	corrupt := zstdBytes(t, good)
	corrupt[len(corrupt)-6] ^= 0xff
	tests := []struct {
		name string
		blob []byte
		want string
	}{
		{"uncompressed, another layer", bad, "does not hold the layer"},
		{"gzip, another layer", gzipBytes(t, bad), "does not hold the layer"},
		{"zstd, another layer", zstdBytes(t, bad), "does not hold the layer"},
		{"zstd, corrupt", corrupt, "write layer"},
		{"gzip, cut short", gzipBytes(t, good)[:30], "write layer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Write(context.Background(), io.Discard, []Image{{Config: configFor(t, "x", good), Layers: []Layer{
				{DiffID: digest.FromBytes(good), Size: int64(len(good)), Blob: bytes.NewReader(tt.blob)},
			}}})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Write = %v, want an error with %q", err, tt.want)
			}
		})
	}
}
