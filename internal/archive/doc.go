// Package archive extracts layer tars safely and fast: every path is
// resolved inside the destination by the kernel (openat2 RESOLVE_IN_ROOT),
// so no entry can write outside it, with one lookup per entry.
package archive
