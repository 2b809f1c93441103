// Package servicetest finds the real services tests run against: each is
// named by an environment variable that .ci/run sets, and a test skips,
// saying which variable to set, when it is unset.
package servicetest

import (
	"os"
	"testing"
)

// The variables .ci/run sets, with the address each service has there.
const (
	NATS     = "HOOKGATE_TEST_NATS_URL"     // nats://127.0.0.1:4222
	Redis    = "HOOKGATE_TEST_REDIS_URL"    // redis://127.0.0.1:6379/0
	RabbitMQ = "HOOKGATE_TEST_RABBITMQ_URL" // amqp://guest:guest@127.0.0.1:5672/
)

var examples = map[string]string{
	NATS:     "nats://127.0.0.1:4222",
	Redis:    "redis://127.0.0.1:6379/0",
	RabbitMQ: "amqp://guest:guest@127.0.0.1:5672/",
}

// URL returns the service URL in env, or skips t: what names the use, as in
// "no NATS server to publish to".
func URL(t testing.TB, env, what string) string {
	t.Helper()
	u := os.Getenv(env)
	if u == "" {
		t.Skipf("%s is not set: %s (e.g. %s)", env, what, examples[env])
	}
	return u
}
