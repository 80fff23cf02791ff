// Package volume owns volumes: directories under <data-root>/volumes that
// outlive the containers mounting them, with their metadata, the record of
// which containers use each one, and the copy of an image's content into a
// fresh volume. It is Docker's "local" volume driver.
package volume
