package cli

import (
	"strconv"
	"strings"
	"time"

	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/image"
)

const (
	imagesDefaultFormat = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
	imagesDigestFormat  = "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
	historyFormat       = "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
	idFormat            = "{{.ID}}"
	none                = "<none>"
)

// imagesHeaders are the column titles of `images` tables, by template field.
var imagesHeaders = map[string]string{
	"ID": "IMAGE ID", "Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST",
	"CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE",
	"Containers": "CONTAINERS", "SharedSize": "SHARED SIZE", "UniqueSize": "UNIQUE SIZE",
	"VirtualSize": "VIRTUAL SIZE", "Labels": "LABELS",
}

// historyHeaders are the column titles of `history` tables, by template field.
var historyHeaders = map[string]string{
	"ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT",
	"CreatedBy": "CREATED BY", "Size": "SIZE", "Comment": "COMMENT",
}

// imageRow is what `images --format` templates see: one repository:tag (or
// digest) of an image.
type imageRow struct {
	i                 image.Summary
	repo, tag, digest string
	trunc             bool
	now               time.Time
}

// ID is the image ID, 12 hex characters unless --no-trunc.
func (r imageRow) ID() string {
	if r.trunc {
		return shortID(r.i.ID)
	}
	return r.i.ID
}

// Repository is the familiar repository name or <none>.
func (r imageRow) Repository() string { return r.repo }

// Tag is the tag or <none>.
func (r imageRow) Tag() string { return r.tag }

// Digest is the repository digest or <none>.
func (r imageRow) Digest() string { return r.digest }

// CreatedSince is the age of the image ("2 days ago").
func (r imageRow) CreatedSince() string { return since(r.now, r.i.Created) }

// CreatedAt is the creation time in Go's time format.
func (r imageRow) CreatedAt() string { return unixString(r.i.Created) }

// Size is the image size, human readable.
func (r imageRow) Size() string { return humanSize(r.i.Size) }

// Containers is the number of containers using the image, or N/A.
func (r imageRow) Containers() string { return countOrNA(r.i.Containers) }

// SharedSize is the size shared with other images, or N/A.
func (r imageRow) SharedSize() string {
	if r.i.SharedSize == -1 {
		return "N/A"
	}
	return humanSize(r.i.SharedSize)
}

// UniqueSize is the size not shared with other images, or N/A.
func (r imageRow) UniqueSize() string {
	if r.i.SharedSize == -1 {
		return "N/A"
	}
	return humanSize(r.i.Size - r.i.SharedSize)
}

// VirtualSize is the total size, kept for old templates.
func (r imageRow) VirtualSize() string { return humanSize(r.i.Size) }

// Labels are the image labels as sorted k=v pairs.
func (r imageRow) Labels() string { return joinLabels(r.i.Labels) }

func countOrNA(n int64) string {
	if n == -1 {
		return "N/A"
	}
	return strconv.FormatInt(n, 10)
}

// imageRows expands each image into one row per repository:tag (per digest
// too with digests), a dangling image into a single <none> row. Rows of one
// image follow the order of its RepoTags, as docker's do.
func imageRows(images []image.Summary, trunc, digests bool, now time.Time) []any {
	var rows []any
	for _, img := range images {
		if dangling(img) {
			rows = append(rows, imageRow{i: img, repo: none, tag: none, digest: none, trunc: trunc, now: now})
			continue
		}
		tags, tagRepos := refsByRepo(img.RepoTags, func(r reference.Named) string {
			if t, ok := r.(reference.NamedTagged); ok {
				return t.Tag()
			}
			return ""
		})
		dgsts, digestRepos := refsByRepo(img.RepoDigests, func(r reference.Named) string {
			if c, ok := r.(reference.Canonical); ok {
				return c.Digest().String()
			}
			return ""
		})
		add := func(repo, tag, digest string) {
			rows = append(rows, imageRow{i: img, repo: repo, tag: tag, digest: digest, trunc: trunc, now: now})
		}
		for _, repo := range tagRepos {
			ds := dgsts[repo]
			delete(dgsts, repo)
			if !digests || len(ds) == 0 {
				ds = []string{none}
			}
			for _, t := range tags[repo] {
				for _, d := range ds {
					add(repo, t, d)
				}
			}
		}
		for _, repo := range digestRepos {
			if _, ok := dgsts[repo]; !ok {
				continue
			}
			if !digests {
				add(repo, none, "")
				continue
			}
			for _, d := range dgsts[repo] {
				add(repo, none, d)
			}
		}
	}
	return rows
}

// refsByRepo parses refs and groups what part returns by familiar
// repository; the repositories are also returned in order of appearance,
// the order docker lists them in.
func refsByRepo(refs []string, part func(reference.Named) string) (map[string][]string, []string) {
	out := map[string][]string{}
	var order []string
	for _, s := range refs {
		ref, err := reference.ParseNormalizedNamed(s)
		if err != nil {
			continue
		}
		if p := part(ref); p != "" {
			name := reference.FamiliarName(ref)
			if _, seen := out[name]; !seen {
				order = append(order, name)
			}
			out[name] = append(out[name], p)
		}
	}
	return out, order
}

func dangling(img image.Summary) bool {
	if len(img.RepoTags) == 0 && len(img.RepoDigests) == 0 {
		return true
	}
	return len(img.RepoTags) == 1 && img.RepoTags[0] == "<none>:<none>" &&
		len(img.RepoDigests) == 1 && img.RepoDigests[0] == "<none>@<none>"
}

// historyRow is what `history --format` templates see for one layer.
type historyRow struct {
	h     image.HistoryResponseItem
	trunc bool
	human bool
	now   time.Time
}

// ID is the layer's image ID or <missing>, 12 characters unless --no-trunc.
func (r historyRow) ID() string {
	if r.trunc {
		return shortID(r.h.ID)
	}
	return r.h.ID
}

// CreatedSince is the age of the layer, or an RFC 3339 time without -H.
func (r historyRow) CreatedSince() string {
	if !r.human {
		return r.CreatedAt()
	}
	return since(r.now, r.h.Created)
}

// CreatedAt is the creation time in RFC 3339.
func (r historyRow) CreatedAt() string { return time.Unix(r.h.Created, 0).Format(time.RFC3339) }

// CreatedBy is the instruction that made the layer, cut to 45 runes unless --no-trunc.
func (r historyRow) CreatedBy() string {
	by := strings.ReplaceAll(r.h.CreatedBy, "\t", " ")
	if r.trunc {
		return ellipsis(by, 45)
	}
	return by
}

// Size is the layer size, human readable with -H, else in bytes.
func (r historyRow) Size() string {
	if r.human {
		return humanSize(r.h.Size)
	}
	return strconv.FormatInt(r.h.Size, 10)
}

// Comment is the layer's comment.
func (r historyRow) Comment() string { return r.h.Comment }

// MarshalJSON is the row for {{json .}} and --format json, as docker's.
func (r imageRow) MarshalJSON() ([]byte, error) { return marshalRow(r) }

// MarshalJSON is the row for {{json .}} and --format json, as docker's.
func (r historyRow) MarshalJSON() ([]byte, error) { return marshalRow(r) }
