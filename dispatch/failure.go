package dispatch

import (
	"context"
	"errors"
	"net"
)

// Failure types label hookgate_webhook_failures_total (SPEC §6): why a
// delivery attempt or a receipt's processing failed.
const (
	FailureTimeout    = "timeout"
	FailureNetwork    = "network"
	FailureHTTP4xx    = "http_4xx"
	FailureHTTP5xx    = "http_5xx"
	FailureValidation = "validation"
	FailureTransform  = "transform"
	FailureExec       = "exec"
	FailureBroker     = "broker"
	FailureHandler    = "handler"
	// FailureUndeliverable: the receipt cannot be dispatched at all (its
	// connection or handler was removed).
	FailureUndeliverable = "undeliverable"
)

// Typed is an error that names its own failure type; a destination returns
// one when its type says more than the handler type does.
type Typed interface {
	FailureType() string
}

// FailureType names the failure of one attempt of a handler of type
// handlerType that answered statusCode and err: the error's own type when it
// has one, then a deadline (timeout), the HTTP status class, a network error,
// and otherwise what the handler type implies (exec, a broker, a Go handler).
func FailureType(handlerType string, statusCode int, err error) string {
	var typed Typed
	var netErr net.Error
	switch {
	case errors.As(err, &typed):
		return typed.FailureType()
	case errors.Is(err, context.DeadlineExceeded):
		return FailureTimeout
	case statusCode >= 500:
		return FailureHTTP5xx
	case statusCode >= 400:
		return FailureHTTP4xx
	case errors.As(err, &netErr):
		if netErr.Timeout() {
			return FailureTimeout
		}
		return FailureNetwork
	}
	switch handlerType {
	case "http":
		return FailureNetwork
	case "exec":
		return FailureExec
	case "nats", "kafka", "rabbitmq", "redis":
		return FailureBroker
	}
	return FailureHandler
}
