package admin

import (
	"context"
	"net/http"
	"time"

	"github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/backfill"
)

// receiptSource is the receipt JSON's source: "ingress" for a delivery,
// "backfill" for a receipt fetched from the provider's API.
func receiptSource(rc *hookgate.Receipt) string {
	if rc.Source == "" {
		return "ingress"
	}
	return rc.Source
}

// Backfiller runs a connection's backfill once (the gateway does).
type Backfiller interface {
	Backfill(ctx context.Context, connection string, since time.Time, dryRun bool) (backfill.Report, error)
}

// backfillRequest is the body of POST /api/v1/backfill.
type backfillRequest struct {
	Connection string `json:"connection"`
	Since      string `json:"since"`
	DryRun     bool   `json:"dry_run"`
}

// runBackfill runs a connection's backfill once over since…now and answers
// its report (SPEC §4.5): what the provider sent, what hookgate lacked and
// what was recovered. A dry run only lists what is missing.
func (a *API) runBackfill(w http.ResponseWriter, r *http.Request) {
	var in backfillRequest
	if err := decode(w, r, &in); err != nil {
		Error(w, err)
		return
	}
	if in.Connection == "" {
		Error(w, hookgate.Errorf(hookgate.EInvalid, "connection is required"))
		return
	}
	since, err := time.Parse(time.RFC3339Nano, in.Since)
	if err != nil {
		Error(w, hookgate.Errorf(hookgate.EInvalid, "since must be an RFC 3339 time"))
		return
	}
	b, ok := a.GW.(Backfiller)
	if !ok {
		Error(w, hookgate.Errorf(hookgate.EInvalid, "this gateway does not run backfills"))
		return
	}
	rep, err := b.Backfill(r.Context(), in.Connection, since, in.DryRun)
	if err != nil {
		a.Logger.Error("backfill", "connection", in.Connection, "err", err)
		Error(w, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}
