package store

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync/atomic"

	"github.com/klauspost/compress/s2"

	hookgate "github.com/hookgate/hookgate"
)

// Bodies are stored compressed when that pays. Webhook payloads are JSON with
// repeated keys, URLs and ids, and the bytes a receipt adds to the database
// (once to the WAL, once more when the WAL is folded into the file) are what
// bounds ingest on a disk that must flush every commit: a 2 KiB GitHub-style
// payload stored as is fills a 4 KiB page alone, compressed it shares one.
// S2 (a faster Snappy) compresses 2 KiB in about 2 µs and expands it in well
// under one; zstd packs a little tighter but costs 14 µs per body at this size.
// A body is kept compressed only if that saves at least an eighth, so random or
// already-compressed payloads cost one attempt and are stored as received.
// Either way the body read back is byte for byte the body received.
const (
	encodingRaw = 0
	encodingS2  = 1
	// minCompress is the smallest body worth an attempt.
	minCompress = 256
)

// bodyBytes counts the bytes of the bodies this process stored, as received
// and as stored, for BodyCompression.
var bodyBytes struct{ received, stored atomic.Int64 }

// BodyCompression is the size of the bodies this process stored over the
// size they take in storage (1: stored as received), for benchmarks.
func (db *DB) BodyCompression() float64 {
	if s := bodyBytes.stored.Load(); s > 0 {
		return float64(bodyBytes.received.Load()) / float64(s)
	}
	return 0
}

// packBody returns the bytes to store for body and their encoding.
func packBody(body []byte) (stored []byte, encoding int) {
	defer func() {
		bodyBytes.received.Add(int64(len(body)))
		bodyBytes.stored.Add(int64(len(stored)))
	}()
	if len(body) < minCompress {
		return body, encodingRaw
	}
	packed := s2.Encode(nil, body)
	if len(packed) > len(body)-len(body)/8 {
		return body, encodingRaw
	}
	return packed, encodingS2
}

// unpackBody returns the body that stored (of encoding) holds.
func unpackBody(stored []byte, encoding int) ([]byte, error) {
	switch encoding {
	case encodingRaw:
		return stored, nil
	case encodingS2:
		return s2.Decode(nil, stored)
	}
	return nil, fmt.Errorf("unknown body encoding %d", encoding)
}

// setContent sets a receipt's stored headers (JSON of http.Header) and body.
func setContent(r *hookgate.Receipt, headers string, body []byte, encoding int) error {
	var h http.Header
	if err := json.Unmarshal([]byte(headers), &h); err != nil {
		return fmt.Errorf("headers of %s: %w", r.ID, err)
	}
	b, err := unpackBody(body, encoding)
	if err != nil {
		return fmt.Errorf("body of %s: %w", r.ID, err)
	}
	r.Headers, r.Body = h, b
	return nil
}
