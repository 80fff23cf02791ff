package daemon

import (
	"maps"
	"strconv"
	"strings"
	"time"

	evtypes "github.com/moby/moby/api/types/events"

	gcontainer "github.com/gantry/gantry/container"
	"github.com/gantry/gantry/events"
)

// SubscribeEvents implements GET /events (api.EventsBackend).
func (d *Daemon) SubscribeEvents(since time.Time) ([]events.Message, *events.Subscription) {
	return d.events.Subscribe(since)
}

// containerEvent publishes an event of c, with dockerd's attributes: its
// labels, image and name, then extra. The caller may hold c.Lock.
func (d *Daemon) containerEvent(c *gcontainer.Container, action evtypes.Action, extra map[string]string) {
	attrs := map[string]string{}
	maps.Copy(attrs, c.Config.Labels)
	attrs["image"] = c.Config.Image
	attrs["name"] = c.Name
	maps.Copy(attrs, extra)
	d.events.Publish(evtypes.Message{Type: evtypes.ContainerEventType, Action: action, Actor: evtypes.Actor{ID: c.ID, Attributes: attrs}})
}

// execEvent publishes exec_create and exec_start as dockerd writes them:
// the action, then the program and its arguments after a space each
// ("exec_create: true " for a command without arguments).
func (d *Daemon) execEvent(c *gcontainer.Container, action evtypes.Action, execID string, cmd []string) {
	var prog string
	if len(cmd) > 0 {
		prog, cmd = cmd[0], cmd[1:]
	}
	d.containerEvent(c, evtypes.Action(string(action)+": "+prog+" "+strings.Join(cmd, " ")), map[string]string{"execID": execID})
}

// imageEvent publishes an event of an image: id is what dockerd puts in
// the actor's ID (an image ID, or the reference of a pull or push), name
// the reference concerned.
func (d *Daemon) imageEvent(action evtypes.Action, id, name string) {
	d.events.Publish(evtypes.Message{Type: evtypes.ImageEventType, Action: action, Actor: evtypes.Actor{ID: id, Attributes: map[string]string{"name": name}}})
}

// networkEvent publishes an event of a network; container is set for
// connect and disconnect.
func (d *Daemon) networkEvent(action evtypes.Action, id, name, driver, container string) {
	attrs := map[string]string{"name": name, "type": driver}
	if container != "" {
		attrs["container"] = container
	}
	d.events.Publish(evtypes.Message{Type: evtypes.NetworkEventType, Action: action, Actor: evtypes.Actor{ID: id, Attributes: attrs}})
}

// volumeEvent publishes an event of a volume (driver local) with extra
// attributes.
func (d *Daemon) volumeEvent(action evtypes.Action, name string, extra map[string]string) {
	attrs := map[string]string{"driver": "local"}
	maps.Copy(attrs, extra)
	d.events.Publish(evtypes.Message{Type: evtypes.VolumeEventType, Action: action, Actor: evtypes.Actor{ID: name, Attributes: attrs}})
}

// pruneEvent publishes the prune of a kind of object (container, image,
// network, volume, builder) with the space reclaimed, as dockerd does at
// the end of each prune.
func (d *Daemon) pruneEvent(typ evtypes.Type, reclaimed uint64) {
	d.events.Publish(evtypes.Message{Type: typ, Action: evtypes.ActionPrune, Actor: evtypes.Actor{Attributes: map[string]string{"reclaimed": strconv.FormatUint(reclaimed, 10)}}})
}
