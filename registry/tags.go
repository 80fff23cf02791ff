package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/distribution/reference"
)

// maxTagPages bounds how many pages of a tag list Tags follows.
const maxTagPages = 1000

// Tags lists the tags of the repository repo (its tag or digest, if any,
// is ignored), at its registry's server (hosts.toml may name it), following the pages the registry
// links (Link: <...>; rel="next"). An unknown repository is a not-found
// error with the registry's words ("name unknown: ..."); refused
// credentials are as with Resolve.
func (c *Client) Tags(ctx context.Context, repo reference.Named, auth Auth) ([]string, error) {
	ep, err := c.server(ctx, reference.Domain(repo), capResolve)
	if err != nil {
		return nil, err
	}
	path := reference.Path(repo)
	s := c.session(ep, path, auth, pullScope(path))
	target := "/v2/" + path + "/tags/list"
	var tags []string
	for page := 0; target != ""; page++ {
		if page == maxTagPages {
			return nil, fmt.Errorf("list tags of %s: more than %d pages", path, maxTagPages)
		}
		req, err := s.newRequest(ctx, http.MethodGet, target, nil)
		if err != nil {
			return nil, err
		}
		resp, err := s.do(req)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			return nil, s.fail(resp)
		}
		var list struct {
			Tags []string `json:"tags"`
		}
		err = json.NewDecoder(io.LimitReader(resp.Body, maxManifestSize)).Decode(&list)
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("list tags of %s: %w", path, err)
		}
		tags = append(tags, list.Tags...)
		target = nextPage(resp.Header)
	}
	return tags, nil
}

// nextPage returns the path and query of the Link header's rel="next"
// target, "" when there is none. Only the path counts: the next page is
// asked of the same endpoint, with the same credentials.
func nextPage(h http.Header) string {
	for _, link := range h.Values("Link") {
		for _, part := range strings.Split(link, ",") {
			target, params, ok := strings.Cut(strings.TrimSpace(part), ";")
			if !ok || !strings.HasPrefix(target, "<") || !strings.HasSuffix(target, ">") {
				continue
			}
			if !strings.Contains(strings.ReplaceAll(params, " ", ""), `rel="next"`) {
				continue
			}
			u, err := url.Parse(strings.TrimSuffix(strings.TrimPrefix(target, "<"), ">"))
			if err != nil || !strings.HasPrefix(u.Path, "/v2/") {
				continue
			}
			return u.RequestURI()
		}
	}
	return ""
}
