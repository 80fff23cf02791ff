package api

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// The fake's containers hold one file, /etc/hostname, whose tar is
// hostnameTar; extractions are recorded in fakeBackend.extracts.
var hostnameStat = container.PathStat{Name: "hostname", Size: 5, Mode: 0o644, Mtime: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)}

type fakeExtract struct {
	Path string
	Data string
	Opts ExtractOptions
}

func hostnameTar() []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "hostname", Mode: 0o644, Size: 5})
	tw.Write([]byte("host\n"))
	tw.Close()
	return buf.Bytes()
}

func (b *fakeBackend) ContainerStatPath(_ context.Context, name, path string) (container.PathStat, error) {
	if _, err := b.container(name); err != nil {
		return container.PathStat{}, err
	}
	if path != "/etc/hostname" {
		return container.PathStat{}, errdefs.ErrNotFound.WithMessage(fmt.Sprintf("Could not find the file %s in container %s", path, name))
	}
	return hostnameStat, nil
}

func (b *fakeBackend) ContainerArchivePath(ctx context.Context, name, path string) (io.ReadCloser, container.PathStat, error) {
	st, err := b.ContainerStatPath(ctx, name, path)
	if err != nil {
		return nil, st, err
	}
	return io.NopCloser(bytes.NewReader(hostnameTar())), st, nil
}

func (b *fakeBackend) ContainerExtractToDir(_ context.Context, name, path string, src io.Reader, opts ExtractOptions) error {
	if _, err := b.container(name); err != nil {
		return err
	}
	data, err := io.ReadAll(src)
	if err != nil {
		return err
	}
	b.mu.Lock()
	b.extracts = append(b.extracts, fakeExtract{path, string(data), opts})
	b.mu.Unlock()
	return nil
}

func (b *fakeBackend) ContainerExport(_ context.Context, name string) (io.ReadCloser, error) {
	if _, err := b.container(name); err != nil {
		return nil, err
	}
	return io.NopCloser(bytes.NewReader(hostnameTar())), nil
}

// TestArchiveClient drives the archive endpoints with moby's client, as
// docker cp and docker export do.
func TestArchiveClient(t *testing.T) {
	ts := startServer(t, Options{})
	ts.mustCreate(t, "c", `{"Image":"busybox","Cmd":["echo","x"]}`)
	c := newClient(t, ts)
	ctx := context.Background()

	st, err := c.ContainerStatPath(ctx, "c", client.ContainerStatPathOptions{Path: "/etc/hostname"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(hostnameStat, st.Stat); diff != "" {
		t.Errorf("stat (-want +got):\n%s", diff)
	}
	if _, err := c.ContainerStatPath(ctx, "c", client.ContainerStatPathOptions{Path: "/nope"}); !errdefs.IsNotFound(err) {
		t.Errorf("stat of a missing path: %v, want not found", err)
	}

	res, err := c.CopyFromContainer(ctx, "c", client.CopyFromContainerOptions{SourcePath: "/etc/hostname"})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Content)
	res.Content.Close()
	if !bytes.Equal(body, hostnameTar()) || res.Stat.Name != "hostname" {
		t.Errorf("archive = %d bytes, stat %+v", len(body), res.Stat)
	}
	_, err = c.CopyFromContainer(ctx, "c", client.CopyFromContainerOptions{SourcePath: "/nope"})
	if !errdefs.IsNotFound(err) || !bytes.Contains([]byte(err.Error()), []byte("Could not find the file /nope in container c")) {
		t.Errorf("archive of a missing path: %v", err)
	}

	_, err = c.CopyToContainer(ctx, "c", client.CopyToContainerOptions{DestinationPath: "/tmp", Content: bytes.NewReader([]byte("tar")), CopyUIDGID: true})
	if err != nil {
		t.Fatal(err)
	}
	want := []fakeExtract{{"/tmp", "tar", ExtractOptions{NoOverwriteDirNonDir: true, CopyUIDGID: true}}}
	if diff := cmp.Diff(want, ts.b.extracts); diff != "" {
		t.Errorf("extractions (-want +got):\n%s", diff)
	}

	exp, err := c.ContainerExport(ctx, "c", client.ContainerExportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(exp)
	exp.Close()
	if !bytes.Equal(body, hostnameTar()) {
		t.Errorf("export = %q", body)
	}
	if _, err := c.ContainerExport(ctx, "nope", client.ContainerExportOptions{}); !errdefs.IsNotFound(err) {
		t.Errorf("export of a missing container: %v", err)
	}
}

func TestArchiveWire(t *testing.T) {
	ts := startServer(t, Options{})
	ts.mustCreate(t, "c", `{"Image":"busybox","Cmd":["echo","x"]}`)
	tests := []struct {
		method, path string
		status       int
		contentType  string
	}{
		{"GET", "/v1.41/containers/c/archive", http.StatusBadRequest, "application/json"},
		{"HEAD", "/v1.41/containers/c/archive?path=/nope", http.StatusNotFound, "application/json"},
		{"GET", "/v1.41/containers/c/archive?path=/etc/hostname", http.StatusOK, "application/x-tar"},
		{"GET", "/v1.41/containers/c/export", http.StatusOK, "application/octet-stream"},
		{"GET", "/v1.41/containers/nope/export", http.StatusNotFound, "application/json"},
	}
	for _, tt := range tests {
		resp, _ := ts.do(t, tt.method, tt.path, "")
		if resp.StatusCode != tt.status || resp.Header.Get("Content-Type") != tt.contentType {
			t.Errorf("%s %s = %d %q, want %d %q", tt.method, tt.path, resp.StatusCode, resp.Header.Get("Content-Type"), tt.status, tt.contentType)
		}
	}
}
