package container

import (
	"strings"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
)

// Merge fills the gaps of a create request's config from the image's
// config, with Docker's rules: the request wins field by field; Env and
// Labels are merged key by key; an Entrypoint given without a Cmd drops the
// image's Cmd.
func Merge(cfg *container.Config, img *dockerspec.DockerOCIImageConfig) {
	if cfg.User == "" {
		cfg.User = img.User
	}
	if cfg.WorkingDir == "" {
		cfg.WorkingDir = img.WorkingDir
	}
	if cfg.StopSignal == "" {
		cfg.StopSignal = img.StopSignal
	}
	if len(cfg.Entrypoint) == 0 {
		cfg.Entrypoint = img.Entrypoint
		if len(cfg.Cmd) == 0 {
			cfg.Cmd = img.Cmd
		}
	}
	if img.Healthcheck != nil {
		// As dockerd: the image's check, or what the user's leaves unset
		// taken from it (--health-interval alone keeps the image's test).
		h := container.HealthConfig(*img.Healthcheck)
		if u := cfg.Healthcheck; u != nil {
			if len(u.Test) > 0 {
				h.Test = u.Test
			}
			if u.Interval != 0 {
				h.Interval = u.Interval
			}
			if u.Timeout != 0 {
				h.Timeout = u.Timeout
			}
			if u.StartPeriod != 0 {
				h.StartPeriod = u.StartPeriod
			}
			if u.StartInterval != 0 {
				h.StartInterval = u.StartInterval
			}
			if u.Retries != 0 {
				h.Retries = u.Retries
			}
		}
		cfg.Healthcheck = &h
	}
	if len(cfg.Shell) == 0 {
		cfg.Shell = img.Shell
	}
	if len(cfg.OnBuild) == 0 {
		cfg.OnBuild = img.OnBuild
	}
	cfg.Env = mergeEnv(img.Env, cfg.Env)
	if len(img.Labels) > 0 {
		labels := make(map[string]string, len(img.Labels)+len(cfg.Labels))
		for k, v := range img.Labels {
			labels[k] = v
		}
		for k, v := range cfg.Labels {
			labels[k] = v
		}
		cfg.Labels = labels
	}
	for p := range img.ExposedPorts {
		if cfg.ExposedPorts == nil {
			cfg.ExposedPorts = network.PortSet{}
		}
		if port, err := network.ParsePort(p); err == nil {
			cfg.ExposedPorts[port] = struct{}{}
		}
	}
	for v := range img.Volumes {
		if cfg.Volumes == nil {
			cfg.Volumes = map[string]struct{}{}
		}
		cfg.Volumes[v] = struct{}{}
	}
}

// mergeEnv returns base with the entries of over added or replacing the
// entries of the same name.
func mergeEnv(base, over []string) []string {
	out := append([]string(nil), base...)
	for _, kv := range over {
		key, _, _ := strings.Cut(kv, "=")
		replaced := false
		for i, b := range out {
			if k, _, _ := strings.Cut(b, "="); k == key {
				out[i] = kv
				replaced = true
				break
			}
		}
		if !replaced {
			out = append(out, kv)
		}
	}
	return out
}

// ImageConfig is the inverse of Merge for commit: the container's config
// as the config of a new image.
func ImageConfig(cfg *container.Config) dockerspec.DockerOCIImageConfig {
	var out dockerspec.DockerOCIImageConfig
	out.User = cfg.User
	out.Env = cfg.Env
	out.Entrypoint = cfg.Entrypoint
	out.Cmd = cfg.Cmd
	out.WorkingDir = cfg.WorkingDir
	out.Labels = cfg.Labels
	out.StopSignal = cfg.StopSignal
	out.Shell = cfg.Shell
	out.OnBuild = cfg.OnBuild
	if cfg.Healthcheck != nil {
		h := dockerspec.HealthcheckConfig(*cfg.Healthcheck)
		out.Healthcheck = &h
	}
	for p := range cfg.ExposedPorts {
		if out.ExposedPorts == nil {
			out.ExposedPorts = map[string]struct{}{}
		}
		out.ExposedPorts[p.String()] = struct{}{}
	}
	out.Volumes = cfg.Volumes
	return out
}
