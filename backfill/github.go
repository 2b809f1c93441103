package backfill

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// GitHubAPI is the address of GitHub's REST API.
const GitHubAPI = "https://api.github.com"

// gitHubAPIVersion is the REST API version the requests ask for.
const gitHubAPIVersion = "2022-11-28"

var hookPattern = regexp.MustCompile(`^(repos/[^/\s]+/[^/\s]+/hooks/[0-9]+|orgs/[^/\s]+/hooks/[0-9]+|app)$`)

// ValidHook reports whether hook names a GitHub webhook the way the
// backfill config does: repos/OWNER/REPO/hooks/ID, orgs/ORG/hooks/ID or app.
func ValidHook(hook string) bool { return hookPattern.MatchString(hook) }

// GitHub lists a webhook's deliveries and asks GitHub to redeliver the ones
// hookgate lacks; a redelivery is signed and arrives through ingress.
type GitHub struct {
	Client
	// BaseURL is the REST API address (default GitHubAPI).
	BaseURL string
	// Token is a token that may read the hook (admin:repo_hook,
	// admin:org_hook, or a fine-grained token with webhooks read and
	// write), or the app's JWT for the app hook.
	Token string
	// Hook is repos/OWNER/REPO/hooks/ID, orgs/ORG/hooks/ID or app.
	Hook string
}

// Provider implements Source.
func (g *GitHub) Provider() string { return "github" }

// deliveries is the path of the hook's deliveries.
func (g *GitHub) deliveries() string {
	if g.Hook == "app" {
		return "/app/hook/deliveries"
	}
	return "/" + g.Hook + "/deliveries"
}

func (g *GitHub) base() string {
	if g.BaseURL == "" {
		return GitHubAPI
	}
	return strings.TrimRight(g.BaseURL, "/")
}

// gitHubDelivery is an item of the list deliveries endpoints.
type gitHubDelivery struct {
	ID          int64     `json:"id"`
	GUID        string    `json:"guid"`
	DeliveredAt time.Time `json:"delivered_at"`
	Redelivery  bool      `json:"redelivery"`
	Status      string    `json:"status"`
	StatusCode  int       `json:"status_code"`
	Event       string    `json:"event"`
	Action      *string   `json:"action"`
}

// maxPages bounds one listing (100 deliveries a page).
const maxPages = 10000

// List implements Source: every delivery GUID with an attempt at or after
// since, newest first. GitHub lists attempts newest first, a redelivery as
// an attempt of its own with the same GUID; a GUID is failed when none of
// its attempts got a 2xx, and is recovered through its latest attempt.
func (g *GitHub) List(ctx context.Context, since time.Time) ([]Item, error) {
	if !ValidHook(g.Hook) {
		return nil, fmt.Errorf("github hook %q: want repos/OWNER/REPO/hooks/ID, orgs/ORG/hooks/ID or app", g.Hook)
	}
	next := g.base() + g.deliveries() + "?per_page=100"
	var (
		out   []Item
		index = map[string]int{}
		ok    = map[string]bool{}
	)
	for page := 0; next != "" && page < maxPages; page++ {
		a, err := g.get(ctx, http.MethodGet, next)
		if err != nil {
			return nil, err
		}
		if a.status != http.StatusOK {
			return nil, fmt.Errorf("list deliveries of %s: %w", g.Hook, apiError(a))
		}
		var list []gitHubDelivery
		if err := json.Unmarshal(a.body, &list); err != nil {
			return nil, fmt.Errorf("list deliveries of %s: %w", g.Hook, err)
		}
		older := false
		for _, d := range list {
			if d.DeliveredAt.Before(since) {
				older = true // newest first: the rest is older still
				break
			}
			if d.GUID == "" {
				continue
			}
			if d.StatusCode >= 200 && d.StatusCode < 300 {
				ok[d.GUID] = true
			}
			if i, seen := index[d.GUID]; seen {
				// An earlier attempt of a GUID already listed.
				if d.DeliveredAt.Before(out[i].At) {
					out[i].At = d.DeliveredAt
				}
				continue
			}
			ev := d.Event
			if d.Action != nil && *d.Action != "" {
				ev += "." + *d.Action
			}
			index[d.GUID] = len(out)
			out = append(out, Item{Nonce: d.GUID, EventType: ev, At: d.DeliveredAt, StatusCode: d.StatusCode, ref: d.ID})
		}
		if older {
			break
		}
		next = nextLink(a.header.Get("Link"))
		if next != "" && !sameOrigin(next, g.base()) {
			// The token goes with every request: never to another host.
			return nil, fmt.Errorf("list deliveries of %s: the next page is on another host than %s", g.Hook, g.base())
		}
	}
	for i := range out {
		out[i].Failed = !ok[out[i].Nonce]
	}
	return out, nil
}

