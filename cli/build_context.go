package cli

import (
	"archive/tar"
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// defaultDockerfile is the Dockerfile's name when -f is not given.
const defaultDockerfile = "Dockerfile"

// buildContext is the body of a POST /build: an uncompressed tar produced
// while it is sent (a local directory), or a stream passed through (a tar on
// stdin or from a URL).
type buildContext struct {
	body       io.ReadCloser // nil when the daemon fetches the context
	dockerfile string        // path of the Dockerfile inside the context
	remote     string        // URL the daemon fetches, when body is nil

	mu     sync.Mutex
	sendEr error // the first error of the goroutine writing the tar
}

// Close stops the tar writer, if any; it is safe to call more than once.
func (b *buildContext) Close() error {
	if b.body != nil {
		return b.body.Close()
	}
	return nil
}

// err returns the error that cut the context short, if any: a file that
// could not be read is a better explanation than the broken upload it causes.
func (b *buildContext) err() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sendEr
}

// openBuildContext prepares what docker build sends for the context
// argument: "-" (a tar, possibly compressed, or a lone Dockerfile on stdin),
// an http(s) URL (downloaded, then the same as stdin) or a local directory
// (walked and filtered by its .dockerignore while it is sent). dockerfile is
// the -f value: "-" for stdin, else relative to the current directory, as
// docker reads it; a Dockerfile outside the context is added to the tar
// under a random name.
func openBuildContext(arg, dockerfile string, stdin io.Reader) (*buildContext, error) {
	switch {
	case arg == "-":
		if dockerfile == "-" {
			return nil, errors.New("invalid argument: can't use stdin for both build context and dockerfile")
		}
		return streamContext(stdin, dockerfile)
	case strings.HasPrefix(arg, "http://") || strings.HasPrefix(arg, "https://"):
		resp, err := http.Get(arg)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode >= 400 {
			resp.Body.Close()
			return nil, fmt.Errorf("failed to GET %s with status %s", arg, resp.Status)
		}
		b, err := streamContext(resp.Body, dockerfile)
		if err != nil {
			resp.Body.Close()
		}
		return b, err
	}
	return dirContext(arg, dockerfile, stdin)
}

// streamContext passes a tar stream through, or wraps anything else in a
// tar as the Dockerfile, as docker's GetContextFromReader does.
func streamContext(r io.Reader, dockerfile string) (*buildContext, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	magic, err := br.Peek(1024)
	if err != nil && err != io.EOF && !errors.Is(err, bufio.ErrBufferFull) {
		return nil, fmt.Errorf("failed to peek context header from STDIN: %w", err)
	}
	closer := func() error { return nil }
	if c, ok := r.(io.Closer); ok && r != os.Stdin {
		closer = c.Close
	}
	if isArchive(magic) {
		if dockerfile == "" {
			dockerfile = defaultDockerfile
		}
		return &buildContext{body: readCloser{br, closer}, dockerfile: dockerfile}, nil
	}
	data, err := io.ReadAll(br)
	closer()
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: defaultDockerfile, Mode: 0o644, Size: int64(len(data))}); err != nil {
		return nil, err
	}
	tw.Write(data)
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return &buildContext{body: io.NopCloser(&buf), dockerfile: defaultDockerfile}, nil
}

type readCloser struct {
	io.Reader
	close func() error
}

func (r readCloser) Close() error { return r.close() }

// isArchive reports whether header starts a compressed stream or a tar.
func isArchive(header []byte) bool {
	for _, m := range [][]byte{{0x1f, 0x8b, 0x08}, []byte("BZh"), {0xfd, '7', 'z', 'X', 'Z', 0x00}, {0x28, 0xb5, 0x2f, 0xfd}} {
		if bytes.HasPrefix(header, m) {
			return true
		}
	}
	_, err := tar.NewReader(bytes.NewReader(header)).Next()
	return err == nil
}

// dirContext starts streaming the directory dir as a tar.
func dirContext(dir, dockerfile string, stdin io.Reader) (*buildContext, error) {
	root, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(root); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("path %q not found", dir)
		}
		return nil, err
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("context must be a directory: %s", root)
	}
	if root, err = filepath.EvalSymlinks(root); err != nil {
		return nil, err
	}

	var extra *tarFile // the Dockerfile when it is not in the context
	var rel string
	switch dockerfile {
	case "-":
		data, err := io.ReadAll(stdin)
		if err != nil {
			return nil, fmt.Errorf("read Dockerfile from stdin: %w", err)
		}
		extra = &tarFile{name: randomDockerfileName(), data: data}
	default:
		rel, err = dockerfileRelPath(root, dockerfile)
		if err != nil {
			return nil, err
		}
		if rel == ".." || strings.HasPrefix(rel, "../") {
			data, err := os.ReadFile(dockerfile)
			if err != nil {
				return nil, err
			}
			extra = &tarFile{name: randomDockerfileName(), data: data}
		}
	}
	if extra != nil {
		rel = extra.name
	}

	pm, err := readDockerignore(root, rel, extra != nil)
	if err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	b := &buildContext{body: pr, dockerfile: rel}
	go func() {
		err := writeContextTar(pw, root, pm, extra)
		if err != nil {
			b.mu.Lock()
			b.sendEr = fmt.Errorf("error from sender: %w", err)
			b.mu.Unlock()
		}
		pw.CloseWithError(err)
	}()
	return b, nil
}

