// Package content is a content-addressed blob store: blobs named by their sha256 digest,
// verified on write and written atomically (temp file, fsync, rename).
package content
