package api

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
)

// SaveImages writes "tar:" and the names, failing with "broken" after the
// first write when a name is "broken".
func (b *fakeBackend) SaveImages(_ context.Context, names []string, w io.Writer) error {
	for _, n := range names {
		if b.images[n] == nil && n != "broken" {
			return errdefs.ErrNotFound.WithMessage("No such image: " + n)
		}
	}
	if _, err := io.WriteString(w, "tar:"+strings.Join(names, ",")); err != nil {
		return err
	}
	for _, n := range names {
		if n == "broken" {
			return errors.New("broken")
		}
	}
	return nil
}

// LoadImages takes a body "tar:NAME" and loads it as NAME, with one
// progress message unless quiet; a body "tar:bad-late" fails after it.
func (b *fakeBackend) LoadImages(_ context.Context, src io.Reader, quiet bool, out LoadOutput) error {
	data, err := io.ReadAll(src)
	if err != nil {
		return err
	}
	name, ok := strings.CutPrefix(string(data), "tar:")
	if !ok {
		return errdefs.ErrInvalidArgument.WithMessage("read image archive: unexpected EOF")
	}
	if !quiet {
		if err := out.Progress("d0803a3e028e", 2048, 2048); err != nil {
			return err
		}
	}
	if name == "bad-late" {
		return errdefs.ErrInvalidArgument.WithMessage("invalid diffID")
	}
	return out.Stream("Loaded image: " + name + "\n")
}

func TestSaveImages(t *testing.T) {
	ts := startServer(t, Options{})
	tests := []struct {
		name, path string
		status     int
		ctype      string
		body       string
	}{
		{"two names", "/v1.41/images/get?names=busybox&names=apiprobe%2Fx%3Alatest", 200, "application/x-tar", "tar:busybox,apiprobe/x:latest"},
		{"one in the path", "/images/apiprobe/x:latest/get", 200, "application/x-tar", "tar:apiprobe/x:latest"},
		{"missing", "/images/get?names=busybox&names=nosuch", 404, "application/json", `{"message":"No such image: nosuch"}` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := ts.do(t, "GET", tt.path, "")
			if resp.StatusCode != tt.status || resp.Header.Get("Content-Type") != tt.ctype || body != tt.body {
				t.Errorf("got %d %q %q, want %d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), body, tt.status, tt.ctype, tt.body)
			}
		})
	}
}

// A failure after the archive started must not look like a complete
// (chunked, terminated) answer.
func TestSaveImagesFailsLate(t *testing.T) {
	ts := startServer(t, Options{})
	resp, err := ts.httpClient().Get("http://api.moby.localhost/images/get?names=broken")
	if err != nil {
		return // cut before the headers went out
	}
	defer resp.Body.Close()
	if _, err := io.ReadAll(resp.Body); err == nil {
		t.Error("reading a save that failed midway succeeded")
	}
}

func TestLoadImages(t *testing.T) {
	ts := startServer(t, Options{})
	progress := `{"status":"Loading layer","progressDetail":{"current":2048,"total":2048},"id":"d0803a3e028e"}` + "\r\n"
	tests := []struct {
		name, query, body string
		status            int
		want              string
	}{
		{"quiet", "?quiet=1", "tar:apiprobe/x:latest", 200, `{"stream":"Loaded image: apiprobe/x:latest\n"}` + "\r\n"},
		{"progress", "?quiet=0", "tar:apiprobe/x:latest", 200, progress + `{"stream":"Loaded image: apiprobe/x:latest\n"}` + "\r\n"},
		{"bad archive", "?quiet=1", "junk", 400, `{"message":"read image archive: unexpected EOF"}` + "\n"},
		{"error after progress", "?quiet=0", "tar:bad-late", 200, progress + `{"errorDetail":{"message":"invalid diffID"},"error":"invalid diffID"}` + "\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest("POST", "http://api.moby.localhost/v1.41/images/load"+tt.query, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/x-tar")
			resp, err := ts.httpClient().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status || resp.Header.Get("Content-Type") != "application/json" || string(body) != tt.want {
				t.Errorf("got %d %q\n%s\nwant %d\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), body, tt.status, tt.want)
			}
		})
	}
}