// Recover implements Source: it asks GitHub to redeliver the item's latest
// attempt (202 Accepted). The redelivery arrives signed through ingress,
// where it is stored like any delivery (or as a duplicate, if the original
// arrived meanwhile), so Recover reports it as recovered.
func (g *GitHub) Recover(ctx context.Context, it Item) (bool, error) {
	id, ok := it.ref.(int64)
	if !ok {
		return false, fmt.Errorf("delivery %s: no delivery id to redeliver", it.Nonce)
	}
	a, err := g.get(ctx, http.MethodPost, g.base()+g.deliveries()+"/"+strconv.FormatInt(id, 10)+"/attempts")
	if err != nil {
		return false, err
	}
	if a.status != http.StatusAccepted && a.status != http.StatusOK {
		return false, fmt.Errorf("redeliver %d: %w", id, apiError(a))
	}
	return true, nil
}

// get sends one API request and waits out GitHub's rate limits as its docs
// ask: on 403 or 429, Retry-After when present; else, with
// X-RateLimit-Remaining 0, until X-RateLimit-Reset; else (a secondary limit
// without headers) at least a minute, doubling while it lasts.
func (g *GitHub) get(ctx context.Context, method, u string) (answer, error) {
	return g.do(ctx, func() (*http.Request, error) {
		req, err := http.NewRequest(method, u, nil)
		if err != nil {
			return nil, fmt.Errorf("github request: %w", err)
		}
		req.Header.Set("Accept", "application/vnd.github+json")
		req.Header.Set("X-GitHub-Api-Version", gitHubAPIVersion)
		req.Header.Set("Authorization", "Bearer "+g.Token)
		req.Header.Set("User-Agent", "hookgate-backfill")
		return req, nil
	}, g.rateLimitWait)
}

func (g *GitHub) rateLimitWait(resp *http.Response, body []byte, attempt int) (time.Duration, bool) {
	if resp.StatusCode != http.StatusForbidden && resp.StatusCode != http.StatusTooManyRequests {
		return 0, false
	}
	if s := resp.Header.Get("Retry-After"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n >= 0 {
			return time.Duration(n) * time.Second, true
		}
	}
	if resp.Header.Get("X-RateLimit-Remaining") == "0" {
		if n, err := strconv.ParseInt(resp.Header.Get("X-RateLimit-Reset"), 10, 64); err == nil {
			return max(time.Unix(n, 0).Sub(g.Now()), 0) + time.Second, true
		}
	}
	// A 403 without rate-limit headers is a refusal (a token without the
	// scope) unless GitHub's message names a rate limit.
	if resp.StatusCode == http.StatusForbidden && !strings.Contains(strings.ToLower(string(body)), "rate limit") {
		return 0, false
	}
	return time.Minute << (attempt - 1), true
}

// nextLink returns the rel="next" URL of a Link header, or "".
func nextLink(h string) string {
	for part := range strings.SplitSeq(h, ",") {
		segs := strings.Split(part, ";")
		if len(segs) < 2 {
			continue
		}
		target := strings.TrimSpace(segs[0])
		if !strings.HasPrefix(target, "<") || !strings.HasSuffix(target, ">") {
			continue
		}
		for _, p := range segs[1:] {
			if strings.ReplaceAll(strings.TrimSpace(p), " ", "") == `rel="next"` {
				u := target[1 : len(target)-1]
				if _, err := url.Parse(u); err == nil {
					return u
				}
			}
		}
	}
	return ""
}

// sameOrigin reports whether u has the scheme and host of base.
func sameOrigin(u, base string) bool {
	a, err1 := url.Parse(u)
	b, err2 := url.Parse(base)
	return err1 == nil && err2 == nil && a.Scheme == b.Scheme && a.Host == b.Host
}
