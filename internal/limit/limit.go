// Package limit holds the bound on what gantryd reads whole into memory, so
// that every reader of a JSON document refuses the same sizes.
package limit

import "fmt"

// Document is the largest JSON document gantryd reads whole into memory:
// an API request body, an image config pulled from a registry, loaded
// from an archive or stored by an import, and the documents of an image
// archive (manifest.json, index.json, OCI manifests). 16 MiB, the
// registry client's config limit; a config of 1 MiB of environment is far
// below it. Streams (build contexts, load and import archives, copies to
// a container) are not documents and have no such limit.
const Document = 16 << 20

// Text is Document as an error message puts it.
var Text = fmt.Sprintf("%d bytes (16 MiB)", Document)
