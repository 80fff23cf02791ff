package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	sd "github.com/coreos/go-systemd/v22/daemon"
	"github.com/spf13/pflag"

	"github.com/gantry/gantry/api"
	"github.com/gantry/gantry/daemon"
)

// run starts gantryd with the command line args and serves until ctx is
// done. What can be refused is refused before anything is touched: the
// configuration, the TLS files and the TCP ports first, then the locks on
// the data root and the exec root, then the unix sockets, and only then
// does daemon.New set up the stores and the network.
func run(ctx context.Context, args []string) error {
	cfg, err := load(args)
	if errors.Is(err, pflag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if cfg.validate {
		fmt.Fprintln(os.Stderr, "configuration OK")
		return nil
	}
	// SIGHUP is caught from here on: one during the start waits for the
	// reloader instead of killing gantryd.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	level := new(slog.LevelVar)
	level.Set(cfg.lvl)
	var handler slog.Handler = slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})
	if cfg.logFormat == "json" {
		handler = slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level})
	}
	log := slog.New(handler)
	for _, s := range cfg.specs {
		if s.proto == "tcp" && !cfg.tlsVerify {
			for _, w := range plainTCPWarnings {
				log.Warn(w, "host", s.String())
			}
		}
	}

	ls, err := listenNetwork(cfg.specs, cfg.tlsConfig)
	defer func() { closeAll(ls) }() // Serve closes them too: a second Close is harmless
	if err != nil {
		return err
	}
	for _, dir := range []struct{ path, what string }{{cfg.dataRoot, "data root"}, {cfg.execRoot, "exec root"}} {
		if dir.what == "exec root" && sameDir(cfg.dataRoot, cfg.execRoot) {
			break
		}
		lock, err := lockDir(dir.path, dir.what)
		if err != nil {
			return err
		}
		defer lock.Close()
	}
	if cfg.pidfile != "" {
		remove, err := writePidfile(cfg.pidfile)
		if err != nil {
			return err
		}
		defer remove()
	}
	unixLs, err := listenUnix(cfg.specs, cfg.group, log)
	ls = append(ls, unixLs...)
	if err != nil {
		return err
	}

	d, err := daemon.New(ctx, cfg.daemonConfig(log))
	if err != nil {
		return err
	}
	if cfg.cri {
		stopCRI, err := serveCRI(ctx, cfg.options, d, log)
		if err != nil {
			return err
		}
		defer stopCRI()
	}
	for _, l := range ls {
		log.Info("API listening", "host", l.Addr().Network()+"://"+l.Addr().String())
	}
	go reloadOnHangup(ctx, hup, args, cfg, d, level, log)
	_, _ = sd.SdNotify(false, sd.SdNotifyReady)

	// On SIGTERM the containers are stopped while the server drains: their
	// attach and wait requests end as they stop.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopped := make(chan struct{})
	go func() {
		<-ctx.Done()
		_, _ = sd.SdNotify(false, sd.SdNotifyStopping)
		log.Info("shutting down: stopping containers, finishing requests")
		d.Shutdown(context.Background())
		close(stopped)
	}()
	err = api.New(d, api.Options{Version: daemon.Version, Logger: log}).Serve(ctx, ls...)
	cancel()
	<-stopped
	log.Info("gantryd stopped")
	return err
}

// reloadOnHangup reloads the configuration at each SIGHUP, as dockerd: the
// flags and the file are read again; the log level, the registry mirrors
// and the insecure registries take their new values, and a change to
// anything else is logged as waiting for a restart. A configuration that
// does not load is logged and changes nothing.
func reloadOnHangup(ctx context.Context, hup <-chan os.Signal, args []string, started *config, d *daemon.Daemon, level *slog.LevelVar, log *slog.Logger) {
	running := started
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		}
		log.Info("got signal to reload configuration", "config-file", running.configFile)
		_, _ = sd.SdNotify(false, sd.SdNotifyReloading)
		next, err := load(args)
		if err == nil {
			err = d.ReloadRegistries(next.mirrors, next.insecure)
		}
		_, _ = sd.SdNotify(false, sd.SdNotifyReady)
		if err != nil {
			log.Error("configuration not reloaded", "error", err)
			continue
		}
		level.Set(next.lvl)
		applied, _ := running.changes(next)
		_, restart := started.changes(next)
		log.Info("configuration reloaded", "changed", applied, "log-level", next.lvl.String(),
			"registry-mirrors", next.mirrors, "insecure-registries", next.insecure)
		if len(restart) > 0 {
			log.Warn("configuration changed but not reloaded: restart gantryd to apply it", "keys", restart)
		}
		running = next
	}
}

// sameDir says a and b are the same directory.
func sameDir(a, b string) bool {
	a, errA := filepath.Abs(a)
	b, errB := filepath.Abs(b)
	return errA == nil && errB == nil && a == b
}
