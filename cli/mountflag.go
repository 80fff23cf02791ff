package cli

import (
	"encoding/csv"
	"fmt"
	"os"
	"strconv"
	"strings"

	units "github.com/docker/go-units"
	"github.com/moby/moby/api/types/mount"
)

// mountFlag is the repeatable --mount flag: comma-separated key=value
// fields, as docker's ("type=volume,src=data,dst=/data,readonly").
type mountFlag struct {
	mounts []mount.Mount
}

// Set parses one --mount value.
func (f *mountFlag) Set(value string) error {
	fields, err := csv.NewReader(strings.NewReader(value)).Read()
	if err != nil {
		return err
	}
	m := mount.Mount{Type: mount.TypeVolume}
	volumeOptions := func() *mount.VolumeOptions {
		if m.VolumeOptions == nil {
			m.VolumeOptions = &mount.VolumeOptions{}
		}
		return m.VolumeOptions
	}
	bindOptions := func() *mount.BindOptions {
		if m.BindOptions == nil {
			m.BindOptions = &mount.BindOptions{}
		}
		return m.BindOptions
	}
	tmpfsOptions := func() *mount.TmpfsOptions {
		if m.TmpfsOptions == nil {
			m.TmpfsOptions = &mount.TmpfsOptions{}
		}
		return m.TmpfsOptions
	}
	for _, field := range fields {
		key, val, hasValue := strings.Cut(field, "=")
		key = strings.ToLower(strings.TrimSpace(key))
		if !hasValue {
			switch key {
			case "readonly", "ro", "volume-nocopy", "bind-nonrecursive":
				val = "true" // a bare boolean key
			default:
				return fmt.Errorf("invalid field '%s' must be a key=value pair", field)
			}
		}
		switch key {
		case "type":
			m.Type = mount.Type(strings.ToLower(val))
		case "source", "src":
			m.Source = val
		case "target", "dst", "destination":
			m.Target = val
		case "readonly", "ro":
			if m.ReadOnly, err = strconv.ParseBool(val); err != nil {
				return fmt.Errorf("invalid value for %s: %s", key, val)
			}
		case "consistency":
			m.Consistency = mount.Consistency(strings.ToLower(val))
		case "bind-propagation":
			bindOptions().Propagation = mount.Propagation(strings.ToLower(val))
		case "bind-nonrecursive":
			if bindOptions().NonRecursive, err = strconv.ParseBool(val); err != nil {
				return fmt.Errorf("invalid value for %s: %s", key, val)
			}
		case "volume-nocopy":
			if volumeOptions().NoCopy, err = strconv.ParseBool(val); err != nil {
				return fmt.Errorf("invalid value for volume-nocopy: %s", val)
			}
		case "volume-subpath":
			volumeOptions().Subpath = val
		case "volume-label":
			o := volumeOptions()
			if o.Labels == nil {
				o.Labels = map[string]string{}
			}
			k, v, _ := strings.Cut(val, "=")
			o.Labels[k] = v
		case "volume-driver":
			o := volumeOptions()
			if o.DriverConfig == nil {
				o.DriverConfig = &mount.Driver{}
			}
			o.DriverConfig.Name = val
		case "volume-opt":
			o := volumeOptions()
			if o.DriverConfig == nil {
				o.DriverConfig = &mount.Driver{}
			}
			if o.DriverConfig.Options == nil {
				o.DriverConfig.Options = map[string]string{}
			}
			k, v, _ := strings.Cut(val, "=")
			o.DriverConfig.Options[k] = v
		case "tmpfs-size":
			size, err := units.RAMInBytes(val)
			if err != nil {
				return fmt.Errorf("invalid value for %s: %s", key, val)
			}
			tmpfsOptions().SizeBytes = size
		case "tmpfs-mode":
			mode, err := strconv.ParseUint(val, 8, 32)
			if err != nil {
				return fmt.Errorf("invalid value for %s: %s", key, val)
			}
			tmpfsOptions().Mode = os.FileMode(mode)
		default:
			return fmt.Errorf("unexpected key '%s' in '%s'", key, field)
		}
	}
	if m.Target == "" {
		return fmt.Errorf("target is required")
	}
	if m.VolumeOptions != nil && m.Type != mount.TypeVolume {
		return fmt.Errorf("cannot mix 'volume-*' options with mount type '%s'", m.Type)
	}
	if m.BindOptions != nil && m.Type != mount.TypeBind {
		return fmt.Errorf("cannot mix 'bind-*' options with mount type '%s'", m.Type)
	}
	if m.TmpfsOptions != nil && m.Type != mount.TypeTmpfs {
		return fmt.Errorf("cannot mix 'tmpfs-*' options with mount type '%s'", m.Type)
	}
	f.mounts = append(f.mounts, m)
	return nil
}

// String lists the mounts' targets.
func (f *mountFlag) String() string {
	targets := make([]string, len(f.mounts))
	for i, m := range f.mounts {
		targets[i] = m.Target
	}
	return strings.Join(targets, ",")
}

// Type names the flag's value in help.
func (f *mountFlag) Type() string { return "mount" }
