package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"github.com/hookgate/hookgate"
)

// EventUpdated is the incident.io event this handler acts on; it is also the
// key under which the incident sits in the body (seed 001:
// IncidentLeadBodySchema.data has data_key="public_incident.incident_updated_v2").
const EventUpdated = "public_incident.incident_updated_v2"

// AdminRole is the role whose holders are not announced (seed 001:
// "Checks if the alaner has the AlanToolsBackendIamManager role").
const AdminRole = "AlanToolsBackendIamManager"

// Person is one entry of the people directory (the seed's Alaner table).
type Person struct {
	Email       string
	SlackUserID string
	Roles       []string
}

// Directory finds people by Slack user id.
type Directory map[string]Person

// NewDirectory indexes people by their Slack user id.
func NewDirectory(people ...Person) Directory {
	d := Directory{}
	for _, p := range people {
		d[p.SlackUserID] = p
	}
	return d
}

// ErrInvalidPayload marks a body the handler cannot read; retrying it cannot
// help, so the receipt goes straight to dead. The route's schema has checked
// the seed's required fields before the handler runs.
var ErrInvalidPayload = errors.New("invalid incident.io payload")

// incidentBody is the part of the seed's IncidentLeadBodySchema the lead
// lookup reads.
type incidentBody struct {
	Data incidentData `json:"public_incident.incident_updated_v2"`
}

type incidentData struct {
	IncidentID      string `json:"incident_id"`
	IncidentStatus  string `json:"incident_status"`
	RoleAssignments []struct {
		Role struct {
			RoleType string `json:"role_type"`
		} `json:"role"`
		Assignee *struct {
			SlackUserID string `json:"slack_user_id"`
		} `json:"assignee"`
	} `json:"incident_role_assignments"`
}

// Outcome is what the handler decided for one delivery.
type Outcome struct {
	// Skipped says why nothing was announced ("" when something was).
	Skipped string
	// Announcements are the log lines "<email> is now incident lead for
	// incident id: <id>", one per announced lead.
	Announcements []string
}

// Decide is the part of seed 001's behaviour configuration cannot express:
// it finds each "lead" role assignment with an assignee, looks the assignee
// up by Slack user id, and announces them unless they hold AdminRole. The
// route has already skipped incidents in triage or live (its filter) and
// checked the required fields (its schema). A body it cannot read is an
// ErrInvalidPayload.
func Decide(body []byte, people Directory) (Outcome, error) {
	var in incidentBody
	if err := json.Unmarshal(body, &in); err != nil {
		return Outcome{}, fmt.Errorf("%w: %v", ErrInvalidPayload, err)
	}
	data := in.Data
	var out Outcome
	leads := 0
	for _, a := range data.RoleAssignments {
		if a.Role.RoleType != "lead" || a.Assignee == nil {
			continue
		}
		leads++
		p, ok := people[a.Assignee.SlackUserID]
		if !ok || slices.Contains(p.Roles, AdminRole) {
			continue
		}
		out.Announcements = append(out.Announcements,
			fmt.Sprintf("%s is now incident lead for incident id: %s", p.Email, data.IncidentID))
	}
	switch {
	case len(out.Announcements) > 0:
	case leads == 0:
		out.Skipped = "no lead role assignment with an assignee"
	default:
		out.Skipped = "lead is unknown or holds " + AdminRole
	}
	return out, nil
}

// LeadHandler is the Go handler registered as "incident-lead".
type LeadHandler struct {
	People Directory
	Logger *slog.Logger
	// Announce is called with each announcement; nil logs it only.
	Announce func(msg string)
}

// Send implements hookgate.Sender. An invalid body is a failure that must
// not be retried (the receipt goes to dead with the reason); everything else
// succeeds, including the deliberate skips.
func (h *LeadHandler) Send(ctx context.Context, r *hookgate.Receipt) (int, bool, error) {
	out, err := Decide(r.Body, h.People)
	if err != nil {
		return 0, false, err
	}
	if out.Skipped != "" {
		h.Logger.InfoContext(ctx, "incident lead: nothing to do", "receipt", r.ID, "reason", out.Skipped)
	}
	for _, msg := range out.Announcements {
		h.Logger.InfoContext(ctx, msg, "receipt", r.ID)
		if h.Announce != nil {
			h.Announce(msg)
		}
	}
	return 0, false, nil
}
