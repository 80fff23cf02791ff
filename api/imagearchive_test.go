package api

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/jsonstream"
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
// progress message unless quiet; a body "tar:bad-late" fails after it. A
// body "sum:" DATA SUM (SUM the hex sha256 of DATA) is read in 64 KiB
// pieces with a progress message after each unless quiet, as a load
// extracts layers while the archive streams in, then loaded as
// "apiprobe/sum:latest" if SUM matches.
func (b *fakeBackend) LoadImages(_ context.Context, src io.Reader, quiet bool, out LoadOutput) error {
	br := bufio.NewReader(src)
	if head, _ := br.Peek(4); string(head) == "sum:" {
		return loadSummed(br, quiet, out)
	}
	data, err := io.ReadAll(br)
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

func loadSummed(src io.Reader, quiet bool, out LoadOutput) error {
	var body []byte
	piece := make([]byte, 64<<10)
	for {
		n, err := io.ReadFull(src, piece)
		body = append(body, piece[:n]...)
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return err
		}
		if !quiet {
			if err := out.Progress("5c0ffee5", int64(len(body)), 0); err != nil {
				return err
			}
		}
	}
	if len(body) < len("sum:")+64 {
		return errdefs.ErrInvalidArgument.WithMessage("read image archive: unexpected EOF")
	}
	data, sum := body[len("sum:"):len(body)-64], string(body[len(body)-64:])
	if hexID(string(data)) != sum {
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("the %d bytes read do not match their sum", len(body)))
	}
	return out.Stream("Loaded image: apiprobe/sum:latest\n")
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

// loadMessage is what TestLoadImages compares of a stream message (the
// pre-rendered "progress" bar is the stream writer's business).
type loadMessage struct {
	Stream   string
	Status   string
	ID       string
	Progress *jsonstream.Progress `json:"progressDetail"`
	Error    string
}

// postLoad posts body to /images/load with query and returns the answer,
// its body for the caller to read and close.
func (ts *testServer) postLoad(t *testing.T, query string, body io.Reader) *http.Response {
	t.Helper()
	req, err := http.NewRequest("POST", "http://api.moby.localhost/v1.41/images/load"+query, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-tar")
	resp, err := ts.httpClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestLoadImages(t *testing.T) {
	ts := startServer(t, Options{})
	progress := loadMessage{Status: "Loading layer", ID: "d0803a3e028e", Progress: &jsonstream.Progress{Current: 2048, Total: 2048}}
	loaded := loadMessage{Stream: "Loaded image: apiprobe/x:latest\n"}
	tests := []struct {
		name, query, body string
		status            int
		want              []loadMessage
		wantBody          string
	}{
		{name: "quiet", query: "?quiet=1", body: "tar:apiprobe/x:latest", status: 200, want: []loadMessage{loaded}},
		{name: "progress", query: "?quiet=0", body: "tar:apiprobe/x:latest", status: 200, want: []loadMessage{progress, loaded}},
		{name: "bad archive", query: "?quiet=1", body: "junk", status: 400, wantBody: `{"message":"read image archive: unexpected EOF"}` + "\n"},
		{name: "error after progress", query: "?quiet=0", body: "tar:bad-late", status: 200, want: []loadMessage{progress, {Error: "invalid diffID"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := ts.postLoad(t, tt.query, strings.NewReader(tt.body))
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status || resp.Header.Get("Content-Type") != "application/json" {
				t.Fatalf("got %d %q, want %d application/json", resp.StatusCode, resp.Header.Get("Content-Type"), tt.status)
			}
			if tt.wantBody != "" {
				if string(body) != tt.wantBody {
					t.Errorf("body %q, want %q", body, tt.wantBody)
				}
				return
			}
			var got []loadMessage
			for _, line := range strings.SplitAfter(string(body), "\r\n") {
				if line == "" {
					continue
				}
				var m loadMessage
				if err := json.Unmarshal([]byte(line), &m); err != nil || !strings.HasSuffix(line, "\r\n") {
					t.Fatalf("message %q: %v", line, err)
				}
				got = append(got, m)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("stream (-want +got):\n%s", diff)
			}
		})
	}
}

// A load that streams progress while its body (chunked, as docker load
// sends it) still arrives must get the whole body: Go's HTTP/1 server
// otherwise drops up to 256 KiB of it at the first flush.
func TestLoadImagesStreamsWhileReading(t *testing.T) {
	ts := startServer(t, Options{})
	data := make([]byte, 4<<20)
	rand.Read(data)
	archive := []byte("sum:" + string(data) + hexID(string(data)))
	// A reader of unknown length: the client sends it chunked.
	resp := ts.postLoad(t, "?quiet=0", struct{ io.Reader }{bytes.NewReader(archive)})
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	var progress int
	var last loadMessage
	dec := json.NewDecoder(resp.Body)
	for {
		var m loadMessage
		if err := dec.Decode(&m); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("read the stream after %d progress messages: %v", progress, err)
		}
		if m.Error != "" {
			t.Fatalf("load failed after %d progress messages: %s", progress, m.Error)
		}
		if m.Progress != nil {
			progress++
		}
		last = m
	}
	if progress < 2 || last.Stream != "Loaded image: apiprobe/sum:latest\n" {
		t.Errorf("got %d progress messages and last %+v, want several and the loaded image", progress, last)
	}
}
