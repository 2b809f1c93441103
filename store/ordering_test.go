package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkClaimSQLiteOrdered is BenchmarkClaimSQLite with every receipt
// under an ordering key of its own: what the ordering check adds to a claim
// (one probe of receipts_ordering per receipt taken).
func BenchmarkClaimSQLiteOrdered(b *testing.B) {
	db := openSQLite(b)
	ctx := context.Background()
	now := time.Now()
	const batch = 10
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		b.StopTimer()
		for range batch {
			r := receipt(i, now)
			r.OrderingKey = fmt.Sprint("key-", i)
			if _, err := db.Ingest(ctx, r, 24*time.Hour); err != nil {
				b.Fatal(err)
			}
			i++
		}
		b.StartTimer()
		rs, _, err := db.Claim(ctx, "bench", batch, now, time.Hour)
		if err != nil {
			b.Fatal(err)
		}
		if len(rs) != batch {
			b.Fatalf("claimed %d, want %d", len(rs), batch)
		}
	}
}

// BenchmarkClaimSQLiteBehindBlockedKey claims unkeyed receipts that are due
// after 1000 receipts of one key whose head is in flight: each claim steps
// over the blocked ones, as it steps over leased receipts.
func BenchmarkClaimSQLiteBehindBlockedKey(b *testing.B) {
	db := openSQLite(b)
	ctx := context.Background()
	now := time.Now()
	const blocked, batch = 1000, 10
	for i := range blocked {
		r := receipt(i, now.Add(-time.Hour))
		r.OrderingKey = "hot"
		if _, err := db.Ingest(ctx, r, 24*time.Hour); err != nil {
			b.Fatal(err)
		}
	}
	if rs, _, err := db.Claim(ctx, "head", batch, now, 24*time.Hour); err != nil || len(rs) != 1 {
		b.Fatalf("claimed %d (%v), want the key's head alone", len(rs), err)
	}
	b.ReportAllocs()
	i := blocked
	for b.Loop() {
		b.StopTimer()
		for range batch {
			if _, err := db.Ingest(ctx, receipt(i, now), 24*time.Hour); err != nil {
				b.Fatal(err)
			}
			i++
		}
		b.StartTimer()
		rs, _, err := db.Claim(ctx, "bench", batch, now, time.Hour)
		if err != nil {
			b.Fatal(err)
		}
		if len(rs) != batch {
			b.Fatalf("claimed %d, want %d", len(rs), batch)
		}
	}
}
