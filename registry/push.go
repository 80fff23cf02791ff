package registry

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/gantry/gantry/internal/transfer"
)

// PushImage is what Push uploads: the blobs of a manifest, then the
// manifest under a tag.
type PushImage struct {
	Ref       reference.NamedTagged
	MediaType string // of Manifest
	Manifest  []byte
	Config    ocispec.Descriptor
	Layers    []ocispec.Descriptor
}

// PushProgress reports one blob's progress: status is "Preparing",
// "Waiting", "Pushing" (with current bytes: at most every
// transfer.Interval, and once with all of them), "Pushed", "Layer already
// exists" or "Mounted from <repo>". Push makes one call at a time.
type PushProgress func(desc ocispec.Descriptor, status string, current int64)

// pushConcurrency is how many layers are uploaded at once (Docker's
// max-concurrent-uploads default is 5; 3 keeps a small machine responsive).
const pushConcurrency = 3

// Push uploads img's layers (up to three at a time; skipping those the
// repository has, mounting those named in mountFrom from another repository
// of the same registry where it allows, else uploading them), its config,
// and then its manifest under img.Ref's tag with img.MediaType. open opens a
// blob's content; Push closes it. It returns the digest of the manifest as
// stored (the registry's Docker-Content-Digest is checked against it). The
// first failure stops the other uploads, cancels the failed upload session
// and is returned: refused credentials are errdefs.ErrUnauthenticated, none
// where some are needed errdefs.ErrPermissionDenied.
func (c *Client) Push(ctx context.Context, img PushImage, open func(ocispec.Descriptor) (io.ReadCloser, error), mountFrom map[digest.Digest]reference.Named, auth Auth, progress PushProgress) (digest.Digest, error) {
	if img.Ref == nil {
		return "", errdefs.ErrInvalidArgument.WithMessage("push: no reference")
	}
	domain, repo := reference.Domain(img.Ref), reference.Path(img.Ref)
	ep, err := c.pushEndpoint(ctx, domain)
	if err != nil {
		return "", err
	}
	scopes := []string{"repository:" + repo + ":pull,push"}
	sources := map[digest.Digest]string{}
	for d, from := range mountFrom {
		if from != nil && reference.Domain(from) == domain && reference.Path(from) != repo {
			sources[d] = reference.Path(from)
			if sc := pullScope(sources[d]); !slices.Contains(scopes, sc) {
				scopes = append(scopes, sc)
			}
		}
	}
	s := c.session(ep, repo, auth, scopes...)
	p := &pusher{s: s, open: open, sources: sources, progress: serialized(progress)}
	if err := p.layers(ctx, img.Layers); err != nil {
		return "", err
	}
	if err := p.blob(ctx, img.Config, false); err != nil {
		return "", err
	}
	return s.putManifest(ctx, img)
}

// sessionTimeout bounds the requests that open or cancel an upload session,
// which run to completion even when the push is cancelled.
const sessionTimeout = 10 * time.Second

// serialized makes the progress calls of concurrent uploads one at a time.
func serialized(progress PushProgress) PushProgress {
	if progress == nil {
		return func(ocispec.Descriptor, string, int64) {}
	}
	var mu sync.Mutex
	return func(desc ocispec.Descriptor, status string, current int64) {
		mu.Lock()
		defer mu.Unlock()
		progress(desc, status, current)
	}
}

// pusher uploads the blobs of one push.
type pusher struct {
	s        *session
	open     func(ocispec.Descriptor) (io.ReadCloser, error)
	sources  map[digest.Digest]string // blobs to mount, with their repository
	progress PushProgress
}

// layers pushes the layers concurrently, each digest once. The first error
// cancels the others.
func (p *pusher) layers(ctx context.Context, layers []ocispec.Descriptor) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var unique []ocispec.Descriptor
	for _, l := range layers {
		if !slices.ContainsFunc(unique, func(u ocispec.Descriptor) bool { return u.Digest == l.Digest }) {
			unique = append(unique, l)
			p.progress(l, "Preparing", 0)
		}
	}
	slots := transfer.NewSlots(pushConcurrency)
	var wg sync.WaitGroup
	for _, l := range unique {
		wg.Go(func() {
			if slots.Acquire(ctx, func() { p.progress(l, "Waiting", 0) }) != nil {
				return
			}
			defer slots.Release()
			if err := p.blob(ctx, l, true); err != nil {
				cancel(err)
			}
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return nil
}

// blob makes desc present in the repository: it is there already, or
// mounted from its source repository, or uploaded. report says whether its
// progress is reported (layers) or not (the config, as Docker).
func (p *pusher) blob(ctx context.Context, desc ocispec.Descriptor, report bool) error {
	progress := func(status string, n int64) {
		if report {
			p.progress(desc, status, n)
		}
	}
	if err := desc.Digest.Validate(); err != nil {
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("push blob %q: %v", desc.Digest, err))
	}
	exists, err := p.s.blobExists(ctx, desc.Digest)
	if err != nil {
		return err
	}
	if exists {
		progress("Layer already exists", 0)
		return nil
	}
	// A session the registry opened must be closed again, so the requests
	// that open one are not cut off by another layer's failure: their answer
	// (the location to cancel) is always read.
	opening, cancelOpening := context.WithTimeout(context.WithoutCancel(ctx), sessionTimeout)
	defer cancelOpening()
	location := ""
	if from := p.sources[desc.Digest]; from != "" {
		var mounted bool
		if mounted, location, err = p.s.mount(opening, desc.Digest, from); err != nil {
			return err
		}
		if mounted {
			progress("Mounted from "+from, 0)
			return nil
		}
	}
	if location == "" {
		if location, err = p.s.startUpload(opening); err != nil {
			return err
		}
	}
	if err := context.Cause(ctx); err != nil {
		p.s.cancelUpload(ctx, location)
		return err
	}
	if err := p.upload(ctx, location, desc, progress); err != nil {
		p.s.cancelUpload(ctx, location)
		return err
	}
	progress("Pushed", 0)
	return nil
}

// blobExists asks the repository whether it has d.
func (s *session) blobExists(ctx context.Context, d digest.Digest) (bool, error) {
	req, err := s.newRequest(ctx, http.MethodHead, "/v2/"+s.repo+"/blobs/"+d.String(), nil)
	if err != nil {
		return false, err
	}
	resp, err := s.do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return true, nil
	case http.StatusNotFound:
		return false, nil
	}
	return false, s.fail(resp)
}

