package dockerfile

import (
	"testing"

	"github.com/containerd/errdefs"
	"github.com/google/go-cmp/cmp"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestApplyChanges(t *testing.T) {
	base := func() dockerspec.DockerOCIImageConfig {
		var c dockerspec.DockerOCIImageConfig
		c.Env = []string{"PATH=/bin", "A=1"}
		c.Cmd = []string{"sh"}
		c.WorkingDir = "/srv"
		return c
	}
	for _, tc := range []struct {
		name    string
		changes []string
		want    func(c *dockerspec.DockerOCIImageConfig)
	}{
		{name: "cmd exec form", changes: []string{`CMD ["cat","/f"]`}, want: func(c *dockerspec.DockerOCIImageConfig) { c.Cmd = []string{"cat", "/f"} }},
		{name: "cmd shell form", changes: []string{`CMD echo $A`}, want: func(c *dockerspec.DockerOCIImageConfig) { c.Cmd = []string{"/bin/sh", "-c", "echo $A"} }},
		{name: "entrypoint resets cmd", changes: []string{`ENTRYPOINT ["/bin/x"]`}, want: func(c *dockerspec.DockerOCIImageConfig) { c.Entrypoint, c.Cmd = []string{"/bin/x"}, nil }},
		{name: "entrypoint after cmd keeps it", changes: []string{`CMD ["y"]`, `ENTRYPOINT ["/bin/x"]`}, want: func(c *dockerspec.DockerOCIImageConfig) {
			c.Entrypoint, c.Cmd = []string{"/bin/x"}, []string{"y"}
		}},
		{name: "env replaces and expands", changes: []string{"ENV A=2 B=${A}x"}, want: func(c *dockerspec.DockerOCIImageConfig) {
			c.Env = []string{"PATH=/bin", "A=2", "B=1x"}
		}},
		{name: "relative workdir", changes: []string{"WORKDIR app"}, want: func(c *dockerspec.DockerOCIImageConfig) { c.WorkingDir = "/srv/app" }},
		{name: "user", changes: []string{"USER nobody"}, want: func(c *dockerspec.DockerOCIImageConfig) { c.User = "nobody" }},
		{name: "expose", changes: []string{"EXPOSE 8080 53/udp"}, want: func(c *dockerspec.DockerOCIImageConfig) {
			c.ExposedPorts = map[string]struct{}{"8080/tcp": {}, "53/udp": {}}
		}},
		{name: "label", changes: []string{`LABEL a=b "c d"=e`}, want: func(c *dockerspec.DockerOCIImageConfig) {
			c.Labels = map[string]string{"a": "b", "c d": "e"}
		}},
		{name: "stopsignal and volume", changes: []string{"STOPSIGNAL SIGINT", "VOLUME /data"}, want: func(c *dockerspec.DockerOCIImageConfig) {
			c.StopSignal = "SIGINT"
			c.Volumes = map[string]struct{}{"/data": {}}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, want := base(), base()
			if err := ApplyChanges(&got, tc.changes); err != nil {
				t.Fatal(err)
			}
			tc.want(&want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

func TestApplyChangesRejects(t *testing.T) {
	for _, change := range []string{"RUN echo", "FROM busybox", "CMDD x", "ADD a b"} {
		c := dockerspec.DockerOCIImageConfig{ImageConfig: ocispec.ImageConfig{Cmd: []string{"sh"}}}
		err := ApplyChanges(&c, []string{`ENV X=1`, change})
		if !errdefs.IsInvalidArgument(err) {
			t.Errorf("ApplyChanges(%q) error = %v, want invalid argument", change, err)
		}
		if len(c.Env) != 0 {
			t.Errorf("ApplyChanges(%q) changed the config on error: %v", change, c.Env)
		}
	}
}
