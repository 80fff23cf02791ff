// Package runtime wraps an OCI runtime binary (runc): run, kill, delete, pause and
// state of containers, with their stdio or terminal.
package runtime
