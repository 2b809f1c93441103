package admin

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/hookgate/hookgate"
	"github.com/hookgate/hookgate/verify"
)

// TestOpenAPIEnumsMatchTheCode keeps the published contract in step with
// the registry: every auth type the verifier knows, and every receipt
// status, is listed in the OpenAPI document, and nothing else.
func TestOpenAPIEnumsMatchTheCode(t *testing.T) {
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]struct {
					Enum []string `json:"enum"`
				} `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	var auth, status []string
	for _, s := range doc.Components.Schemas {
		if e := s.Properties["auth"].Enum; e != nil {
			auth = e
		}
		if e := s.Properties["status"].Enum; len(e) > len(status) {
			status = e
		}
	}
	slices.Sort(auth)
	if want := verify.AuthTypes(); !slices.Equal(auth, want) {
		t.Errorf("openapi auth enum = %v\nthe registry has %v", auth, want)
	}
	for _, st := range hookgate.Statuses() {
		if !slices.Contains(status, string(st)) {
			t.Errorf("openapi receipt status enum lacks %q", st)
		}
	}
}
