package rules

import "fmt"

// NoRouteReason is the reason of a receipt that is filtered because no route
// of its connection takes its event type. A receipt that a route's filter
// turns away gets a reason naming that route and filter instead (set where
// the filter is evaluated).
func NoRouteReason(eventType string) string {
	return fmt.Sprintf("no route for event type %q", eventType)
}
