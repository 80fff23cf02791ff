package daemon

import (
	"fmt"
	"os"

	evtypes "github.com/moby/moby/api/types/events"
)

// ReloadRegistries replaces the registry mirrors and the insecure
// registries while gantryd runs, as dockerd's configuration reload does:
// pulls and pushes that start afterwards use them. An invalid mirror is an
// invalid-argument error and changes nothing. A reload is published as
// dockerd's daemon event.
func (d *Daemon) ReloadRegistries(mirrors, insecure []string) error {
	if err := d.registry.Reconfigure(mirrors, insecure); err != nil {
		return err
	}
	name, _ := os.Hostname()
	d.events.Publish(evtypes.Message{Type: evtypes.DaemonEventType, Action: evtypes.ActionReload, Actor: evtypes.Actor{
		ID: daemonID, Attributes: map[string]string{
			"name": name, "registry-mirrors": fmt.Sprint(mirrors), "insecure-registries": fmt.Sprint(insecure),
		},
	}})
	return nil
}
