// Package tarball reads and writes image archives, the tar files of docker
// save and docker load: Docker's manifest.json format (old per-layer
// directories and the OCI layout Docker 25 writes) and plain OCI layouts.
package tarball
