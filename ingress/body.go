package ingress

import (
	"errors"
	"io"
	"net/http"
	"sync"

	"github.com/hookgate/hookgate"
)

// Body buffers grow with the bytes that arrived, never from the declared
// Content-Length: a sender that declares 1 GiB and sends nothing costs
// nothing, and a stalled sender holds only what it sent.
const (
	// minBodyChunk is the first capacity a buffer grows to, and the
	// smallest growth step after it.
	minBodyChunk = 4 << 10
	// maxPooledBody is the largest buffer kept for reuse. Larger bodies are
	// rare; keeping their buffers would hold up to max_payload_bytes per
	// pooled buffer outside the in-flight budget.
	maxPooledBody = 256 << 10
)

var bodyPool = sync.Pool{New: func() any { return new([]byte) }}

// body is a request body read by readBody, and what it holds of the shared
// limits. Its bytes may come from a pool: release must be the last use,
// after which nothing may reference them.
type body struct {
	b        []byte
	pooled   *[]byte // the pool's holder, nil once detached
	reserved int64   // bytes of the in-flight budget held
	limits   *Limits
}

// detach hands the bytes over to an owner that may keep them past the
// request (a rejected or handshake receipt, whose write another part of
// hookgate may defer): they will not be reused.
func (b *body) detach() []byte {
	b.pooled = nil
	return b.b
}

// release gives the budget back and, unless the bytes were detached,
// returns the buffer to the pool.
func (b *body) release() {
	b.limits.release(b.reserved)
	b.reserved = 0
	if b.pooled == nil {
		return
	}
	if b.b != nil && cap(b.b) <= maxPooledBody {
		*b.pooled = b.b[:0]
	}
	bodyPool.Put(b.pooled)
	b.pooled, b.b = nil, nil
}

// errOverBudget is the answer when the in-flight body budget is spent.
var errOverBudget = hookgate.Errorf(hookgate.EOverloaded, "too many request bodies in flight; retry later")

// readBody reads the body of r, at most limit bytes, into a pooled buffer
// that grows only with the bytes that arrived. A declared length above the
// limit is ETooLarge before a byte is read; a declared length is reserved in
// the in-flight budget up front (EUnavailable, without reading, when it does
// not fit), and a body of unknown length reserves as its buffer grows. The
// caller must call release on the result, also after an error.
func readBody(r *http.Request, limit int64, limits *Limits) (body, error) {
	bd := body{limits: limits}
	if r.ContentLength > limit {
		return bd, hookgate.Errorf(hookgate.ETooLarge, "body of %d bytes exceeds the limit of %d bytes", r.ContentLength, limit)
	}
	if r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody {
		return bd, nil
	}
	target := limit // the most the buffer may have to hold
	if n := r.ContentLength; n > 0 {
		if !limits.reserve(n) {
			return bd, errOverBudget
		}
		bd.reserved, target = n, n
	}
	bd.pooled = bodyPool.Get().(*[]byte)
	b := (*bd.pooled)[:0]
	if r.ContentLength < 0 {
		// A body of unknown length reserves what its buffer can hold.
		if !limits.reserve(min(int64(cap(b)), target)) {
			return bd, errOverBudget
		}
		bd.reserved = min(int64(cap(b)), target)
	}
	for {
		if int64(len(b)) >= target {
			if r.ContentLength >= 0 {
				break // the declared length arrived; net/http reads no further
			}
			// Unknown length and the limit reached: one byte more is too much.
			var one [1]byte
			n, err := io.ReadFull(r.Body, one[:])
			bd.b = b
			if n > 0 {
				return bd, hookgate.Errorf(hookgate.ETooLarge, "body exceeds the limit of %d bytes", limit)
			}
			if err != nil && err != io.EOF {
				return bd, hookgate.Errorf(hookgate.EInvalid, "reading body: %v", err)
			}
			break
		}
		if len(b) == cap(b) {
			grown := min(int64(max(2*cap(b), minBodyChunk)), target)
			if r.ContentLength < 0 {
				if !limits.reserve(grown - bd.reserved) {
					bd.b = b
					return bd, errOverBudget
				}
				bd.reserved = grown
			}
			nb := make([]byte, len(b), grown)
			copy(nb, b)
			b = nb
		}
		end := int(min(int64(cap(b)), target))
		n, err := r.Body.Read(b[len(b):end])
		b = b[:len(b)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			bd.b = b
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return bd, hookgate.Errorf(hookgate.ETooLarge, "body exceeds the limit of %d bytes", limit)
			}
			return bd, hookgate.Errorf(hookgate.EInvalid, "reading body: %v", err)
		}
	}
	bd.b = b
	return bd, nil
}
