// Package ctxsync transfers a build context incrementally, as BuildKit's
// file sync does: the client sends every file's path, mode, size and
// modification time (fsutil's protocol), and gantryd asks for the content
// of the files its copy of that context lacks or has otherwise.
//
// The client side is Send; the server side is a Store of per-context
// copies under the data root, each the build context itself, with the
// SHA-256 of every regular file kept beside it so that a build digests
// only what changed.
package ctxsync
