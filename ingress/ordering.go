package ingress

import (
	"net/http"

	"github.com/hookgate/hookgate/rules"
)

// orderingKey is the ordering key of a delivery whose event type is
// eventType: read with the ordering_key of the first matching route that
// sets one (OrderingKeys), empty when none does or its fields are missing.
func (ep *Endpoint) orderingKey(h http.Header, env rules.Envelope, eventType string) string {
	for i, rt := range ep.Conn.Routes {
		if i < len(ep.OrderingKeys) && ep.OrderingKeys[i] != "" && rules.MatchEvents(rt.Events, eventType) {
			return rules.OrderingKey(ep.OrderingKeys[i], h, env)
		}
	}
	return ""
}
