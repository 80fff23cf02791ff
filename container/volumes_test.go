package container

import (
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
)

func TestVolumes(t *testing.T) {
	cfg := &container.Config{Volumes: map[string]struct{}{
		"/anon": {}, "/data/": {}, "/bound": {}, "/mounted": {}, "/tmp": {},
	}}
	hc := &container.HostConfig{
		Binds: []string{"data:/data", "/host:/bound:ro", "ro:/ro:ro,nocopy"},
		Mounts: []mount.Mount{
			{Type: mount.TypeVolume, Source: "m", Target: "/mounted", ReadOnly: true, VolumeOptions: &mount.VolumeOptions{
				NoCopy: true, Labels: map[string]string{"a": "b"}, DriverConfig: &mount.Driver{Name: "local", Options: map[string]string{"o": "x"}},
			}},
			{Type: mount.TypeVolume, Target: "/anon2"},
			{Type: mount.TypeTmpfs, Target: "/t"},
		},
		Tmpfs: map[string]string{"/tmp": ""},
	}
	got, err := Volumes(cfg, hc)
	if err != nil {
		t.Fatal(err)
	}
	want := []VolumeMount{
		{Name: "data", Destination: "/data", Mode: "z"},
		{Name: "ro", Destination: "/ro", ReadOnly: true, NoCopy: true, Mode: "ro,nocopy"},
		{Name: "m", Destination: "/mounted", ReadOnly: true, NoCopy: true, Mode: "z", Driver: "local",
			Labels: map[string]string{"a": "b"}, DriverOpts: map[string]string{"o": "x"}},
		{Destination: "/anon2", Anonymous: true, Mode: "z"},
		{Destination: "/anon", Anonymous: true},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("Volumes (-want +got):\n%s", diff)
	}
}

func TestVolumesErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  container.Config
		hc   container.HostConfig
		is   func(error) bool
		text string
	}{
		{"bind without destination", container.Config{}, container.HostConfig{Binds: []string{"data"}}, errdefs.IsInvalidArgument, "invalid volume specification: 'data'"},
		{"relative destination", container.Config{}, container.HostConfig{Binds: []string{"data:rel"}}, errdefs.IsInvalidArgument, `invalid volume specification: 'data:rel': invalid mount config for type "volume": invalid mount path: 'rel' mount path must be absolute`},
		{"relative bind destination", container.Config{}, container.HostConfig{Binds: []string{"/tmp:rel:ro"}}, errdefs.IsInvalidArgument, `invalid volume specification: '/tmp:rel:ro': invalid mount config for type "bind": invalid mount path: 'rel' mount path must be absolute`},
		{"bad mode", container.Config{}, container.HostConfig{Binds: []string{"data:/d:xyz"}}, errdefs.IsInvalidArgument, "invalid mode: xyz"},
		{"relative VOLUME", container.Config{Volumes: map[string]struct{}{"rel": {}}}, container.HostConfig{}, errdefs.IsInvalidArgument, "mount path must be absolute"},
		{"mount without target", container.Config{}, container.HostConfig{Mounts: []mount.Mount{{Type: mount.TypeVolume, Source: "v"}}}, errdefs.IsInvalidArgument, `invalid mount config for type "volume": field Target must not be empty`},
		{"volume with bind options", container.Config{}, container.HostConfig{Mounts: []mount.Mount{{Type: mount.TypeVolume, Source: "v", Target: "/v", BindOptions: &mount.BindOptions{}}}}, errdefs.IsInvalidArgument, "BindOptions"},
		{"missing bind source", container.Config{}, container.HostConfig{Mounts: []mount.Mount{{Type: mount.TypeBind, Source: "/nonexistent-gantry", Target: "/v"}}}, errdefs.IsInvalidArgument, `invalid mount config for type "bind": bind source path does not exist: /nonexistent-gantry`},
		{"two volumes on one path", container.Config{}, container.HostConfig{Binds: []string{"a:/data", "b:/data/"}}, errdefs.IsInvalidArgument, "Duplicate mount point: /data"},
		{"bind and volume on one path", container.Config{}, container.HostConfig{Binds: []string{"/tmp:/data"}, Mounts: []mount.Mount{{Type: mount.TypeVolume, Source: "v", Target: "/data"}}}, errdefs.IsInvalidArgument, "Duplicate mount point: /data"},
		{"two mounts on one path", container.Config{}, container.HostConfig{Mounts: []mount.Mount{{Type: mount.TypeVolume, Target: "/data"}, {Type: mount.TypeTmpfs, Target: "/data"}}}, errdefs.IsInvalidArgument, "Duplicate mount point: /data"},
		{"volume and --tmpfs on one path", container.Config{}, container.HostConfig{Binds: []string{"a:/data"}, Tmpfs: map[string]string{"/data/": ""}}, errdefs.IsInvalidArgument, "Duplicate mount point: /data"},
		{"subpath", container.Config{}, container.HostConfig{Mounts: []mount.Mount{{Type: mount.TypeVolume, Source: "v", Target: "/v", VolumeOptions: &mount.VolumeOptions{Subpath: "x"}}}}, errdefs.IsNotImplemented, "subpath"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Volumes(&tc.cfg, &tc.hc)
			if err == nil || !tc.is(err) || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("got %v, want %q", err, tc.text)
			}
		})
	}
}

func TestVolumesVolumeDriver(t *testing.T) {
	cfg := &container.Config{Volumes: map[string]struct{}{"/anon": {}}}
	hc := &container.HostConfig{Binds: []string{"v:/v"}, VolumeDriver: "other"}
	got, err := Volumes(cfg, hc)
	if err != nil {
		t.Fatal(err)
	}
	want := []VolumeMount{
		{Name: "v", Destination: "/v", Mode: "z", Driver: "other"},
		{Destination: "/anon", Anonymous: true, Driver: "other"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("Volumes (-want +got):\n%s", diff)
	}
}
