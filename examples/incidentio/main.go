// Command incidentio embeds hookgate in a Go program for seed 001: the
// incident.io webhook at /webhooks/incident/lead, verified with Standard
// Webhooks (svix) headers, answered 204 once stored. The seed's rules are
// configuration: a route filter skips incidents in triage or live, and a
// schema checks the seed's required fields; a Go handler does the one thing
// configuration cannot, finding the new lead in the people directory.
//
//	INCIDENT_WEBHOOK_SECRET=whsec_… go run ./examples/incidentio
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/config"
	"github.com/hookgate/hookgate/gateway"
)

// DefaultSecret is used when INCIDENT_WEBHOOK_SECRET is unset, for trying the
// example only. It is the example secret of the Standard Webhooks
// specification; never use it for a real endpoint.
const DefaultSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// configYAML is the gateway configuration. The route's handler,
// incident-lead, is the Go function registered in code.
const configYAML = `
listen: "${HOOKGATE_LISTEN:-:8080}"
admin:
  listen: "${HOOKGATE_ADMIN_LISTEN:-127.0.0.1:8081}"
storage:
  url: "${HOOKGATE_STORAGE_URL:-sqlite://incidentio.db}"
connections:
  - type: incidentio          # preset: auth svix, webhook-id / webhook-timestamp / webhook-signature
    name: lead
    path: /webhooks/incident/lead
    signing_secret: "${INCIDENT_WEBHOOK_SECRET}"
    routes:
      - events: ["public_incident.incident_updated_v2"]
        # Seed 001 skips incidents in triage or live: they are stored as
        # "filtered" and never reach the handler (replayable later).
        filter: >-
          !("public_incident.incident_updated_v2" in body
            && has(body["public_incident.incident_updated_v2"].incident_status)
            && body["public_incident.incident_updated_v2"].incident_status in ["triage", "live"])
        # IncidentLeadBodySchema: event_type and the incident object are
        # required. Checked at dispatch: a body that fails goes to dead with
        # the errors.
        schema:
          type: object
          required: [event_type, "public_incident.incident_updated_v2"]
          properties:
            event_type: {type: string}
            "public_incident.incident_updated_v2":
              type: object
              properties:
                incident_id: {type: string}
                incident_status: {type: string}
                incident_role_assignments: {type: array, items: {type: object}}
        validate: async
        handlers: [incident-lead]
`

// people is the example's directory (the seed looks Alaners up in its DB).
var people = NewDirectory(
	Person{Email: "ada@example.com", SlackUserID: "U0ADA"},
	Person{Email: "grace@example.com", SlackUserID: "U0GRACE", Roles: []string{AdminRole}},
)

// loadConfig parses configYAML with the environment.
func loadConfig() (*config.Config, error) {
	cfg, missing, err := config.Parse([]byte(configYAML))
	if err != nil {
		return nil, err
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("unset environment variables: %v", missing)
	}
	return cfg, nil
}

func main() {
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if os.Getenv("INCIDENT_WEBHOOK_SECRET") == "" {
		logger.Warn("INCIDENT_WEBHOOK_SECRET is unset: using the example secret; do not expose this endpoint")
		os.Setenv("INCIDENT_WEBHOOK_SECRET", DefaultSecret)
	}
	if err := run(logger); err != nil {
		logger.Error("incidentio example stopped", "err", err)
		os.Exit(1)
	}
}

func run(logger *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, err := loadConfig()
	if err != nil {
		return err
	}
	gw, err := gateway.New(ctx, cfg, gateway.Options{Logger: logger, Handlers: map[string]hookgate.Sender{
		"incident-lead": &LeadHandler{People: people, Logger: logger},
	}})
	if err != nil {
		return err
	}
	defer gw.Close()
	ls, err := gw.Listen()
	if err != nil {
		return err
	}
	return gw.Serve(ctx, ls)
}
