package registry

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/containerd/errdefs"
)

// challenge is one WWW-Authenticate challenge: "basic" or "bearer" with its
// parameters (realm, service, scope, error).
type challenge struct {
	scheme string
	params map[string]string
}

// parseChallenges reads the WWW-Authenticate headers of a 401, one challenge
// per header: `Bearer realm="https://auth.example/token",service="reg"`.
func parseChallenges(h http.Header) []challenge {
	var out []challenge
	for _, v := range h.Values("WWW-Authenticate") {
		scheme, rest, _ := strings.Cut(strings.TrimSpace(v), " ")
		ch := challenge{scheme: strings.ToLower(scheme), params: map[string]string{}}
		for rest = strings.TrimSpace(rest); rest != ""; {
			var key, val string
			key, rest, _ = strings.Cut(rest, "=")
			val, rest = parseParamValue(rest)
			ch.params[strings.ToLower(strings.TrimSpace(key))] = val
			rest = strings.TrimLeft(rest, ", ")
		}
		out = append(out, ch)
	}
	return out
}

// parseParamValue reads a token or a quoted string (with backslash escapes)
// from the start of s, returning it and what follows.
func parseParamValue(s string) (string, string) {
	if !strings.HasPrefix(s, `"`) {
		v, rest, _ := strings.Cut(s, ",")
		return strings.TrimSpace(v), rest
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if i+1 < len(s) {
				i++
				b.WriteByte(s[i])
			}
		case '"':
			return b.String(), s[i+1:]
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String(), ""
}

func find(chs []challenge, scheme string) (challenge, bool) {
	for _, ch := range chs {
		if ch.scheme == scheme {
			return ch, true
		}
	}
	return challenge{}, false
}

// session is a series of requests to one repository of one endpoint with
// one set of credentials and token scopes.
type session struct {
	c       *Client
	ep      *endpoint
	repo    string
	scopes  []string // e.g. "repository:library/busybox:pull"
	auth    Auth
	offline bool // ask the token server for a refresh token (login)

	refreshToken string // what the token server issued when offline
}

func (c *Client) session(ep *endpoint, repo string, auth Auth, scopes ...string) *session {
	return &session{c: c, ep: ep, repo: repo, scopes: scopes, auth: auth}
}

func pullScope(repo string) string { return "repository:" + repo + ":pull" }

func (s *session) hasCreds() bool {
	return s.auth.Username != "" || s.auth.Password != "" || s.auth.IdentityToken != "" || s.auth.RegistryToken != ""
}

// anonymous says the requests go without credentials.
func (s *session) anonymous() bool { return !s.hasCreds() }

// newRequest builds a request to path (relative to the endpoint) or to an
// absolute URL (an upload Location).
func (s *session) newRequest(ctx context.Context, method, target string, body io.Reader) (*http.Request, error) {
	if strings.HasPrefix(target, "/") {
		target = s.ep.url(target)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return nil, errdefs.ErrInvalidArgument.WithMessage(err.Error())
	}
	s.c.setUserAgent(req)
	return req, nil
}

// do sends req with the credentials the endpoint's challenge asks for. A
// 401 to a request that can be sent again (no body, or GetBody) is answered
// once when it may help (a token was used, or the challenge changed): the
// challenge is re-read from it and the token forgotten. The
// caller closes the body of the response, which may have any status.
func (s *session) do(req *http.Request) (*http.Response, error) {
	for attempt := 0; ; attempt++ {
		tokenKey, err := s.authorize(req)
		if err != nil {
			return nil, err
		}
		resp, err := s.ep.client.Do(req)
		if err != nil {
			return nil, classed{err, errdefs.ErrUnavailable}
		}
		replayable := req.Body == nil || req.GetBody != nil
		if resp.StatusCode != http.StatusUnauthorized || attempt > 0 || !replayable {
			return resp, nil
		}
		chs := parseChallenges(resp.Header)
		if len(chs) == 0 || tokenKey == "" && sameChallenges(chs, s.ep.challenge()) {
			return resp, nil
		}
		resp.Body.Close()
		s.ep.setChallenge(chs)
		s.c.forgetToken(tokenKey)
		if req.GetBody != nil {
			if req.Body, err = req.GetBody(); err != nil {
				return nil, err
			}
		}
	}
}

// sameChallenges says a 401 asks for what was already sent, so sending it
// again is pointless.
func sameChallenges(a, b []challenge) bool {
	return slices.EqualFunc(a, b, func(x, y challenge) bool {
		return x.scheme == y.scheme && x.params["realm"] == y.params["realm"] && x.params["service"] == y.params["service"]
	})
}

// fail is the error of a response with an unexpected status.
func (s *session) fail(resp *http.Response) *Error {
	e := responseError(resp, s.anonymous())
	if _, basic := find(s.ep.challenge(), "basic"); basic && s.anonymous() && resp.StatusCode == http.StatusUnauthorized {
		e.text = "no basic auth credentials" // Docker's words
	}
	return e
}

// authorize sets req's Authorization for the endpoint's challenge, returning
// the key of the cached token it used, if any.
func (s *session) authorize(req *http.Request) (string, error) {
	if s.auth.RegistryToken != "" {
		req.Header.Set("Authorization", "Bearer "+s.auth.RegistryToken)
		return "", nil
	}
	chs := s.ep.challenge()
	if ch, ok := find(chs, "bearer"); ok {
		key, tok, err := s.token(req.Context(), ch)
		if err != nil {
			return "", err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		return key, nil
	}
	if _, ok := find(chs, "basic"); ok && s.hasCreds() {
		req.SetBasicAuth(s.auth.Username, s.auth.Password)
	}
	return "", nil
}

// token is a bearer token as cached.
type token struct {
	value   string
	refresh string
	expires time.Time
}

// tokenResponse is what a token server answers (both the docker token
// protocol's GET and the OAuth2 POST).
type tokenResponse struct {
	Token        string `json:"token"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int    `json:"expires_in"`
}

// minTokenLife is the lifetime the token spec gives a token that does not say.
const minTokenLife = 60 * time.Second

// token returns a bearer token for the session's scopes from the realm of
// ch, from the cache when a live one is there: concurrent blob fetches share
// one token.
func (s *session) token(ctx context.Context, ch challenge) (string, string, error) {
	scopes := slices.Clone(s.scopes)
	if sc := ch.params["scope"]; sc != "" && len(scopes) == 0 {
		scopes = []string{sc}
	}
	slices.Sort(scopes)
	key := strings.Join([]string{ch.params["realm"], ch.params["service"], strings.Join(scopes, " "), s.credKey()}, "\x00")
	if !s.offline {
		if tok, ok := s.c.cachedToken(key); ok {
			return key, tok.value, nil
		}
	}
	tok, err := s.fetchToken(ctx, ch, scopes)
	if err != nil {
		return "", "", err
	}
	s.c.storeToken(key, tok)
	s.refreshToken = tok.refresh
	return key, tok.value, nil
}

// credKey tells credentials apart in the token cache without keeping them.
func (s *session) credKey() string {
	sum := sha256.Sum256([]byte(s.auth.Username + "\x00" + s.auth.Password + "\x00" + s.auth.IdentityToken))
	return hex.EncodeToString(sum[:8])
}

// fetchToken asks the token server of ch: with an identity token, the OAuth2
// refresh-token grant (POST); otherwise the docker token protocol's GET, with
// basic credentials when there are any and anonymously when not.
func (s *session) fetchToken(ctx context.Context, ch challenge, scopes []string) (token, error) {
	realm, err := url.Parse(ch.params["realm"])
	if err != nil || (realm.Scheme != "https" && realm.Scheme != "http") {
		return token{}, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("invalid token realm %q in the registry's challenge", ch.params["realm"]))
	}
	var req *http.Request
	if s.auth.IdentityToken != "" {
		form := url.Values{
			"grant_type":    {"refresh_token"},
			"refresh_token": {s.auth.IdentityToken},
			"service":       {ch.params["service"]},
			"client_id":     {"docker"},
		}
		if len(scopes) > 0 {
			form.Set("scope", strings.Join(scopes, " "))
		}
		if s.offline {
			form.Set("access_type", "offline")
		}
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, realm.String(), strings.NewReader(form.Encode()))
		if err == nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	} else {
		q := realm.Query()
		if svc := ch.params["service"]; svc != "" {
			q.Set("service", svc)
		}
		for _, sc := range scopes {
			q.Add("scope", sc)
		}
		if s.auth.Username != "" {
			q.Set("account", s.auth.Username)
		}
		if s.offline {
			q.Set("offline_token", "true")
			q.Set("client_id", "docker")
		}
		realm.RawQuery = q.Encode()
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, realm.String(), nil)
		if err == nil && (s.auth.Username != "" || s.auth.Password != "") {
			req.SetBasicAuth(s.auth.Username, s.auth.Password)
		}
	}
	if err != nil {
		return token{}, errdefs.ErrInvalidArgument.WithMessage(err.Error())
	}
	s.c.setUserAgent(req)
	resp, err := s.ep.client.Do(req)
	if err != nil {
		return token{}, classed{err, errdefs.ErrUnavailable}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return token{}, responseError(resp, s.anonymous())
	}
	var tr tokenResponse
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&tr); err != nil {
		return token{}, errdefs.ErrUnavailable.WithMessage(fmt.Sprintf("decode token from %s: %v", realm.Host, err))
	}
	tok := token{value: tr.Token, refresh: tr.RefreshToken}
	if tok.value == "" {
		tok.value = tr.AccessToken
	}
	if tok.value == "" {
		return token{}, errdefs.ErrUnavailable.WithMessage(fmt.Sprintf("token server %s issued no token", realm.Host))
	}
	life := time.Duration(tr.ExpiresIn) * time.Second
	if life < minTokenLife {
		life = minTokenLife
	}
	tok.expires = time.Now().Add(life - 5*time.Second) // margin for the flight
	return tok, nil
}

func (c *Client) cachedToken(key string) (token, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	tok, ok := c.tokens[key]
	if !ok || time.Now().After(tok.expires) {
		delete(c.tokens, key)
		return token{}, false
	}
	return tok, true
}

func (c *Client) storeToken(key string, tok token) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tokens[key] = tok
}

func (c *Client) forgetToken(key string) {
	if key == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.tokens, key)
}
