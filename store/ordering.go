package store

// Ordering keys (SPEC §4.2).
//
// A receipt stored with an ordering key (hookgate.Receipt.OrderingKey) is
// claimed only when no receipt of its connection with the same key and an
// earlier seq still has a job: one that is due, leased (in flight), waiting
// for a retry or deferred. So receipts with one key are delivered one at a
// time in the order they were stored, a failed one holds back the later ones
// until it is acknowledged or dead, and different keys go in parallel.
// Receipts without a key are claimed as before: the check reads ordering_key
// from the row the claim reads anyway, and stops there when it is NULL.
//
// Several claimers at once cannot break it. "Has a job" ends only with the
// commit of the receipt's outcome, so a claim that sees no earlier job with
// the key sees a state in which there truly is none; and among claims that
// see the same head, row locks (SKIP LOCKED on PostgreSQL, the single writer
// on SQLite) let one take it. The next receipt with the key stays behind the
// head, whether or not the head was claimed yet.
//
// A blocked receipt is due and is stepped over by each claim, like a leased
// one; receipts_ordering (migration sqlite 00006, postgres 00008) answers
// the check from keyed, pending receipts only. On PostgreSQL seq is given at
// insert, so receipts of one key stored by two instances at the same moment
// are ordered by seq, which may differ from the order their commits became
// visible; one instance stores them in arrival order.

// orderedHead is the claim's condition that the receipt of alias a is the
// earliest pending one of its ordering key, or has none.
func orderedHead(a string) string {
	return `(` + a + `.ordering_key IS NULL OR NOT EXISTS (SELECT 1 FROM receipts o
		WHERE o.connection = ` + a + `.connection AND o.ordering_key = ` + a + `.ordering_key
		AND o.next_attempt_at IS NOT NULL AND o.seq < ` + a + `.seq))`
}
