// Command overwatch embeds hookgate in a Go program for seed 002: one
// connection per monitoring integration at /webhooks/{platform}/{integration_id},
// HMAC-SHA256 signatures with a timestamp replay check, the alert checked
// against the seed's payload schema at the door (400 with the errors), a
// JSON 200 answer with the alert and integration ids as soon as it is
// stored, deduplication on the alert id, and in the background a jq
// transform that turns the alert into an incident for a Go handler to keep.
//
//	go run ./examples/overwatch
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/config"
	"github.com/hookgate/hookgate/gateway"
)

// Integration is one row of Overwatch's integration table.
type Integration struct {
	ID       string
	Platform string // "datadog", "grafana", …: the {platform} of the path
	Secret   string // webhook_secret of the integration's config
}

// demoIntegrations are the example's integrations. Secrets come from the
// environment, with defaults for trying the example only.
func demoIntegrations() []Integration {
	env := func(name, def string) string {
		if v := os.Getenv(name); v != "" {
			return v
		}
		return def
	}
	return []Integration{
		{ID: "dd-prod", Platform: "datadog", Secret: env("OVERWATCH_DD_PROD_SECRET", "dd-prod-webhook-secret")},
		{ID: "dd-staging", Platform: "datadog", Secret: env("OVERWATCH_DD_STAGING_SECRET", "dd-staging-webhook-secret")},
		{ID: "grafana-main", Platform: "grafana", Secret: env("OVERWATCH_GRAFANA_SECRET", "grafana-webhook-secret")},
	}
}

// alertHandlerName is the Go handler of Datadog integrations.
const alertHandlerName = "datadog-incident"

// buildConfig makes the gateway configuration in code: one connection per
// integration. The connection name is the integration id (names are unique
// across types), the type is "overwatch-{platform}", and the seed's path
// /webhooks/{platform}/{integration_id} is its alias. A request for an id
// that exists under another platform is answered 400, an unknown id 404.
//
// Datadog integrations route to the Go handler through the seed's payload
// rules, in configuration: alert.schema.json checked synchronously (an
// invalid alert is answered 400 validation_failed with its errors and
// never stored for dispatch), and incident.jq, which builds the incident
// the handler gets.
func buildConfig(integrations []Integration) *config.Config {
	cfg := config.Default()
	cfg.Listen = envOr("HOOKGATE_LISTEN", ":8080")
	cfg.Admin.Listen = envOr("HOOKGATE_ADMIN_LISTEN", "127.0.0.1:8081")
	cfg.Storage.URL = envOr("HOOKGATE_STORAGE_URL", "sqlite://overwatch.db")
	for _, in := range integrations {
		c := hookgate.Connection{
			Type:            "overwatch-" + in.Platform,
			Name:            in.ID,
			Path:            "/webhooks/" + in.Platform + "/" + in.ID,
			Auth:            "sha256", // HMAC-SHA256 of the raw body, hex, "sha256=" prefix
			SigningSecret:   in.Secret,
			SignatureHeader: "X-Signature",
			TimestampHeader: "X-Timestamp", // unix seconds, inside the 300 s replay window
			EventType:       "body:alert_type",
			// A resent alert is a duplicate by its id, whatever else changed.
			Nonce: "body:id",
			// The seed's SuccessResponse data: {integration_id, alert_id}.
			Response: &hookgate.Response{Status: 200, Body: "json", Fields: map[string]string{
				"integration_id": "connection:name",
				"alert_id":       "body:id",
			}},
		}
		if in.Platform == "datadog" {
			c.Routes = []hookgate.Route{{
				Schema:    &hookgate.RouteSchema{Inline: alertSchema},
				Validate:  "sync",
				Transform: incidentTransform,
				Handlers:  []string{alertHandlerName},
			}}
		}
		cfg.Connections = append(cfg.Connections, c)
	}
	// Seed 002's WebhookCircuitBreaker is hookgate's: 10 failures in a row
	// open the handler's circuit for an hour, while its alerts are kept and
	// wait; then one goes, and its success closes the circuit.
	cfg.Handlers = append(cfg.Handlers, hookgate.HandlerConfig{Name: alertHandlerName, Type: "func",
		Circuit: &hookgate.Circuit{FailureThreshold: 10, ResetTimeout: hookgate.Duration(time.Hour)}})
	return cfg
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// newAlertHandler wires the handler.
func newAlertHandler(logger *slog.Logger) *AlertHandler {
	return &AlertHandler{Incidents: &Incidents{}, Logger: logger}
}

func main() {
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(logger); err != nil {
		logger.Error("overwatch example stopped", "err", err)
		os.Exit(1)
	}
}

func run(logger *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	integrations := demoIntegrations()
	cfg := buildConfig(integrations)
	gw, err := gateway.New(ctx, cfg, gateway.Options{Logger: logger, Handlers: map[string]hookgate.Sender{
		alertHandlerName: newAlertHandler(logger),
	}})
	if err != nil {
		return err
	}
	defer gw.Close()
	ls, err := gw.Listen()
	if err != nil {
		return err
	}
	for _, in := range integrations {
		fmt.Fprintf(os.Stderr, "integration %-12s POST http://%s/webhooks/%s/%s\n", in.ID, ls.Public.Addr(), in.Platform, in.ID)
	}
	return gw.Serve(ctx, ls)
}
