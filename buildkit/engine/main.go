package engine

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/moby/buildkit/executor/oci"

	"github.com/gantry/gantry/buildkit"
)

// Main is gantry-buildkitd: it starts BuildKit on --root, serves /grpc
// and /session on the unix socket --listen, says "ready" on stdout, and
// runs until SIGTERM. gantryd starts it on the first build request and
// answers its callbacks on --gantryd.
func Main() int {
	fs := flag.NewFlagSet("gantry-buildkitd", flag.ContinueOnError)
	root := fs.String("root", "", "BuildKit's state directory")
	listen := fs.String("listen", "", "unix socket for gantryd's /grpc and /session requests")
	cb := fs.String("gantryd", "", "gantryd's callback socket")
	var dns oci.DNSConfig
	fs.Func("dns", "DNS server of RUN steps (repeatable)", appendTo(&dns.Nameservers))
	fs.Func("dns-search", "DNS search domain of RUN steps (repeatable)", appendTo(&dns.SearchDomains))
	fs.Func("dns-opt", "DNS option of RUN steps (repeatable)", appendTo(&dns.Options))
	if err := fs.Parse(os.Args[1:]); err != nil {
		return 2
	}
	var dnsConfig *oci.DNSConfig
	if len(dns.Nameservers)+len(dns.SearchDomains)+len(dns.Options) > 0 {
		dnsConfig = &dns
	}
	if *root == "" || *listen == "" || *cb == "" {
		fmt.Fprintln(os.Stderr, "gantry-buildkitd: --root, --listen and --gantryd are required; gantryd starts it")
		return 2
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	g := newGantryd(*cb)
	e, err := Start(Config{Root: *root, Network: g, Images: g, Import: g.Import, Link: g.LinkLayer, Collect: g.Collect, Classic: classicCache{g}, Missing: g.MissingLayers, DNS: dnsConfig, Log: log})
	if err != nil {
		log.Error("start", "error", err)
		return 1
	}
	l, err := net.Listen("unix", *listen)
	if err != nil {
		log.Error("listen", "error", err)
		return 1
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var err error
		switch {
		case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/grpc"):
			err = e.ServeGRPC(w, r)
		case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/session"):
			err = e.ServeSession(w, r)
		case r.Method == http.MethodPost && r.URL.Path == "/prune":
			var resp buildkit.PruneResponse
			resp.Records, resp.Reclaimed, err = e.Prune(r.Context(), r.URL.Query().Get("all") == "1")
			if err == nil {
				w.Header().Set("Content-Type", "application/json")
				err = json.NewEncoder(w).Encode(resp)
			}
		default:
			err = errors.New("page not found")
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
		}
	}), ReadHeaderTimeout: 30 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	fmt.Println("ready")
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error("serve", "error", err)
	}
	e.Close()
	return 0
}

// appendTo is a repeatable flag's setter: each value goes to the end of list.
func appendTo(list *[]string) func(string) error {
	return func(v string) error {
		*list = append(*list, v)
		return nil
	}
}
