// Package stream holds the io.Reader wrappers the stores share: one that
// stops once a context is done, one that keeps the error of its source.
package stream

import (
	"context"
	"io"
)

// WithContext returns a reader of r whose reads fail with ctx's error once
// ctx is done.
func WithContext(ctx context.Context, r io.Reader) io.Reader { return ctxReader{ctx, r} }

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// Source reads R and keeps in Err the last error other than io.EOF that R
// returned, so that the caller of a copy can tell a failure to read (a
// truncated or corrupt source) from a failure to write.
type Source struct {
	R   io.Reader
	Err error
}

func (s *Source) Read(p []byte) (int, error) {
	n, err := s.R.Read(p)
	if err != nil && err != io.EOF {
		s.Err = err
	}
	return n, err
}
