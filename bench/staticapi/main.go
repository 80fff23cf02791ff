// Command staticapi answers the few Engine API requests that `docker
// images` and `docker version` make (/_ping, /version, /images/json) with
// bodies read from files once and served from memory on a unix socket. With
// an engine's own answers recorded, the docker CLI run against it costs what
// the CLI alone costs for that answer: bench/images.sh times `docker images`
// against it (the "cli floor" row), so that what is left of the engine's
// figure is the engine's share.
//
//	staticapi -sock /tmp/s.sock -api-version 1.47 -version version.json -images images.json -log requests.log
//
// Other requests get 404 {"message":"page not found"}. It stops on SIGTERM
// or SIGINT.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"regexp"
	"strconv"
	"sync"
	"syscall"
)

func main() {
	sock := flag.String("sock", "", "unix socket to listen on (required)")
	apiVersion := flag.String("api-version", "1.47", "Api-Version header of every answer (what the client negotiates)")
	versionFile := flag.String("version", "", "body of GET /version (required)")
	imagesFile := flag.String("images", "", "body of GET /images/json (required)")
	logFile := flag.String("log", "", "append the request line of each request to this file")
	flag.Parse()
	if *sock == "" || *versionFile == "" || *imagesFile == "" {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*sock, *apiVersion, *versionFile, *imagesFile, *logFile); err != nil {
		log.Fatalf("staticapi: %v", err)
	}
}

func run(sock, apiVersion, versionFile, imagesFile, logFile string) error {
	version, err := os.ReadFile(versionFile)
	if err != nil {
		return err
	}
	images, err := os.ReadFile(imagesFile)
	if err != nil {
		return err
	}
	h := &handler{apiVersion: apiVersion, bodies: map[string][]byte{"/version": version, "/images/json": images}}
	if logFile != "" {
		f, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		h.log = f
	}
	_ = os.Remove(sock)
	l, err := net.Listen("unix", sock)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// handler serves the recorded bodies by path, the API version prefix
// (/v1.47) stripped, whatever the query.
type handler struct {
	apiVersion string
	bodies     map[string][]byte
	mu         sync.Mutex
	log        *os.File
}

var versionPrefix = regexp.MustCompile(`^/v[0-9]+\.[0-9]+`)

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.log != nil {
		h.mu.Lock()
		fmt.Fprintf(h.log, "%s %s\n", r.Method, r.URL.RequestURI())
		h.mu.Unlock()
	}
	hdr := w.Header()
	hdr.Set("Api-Version", h.apiVersion)
	hdr.Set("Docker-Experimental", "false")
	hdr.Set("Ostype", "linux")
	path := versionPrefix.ReplaceAllString(r.URL.Path, "")
	if path == "/_ping" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		hdr.Set("Content-Type", "text/plain; charset=utf-8")
		hdr.Set("Content-Length", "2")
		_, _ = w.Write([]byte("OK"))
		return
	}
	body, ok := h.bodies[path]
	if !ok || r.Method != http.MethodGet {
		hdr.Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"message":"page not found"}` + "\n"))
		return
	}
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Content-Length", strconv.Itoa(len(body)))
	_, _ = w.Write(body)
}
