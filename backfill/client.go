package backfill

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Client is the HTTP side shared by the sources: the provider's token, a
// bounded read of each answer, and the waits a rate limit asks for.
type Client struct {
	// HTTP sends the requests (default: a client with a 30 s timeout).
	HTTP *http.Client
	// Now and Sleep are the clock; tests set them. Sleep returns early
	// with ctx's error.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
	// MaxWait is the longest one rate-limit wait may last (default 15 min);
	// a longer one fails the run, which the next run retries.
	MaxWait time.Duration
	// Tries bounds the attempts of one request (default 5).
	Tries int
}

// maxAnswer bounds the bytes read of one API answer.
const maxAnswer = 32 << 20

// defaults fills the zero fields.
func (c *Client) defaults() {
	if c.HTTP == nil {
		c.HTTP = &http.Client{Timeout: 30 * time.Second}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Sleep == nil {
		c.Sleep = sleep
	}
	if c.MaxWait == 0 {
		c.MaxWait = 15 * time.Minute
	}
	if c.Tries == 0 {
		c.Tries = 5
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// waitFunc says, for an answer, how long to wait before trying again
// (attempt counts from 1), or false when the answer is final.
type waitFunc func(resp *http.Response, body []byte, attempt int) (time.Duration, bool)

// answer is a read response.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// do sends the request newReq makes, again after each wait that wait asks
// for, and returns the final answer, whatever its status.
func (c *Client) do(ctx context.Context, newReq func() (*http.Request, error), wait waitFunc) (answer, error) {
	c.defaults()
	for attempt := 1; ; attempt++ {
		req, err := newReq()
		if err != nil {
			return answer{}, err
		}
		resp, err := c.HTTP.Do(req.WithContext(ctx))
		if err != nil {
			return answer{}, fmt.Errorf("%s %s: %w", req.Method, redactURL(req), err)
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
		resp.Body.Close()
		if err != nil {
			return answer{}, fmt.Errorf("%s %s: read answer: %w", req.Method, redactURL(req), err)
		}
		if len(body) > maxAnswer {
			return answer{}, fmt.Errorf("%s %s: answer larger than %d bytes", req.Method, redactURL(req), maxAnswer)
		}
		d, again := wait(resp, body, attempt)
		if !again {
			return answer{status: resp.StatusCode, header: resp.Header, body: body}, nil
		}
		if attempt >= c.Tries {
			return answer{}, fmt.Errorf("%s %s: %w after %d attempts (%d)", req.Method, redactURL(req), ErrRateLimited, attempt, resp.StatusCode)
		}
		if d > c.MaxWait {
			return answer{}, fmt.Errorf("%s %s: %w: the API asks to wait %s, longer than %s", req.Method, redactURL(req), ErrRateLimited, d, c.MaxWait)
		}
		if err := c.Sleep(ctx, d); err != nil {
			return answer{}, err
		}
	}
}

// ErrRateLimited is returned when a provider's rate limit outlasts the
// waits a run allows.
var ErrRateLimited = errors.New("rate limited")

// redactURL is the request's URL without its query, for errors.
func redactURL(r *http.Request) string {
	u := *r.URL
	u.RawQuery, u.User = "", nil
	return u.String()
}

// apiError describes a refused API call with the provider's message, cut
// short: an answer from the API never carries the token.
func apiError(a answer) error {
	msg := strings.TrimSpace(string(a.body))
	if len(msg) > 300 {
		msg = msg[:300] + "…"
	}
	return fmt.Errorf("API answered %d: %s", a.status, msg)
}
