package backfill

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// StripeAPI is the address of Stripe's API.
const StripeAPI = "https://api.stripe.com"

// Ingest stores an event fetched from a provider's API as a receipt marked
// source=backfill, through the same path as a delivery (its idempotency
// key is the one a live delivery gets), and reports whether it was stored
// as new (false: a duplicate of a delivery that arrived first).
type Ingest func(ctx context.Context, body []byte) (bool, error)

// Stripe lists the account's events and ingests the ones hookgate lacks.
type Stripe struct {
	Client
	// BaseURL is the API address (default StripeAPI).
	BaseURL string
	// Key is a secret key, or a restricted key that may read events.
	Key string
	// Ingest stores a fetched event.
	Ingest Ingest
}

// Provider implements Source.
func (s *Stripe) Provider() string { return "stripe" }

func (s *Stripe) base() string {
	if s.BaseURL == "" {
		return StripeAPI
	}
	return strings.TrimRight(s.BaseURL, "/")
}

// stripeEvent is the part of an event the listing reads.
type stripeEvent struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Created int64  `json:"created"`
}

// List implements Source: GET /v1/events?created[gte]=since&limit=100, newest
// first, paged by starting_after while has_more. Only ids, types and times
// are kept; Recover fetches the one event it stores.
func (s *Stripe) List(ctx context.Context, since time.Time) ([]Item, error) {
	var (
		out   []Item
		after string
	)
	for page := 0; page < maxPages; page++ {
		q := url.Values{"created[gte]": {strconv.FormatInt(since.Unix(), 10)}, "limit": {"100"}}
		if after != "" {
			q.Set("starting_after", after)
		}
		a, err := s.get(ctx, s.base()+"/v1/events?"+q.Encode())
		if err != nil {
			return nil, err
		}
		if a.status != http.StatusOK {
			return nil, fmt.Errorf("list events: %w", apiError(a))
		}
		var list struct {
			Data    []stripeEvent `json:"data"`
			HasMore bool          `json:"has_more"`
		}
		if err := json.Unmarshal(a.body, &list); err != nil {
			return nil, fmt.Errorf("list events: %w", err)
		}
		for _, e := range list.Data {
			if e.ID != "" {
				out = append(out, Item{Nonce: e.ID, EventType: e.Type, At: time.Unix(e.Created, 0).UTC()})
			}
		}
		if !list.HasMore || len(list.Data) == 0 {
			return out, nil
		}
		after = list.Data[len(list.Data)-1].ID
	}
	return out, nil
}

// Recover implements Source: it fetches the event (GET /v1/events/{id}) and
// ingests it as it is.
func (s *Stripe) Recover(ctx context.Context, it Item) (bool, error) {
	a, err := s.get(ctx, s.base()+"/v1/events/"+url.PathEscape(it.Nonce))
	if err != nil {
		return false, err
	}
	if a.status != http.StatusOK {
		return false, fmt.Errorf("retrieve event %s: %w", it.Nonce, apiError(a))
	}
	var e stripeEvent
	if err := json.Unmarshal(a.body, &e); err != nil {
		return false, fmt.Errorf("retrieve event %s: %w", it.Nonce, err)
	}
	if e.ID != it.Nonce {
		return false, fmt.Errorf("retrieve event %s: the API answered event %q", it.Nonce, e.ID)
	}
	return s.Ingest(ctx, a.body)
}

// get sends one API request with the key as a Bearer token, and on 429
// backs off exponentially (1 s, 2 s, 4 s, …, or Retry-After when Stripe
// sends one) as Stripe's rate-limit docs ask, unless Stripe-Should-Retry
// says false.
func (s *Stripe) get(ctx context.Context, u string) (answer, error) {
	return s.do(ctx, func() (*http.Request, error) {
		req, err := http.NewRequest(http.MethodGet, u, nil)
		if err != nil {
			return nil, fmt.Errorf("stripe request: %w", err)
		}
		req.Header.Set("Authorization", "Bearer "+s.Key)
		req.Header.Set("User-Agent", "hookgate-backfill")
		return req, nil
	}, func(resp *http.Response, _ []byte, attempt int) (time.Duration, bool) {
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Stripe-Should-Retry") == "false" {
			return 0, false
		}
		if n, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && n >= 0 {
			return time.Duration(n) * time.Second, true
		}
		return time.Second << (attempt - 1), true
	})
}
