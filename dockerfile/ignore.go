package dockerfile

import (
	"fmt"
	"io"
	"path"
	"strings"
	"sync"

	"github.com/containerd/errdefs"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// ReadIgnore reads a .dockerignore file from r (the caller owns r) and
// returns its patterns as Docker does: comments and blank lines dropped,
// each pattern cleaned and made relative to the context, `!` kept in front
// of exceptions.
func ReadIgnore(r io.Reader) ([]string, error) {
	patterns, err := ignorefile.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read .dockerignore: %w", err)
	}
	return patterns, nil
}

// Ignore matches context paths against .dockerignore patterns, with `!`
// exceptions (a later pattern wins) and `**`. It is safe for concurrent use.
type Ignore struct {
	mu sync.Mutex
	pm *patternmatcher.PatternMatcher
}

// NewIgnore compiles patterns (as ReadIgnore returns them). A malformed
// pattern (a lone `!`, a bad `[` class) is an invalid-argument error.
func NewIgnore(patterns []string) (*Ignore, error) {
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid .dockerignore pattern: %v", err))
	}
	return &Ignore{pm: pm}, nil
}

// Excluded reports whether the context path p (slash-separated, relative to
// the context root; "./a" and "/a" mean "a") is excluded, either itself or
// through a parent directory, as Docker's client decides what to send. It
// is what lets the builder say that a missing COPY source was excluded by
// .dockerignore. A nil Ignore excludes nothing.
func (m *Ignore) Excluded(p string) (bool, error) {
	if m == nil {
		return false, nil
	}
	p = strings.TrimPrefix(path.Clean("/"+p), "/")
	if p == "" {
		return false, nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	ok, err := m.pm.MatchesOrParentMatches(p)
	if err != nil {
		return false, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("match .dockerignore: %v", err))
	}
	return ok, nil
}
