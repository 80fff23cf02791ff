package cli

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/container"
)

const (
	psDefaultFormat = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
	psSizeFormat    = psDefaultFormat + "\t{{.Size}}"
	psQuietFormat   = "{{.ID}}"
)

// psHeaders are the column titles of `ps` tables, by template field.
var psHeaders = map[string]string{
	"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED AT",
	"RunningFor": "CREATED", "Status": "STATUS", "Ports": "PORTS", "Names": "NAMES",
	"Labels": "LABELS", "Label": "LABEL", "State": "STATE", "Size": "SIZE",
	"Mounts": "MOUNTS", "Networks": "NETWORKS", "LocalVolumes": "LOCAL VOLUMES",
}

// containerRow is what `ps --format` templates see for one container.
type containerRow struct {
	c     container.Summary
	trunc bool
	now   time.Time
}

// ID is the container ID, 12 characters unless --no-trunc.
func (r containerRow) ID() string {
	if r.trunc {
		return shortID(r.c.ID)
	}
	return r.c.ID
}

// Image is the image as the container was created from, shortened to its
// familiar name when truncating.
func (r containerRow) Image() string {
	img := r.c.Image
	if img == "" {
		return "<no image>"
	}
	if !r.trunc {
		return img
	}
	if short := shortID(r.c.ImageID); short == shortID(img) {
		return short
	}
	ref, err := reference.ParseNormalizedNamed(img)
	if err != nil {
		return img
	}
	if nt, ok := ref.(reference.NamedTagged); ok {
		if tagged, err := reference.WithTag(reference.TrimNamed(nt), nt.Tag()); err == nil {
			return reference.FamiliarString(tagged)
		}
		return img
	}
	return reference.FamiliarString(reference.TrimNamed(ref))
}

// Command is the quoted command line, cut to 20 runes unless --no-trunc.
func (r containerRow) Command() string {
	cmd := r.c.Command
	if r.trunc {
		cmd = ellipsis(cmd, 20)
	}
	return strconv.Quote(cmd)
}

// CreatedAt is the creation time in Go's time format.
func (r containerRow) CreatedAt() string { return unixString(r.c.Created) }

// RunningFor is the age of the container ("5 minutes ago").
func (r containerRow) RunningFor() string { return since(r.now, r.c.Created) }

// Status is the daemon's human status text.
func (r containerRow) Status() string { return r.c.Status }

// State is the lifecycle state (created, running, exited ...).
func (r containerRow) State() string { return string(r.c.State) }

// Ports renders published and exposed ports as docker does.
func (r containerRow) Ports() string { return displayPorts(r.c.Ports) }

// Names are the container's names without the leading slash.
func (r containerRow) Names() string {
	names := make([]string, 0, len(r.c.Names))
	for _, n := range r.c.Names {
		names = append(names, strings.TrimPrefix(n, "/"))
	}
	if r.trunc {
		for _, n := range names {
			if !strings.Contains(n, "/") {
				return n
			}
		}
	}
	return strings.Join(names, ",")
}

// Labels are the labels as k=v pairs, sorted and comma-separated.
func (r containerRow) Labels() string { return joinLabels(r.c.Labels) }

// Label is the value of one label.
func (r containerRow) Label(name string) string { return r.c.Labels[name] }

// Size is the writable layer size, with the virtual size when known.
func (r containerRow) Size() string {
	rw := humanSize(r.c.SizeRw)
	if r.c.SizeRootFs > 0 {
		return fmt.Sprintf("%s (virtual %s)", rw, humanSize(r.c.SizeRootFs))
	}
	return rw
}

// Mounts are the names of the container's mounts (volume names or sources).
func (r containerRow) Mounts() string {
	var ms []string
	for _, m := range r.c.Mounts {
		name := m.Name
		if name == "" {
			name = m.Source
		}
		if r.trunc {
			name = ellipsis(name, 15)
		}
		ms = append(ms, name)
	}
	return strings.Join(ms, ",")
}

// Networks are the names of the networks the container is attached to.
func (r containerRow) Networks() string {
	if r.c.NetworkSettings == nil {
		return ""
	}
	var ns []string
	for n := range r.c.NetworkSettings.Networks {
		ns = append(ns, n)
	}
	sort.Strings(ns)
	return strings.Join(ns, ",")
}

// LocalVolumes is the number of the container's mounts of local volumes.
func (r containerRow) LocalVolumes() string {
	n := 0
	for _, m := range r.c.Mounts {
		if m.Driver == "local" {
			n++
		}
	}
	return strconv.Itoa(n)
}

// MarshalJSON is the row for {{json .}} and --format json, as docker's.
func (r containerRow) MarshalJSON() ([]byte, error) { return marshalRow(r) }

func joinLabels(labels map[string]string) string {
	kv := make([]string, 0, len(labels))
	for k, v := range labels {
		kv = append(kv, k+"="+v)
	}
	sort.Strings(kv)
	return strings.Join(kv, ",")
}

// displayPorts groups consecutive unpublished ports into ranges and lists
// published ones as ip:public->private/proto, in docker's order.
func displayPorts(ports []container.PortSummary) string {
	type group struct{ first, last uint16 }
	ports = append([]container.PortSummary(nil), ports...)
	sort.Slice(ports, func(i, j int) bool {
		a, b := ports[i], ports[j]
		if a.PrivatePort != b.PrivatePort {
			return a.PrivatePort < b.PrivatePort
		}
		if a.IP != b.IP {
			return a.IP.String() < b.IP.String()
		}
		if a.PublicPort != b.PublicPort {
			return a.PublicPort < b.PublicPort
		}
		return a.Type < b.Type
	})
	groups := map[string]*group{}
	var keys, result, mapped []string
	for _, p := range ports {
		key := p.Type
		if p.IP.IsValid() {
			if p.PublicPort != p.PrivatePort {
				host := net.JoinHostPort(p.IP.String(), strconv.Itoa(int(p.PublicPort)))
				mapped = append(mapped, fmt.Sprintf("%s->%d/%s", host, p.PrivatePort, p.Type))
				continue
			}
			key = p.IP.String() + "/" + p.Type
		}
		g := groups[key]
		switch {
		case g == nil:
			groups[key] = &group{p.PrivatePort, p.PrivatePort}
			keys = append(keys, key)
		case p.PrivatePort == g.last+1:
			g.last = p.PrivatePort
		default:
			result = append(result, portGroup(key, g.first, g.last))
			groups[key] = &group{p.PrivatePort, p.PrivatePort}
		}
	}
	for _, k := range keys {
		result = append(result, portGroup(k, groups[k].first, groups[k].last))
	}
	return strings.Join(append(result, mapped...), ", ")
}

func portGroup(key string, first, last uint16) string {
	ip, proto, hasIP := strings.Cut(key, "/")
	if !hasIP {
		ip, proto = "", key
	}
	g := strconv.Itoa(int(first))
	if first != last {
		g = fmt.Sprintf("%s-%d", g, last)
	}
	if ip != "" {
		g = net.JoinHostPort(ip, g) + "->" + g
	}
	return g + "/" + proto
}
