// Package distribution moves images between registries and the local
// stores: pulls (manifest resolution, layers downloaded three at a time,
// the first extracted while it arrives, verified blobs and layers recorded
// as pending until the image is) and pushes (zstd layers as gzip copies,
// cross-repository mounts), with dockerd's progress messages.
package distribution
