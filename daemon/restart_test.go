package daemon

import (
	"context"
	"testing"

	"github.com/moby/moby/api/types/container"

	gcontainer "github.com/gantry/gantry/container"
)

// TestUpdateRestartPolicy: docker update --restart changes and saves the
// policy, and refuses what create refuses, changing nothing.
func TestUpdateRestartPolicy(t *testing.T) {
	dir := t.TempDir()
	store, err := gcontainer.NewStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	d := &Daemon{containers: store}
	c := &gcontainer.Container{Config: &container.Config{Image: "busybox"}, HostConfig: &container.HostConfig{}, State: gcontainer.State{Status: gcontainer.Created}}
	if err := store.Add(c, "web"); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	update := func(p container.RestartPolicy) error {
		_, err := d.UpdateContainer(ctx, "web", container.UpdateConfig{RestartPolicy: p})
		return err
	}
	if err := update(container.RestartPolicy{Name: "on-failure", MaximumRetryCount: 4}); err != nil {
		t.Fatal(err)
	}
	if err := update(container.RestartPolicy{Name: "always", MaximumRetryCount: 4}); err == nil ||
		err.Error() != "invalid restart policy: maximum retry count can only be used with 'on-failure'" {
		t.Errorf("always with a count: %v", err)
	}
	again, err := gcontainer.NewStore(dir) // what was saved
	if err != nil {
		t.Fatal(err)
	}
	saved, err := again.Get("web")
	if err != nil {
		t.Fatal(err)
	}
	if p := saved.HostConfig.RestartPolicy; p.Name != "on-failure" || p.MaximumRetryCount != 4 {
		t.Errorf("saved policy %+v, want on-failure:4", p)
	}
}
