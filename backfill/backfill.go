// Package backfill recovers what a provider sent but hookgate never stored
// (SPEC §4.5). A Source speaks to one provider's listing API: it lists what
// the provider sent since a time and recovers one item hookgate lacks. Run
// compares the list with the connection's stored receipts, by the nonce the
// provider's preset keys deliveries with, and recovers the gaps.
//
// GitHub lists a hook's deliveries and redelivers on request, so a recovered
// delivery arrives signed through ingress like any other. Stripe lists
// events, which are ingested directly as receipts marked source=backfill:
// the authenticated API call is their authenticity. Either way the
// idempotency key is the one a live delivery gets, so a delivery arriving
// live while a backfill runs dedupes, in either order.
package backfill

import (
	"context"
	"fmt"
	"time"
)

// Item is one thing the provider sent: a GitHub delivery (by GUID, its
// latest attempt) or a Stripe event.
type Item struct {
	// Nonce is what hookgate stores as the receipt's nonce for it: the
	// X-GitHub-Delivery GUID, the Stripe event id.
	Nonce     string    `json:"nonce"`
	EventType string    `json:"event_type,omitempty"`
	At        time.Time `json:"at"`
	// StatusCode is the answer the provider recorded for its latest
	// attempt (GitHub; 0 where the API does not say).
	StatusCode int `json:"status_code,omitempty"`
	// Failed says the provider saw its latest attempt fail (no 2xx).
	Failed bool `json:"failed,omitempty"`
	// ref is the provider's handle for recovering it: the GitHub delivery
	// id to redeliver, the Stripe event's JSON.
	ref any
}

// Source is one provider's listing API.
type Source interface {
	// Provider is the connection type the source serves ("github").
	Provider() string
	// List returns what the provider sent at or after since, following
	// the API's pagination and waiting out its rate limits.
	List(ctx context.Context, since time.Time) ([]Item, error)
	// Recover brings one item hookgate lacks into it: GitHub redelivers
	// it to ingress, Stripe's event is ingested. It reports whether the
	// item was stored as new (false: it had arrived meanwhile and was
	// stored as a duplicate), as far as the source can tell.
	Recover(ctx context.Context, it Item) (bool, error)
}

// Known answers which nonces a connection holds as accepted deliveries
// received at or after since (store.DB.StoredNonces).
type Known func(ctx context.Context, connection string, since time.Time, nonces []string) (map[string]bool, error)

// Slack widens the window of stored receipts compared with the provider's
// list: a delivery the provider timestamps at t may be stored a little
// before t by a clock that runs ahead.
const Slack = 10 * time.Minute

// Report is what one run found and did.
type Report struct {
	Connection string    `json:"connection"`
	Provider   string    `json:"provider"`
	Since      time.Time `json:"since"`
	DryRun     bool      `json:"dry_run"`
	// Listed counts what the provider sent in the window.
	Listed int `json:"listed"`
	// Missing are the items hookgate does not hold.
	Missing []Item `json:"missing"`
	// Recovered counts missing items recovered (GitHub: redelivery
	// accepted by GitHub; Stripe: stored as a new receipt); Duplicates
	// those that had arrived meanwhile (Stripe).
	Recovered  int `json:"recovered"`
	Duplicates int `json:"duplicates"`
	// Errors are the items that could not be recovered, and why.
	Errors []string `json:"errors,omitempty"`
}

// Run compares what src lists since since with what the connection holds,
// and recovers the missing items unless dryRun. An error listing is
// returned; an error recovering one item is recorded in the report and the
// run goes on with the next.
func Run(ctx context.Context, connection string, src Source, known Known, since time.Time, dryRun bool) (Report, error) {
	rep := Report{Connection: connection, Provider: src.Provider(), Since: since.UTC(), DryRun: dryRun, Missing: []Item{}}
	items, err := src.List(ctx, since)
	if err != nil {
		return rep, fmt.Errorf("backfill %s: list %s: %w", connection, src.Provider(), err)
	}
	rep.Listed = len(items)
	nonces := make([]string, len(items))
	for i, it := range items {
		nonces[i] = it.Nonce
	}
	held, err := known(ctx, connection, since.Add(-Slack), nonces)
	if err != nil {
		return rep, fmt.Errorf("backfill %s: %w", connection, err)
	}
	for _, it := range items {
		if !held[it.Nonce] {
			rep.Missing = append(rep.Missing, it)
		}
	}
	if dryRun {
		return rep, nil
	}
	for _, it := range rep.Missing {
		stored, err := src.Recover(ctx, it)
		switch {
		case err != nil:
			rep.Errors = append(rep.Errors, fmt.Sprintf("%s: %v", it.Nonce, err))
			if ctx.Err() != nil {
				return rep, fmt.Errorf("backfill %s: %w", connection, ctx.Err())
			}
		case stored:
			rep.Recovered++
		default:
			rep.Duplicates++
		}
	}
	return rep, nil
}
