// Package dockerfile turns Dockerfile text into what a builder runs: Parse
// gives stages of typed instructions (buildkit's parser), Plan resolves
// global ARGs, stage references and the target, and a Scope expands each
// instruction as the classic builder does and gives its cache-key and
// history text. It is pure: no I/O beyond the readers it is given, and it
// also reads .dockerignore patterns (ReadIgnore, NewIgnore).
package dockerfile
