package verify

import "time"

// Provider presets for the generic auth types (sha1, sha256, sha256_raw,
// sha256_base64, svix, basic, secret). Providers with their own scheme
// register their preset in that scheme's file.
func init() {
	for _, p := range []Preset{
		{
			// X-Hub-Signature-256: sha256=HMAC-SHA256(secret, body) hex.
			Type: "github", Auth: "sha256",
			SignatureHeader: "X-Hub-Signature-256",
			NonceHeader:     "X-GitHub-Delivery",
			EventType:       "header:X-GitHub-Event",
			// A hook whose content type is application/x-www-form-urlencoded
			// sends the JSON as the form's payload field (signed as posted).
			FormPayload: "payload",
			Doc:         "https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries",
		},
		{
			// Linear-Signature: bare hex HMAC-SHA256 of the body. Linear also
			// puts "type" and "action" in the body; the header names the
			// same resource type. The signed body's webhookTimestamp (unix
			// ms) must be within a minute of now, as Linear's SDK
			// (LinearWebhookClient.verify) requires.
			Type: "linear", Auth: "sha256_raw",
			SignatureHeader: "Linear-Signature",
			TimestampField:  "webhookTimestamp",
			ReplayWindow:    time.Minute,
			NonceHeader:     "Linear-Delivery",
			EventType:       "header:Linear-Event",
			Doc:             "https://linear.app/developers/webhooks",
		},
		{
			// X-Hub-Signature: sha1=<hex>, keyed with the app's client secret.
			Type: "intercom", Auth: "sha1",
			SignatureHeader: "X-Hub-Signature",
			NonceBody:       "id",
			EventType:       "body:topic",
			Doc:             "https://developers.intercom.com/docs/webhooks/webhook-notifications",
		},
		{
			// X-DocuSign-Signature-1..N: base64 HMAC-SHA256, one per active
			// Connect HMAC key. No delivery id header: checksum dedupe.
			Type: "docusign", Auth: "sha256_base64",
			SignatureHeader: "X-DocuSign-Signature-1",
			EventType:       "body:event",
			Doc:             "https://developers.docusign.com/platform/webhooks/connect/hmac/",
		},
		{
			// X-Shopify-Hmac-Sha256: base64 HMAC-SHA256 with the app's client secret.
			Type: "shopify", Auth: "sha256_base64",
			SignatureHeader: "X-Shopify-Hmac-Sha256",
			NonceHeader:     "X-Shopify-Webhook-Id",
			EventType:       "header:X-Shopify-Topic",
			Doc:             "https://shopify.dev/docs/apps/build/webhooks/subscribe/https",
		},
		{
			// incident.io signs with Svix (Standard Webhooks headers).
			Type: "incidentio", Auth: "svix",
			NonceHeader:  "webhook-id",
			ReplayWindow: DefaultReplayWindow, // Svix: five minutes, either way
			EventType:    "body:event_type",
			Doc:          "https://api-docs.incident.io/tag/Webhooks",
		},
		{
			Type: "svix", Auth: "svix",
			NonceHeader:  "webhook-id",
			ReplayWindow: DefaultReplayWindow, // Svix: five minutes, either way
			EventType:    "body:type",
			Doc:          "https://docs.svix.com/receiving/verifying-payloads/how-manual",
		},
		{
			Type: "standard", Auth: "svix",
			NonceHeader:  "webhook-id",
			ReplayWindow: DefaultReplayWindow, // Svix: five minutes, either way
			EventType:    "body:type",
			Doc:          "https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md",
		},
		{
			// The Datadog webhook integration sends HTTP Basic credentials set
			// on the webhook; the payload template is user-defined, and
			// $EVENT_TYPE is conventionally mapped to "event_type".
			Type: "datadog", Auth: "basic",
			EventType: "body:event_type",
			Doc:       "https://docs.datadoghq.com/integrations/webhooks/",
		},
		{
			// Push notifications carry no body; the channel token set at
			// watch time comes back in X-Goog-Channel-Token. Message numbers
			// increase per channel ("sync" is message 1).
			// Message numbers count per channel, so the nonce is the channel
			// id and the message number together.
			Type: "google-calendar", Auth: "secret",
			SignatureHeader: "X-Goog-Channel-Token",
			NonceHeader:     "X-Goog-Channel-ID+X-Goog-Message-Number",
			EmptyBody:       true,
			EventType:       "header:X-Goog-Resource-State",
			Doc:             "https://developers.google.com/workspace/calendar/api/guides/push",
		},
		{
			// Cloudflare Notifications webhooks send the destination's secret
			// in cf-webhook-auth. The generic payload names its alert in
			// "alert_type" (e.g. pages_event_alert); it has no "event" field.
			Type: "cloudflare-pages", Auth: "secret",
			SignatureHeader: "cf-webhook-auth",
			EventType:       "body:alert_type",
			Doc:             "https://developers.cloudflare.com/notifications/get-started/configure-webhooks/",
		},
		{
			// Qovery's docs say only that the optional webhook secret is sent
			// with each call; the receiving application this preset is based
			// on reads it from the Qovery-Secret header.
			Type: "qovery", Auth: "secret",
			SignatureHeader: "Qovery-Secret",
			EventType:       "body:event_type",
			Doc:             "https://www.qovery.com/docs/configuration/integrations/webhooks",
		},
		{
			// X-Gitlab-Token echoes the webhook's secret token verbatim.
			Type: "gitlab", Auth: "secret",
			SignatureHeader: "X-Gitlab-Token",
			NonceHeader:     "X-Gitlab-Event-UUID",
			EventType:       "header:X-Gitlab-Event",
			Doc:             "https://docs.gitlab.com/user/project/integrations/webhooks/",
		},
	} {
		registerPreset(p)
	}
}
