package admin

import (
	"net/http"
	"time"

	"github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/dispatch"
)

// replayRequest is the body of POST /api/v1/receipts/replay: the filter of
// GET /api/v1/receipts, and how to go through what it selects.
type replayRequest struct {
	Connection string `json:"connection"`
	Status     string `json:"status"`
	EventType  string `json:"event_type"`
	Since      string `json:"since"`
	Until      string `json:"until"`
	DryRun     bool   `json:"dry_run"`
	// Limit is the page size of a replay (1–500, default 500); Cursor the
	// next_cursor of the previous page.
	Limit  int    `json:"limit"`
	Cursor string `json:"cursor"`
}

// replayNote explains, in an answer that skipped rejected receipts, why.
const replayNote = "rejected receipts are never replayed: their delivery failed verification and was never accepted; " +
	"admit one (POST /api/v1/receipts/{id}/admit) to re-verify it with today's secrets"

// replayReceipts is the bulk replay (SPEC §6). A dry run counts what the
// filter selects, changing nothing. Otherwise one page of at most limit
// receipts is replayed per call, and next_cursor continues: each call is
// short and bounded, a client that stops or loses its connection resumes
// from its cursor, and `until` (fixed by the first answer when the filter
// had none) keeps receipts that arrive meanwhile out of the set.
func (a *API) replayReceipts(w http.ResponseWriter, r *http.Request) {
	var in replayRequest
	if err := decode(w, r, &in); err != nil {
		Error(w, err)
		return
	}
	f := hookgate.ReceiptFilter{Connection: in.Connection, Status: hookgate.Status(in.Status), EventType: in.EventType,
		Cursor: in.Cursor, Limit: in.Limit}
	for name, v := range map[string]struct {
		text string
		dst  *time.Time
	}{"since": {in.Since, &f.Since}, "until": {in.Until, &f.Until}} {
		if v.text == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, v.text)
		if err != nil {
			Error(w, hookgate.Errorf(hookgate.EInvalid, "%s must be an RFC 3339 time", name))
			return
		}
		*v.dst = t
	}
	if in.Limit < 0 || in.Limit > dispatch.MaxReplayPage {
		Error(w, hookgate.Errorf(hookgate.EInvalid, "limit must be a number from 1 to %d", dispatch.MaxReplayPage))
		return
	}
	if err := dispatch.ValidateReplayFilter(f); err != nil {
		Error(w, err)
		return
	}
	bulk := &dispatch.BulkReplay{Store: a.GW.Store(), Replay: a.GW.Replay}
	var (
		res dispatch.ReplayResult
		err error
	)
	if in.DryRun {
		res, err = bulk.Count(r.Context(), f)
	} else {
		res, err = bulk.Page(r.Context(), f)
	}
	if err != nil {
		// A page cut short by storage says how far it got in the log; the
		// caller retries the same cursor.
		a.Logger.Error("bulk replay", "replayed", res.Replayed, "err", err)
		Error(w, err)
		return
	}
	body := map[string]any{"dry_run": in.DryRun, "matched": res.Matched, "skipped": res.Skipped}
	if !res.Until.IsZero() {
		body["until"] = ts(res.Until)
	}
	if res.Skipped[dispatch.SkipRejected] > 0 {
		body["note"] = replayNote
	}
	if in.DryRun {
		body["would_replay"] = res.Replayed
		writeJSON(w, http.StatusOK, body)
		return
	}
	body["replayed"] = res.Replayed
	if res.Cursor != "" {
		body["next_cursor"] = res.Cursor
	}
	a.Logger.Info("receipts replayed in bulk", "replayed", res.Replayed, "matched", res.Matched,
		"connection", f.Connection, "status", f.Status, "event_type", f.EventType)
	writeJSON(w, http.StatusAccepted, body)
}