// dockerfileRelPath resolves -f (relative to the current directory; empty
// for the default, "Dockerfile" or else "dockerfile" in the context) to a
// slash-separated path relative to root, as docker's getDockerfileRelPath.
func dockerfileRelPath(root, given string) (string, error) {
	abs := given
	if abs == "" {
		abs = filepath.Join(root, defaultDockerfile)
		if _, err := os.Lstat(abs); errors.Is(err, fs.ErrNotExist) {
			alt := filepath.Join(root, strings.ToLower(defaultDockerfile))
			if _, err := os.Lstat(alt); err == nil {
				abs = alt
			}
		}
	} else if abs, _ = filepath.Abs(given); abs == "" {
		abs = given
	}
	abs, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", fmt.Errorf("unable to evaluate symlinks in Dockerfile path: %w", err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return "", fmt.Errorf("unable to stat Dockerfile: %w", err)
	}
	if fi.IsDir() {
		return "", fmt.Errorf("the Dockerfile (%s) cannot be a directory", given)
	}
	rel, err := filepath.Rel(root, abs)
	if err != nil {
		return "", fmt.Errorf("unable to get relative Dockerfile path: %w", err)
	}
	return filepath.ToSlash(rel), nil
}

func randomDockerfileName() string {
	b := make([]byte, 10)
	rand.Read(b)
	return ".dockerfile." + hex.EncodeToString(b)
}

// readDockerignore compiles root/.dockerignore, adding exceptions for the
// .dockerignore file and the Dockerfile, which docker always sends (the
// Dockerfile not when it comes from elsewhere). It returns nil when nothing
// is excluded.
func readDockerignore(root, dockerfile string, dockerfileElsewhere bool) (*patternmatcher.PatternMatcher, error) {
	f, err := os.Open(filepath.Join(root, ".dockerignore"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	defer f.Close()
	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("error reading .dockerignore: %w", err)
	}
	if len(patterns) == 0 {
		return nil, nil
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		return nil, fmt.Errorf("invalid .dockerignore pattern: %w", err)
	}
	keep := []string{".dockerignore"}
	if !dockerfileElsewhere {
		keep = append(keep, dockerfile)
	}
	for _, k := range keep {
		if excluded, _ := pm.MatchesOrParentMatches(k); excluded {
			patterns = append(patterns, "!"+k)
		}
	}
	return patternmatcher.New(patterns)
}

// tarFile is a file added to the context tar from memory.
type tarFile struct {
	name string
	data []byte
}

// contextBufSize is the write buffer in front of the upload: big writes keep
// the pipe to the HTTP transport cheap.
const contextBufSize = 1 << 20

// writeContextTar writes root as an uncompressed tar to w, one file at a
// time: entries excluded by pm are left out (a directory is not descended
// into unless an exception may match below it), owners are 0:0,
// modification times whole seconds, hard links kept, sockets skipped, as
// docker's client sends a context. extra, when not nil, is appended.
func writeContextTar(w io.Writer, root string, pm *patternmatcher.PatternMatcher, extra *tarFile) error {
	bw := bufio.NewWriterSize(w, contextBufSize)
	tw := tar.NewWriter(bw)
	copyBuf := make([]byte, contextBufSize)
	type inode struct{ dev, ino uint64 }
	links := map[inode]string{}
	parents := map[string]patternmatcher.MatchInfo{}

	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == root {
			return nil
		}
		rel := p[len(root)+1:]
		if pm != nil {
			skip, info, err := pm.MatchesUsingParentResults(rel, parents[filepath.Dir(rel)])
			if err != nil {
				return err
			}
			if d.IsDir() {
				parents[rel] = info
			}
			if skip {
				if d.IsDir() && !exceptionBelow(pm, rel) {
					return filepath.SkipDir
				}
				return nil
			}
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if fi.Mode()&fs.ModeSocket != 0 {
			return nil
		}
		var link string
		if fi.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return fmt.Errorf("%s: %w", rel, err)
		}
		hdr.Name = filepath.ToSlash(rel)
		if fi.IsDir() {
			hdr.Name += "/"
		}
		hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "", ""
		hdr.ModTime = hdr.ModTime.Truncate(time.Second)
		hdr.AccessTime, hdr.ChangeTime = time.Time{}, time.Time{}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && fi.Mode().IsRegular() && st.Nlink > 1 {
			key := inode{uint64(st.Dev), st.Ino}
			if first, seen := links[key]; seen {
				hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
			} else {
				links[key] = hdr.Name
			}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("%s: %w", rel, err)
		}
		if hdr.Typeflag != tar.TypeReg || hdr.Size == 0 {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		if _, err := io.CopyBuffer(tw, io.LimitReader(f, hdr.Size), copyBuf); err != nil {
			return fmt.Errorf("%s: %w", rel, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if extra != nil {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: extra.name, Mode: 0o600, Size: int64(len(extra.data))}); err != nil {
			return err
		}
		if _, err := tw.Write(extra.data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return bw.Flush()
}

// exceptionBelow reports whether an exception pattern may match something
// under the excluded directory dir, so that it must still be walked.
func exceptionBelow(pm *patternmatcher.PatternMatcher, dir string) bool {
	if !pm.Exclusions() {
		return false
	}
	prefix := dir + string(filepath.Separator)
	for _, p := range pm.Patterns() {
		if p.Exclusion() && strings.HasPrefix(p.String()+string(filepath.Separator), prefix) {
			return true
		}
	}
	return false
}
