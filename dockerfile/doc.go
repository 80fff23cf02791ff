// Package dockerfile turns Dockerfile text into typed, expanded instructions
// with buildkit's parser. It is pure: no I/O beyond the reader it is given.
package dockerfile
