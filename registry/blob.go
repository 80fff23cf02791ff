package registry

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// maxResumes is how often a blob download cut mid-way is resumed with a
// Range request before the error is returned.
const maxResumes = 3

// Blob opens a blob of img (an Image Resolve returned), from the registry
// or mirror img came from. The
// reader streams and verifies the size and digest: a Read past desc.Size,
// or the Read that reaches the end of content with another size or digest,
// returns an errdefs.ErrDataLoss error naming the digest ("filesystem layer
// verification failed for digest sha256:..."), so the caller must not use
// the content before it has read to io.EOF. A download cut mid-way is
// resumed where it stopped. A descriptor without a size (Size <= 0, other
// than the empty blob's, which is not asked for) is an
// errdefs.ErrInvalidArgument error: nothing would bound the download. The caller closes the reader.
func (c *Client) Blob(ctx context.Context, img *Image, desc ocispec.Descriptor, auth Auth) (io.ReadCloser, error) {
	if desc.Digest == emptyBlob && desc.Size <= 0 {
		return io.NopCloser(bytes.NewReader(nil)), nil // known without asking
	}
	if desc.Size <= 0 {
		return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("filesystem layer %s: invalid size %d in the manifest", desc.Digest, desc.Size))
	}
	repo := reference.Path(img.Ref)
	return c.session(img.endpoint, repo, auth, pullScope(repo)).openBlob(ctx, desc, "filesystem layer")
}

// openBlob opens a verifying reader of desc; what names the blob in errors
// as Docker does ("filesystem layer", "image config").
func (s *session) openBlob(ctx context.Context, desc ocispec.Descriptor, what string) (io.ReadCloser, error) {
	if err := desc.Digest.Validate(); err != nil {
		return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("blob digest %q: %v", desc.Digest, err))
	}
	body, err := s.getBlob(ctx, desc.Digest, 0)
	if err != nil {
		return nil, err
	}
	return &verifier{ctx: ctx, s: s, desc: desc, what: what, body: body, digester: desc.Digest.Algorithm().Digester()}, nil
}

// emptyBlob is the digest of the blob of no bytes.
var emptyBlob = digest.FromBytes(nil)

// readBlob reads a small blob (a config) whole, verified. One larger than
// limit bytes, whatever its descriptor says, is an
// errdefs.ErrInvalidArgument error.
func (s *session) readBlob(ctx context.Context, desc ocispec.Descriptor, limit int64, what string) ([]byte, error) {
	tooLarge := errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("%s %s is larger than %d bytes", what, desc.Digest, limit))
	if desc.Size > limit {
		return nil, tooLarge
	}
	rc, err := s.openBlob(ctx, desc, what)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, limit+1))
	// Checked first: the read that passes the limit may also meet the end
	// of the body, and then the digest check fails as well.
	if int64(len(b)) > limit {
		return nil, tooLarge
	}
	return b, err
}

// getBlob requests a blob from offset on (a Range request when not 0).
func (s *session) getBlob(ctx context.Context, d digest.Digest, offset int64) (io.ReadCloser, error) {
	req, err := s.newRequest(ctx, http.MethodGet, "/v2/"+s.repo+"/blobs/"+d.String(), nil)
	if err != nil {
		return nil, err
	}
	want := http.StatusOK
	if offset > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(offset, 10)+"-")
		want = http.StatusPartialContent
	}
	resp, err := s.do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch blob %s: %w", d, err)
	}
	if resp.StatusCode == want {
		return resp.Body, nil
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		return nil, errdefs.ErrNotImplemented.WithMessage(fmt.Sprintf("fetch blob %s: the registry does not resume downloads", d))
	}
	return nil, fmt.Errorf("fetch blob %s: %w", d, s.fail(resp))
}

// verifier is the reader Blob returns: it hashes and counts what it passes
// on, checks both at the end, and resumes a cut download.
type verifier struct {
	ctx      context.Context
	s        *session
	desc     ocispec.Descriptor
	what     string
	body     io.ReadCloser
	digester digest.Digester
	n        int64
	resumes  int
	err      error // sticky: the result of every Read after the end
}

func (v *verifier) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	if left := v.desc.Size - v.n + 1; v.desc.Size > 0 && int64(len(p)) > left {
		p = p[:left] // one byte past the size is enough to know it is too long
	}
	n, err := v.body.Read(p)
	v.digester.Hash().Write(p[:n])
	v.n += int64(n)
	switch {
	case v.desc.Size > 0 && v.n > v.desc.Size:
		v.err = dataLoss("%s verification failed for digest %s: more than the %d bytes of its descriptor", v.what, v.desc.Digest, v.desc.Size)
	case err == io.EOF:
		v.err = v.check()
	case err != nil && !v.resume():
		v.err = classed{v.readError(err), errdefs.ErrUnavailable}
	}
	return n, v.err
}

// check is the verdict at the end of the content: io.EOF when it is right.
func (v *verifier) check() error {
	if v.desc.Size > 0 && v.n != v.desc.Size {
		return dataLoss("%s verification failed for digest %s: %d of its %d bytes", v.what, v.desc.Digest, v.n, v.desc.Size)
	}
	if v.digester.Digest() != v.desc.Digest {
		return dataLoss("%s verification failed for digest %s", v.what, v.desc.Digest)
	}
	return io.EOF
}

// readError words a failed read, saying how often it was resumed before.
func (v *verifier) readError(err error) error {
	if v.resumes == 0 {
		return fmt.Errorf("read blob %s: %w", v.desc.Digest, err)
	}
	return fmt.Errorf("read blob %s: %w (after %d resumes)", v.desc.Digest, err, v.resumes)
}

// resume reopens the blob where the cut body stopped.
func (v *verifier) resume() bool {
	if v.ctx.Err() != nil || v.resumes == maxResumes || v.n == 0 {
		return false
	}
	body, err := v.s.getBlob(v.ctx, v.desc.Digest, v.n)
	if err != nil {
		return false
	}
	v.body.Close()
	v.body = body
	v.resumes++
	return true
}

func (v *verifier) Close() error { return v.body.Close() }
