package api

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/volume"
	"github.com/moby/moby/client"
)

// fakeVolumes is the fake backend's volume store: volumes by name, and the
// names a container uses.
type fakeVolumes struct {
	mu     sync.Mutex
	vols   map[string]volume.Volume
	inUse  map[string]bool
	prunes []Filters
}

func (b *fakeBackend) Volumes(_ context.Context, f Filters) ([]volume.Volume, error) {
	b.volumes.mu.Lock()
	defer b.volumes.mu.Unlock()
	var out []volume.Volume
	for _, name := range slices.Sorted(maps.Keys(b.volumes.vols)) {
		if len(f["name"]) == 0 || f["name"][name] {
			out = append(out, b.volumes.vols[name])
		}
	}
	return out, nil
}

func (b *fakeBackend) VolumeCreate(_ context.Context, req volume.CreateRequest) (*volume.Volume, error) {
	b.volumes.mu.Lock()
	defer b.volumes.mu.Unlock()
	if b.volumes.vols == nil {
		b.volumes.vols = map[string]volume.Volume{}
	}
	if req.Name == "" {
		req.Name = fmt.Sprintf("anon%d", len(b.volumes.vols))
	}
	v := volume.Volume{Name: req.Name, Driver: "local", Labels: req.Labels, Mountpoint: "/v/" + req.Name + "/_data", Scope: "local"}
	b.volumes.vols[req.Name] = v
	return &v, nil
}

func (b *fakeBackend) VolumeInspect(_ context.Context, name string) (*volume.Volume, error) {
	b.volumes.mu.Lock()
	defer b.volumes.mu.Unlock()
	v, ok := b.volumes.vols[name]
	if !ok {
		return nil, errdefs.ErrNotFound.WithMessage("get " + name + ": no such volume")
	}
	return &v, nil
}

func (b *fakeBackend) VolumeRemove(_ context.Context, name string, force bool) error {
	b.volumes.mu.Lock()
	defer b.volumes.mu.Unlock()
	switch _, ok := b.volumes.vols[name]; {
	case !ok && force:
		return nil
	case !ok:
		return errdefs.ErrNotFound.WithMessage("get " + name + ": no such volume")
	case b.volumes.inUse[name]:
		return errdefs.ErrConflict.WithMessage("remove " + name + ": volume is in use - [c1]")
	}
	delete(b.volumes.vols, name)
	return nil
}

func (b *fakeBackend) VolumesPrune(_ context.Context, f Filters) (*volume.PruneReport, error) {
	b.volumes.mu.Lock()
	defer b.volumes.mu.Unlock()
	b.volumes.prunes = append(b.volumes.prunes, f)
	report := &volume.PruneReport{VolumesDeleted: []string{}}
	for name := range b.volumes.vols {
		if !b.volumes.inUse[name] {
			report.VolumesDeleted = append(report.VolumesDeleted, name)
			delete(b.volumes.vols, name)
		}
	}
	return report, nil
}

func TestVolumeRoutes(t *testing.T) {
	ts := startServer(t, Options{})
	c := newClient(t, ts)
	ctx := context.Background()

	created, err := c.VolumeCreate(ctx, client.VolumeCreateOptions{Name: "data", Labels: map[string]string{"a": "b"}})
	if err != nil || created.Volume.Name != "data" || created.Volume.Labels["a"] != "b" {
		t.Fatalf("create: %+v %v", created, err)
	}
	if _, err := c.VolumeCreate(ctx, client.VolumeCreateOptions{Name: "busy"}); err != nil {
		t.Fatal(err)
	}
	ts.b.volumes.inUse = map[string]bool{"busy": true}

	list, err := c.VolumeList(ctx, client.VolumeListOptions{Filters: make(client.Filters).Add("name", "data")})
	if err != nil || len(list.Items) != 1 || list.Items[0].Name != "data" {
		t.Fatalf("list: %+v %v", list, err)
	}
	got, err := c.VolumeInspect(ctx, "data", client.VolumeInspectOptions{})
	if err != nil || got.Volume.Mountpoint != "/v/data/_data" {
		t.Fatalf("inspect: %+v %v", got, err)
	}
	if _, err := c.VolumeInspect(ctx, "nope", client.VolumeInspectOptions{}); !errdefs.IsNotFound(err) {
		t.Fatalf("inspect unknown: %v", err)
	}
	if _, err := c.VolumeRemove(ctx, "busy", client.VolumeRemoveOptions{}); !errdefs.IsConflict(err) {
		t.Fatalf("remove in use: %v", err)
	}
	if _, err := c.VolumeRemove(ctx, "nope", client.VolumeRemoveOptions{}); !errdefs.IsNotFound(err) {
		t.Fatalf("remove unknown: %v", err)
	}
	if _, err := c.VolumeRemove(ctx, "nope", client.VolumeRemoveOptions{Force: true}); err != nil {
		t.Fatalf("remove unknown with force: %v", err)
	}
	pruned, err := c.VolumePrune(ctx, client.VolumePruneOptions{All: true})
	if err != nil || !cmp.Equal(pruned.Report.VolumesDeleted, []string{"data"}) {
		t.Fatalf("prune: %+v %v", pruned, err)
	}
	if want := []Filters{{"all": {"true": true}}}; !cmp.Equal(ts.b.volumes.prunes, want) {
		t.Fatalf("prune filters %v, want %v", ts.b.volumes.prunes, want)
	}

	// Raw wire shapes the docker CLI relies on.
	resp, body := ts.do(t, "GET", "/v1.47/volumes", "")
	if resp.StatusCode != 200 || body != `{"Volumes":[{"Driver":"local","Labels":null,"Mountpoint":"/v/busy/_data","Name":"busy","Options":null,"Scope":"local"}],"Warnings":null}`+"\n" {
		t.Fatalf("list: %d %s", resp.StatusCode, body)
	}
	resp, body = ts.do(t, "POST", "/volumes/create", "")
	if resp.StatusCode != 201 {
		t.Fatalf("create without body: %d %s", resp.StatusCode, body)
	}
	resp, _ = ts.do(t, "DELETE", "/volumes/data?force=1", "")
	if resp.StatusCode != 204 {
		t.Fatalf("remove: %d", resp.StatusCode)
	}
}

// TestVolumePruneVersion: before API 1.42 a prune removes every unused
// volume (filter all=true), from 1.42 only what the filters ask.
func TestVolumePruneVersion(t *testing.T) {
	tests := []struct {
		name       string
		apiVersion string // the server's; "" for the default
		path       string
		want       Filters
	}{
		{"1.41", "", "/v1.41/volumes/prune", Filters{"all": {"true": true}}},
		{"1.41 all=false", "", `/v1.41/volumes/prune?filters={"all":["false"],"label":["a"]}`, Filters{"all": {"true": true}, "label": {"a": true}}},
		{"1.42", "", "/v1.42/volumes/prune", nil},
		{"1.42 all", "", `/v1.42/volumes/prune?filters={"all":["true"]}`, Filters{"all": {"true": true}}},
		{"unversioned", "", "/volumes/prune", nil},
		{"unversioned on a 1.41 server", "1.41", "/volumes/prune", Filters{"all": {"true": true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, Options{APIVersion: tt.apiVersion})
			if resp, body := ts.do(t, "POST", tt.path, ""); resp.StatusCode != 200 {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
			if diff := cmp.Diff([]Filters{tt.want}, ts.b.volumes.prunes); diff != "" {
				t.Errorf("filters passed to the backend (-want +got):\n%s", diff)
			}
		})
	}
}