// mount asks the registry to link d from the repository from. A registry
// that cannot (it lacks the blob there, or refuses) opens an upload session
// instead, whose location is returned, or fails, and then the blob is
// uploaded in a new session as if there were no source.
func (s *session) mount(ctx context.Context, d digest.Digest, from string) (bool, string, error) {
	q := url.Values{"mount": {d.String()}, "from": {from}}
	req, err := s.newRequest(ctx, http.MethodPost, "/v2/"+s.repo+"/blobs/uploads/?"+q.Encode(), nil)
	if err != nil {
		return false, "", err
	}
	resp, err := s.do(req)
	if err != nil {
		return false, "", err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusCreated:
		return true, "", nil
	case http.StatusAccepted:
		loc, err := location(resp)
		return false, loc, err
	}
	return false, "", nil
}

// startUpload opens an upload session, returning its location.
func (s *session) startUpload(ctx context.Context) (string, error) {
	req, err := s.newRequest(ctx, http.MethodPost, "/v2/"+s.repo+"/blobs/uploads/", nil)
	if err != nil {
		return "", err
	}
	resp, err := s.do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return "", s.fail(resp)
	}
	return location(resp)
}

// location is the absolute URL of a response's Location header, which may
// be relative to the request and may carry a query.
func location(resp *http.Response) (string, error) {
	loc := resp.Header.Get("Location")
	if loc == "" {
		return "", errdefs.ErrUnavailable.WithMessage(fmt.Sprintf("%s %s: the registry sent no upload location", resp.Request.Method, resp.Request.URL.Redacted()))
	}
	u, err := resp.Request.URL.Parse(loc)
	if err != nil {
		return "", errdefs.ErrUnavailable.WithMessage(fmt.Sprintf("bad upload location %q: %v", loc, err))
	}
	return u.String(), nil
}

// upload sends desc's content in one PUT to the session at location,
// completing it.
func (p *pusher) upload(ctx context.Context, location string, desc ocispec.Descriptor, progress func(string, int64)) error {
	u, err := url.Parse(location)
	if err != nil {
		return errdefs.ErrUnavailable.WithMessage(fmt.Sprintf("bad upload location %q: %v", location, err))
	}
	q := u.Query()
	q.Set("digest", desc.Digest.String())
	u.RawQuery = q.Encode()
	rc, err := p.open(desc)
	if err != nil {
		return fmt.Errorf("open blob %s: %w", desc.Digest, err)
	}
	defer rc.Close()
	body := transfer.NewMeter(rc, func(n int64) { progress("Pushing", n) })
	req, err := p.s.newRequest(ctx, http.MethodPut, u.String(), body)
	if err != nil {
		return err
	}
	req.ContentLength = desc.Size
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := p.s.do(req)
	if err != nil {
		return fmt.Errorf("upload blob %s: %w", desc.Digest, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("upload blob %s: %w", desc.Digest, p.s.fail(resp))
	}
	body.Flush() // the transport may stop at Content-Length bytes
	return checkDigest(resp, desc.Digest)
}

// checkDigest compares the registry's Docker-Content-Digest, when it sends
// one, with what was sent.
func checkDigest(resp *http.Response, want digest.Digest) error {
	if got, err := digest.Parse(resp.Header.Get("Docker-Content-Digest")); err == nil && got.Algorithm() == want.Algorithm() && got != want {
		return dataLoss("the registry stored %s as %s", want, got)
	}
	return nil
}

// cancelUpload deletes a failed upload session so the registry does not
// keep the partial blob; it is best effort, even when ctx has ended.
func (s *session) cancelUpload(ctx context.Context, location string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sessionTimeout)
	defer cancel()
	req, err := s.newRequest(ctx, http.MethodDelete, location, nil)
	if err != nil {
		return
	}
	if resp, err := s.do(req); err == nil {
		resp.Body.Close()
	}
}

// putManifest stores img's manifest under its tag.
func (s *session) putManifest(ctx context.Context, img PushImage) (digest.Digest, error) {
	req, err := s.newRequest(ctx, http.MethodPut, "/v2/"+s.repo+"/manifests/"+img.Ref.Tag(), bytes.NewReader(img.Manifest))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", img.MediaType)
	resp, err := s.do(req)
	if err != nil {
		return "", fmt.Errorf("put manifest: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("put manifest %s: %w", img.Ref.Tag(), s.fail(resp))
	}
	d := digest.FromBytes(img.Manifest)
	return d, checkDigest(resp, d)
}
