# Seed 002's DatadogWebhookProcessor.process_webhook: a Datadog alert becomes
# an Overwatch incident. It runs at dispatch on the stored alert (which the
# route's schema has checked); the handler gets its output. $connection is
# the connection's name, which is the integration id.
{
  "low": "low",
  "medium": "medium",
  "high": "high",
  "critical": "critical"
} as $severity
| {
    integration_id: $connection,
    external_id: .id,
    title: .alert_name,
    description: (.message // ""),
    severity: ($severity[.severity // "medium"] // "medium"),
    status: "investigating",
    metadata: {
      alert_type: .alert_type,
      alert_status: .alert_status,
      host: .host,
      tags: (.tags // []),
      snapshot: .snapshot,
      link: .link
    }
  }
