package dispatch

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
)

type brokerNack struct{}

func (brokerNack) Error() string       { return "nack" }
func (brokerNack) FailureType() string { return FailureBroker }

func TestFailureType(t *testing.T) {
	t.Parallel()
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	for _, tc := range []struct {
		handler string
		code    int
		err     error
		want    string
	}{
		{"http", 503, errors.New("status 503"), FailureHTTP5xx},
		{"http", 404, errors.New("status 404"), FailureHTTP4xx},
		{"http", 0, fmt.Errorf("post: %w", context.DeadlineExceeded), FailureTimeout},
		{"http", 0, fmt.Errorf("post: %w", refused), FailureNetwork},
		{"http", 0, errors.New("tls: bad certificate"), FailureNetwork},
		{"exec", 0, errors.New("exit status 3"), FailureExec},
		{"nats", 0, errors.New("no responders"), FailureBroker},
		{"func", 0, errors.New("lead not found"), FailureHandler},
		{"func", 0, fmt.Errorf("publish: %w", brokerNack{}), FailureBroker}, // the error names itself
	} {
		if got := FailureType(tc.handler, tc.code, tc.err); got != tc.want {
			t.Errorf("FailureType(%s, %d, %v) = %s, want %s", tc.handler, tc.code, tc.err, got, tc.want)
		}
	}
}
