package dispatch

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/hookgate/hookgate"
)

// BulkReplay replays the receipts a filter selects (SPEC §4.2: "in bulk by
// filter"), one page of the receipts listing at a time. Each receipt is
// replayed as a single replay does it (Replay: a new round of attempts on the
// same receipt, due now), so replayed receipts go through the dispatcher like
// any other: handler concurrency, rate limits, circuits and ordering keys
// apply to them. Nothing is held beyond one page, whatever the filter
// matches; the caller walks the pages with the cursor of each.
//
// Rejected, duplicate and handshake receipts are never replayed: a rejected
// delivery failed verification and its body was not accepted (Admit
// re-verifies one), a duplicate's delivery is its original's, and a
// handshake carried no event. Receipts in flight (leased to a worker) are
// skipped: they are being delivered.
type BulkReplay struct {
	Store hookgate.Store
	// Replay replays one receipt and publishes its transition (the
	// gateway's Replay).
	Replay func(ctx context.Context, id string) (hookgate.Transition, error)
	// Parallel bounds the replays of a page in flight at once, so that
	// they share commits (group commit) instead of taking one each; 0
	// means DefaultReplayParallel.
	Parallel int
}

// DefaultReplayParallel is BulkReplay's default Parallel.
const DefaultReplayParallel = 16

// Reasons a matched receipt is not replayed (ReplayResult.Skipped).
const (
	SkipRejected  = "rejected"
	SkipDuplicate = "duplicate"
	SkipHandshake = "handshake"
	SkipInFlight  = "in_flight"
	SkipGone      = "gone" // pruned between the listing and its replay
)

// ReplayResult is what a page (or a count) of a bulk replay did.
type ReplayResult struct {
	// Matched is how many receipts the filter selected.
	Matched int
	// Replayed is how many were replayed (by Count: how many would be).
	Replayed int
	// Skipped counts the matched receipts not replayed, by reason (Skip…).
	Skipped map[string]int
	// Cursor continues with the next page; empty after the last one.
	Cursor string
	// Until is the filter's until, or when it had none, the bound that
	// keeps receipts arriving after this call out of the later pages: just
	// after the newest receipt matched. Zero when nothing matched.
	Until time.Time
}

// until sets res.Until from f and the page of its listing that f asked for.
func (res *ReplayResult) until(f hookgate.ReceiptFilter, first []*hookgate.Receipt) {
	switch {
	case !f.Until.IsZero():
		res.Until = f.Until
	case f.Cursor == "" && len(first) > 0:
		res.Until = first[0].ReceivedAt.Add(time.Microsecond) // until is exclusive
	}
}

// ValidateReplayFilter checks a bulk replay's filter: at least one
// criterion (a replay of every receipt is asked for with a time range), a
// known status that can be replayed, and since before until.
func ValidateReplayFilter(f hookgate.ReceiptFilter) error {
	if f.Connection == "" && f.Status == "" && f.EventType == "" && f.Since.IsZero() && f.Until.IsZero() {
		return hookgate.Errorf(hookgate.EInvalid, "a filter is required: connection, status, event_type, since or until (to replay everything, give a time range)")
	}
	if f.Status != "" && !f.Status.Valid() {
		return hookgate.Errorf(hookgate.EInvalid, "unknown status %q", f.Status)
	}
	if reason := skipReason(f.Status); reason != "" {
		return hookgate.Errorf(hookgate.EInvalid, "%s receipts are never replayed: %s", f.Status, whyNot(reason))
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		return hookgate.Errorf(hookgate.EInvalid, "since must be before until")
	}
	return nil
}

// whyNot explains a skip reason for an operator.
func whyNot(reason string) string {
	switch reason {
	case SkipRejected:
		return "their delivery failed verification and was never accepted; admit one (POST /api/v1/receipts/{id}/admit) to re-verify it with today's secrets"
	case SkipDuplicate:
		return "each repeats a delivery whose original receipt holds the body; replay the original"
	case SkipHandshake:
		return "a provider's endpoint check carries no event"
	case SkipInFlight:
		return "they are being delivered now; replay them once their attempt ends"
	}
	return reason
}

// skipReason is why a receipt in status s is never replayed, or "".
func skipReason(s hookgate.Status) string {
	switch s {
	case hookgate.StatusRejected:
		return SkipRejected
	case hookgate.StatusDuplicate:
		return SkipDuplicate
	case hookgate.StatusHandshake:
		return SkipHandshake
	case hookgate.StatusDispatched:
		return SkipInFlight
	}
	return ""
}

// Count answers what replaying f would do, changing nothing: it walks every
// page of the listing (MaxPage receipts each) and counts.
func (b *BulkReplay) Count(ctx context.Context, f hookgate.ReceiptFilter) (ReplayResult, error) {
	res := ReplayResult{Skipped: map[string]int{}}
	f.Cursor, f.Limit = "", MaxReplayPage
	for {
		rs, next, err := b.Store.Receipts(ctx, f)
		if err != nil {
			return res, fmt.Errorf("count receipts to replay: %w", err)
		}
		if f.Cursor == "" {
			res.until(f, rs)
		}
		for _, r := range rs {
			res.Matched++
			if reason := skipReason(r.Status); reason != "" {
				res.Skipped[reason]++
			} else {
				res.Replayed++
			}
		}
		if next == "" {
			return res, nil
		}
		f.Cursor = next
	}
}

// MaxReplayPage bounds a page of a bulk replay (the listing's own bound).
const MaxReplayPage = 500

// Page replays the receipts of one page of f (f.Limit receipts from
// f.Cursor, at most MaxReplayPage), newest first as listed, and answers the
// cursor of the next page. A receipt that became impossible to replay
// between the listing and its replay (taken by a worker, pruned) is counted
// as skipped. A storage failure stops the page: the receipts replayed before
// it stay replayed, and calling Page again with the same cursor replays the
// page again (a replayed receipt gets another round: at least once).
func (b *BulkReplay) Page(ctx context.Context, f hookgate.ReceiptFilter) (ReplayResult, error) {
	res := ReplayResult{Skipped: map[string]int{}}
	if f.Limit <= 0 || f.Limit > MaxReplayPage {
		f.Limit = MaxReplayPage
	}
	rs, next, err := b.Store.Receipts(ctx, f)
	if err != nil {
		return res, fmt.Errorf("list receipts to replay: %w", err)
	}
	res.Matched, res.Cursor = len(rs), next
	res.until(f, rs)
	parallel := b.Parallel
	if parallel <= 0 {
		parallel = DefaultReplayParallel
	}
	var (
		mu    sync.Mutex
		wg    sync.WaitGroup
		slots = make(chan struct{}, parallel)
		first error
	)
	for _, r := range rs {
		if reason := skipReason(r.Status); reason != "" {
			res.Skipped[reason]++
			continue
		}
		slots <- struct{}{}
		mu.Lock()
		failed := first != nil
		mu.Unlock()
		if failed {
			<-slots
			break
		}
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			_, err := b.Replay(ctx, r.ID)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				res.Replayed++
				return
			}
			switch hookgate.ErrorCode(err) {
			case hookgate.EConflict:
				// Claimed since it was listed (or turned into a status
				// that is not replayed, which only a worker does).
				res.Skipped[SkipInFlight]++
			case hookgate.ENotFound:
				res.Skipped[SkipGone]++
			default:
				if first == nil {
					first = err
				}
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return res, fmt.Errorf("replay receipts: %w", first)
	}
	return res, nil
}
