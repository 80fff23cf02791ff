// Package builder runs Dockerfile builds the way Docker's classic builder
// does: a loop over the planned stages and a switch over instructions, each
// step's result an image, reused from a cache whose records keep the inputs
// of their key so that a miss can be explained.
package builder
