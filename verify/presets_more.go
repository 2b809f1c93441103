package verify

// Provider presets on the shared auth types (secret, hmac, sha256_raw,
// basic, svix) for Telegram, Vercel, Sentry, Postmark, Clerk, Resend and
// Razorpay. Each comment says what the provider's documentation specifies
// and what the preset does not cover.
func init() {
	for _, p := range []Preset{
		{
			// setWebhook's secret_token (1-256 characters of A-Z, a-z, 0-9,
			// _ and -) comes back verbatim in X-Telegram-Bot-Api-Secret-Token
			// on every update. No signature covers the body. update_id is
			// the update's unique, increasing identifier (a JSON number).
			// An Update has no type field (exactly one of message,
			// edited_message, callback_query, … is present), so no event
			// type is preset.
			Type: "telegram", Auth: "secret",
			SignatureHeader: "X-Telegram-Bot-Api-Secret-Token",
			NonceBody:       "update_id",
			Doc:             "https://core.telegram.org/bots/api#setwebhook",
		},
		{
			// x-vercel-signature: bare hex HMAC-SHA1 of the raw body, keyed
			// with the webhook's secret (integration webhooks: the
			// integration's client secret). No prefix and no timestamp: the
			// generic hmac type with sha1/hex, so Sign (`hookgate send`)
			// writes exactly what Vercel sends. Payloads carry "id" and
			// "type" (deployment.created, …).
			Type: "vercel", Auth: "hmac",
			SignatureHeader: "x-vercel-signature",
			Algorithm:       "sha1",
			Encoding:        "hex",
			Template:        "{body}",
			NonceBody:       "id",
			EventType:       "body:type",
			Doc:             "https://vercel.com/docs/webhooks/webhooks-api#securing-webhooks",
		},
		{
			// Sentry-Hook-Signature: bare hex HMAC-SHA256 of the body, keyed
			// with the integration's client secret. Sentry-Hook-Resource
			// names the resource (installation, event_alert, issue,
			// metric_alert, error, comment) and the body's "action" what
			// happened to it (issue.created, …). Request-ID identifies the
			// request. Sentry-Hook-Timestamp is not signed, so it is not
			// checked: a replayer could set it freely.
			Type: "sentry", Auth: "sha256_raw",
			SignatureHeader: "Sentry-Hook-Signature",
			NonceHeader:     "Request-ID",
			EventType:       "header:Sentry-Hook-Resource+body:action",
			Doc:             "https://docs.sentry.io/integrations/integration-platform/webhooks/",
		},
		{
			// Postmark signs nothing; its documented protection is HTTP
			// Basic credentials in the webhook URL
			// (https://user:pass@host/path), plus its IP ranges (allowed_ips).
			// RecordType is Delivery, Bounce, Open, Click, SpamComplaint or
			// SubscriptionChange. MessageID is not unique per event (one
			// message has a Delivery, Opens, Clicks), so no body nonce is
			// preset: checksum dedupe.
			Type: "postmark", Auth: "basic",
			EventType: "body:RecordType",
			Doc:       "https://postmarkapp.com/developer/webhooks/webhooks-overview#protecting-your-webhook",
		},
		{
			// Clerk delivers through Svix: svix-id, svix-timestamp,
			// svix-signature and a whsec_ signing secret.
			Type: "clerk", Auth: "svix",
			NonceHeader:  "svix-id",
			ReplayWindow: DefaultReplayWindow, // Svix: five minutes, either way
			EventType:    "body:type",
			Doc:          "https://clerk.com/docs/webhooks/sync-data",
		},
		{
			// Resend delivers through Svix: svix-id, svix-timestamp,
			// svix-signature and a whsec_ signing secret.
			Type: "resend", Auth: "svix",
			NonceHeader:  "svix-id",
			ReplayWindow: DefaultReplayWindow, // Svix: five minutes, either way
			EventType:    "body:type",
			Doc:          "https://resend.com/docs/webhooks/verify-webhooks-requests",
		},
		{
			// X-Razorpay-Signature: bare hex HMAC-SHA256 of the raw body,
			// keyed with the webhook secret set in the Dashboard (not the
			// API key secret). x-razorpay-event-id is unique per event and
			// kept on retries, Razorpay's documented dedupe key.
			// https://razorpay.com/docs/webhooks/#idempotency
			Type: "razorpay", Auth: "sha256_raw",
			SignatureHeader: "X-Razorpay-Signature",
			NonceHeader:     "x-razorpay-event-id",
			EventType:       "body:event",
			Doc:             "https://razorpay.com/docs/webhooks/validate-test/",
		},
	} {
		registerPreset(p)
	}
}
