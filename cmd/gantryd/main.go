// Command gantryd is the Gantry server: it serves the Docker Engine API on a
// Unix socket and runs the images and containers behind it.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/gantry/gantry/api"
	"github.com/gantry/gantry/daemon"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "gantryd:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	flags := pflag.NewFlagSet("gantryd", pflag.ContinueOnError)
	root := flags.String("data-root", "/var/lib/gantry", "root directory of persistent state")
	execRoot := flags.String("exec-root", "/run/gantry", "root directory of runtime state")
	host := flags.StringP("host", "H", "unix:///run/gantry.sock", "socket to listen on")
	runtimeBin := flags.String("runtime", "runc", "path of the OCI runtime binary")
	bip := flags.String("bip", "", "address and prefix of the default bridge (e.g. 172.18.0.1/16)")
	bindIP := flags.String("default-bind-ip", "", "default IP address of published ports (default all addresses)")
	level := flags.String("log-level", "info", `log level: "debug", "info", "warn", "error"`)
	mirrors := flags.StringArray("registry-mirror", nil, "preferred Docker Hub mirror (repeatable)")
	insecure := flags.StringArray("insecure-registry", nil, "registry (host[:port] or CIDR) spoken to over plain HTTP (repeatable)")
	liveRestore := flags.Bool("live-restore", true, "keep containers running while gantryd is down (false: stop them on shutdown)")
	certsDir := flags.String("registry-certs-dir", "/etc/gantry/certs.d", "TLS trust per registry: <dir>/<host[:port]>/ca.crt")
	_ = flags.MarkHidden("registry-certs-dir")
	if err := flags.Parse(args); err != nil {
		return err
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*level)); err != nil {
		return fmt.Errorf("--log-level %q: want debug, info, warn or error", *level)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))

	var err error
	cfg := daemon.Config{
		Root: *root, ExecRoot: *execRoot, Runtime: *runtimeBin, Log: log,
		BridgeIP:        *bip,
		RegistryMirrors: *mirrors, InsecureRegistries: *insecure, RegistryCertsDir: *certsDir,
		LiveRestore: *liveRestore,
	}
	if *bindIP != "" {
		if cfg.DefaultBindIP, err = netip.ParseAddr(*bindIP); err != nil {
			return fmt.Errorf("--default-bind-ip %q: %w", *bindIP, err)
		}
	}
	d, err := daemon.New(ctx, cfg)
	if err != nil {
		return err
	}
	l, err := listen(*host)
	if err != nil {
		return err
	}
	log.Info("API listening", "host", *host)
	// On SIGTERM the containers are stopped while the server drains: their
	// attach and wait requests end as they stop.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopped := make(chan struct{})
	go func() {
		<-ctx.Done()
		log.Info("shutting down: stopping containers, finishing requests")
		d.Shutdown(context.Background())
		close(stopped)
	}()
	err = api.New(d, api.Options{Version: daemon.Version, Logger: log}).Serve(ctx, l)
	cancel()
	<-stopped
	log.Info("gantryd stopped")
	return err
}

// listen opens the API socket with mode 0660; a stale socket file from a
// killed gantryd is replaced.
func listen(host string) (net.Listener, error) {
	path, ok := strings.CutPrefix(host, "unix://")
	if !ok {
		return nil, fmt.Errorf("-H %s: only unix:// sockets are supported", host)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	if c, err := net.Dial("unix", path); err == nil {
		c.Close()
		return nil, fmt.Errorf("-H %s: another daemon is listening there", host)
	}
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o660); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}
