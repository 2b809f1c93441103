package ingress

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// records is a slog.Handler that keeps every record.
type records struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (h *records) Enabled(context.Context, slog.Level) bool { return true }
func (h *records) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.recs = append(h.recs, r.Clone())
	return nil
}
func (h *records) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *records) WithGroup(string) slog.Handler      { return h }

// lines returns the messages logged so far with the attributes of each.
func (h *records) lines() []map[string]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]map[string]string, len(h.recs))
	for i, r := range h.recs {
		m := map[string]string{"msg": r.Message}
		r.Attrs(func(a slog.Attr) bool { m[a.Key] = a.Value.String(); return true })
		out[i] = m
	}
	return out
}

// TestRejectLogAggregates: however many rejections a connection gets, it
// logs the first at once and then one line per interval with the count by
// reason; connections are counted apart; an interval without rejections
// closes the window, and the next rejection logs at once again. The interval
// is an hour so that no timer fires during the test: flush stands in for it.
func TestRejectLogAggregates(t *testing.T) {
	h := &records{}
	logger := slog.New(h)
	var l rejectLog
	t.Cleanup(l.stop)
	const interval = time.Hour

	for i := range 10000 {
		reason := "signature_mismatch"
		if i%4 == 0 {
			reason = "timestamp_stale"
		}
		l.note(logger, interval, "a", reason, "192.0.2.1:1234")
	}
	l.note(logger, interval, "b", "signature_missing", "192.0.2.2:1234")
	got := h.lines()
	if len(got) != 2 {
		t.Fatalf("10,001 rejections on two connections logged %d lines, want 2 (the first of each): %v", len(got), got)
	}
	if got[0]["connection"] != "a" || got[0]["reason"] != "timestamp_stale" || got[0]["remote"] != "192.0.2.1:1234" {
		t.Fatalf("first line = %v", got[0])
	}

	l.flush(logger, interval, "a")
	l.flush(logger, interval, "b") // b had nothing after its first: no line, window closed
	got = h.lines()
	if len(got) != 3 {
		t.Fatalf("after one interval: %d lines, want 3: %v", len(got), got)
	}
	want := map[string]string{"msg": "webhook rejections", "connection": "a", "count": "9999",
		"reasons": "signature_mismatch=7500 timestamp_stale=2499", "interval": "1h0m0s"}
	for k, v := range want {
		if got[2][k] != v {
			t.Fatalf("summary line %s = %q, want %q (line %v)", k, got[2][k], v, got[2])
		}
	}

	// a's window goes on: a rejection is counted, not logged.
	l.note(logger, interval, "a", "signature_mismatch", "192.0.2.1:1234")
	if n := len(h.lines()); n != 3 {
		t.Fatalf("a rejection within a's next window logged at once (%d lines)", n)
	}
	l.flush(logger, interval, "a")
	l.flush(logger, interval, "a") // a quiet interval closes the window
	if got := h.lines(); len(got) != 4 || got[3]["count"] != "1" {
		t.Fatalf("lines = %v", got)
	}
	// b's window was closed: its next rejection logs at once.
	l.note(logger, interval, "b", "signature_missing", "192.0.2.2:1234")
	if got := h.lines(); len(got) != 5 || got[4]["msg"] != "webhook rejected" || got[4]["connection"] != "b" {
		t.Fatalf("lines = %v", got)
	}
}

// TestRejectLogTimerFlushes: the interval's timer writes the count line by
// itself (no caller drives it).
func TestRejectLogTimerFlushes(t *testing.T) {
	h := &records{}
	logger := slog.New(h)
	var l rejectLog
	t.Cleanup(l.stop)
	for range 3 {
		l.note(logger, time.Hour, "a", "signature_mismatch", "")
	}
	// The window's timer fires now rather than in an hour (a short interval
	// could fire between the notes and close the window early).
	l.mu.Lock()
	l.windows["a"].timer.Reset(time.Millisecond)
	l.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if got := h.lines(); len(got) >= 2 {
			if got[1]["msg"] != "webhook rejections" || got[1]["count"] != "2" {
				t.Fatalf("lines = %v", got)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the interval's count line was never logged")
		}
		time.Sleep(time.Millisecond)
	}
}
