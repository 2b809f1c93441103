package store

import (
	"strconv"
	"strings"

	"github.com/pressly/goose/v3"
)

// dialect holds what differs between SQLite and PostgreSQL. Queries are
// written once with ? placeholders and rebound for PostgreSQL.
type dialect struct {
	name  string // folder under migrations/
	goose goose.Dialect
	// dollar rewrites ? placeholders to $1, $2, …
	dollar bool
	// lockRows is appended to a SELECT whose rows the transaction is about
	// to change. SQLite needs none: its write transactions begin IMMEDIATE,
	// so a single writer holds the database.
	lockRows string
	// skipLocked is appended to the claim query so that concurrent claimers
	// pass over each other's rows instead of waiting for them.
	skipLocked string
	// batchLanes is how many group commits run at once (batch.go): one
	// on SQLite, which has one writer; two on PostgreSQL, which runs
	// transactions in parallel and shares WAL flushes among concurrent
	// commits, so one lane's round trips overlap the other's flush. Four
	// lanes reached the same throughput with smaller batches, which cost
	// the server more CPU per receipt (87 against 73 µs).
	batchLanes int
}

var (
	sqliteDialect = dialect{
		name:       "sqlite",
		goose:      goose.DialectSQLite3,
		batchLanes: 1,
	}
	postgresDialect = dialect{
		name:       "postgres",
		goose:      goose.DialectPostgres,
		dollar:     true,
		lockRows:   " FOR UPDATE",
		skipLocked: " FOR UPDATE SKIP LOCKED",
		batchLanes: 2,
	}
)

// lockRowsOf is lockRows for the rows of one table of a join (PostgreSQL
// cannot lock the nullable side of an outer join).
func (d dialect) lockRowsOf(alias string) string {
	if d.lockRows == "" {
		return ""
	}
	return d.lockRows + " OF " + alias
}

// q returns query with the dialect's placeholders. Queries contain no ?
// inside string literals.
func (d dialect) q(query string) string {
	if !d.dollar {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}

// placeholders returns "?, ?, …" with n marks.
func placeholders(n int) string {
	if n <= 0 {
		return ""
	}
	return strings.Repeat("?, ", n-1) + "?"
}
