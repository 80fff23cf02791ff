package api

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"
)

// TestServeSeveralListeners: one server answers on every listener it is
// given, and a shutdown closes them all.
func TestServeSeveralListeners(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "a.sock")
	ul, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- New(newFakeBackend(), Options{}).Serve(ctx, ul, tl) }()

	clients := map[string]*http.Client{
		"unix": {Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		}}},
		"tcp": {},
	}
	for name, c := range clients {
		resp, err := c.Get("http://" + tl.Addr().String() + "/_ping")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != "OK" {
			t.Errorf("%s: /_ping answered %q", name, body)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
	for _, addr := range []struct{ network, addr string }{{"unix", sock}, {"tcp", tl.Addr().String()}} {
		if c, err := net.Dial(addr.network, addr.addr); err == nil {
			c.Close()
			t.Errorf("%s listener still open after shutdown", addr.network)
		}
	}
}

// failingListener fails its first Accept.
type failingListener struct{ net.Listener }

var errAccept = errors.New("accept failed for the test")

func (failingListener) Accept() (net.Conn, error) { return nil, errAccept }

// TestServeListenerFails: a listener that fails stops the server on all
// of them, and Serve returns its error.
func TestServeListenerFails(t *testing.T) {
	good, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	other, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		done <- New(newFakeBackend(), Options{}).Serve(context.Background(), good, failingListener{other})
	}()
	select {
	case err := <-done:
		if !errors.Is(err, errAccept) {
			t.Errorf("Serve returned %v, want the accept error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve still running after a listener failed")
	}
	if c, err := net.Dial("tcp", good.Addr().String()); err == nil {
		c.Close()
		t.Error("the other listener is still open")
	}
}
