package integration

import (
	"archive/tar"
	"bytes"
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBuildGarbageCollectedMeanwhile removes an image while a build's RUN
// step runs: the removal does not wait for the step, and the build then
// succeeds.
func TestBuildGarbageCollectedMeanwhile(t *testing.T) {
	e := newEnv(t)
	if e.External || e.d.isDockerd() {
		t.Skip("reaches into gantryd's build step snapshots")
	}
	ctx := context.Background()
	victim := name("buildgc-victim") + ":1"
	e.mustDocker(t, "tag", "busybox", victim)
	ref := name("buildgc") + ":1"
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\n" +
		"RUN touch /started && while [ ! -e /go ]; do sleep 0.1; done && rm /started /go && echo built >/built\n"})

	build := exec.Command("docker", "build", "-t", ref, dir)
	build.Env = e.clientEnv()
	var out bytes.Buffer
	build.Stdout, build.Stderr = &out, &out
	if err := build.Start(); err != nil {
		t.Fatal(err)
	}
	defer build.Process.Kill()

	// The step's rootfs is mounted in gantryd's tmp directory.
	var rootfs string
	poll(t, time.Minute, "the RUN step starts", func() (bool, string) {
		found, _ := filepath.Glob(filepath.Join(e.Root, "tmp", "build-step-*", "mnt", "started"))
		if len(found) == 0 {
			return false, ""
		}
		rootfs = filepath.Dir(found[0])
		return true, ""
	})
	goFile := filepath.Join(rootfs, "go")
	defer os.WriteFile(goFile, nil, 0o644) // ends the step if the test fails

	e.rmiMeanwhile(t, victim, "a build's RUN step runs")

	if err := os.WriteFile(goFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := build.Wait(); err != nil {
		t.Fatalf("docker build: %v\n%s", err, out.String())
	}
	if e.imageID(ctx, ref) == "" {
		t.Fatalf("%s not built:\n%s", ref, out.String())
	}
	if got := e.mustDocker(t, "run", "--rm", ref, "cat", "/built"); got != "built" {
		t.Errorf("/built of the built image = %q, want %q", got, "built")
	}
	e.mustDocker(t, "rmi", ref)
}

// TestBuildKeepsWhatItMade removes the result of a build's first stage
// while a RUN step of its second stage runs: the build leases what it made
// until it ends, so the COPY --from that follows still finds its layers.
func TestBuildKeepsWhatItMade(t *testing.T) {
	e := newEnv(t)
	if e.External || e.d.isDockerd() {
		t.Skip("reaches into gantryd's build step snapshots")
	}
	ctx := context.Background()
	stage := name("stage")
	ref := name("buildkeeps") + ":1"
	dir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox AS a\n" +
		"RUN echo made-by-a >/a\n" +
		"LABEL stage=" + stage + "\n" +
		"FROM busybox\n" +
		"RUN touch /started && while [ ! -e /go ]; do sleep 0.1; done && rm /started /go\n" +
		"COPY --from=a /a /a\n"})

	build := exec.Command("docker", "build", "-t", ref, dir)
	build.Env = e.clientEnv()
	var out bytes.Buffer
	build.Stdout, build.Stderr = &out, &out
	if err := build.Start(); err != nil {
		t.Fatal(err)
	}
	defer build.Process.Kill()
	var rootfs string
	poll(t, time.Minute, "the second stage's RUN step starts", func() (bool, string) {
		found, _ := filepath.Glob(filepath.Join(e.Root, "tmp", "build-step-*", "mnt", "started"))
		if len(found) == 0 {
			return false, ""
		}
		rootfs = filepath.Dir(found[0])
		return true, ""
	})
	goFile := filepath.Join(rootfs, "go")
	defer os.WriteFile(goFile, nil, 0o644) // ends the step if the test fails

	// The first stage's image (and, pruned with it, its RUN step's) goes,
	// and garbage collection runs.
	staged := e.mustDocker(t, "images", "-a", "-q", "--filter", "label=stage="+stage)
	if len(lines(staged)) != 1 {
		t.Fatalf("the first stage's image: %q", staged)
	}
	e.rmiMeanwhile(t, staged, "the second stage runs")

	if err := os.WriteFile(goFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := build.Wait(); err != nil {
		t.Fatalf("docker build: %v\n%s", err, out.String())
	}
	if e.imageID(ctx, ref) == "" {
		t.Fatalf("%s not built:\n%s", ref, out.String())
	}
	if got := e.mustDocker(t, "run", "--rm", ref, "cat", "/a"); got != "made-by-a" {
		t.Errorf("/a of the built image = %q, want %q", got, "made-by-a")
	}
	e.mustDocker(t, "rmi", ref)
}

// TestImportGarbageCollectedMeanwhile removes an image while an import
// waits for the rest of its tar: the removal does not wait for the
// import, and the import then records its image.
func TestImportGarbageCollectedMeanwhile(t *testing.T) {
	e := newEnv(t)
	if e.External || e.d.isDockerd() {
		t.Skip("checks gantryd's staging directory")
	}
	ctx := context.Background()
	victim := name("importgc-victim") + ":1"
	e.mustDocker(t, "tag", "busybox", victim)
	ref := name("importgc") + ":1"

	data := bytes.Repeat([]byte("imported\n"), 1<<16)
	var archive bytes.Buffer
	tw := tar.NewWriter(&archive)
	if err := tw.WriteHeader(&tar.Header{Name: "imported.txt", Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	tw.Write(data)
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}

	imp := exec.Command("docker", "import", "-", ref)
	imp.Env = e.clientEnv()
	stdin, err := imp.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	imp.Stdout, imp.Stderr = &out, &out
	if err := imp.Start(); err != nil {
		t.Fatal(err)
	}
	defer imp.Process.Kill()
	half := archive.Len() / 2
	if _, err := stdin.Write(archive.Bytes()[:half]); err != nil {
		t.Fatal(err)
	}
	poll(t, time.Minute, "the import extracts its file", func() (bool, string) {
		found := false
		filepath.WalkDir(filepath.Join(e.Root, "tmp"), func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.Name() == "imported.txt" {
				found = true
				return filepath.SkipAll
			}
			return nil
		})
		return found, ""
	})

	e.rmiMeanwhile(t, victim, "an import waits for its tar")

	stdin.Write(archive.Bytes()[half:])
	stdin.Close()
	if err := imp.Wait(); err != nil {
		t.Fatalf("docker import: %v\n%s", err, out.String())
	}
	id := e.imageID(ctx, ref)
	if id == "" || !strings.Contains(out.String(), strings.TrimPrefix(id, "sha256:")) {
		t.Errorf("docker import printed %q; %s is %q", out.String(), ref, id)
	}
	e.mustDocker(t, "rmi", ref)
}
