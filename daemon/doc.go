// Package daemon is the composition root of gantryd: New builds every store and
// component in order and implements the API backends by delegating to them.
package daemon
