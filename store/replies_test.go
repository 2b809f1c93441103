package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	hookgate "github.com/hookgate/hookgate"
)

// BenchmarkCompleteSQLite is the cost of recording a dispatch's outcome,
// with no reply (a destination that answers 204) and with a 1 KiB reply
// kept beside the attempt (job results): the per-delivery cost replies add.
func BenchmarkCompleteSQLite(b *testing.B) {
	for _, reply := range []int{0, 1024} {
		name := "no-reply"
		if reply > 0 {
			name = "reply-1KiB"
		}
		b.Run(name, func(b *testing.B) {
			db := openSQLite(b)
			ctx := context.Background()
			now := time.Now()
			body := []byte(strings.Repeat("r", reply))
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				b.StopTimer()
				r := receipt(i, now)
				i++
				if _, err := db.Ingest(ctx, r, 24*time.Hour); err != nil {
					b.Fatal(err)
				}
				if rs, _, err := db.Claim(ctx, "bench", 1, now, time.Hour); err != nil || len(rs) != 1 {
					b.Fatalf("claim: %d, %v", len(rs), err)
				}
				a := hookgate.Attempt{Handler: "h", Number: 1, StartedAt: now, FinishedAt: now,
					Outcome: hookgate.OutcomeSuccess, StatusCode: 200}
				if reply > 0 {
					a.Reply = &hookgate.Reply{StatusCode: 200, ContentType: "application/json", Body: body}
				}
				b.StartTimer()
				if _, err := db.Complete(ctx, "bench", hookgate.Completion{ReceiptID: r.ID, Status: hookgate.StatusAcknowledged,
					At: now, Attempts: []hookgate.Attempt{a}}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
