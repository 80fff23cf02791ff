package events

import (
	"fmt"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/events"
)

// filterKeys are the keys GET /events accepts in its filters, as dockerd's.
var filterKeys = map[string]bool{
	"container": true, "daemon": true, "event": true, "image": true, "label": true,
	"network": true, "type": true, "volume": true, "scope": true, "plugin": true,
	"node": true, "service": true, "secret": true, "config": true,
}

// Filter selects events as dockerd's `docker events --filter` does: values
// of one key are alternatives, keys must all match.
type Filter map[string]map[string]bool

// Check refuses a filter key dockerd does not know, with dockerd's words.
func (f Filter) Check() error {
	for k := range f {
		if !filterKeys[k] {
			return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid filter '%s'", k))
		}
	}
	return nil
}

// Include reports whether m passes the filter.
func (f Filter) Include(m Message) bool {
	a := m.Actor.Attributes
	return f.matchEvent(string(m.Action)) &&
		f.exact("type", string(m.Type)) &&
		f.exact("scope", m.Scope) &&
		f.nameOf(m, events.DaemonEventType) &&
		f.nameOf(m, events.ContainerEventType) &&
		f.nameOf(m, events.PluginEventType) &&
		f.nameOf(m, events.VolumeEventType) &&
		f.nameOf(m, events.NetworkEventType) &&
		f.matchImage(m) &&
		f.nameOf(m, events.NodeEventType) &&
		f.nameOf(m, events.ServiceEventType) &&
		f.nameOf(m, events.SecretEventType) &&
		f.nameOf(m, events.ConfigEventType) &&
		f.matchLabels(a)
}

// exact: no values for key, or one equal to v.
func (f Filter) exact(key, v string) bool {
	vals, ok := f[key]
	return !ok || len(vals) == 0 || vals[v]
}

// fuzzy: no values for key, one equal to v, or one v starts with (an ID prefix).
func (f Filter) fuzzy(key, v string) bool {
	vals, ok := f[key]
	if !ok || len(vals) == 0 || vals[v] {
		return true
	}
	for p := range vals {
		if strings.HasPrefix(v, p) {
			return true
		}
	}
	return false
}

func (f Filter) nameOf(m Message, t events.Type) bool {
	return f.fuzzy(string(t), m.Actor.ID) || f.fuzzy(string(t), m.Actor.Attributes["name"])
}

// matchEvent: health_status, exec_create and exec_start, which dockerd
// writes with ": detail" after them, match as prefixes.
func (f Filter) matchEvent(action string) bool {
	vals := f["event"]
	if vals["health_status"] || vals["exec_create"] || vals["exec_start"] {
		return f.fuzzy("event", action)
	}
	return f.exact("event", action)
}

func (f Filter) matchImage(m Message) bool {
	attr := "image"
	if m.Type == events.ImageEventType {
		attr = "name"
	}
	name := m.Actor.Attributes[attr]
	return f.exact("image", m.Actor.ID) || f.exact("image", name) ||
		f.exact("image", stripTag(m.Actor.ID)) || f.exact("image", stripTag(name))
}

// stripTag drops the tag (not a registry's port) of an image reference.
func stripTag(ref string) string {
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") && !strings.Contains(ref, "@") {
		return ref[:i]
	}
	return ref
}

// matchLabels: each label value is "key" or "key=value", all must hold.
func (f Filter) matchLabels(attrs map[string]string) bool {
	for kv := range f["label"] {
		k, v, hasValue := strings.Cut(kv, "=")
		got, ok := attrs[k]
		if !ok || (hasValue && got != v) {
			return false
		}
	}
	return true
}
