package daemon

import (
	"fmt"
	"maps"

	"github.com/moby/moby/api/types/container"

	gcontainer "github.com/gantry/gantry/container"
)

// CheckLogConfig checks gantryd's default log driver and options
// (--log-driver, --log-opt) as a container's would be, in dockerd's words.
func CheckLogConfig(driver string, opts map[string]string) error {
	if _, err := gcontainer.ParseLogConfig(driver, opts); err != nil {
		return fmt.Errorf("failed to set log opts: %w", err)
	}
	return nil
}

// defaultLogConfig is a new container's log configuration, as dockerd's
// mergeAndVerifyLogConfig makes it: no driver means gantryd's default
// driver; with the default driver, gantryd's options fill in those the
// container does not give. Another driver takes the container's options
// alone.
func (d *Daemon) defaultLogConfig(lc container.LogConfig) container.LogConfig {
	driver := d.cfg.LogDriver
	if driver == "" {
		driver = "json-file"
	}
	if lc.Type == "" {
		lc.Type = driver
	}
	if lc.Type == driver && len(d.cfg.LogOpts) > 0 {
		merged := maps.Clone(d.cfg.LogOpts)
		maps.Copy(merged, lc.Config)
		lc.Config = merged
	}
	return lc
}

// logDriver is gantryd's default log driver, as docker info shows it.
func (d *Daemon) logDriver() string {
	if d.cfg.LogDriver == "" {
		return "json-file"
	}
	return d.cfg.LogDriver
}
