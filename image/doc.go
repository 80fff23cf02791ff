// Package image keeps image records: configs in the content store, references
// (repository:tag) pointing at image IDs, and the rules for tagging, resolving\n// and removing images.
package image
