package store

import (
	"bytes"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/klauspost/compress/s2"
	"github.com/tidwall/gjson"

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
	// S2 wants room for its worst case (more than the body) to encode into;
	// the bytes kept are an exact copy of what it wrote, so a receipt waiting
	// for its commit holds the compressed size, not the worst case.
	scratch := packScratch.Get().(*[]byte)
	defer packScratch.Put(scratch)
	if n := s2.MaxEncodedLen(len(body)); cap(*scratch) < n {
		*scratch = make([]byte, n)
	}
	packed := s2.Encode((*scratch)[:cap(*scratch)], body)
	if len(packed) > len(body)-len(body)/8 {
		return body, encodingRaw
	}
	return bytes.Clone(packed), encodingS2
}

// packScratch holds encoding buffers, one per concurrent packBody.
var packScratch = sync.Pool{New: func() any { return new([]byte) }}

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

// Headers are stored as the JSON object of http.Header ({"Name":["v1","v2"]},
// names sorted), readable in the database. Every ingest encodes them and
// every claim decodes them, so both are written out for this one shape
// instead of going through reflection: a tenth of the time.

// encodeHeaders returns the JSON of h, names sorted (as encoding/json writes
// a map).
func encodeHeaders(h http.Header) []byte {
	if h == nil {
		return []byte("null")
	}
	names := make([]string, 0, len(h))
	size := 2
	for k, vs := range h {
		names = append(names, k)
		size += len(k) + 6
		for _, v := range vs {
			size += len(v) + 3
		}
	}
	slices.Sort(names)
	b := make([]byte, 0, size)
	b = append(b, '{')
	for i, k := range names {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		vs := h[k]
		if vs == nil {
			b = append(b, "null"...)
			continue
		}
		b = append(b, '[')
		for j, v := range vs {
			if j > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, v)
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

// appendJSONString appends s as a JSON string the way encoding/json does
// without HTML escaping: quotes, backslashes and control characters escaped,
// invalid UTF-8 replaced by U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// decodeHeaders parses what encodeHeaders (or encoding/json) wrote.
func decodeHeaders(s string) (http.Header, error) {
	if s == "null" {
		return nil, nil
	}
	if !gjson.Valid(s) {
		return nil, fmt.Errorf("headers are not valid JSON")
	}
	root := gjson.Parse(s)
	if !root.IsObject() {
		return nil, fmt.Errorf("headers are not a JSON object")
	}
	h := http.Header{}
	var bad error
	root.ForEach(func(k, vs gjson.Result) bool {
		switch {
		case vs.Type == gjson.Null:
			h[k.Str] = nil
		case vs.IsArray():
			var list []string
			vs.ForEach(func(_, v gjson.Result) bool {
				if v.Type != gjson.String {
					bad = fmt.Errorf("header %q holds a non-string value", k.Str)
					return false
				}
				list = append(list, v.Str)
				return true
			})
			h[k.Str] = list
		default:
			bad = fmt.Errorf("header %q is not a list of values", k.Str)
		}
		return bad == nil
	})
	return h, bad
}

// setContent sets a receipt's stored headers (JSON of http.Header) and body.
func setContent(r *hookgate.Receipt, headers string, body []byte, encoding int) error {
	h, err := decodeHeaders(headers)
	if err != nil {
		return fmt.Errorf("headers of %s: %w", r.ID, err)
	}
	b, err := unpackBody(body, encoding)
	if err != nil {
		return fmt.Errorf("body of %s: %w", r.ID, err)
	}
	r.Headers, r.Body = h, b
	return nil
}
