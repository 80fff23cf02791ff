package daemon

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"

	gcontainer "github.com/gantry/gantry/container"
	"github.com/gantry/gantry/events"
)

// TestUpdateRestartPolicy: docker update --restart changes and saves the
// policy, and refuses what create refuses, changing nothing.
func TestUpdateRestartPolicy(t *testing.T) {
	dir := t.TempDir()
	store, err := gcontainer.NewStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	d := &Daemon{containers: store, events: events.New()}
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
	// One update event, for the update that was made, as dockerd's.
	hist, sub := d.events.Subscribe(time.Unix(0, 1))
	sub.Close()
	var actions []string
	for _, m := range hist {
		actions = append(actions, string(m.Action))
	}
	if strings.Join(actions, " ") != "update" {
		t.Errorf("events: %v, want one update", actions)
	}
}
