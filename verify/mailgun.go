package verify

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// mailgunScheme is Mailgun's webhook signature. Mailgun signs neither the
// body nor a header: the request carries a timestamp, a random 50-character
// token and signature = hex HMAC-SHA256(webhook signing key,
// timestamp + token). JSON webhooks carry them in the body as
// {"signature": {"timestamp", "token", "signature"}, "event-data": {…}};
// legacy webhooks and routes POST them as form fields of the same names.
// https://documentation.mailgun.com/docs/mailgun/user-manual/webhooks/securing-webhooks
//
// Events of a subaccount's domain also carry "parent-signature", the same
// HMAC keyed with the primary account's signing key, so one key can verify
// every subaccount: both signatures are tried against every secret.
//
// The event data is therefore NOT covered by the signature; what the
// signature proves is that Mailgun issued this token at this time. Mailgun
// recommends checking the timestamp and refusing a token seen before: the
// timestamp is checked against the replay window here, and the token is the
// Result's Nonce, so the receipt's idempotency key remembers it and a
// replayed token (even with other event data) becomes a duplicate instead of
// a new delivery.
//
// The credential travels in the body, so the body is parsed before anything
// is verified, as the format its Content-Type declares (JSON or an urlencoded
// form; never sniffed). Multipart bodies (routes with attachments) are not
// supported.
type mailgunScheme struct{}

const mailgunRecipe = "HMAC-SHA256(signing key, timestamp+token) as hex, body fields signature.{timestamp,token,signature|parent-signature}"

var _ = scheme("mailgun", mailgunScheme{})

func (mailgunScheme) NeedsSecret() bool          { return true }
func (mailgunScheme) Validate(cfg *Config) error { return requireSecretValues(cfg) }

// mailgunSigned is the signature object of a Mailgun webhook.
type mailgunSigned struct {
	Timestamp, Token, Signature, ParentSignature string
}

// signatures lists the signature and, when present, the parent signature.
func (s mailgunSigned) signatures() []string {
	var out []string
	for _, v := range []string{s.Signature, s.ParentSignature} {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

func (mailgunScheme) Verify(cfg *Config, req *Request) (Result, error) {
	tr := Trace{Scheme: "mailgun", Header: "Content-Type + body signature fields", Recipe: mailgunRecipe}
	s, reason := parseMailgun(req.Header, req.Body, &tr)
	if reason != "" {
		return fail(reason, tr)
	}
	if s.Signature == "" && s.ParentSignature == "" {
		return fail(ReasonSignatureMissing, tr)
	}
	if s.Timestamp == "" {
		return fail(ReasonTimestampMissing, tr)
	}
	if s.Token == "" {
		tr.Note = joinNote(tr.Note, "token missing")
		return fail(ReasonSignatureMalformed, tr)
	}
	r := hmacSHA256.collect(s.signatures(), 0, &tr)
	i, reason := hmacSHA256.match(cfg, r, &tr, nil, variant{[]byte(s.Timestamp), []byte(s.Token)})
	if i < 0 {
		return fail(reason, tr)
	}
	t, reason := checkTimestamp(cfg, req, s.Timestamp, &tr)
	if reason != "" {
		return fail(reason, tr)
	}
	res := done(cfg, i, tr)
	res.Timestamp = t
	res.Nonce = s.Token
	return res, nil
}

// mailgunFormat is the body format Content-Type declares: "json", "form",
// or "" with a failure reason. The body is never sniffed: Mailgun always
// declares it, and a credential is read only from a body that says what it is.
func mailgunFormat(h http.Header, tr *Trace) (string, string) {
	ct := h.Get("Content-Type")
	if ct == "" {
		tr.Note = joinNote(tr.Note, "no Content-Type: Mailgun sends application/json or a form")
		return "", ReasonSignatureMissing
	}
	mt, _, err := mime.ParseMediaType(ct)
	switch {
	case err != nil:
		tr.Note = joinNote(tr.Note, "unparseable Content-Type")
		return "", ReasonSignatureMalformed
	case mt == "application/json" || strings.HasSuffix(mt, "+json"):
		return "json", ""
	case mt == "application/x-www-form-urlencoded":
		return "form", ""
	}
	tr.Note = joinNote(tr.Note, "Content-Type "+strconv.Quote(prefix8(mt))+" not supported (JSON or urlencoded form)")
	return "", ReasonSignatureMalformed
}

// parseMailgun reads the signature fields from a JSON or form body. Absent
// fields are left empty; a body that cannot be read is a failure reason.
func parseMailgun(h http.Header, body []byte, tr *Trace) (mailgunSigned, string) {
	format, reason := mailgunFormat(h, tr)
	if reason != "" {
		return mailgunSigned{}, reason
	}
	if format == "json" {
		var env struct {
			Signature *struct {
				Timestamp json.RawMessage `json:"timestamp"`
				Token     string          `json:"token"`
				Signature string          `json:"signature"`
				Parent    string          `json:"parent-signature"`
			} `json:"signature"`
		}
		if err := json.Unmarshal(body, &env); err != nil {
			tr.Note = joinNote(tr.Note, "body is not a JSON object with a signature object")
			return mailgunSigned{}, ReasonSignatureMalformed
		}
		if env.Signature == nil {
			tr.Note = joinNote(tr.Note, `no "signature" object in the body`)
			return mailgunSigned{}, ReasonSignatureMissing
		}
		return mailgunSigned{
			Timestamp:       jsonScalar(env.Signature.Timestamp),
			Token:           env.Signature.Token,
			Signature:       env.Signature.Signature,
			ParentSignature: env.Signature.Parent,
		}, ""
	}
	q, err := url.ParseQuery(string(body))
	s := mailgunSigned{Timestamp: q.Get("timestamp"), Token: q.Get("token"), Signature: q.Get("signature"), ParentSignature: q.Get("parent-signature")}
	if err != nil {
		// ParseQuery keeps the well-formed pairs; a stray bad escape
		// elsewhere does not hide the signature fields.
		tr.Note = joinNote(tr.Note, "form body has malformed pairs")
	}
	return s, ""
}

// jsonScalar is a JSON string's value or a number's literal ("" otherwise):
// Mailgun sends the timestamp as a string, but a number means the same.
func jsonScalar(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}

// Sign rewrites req.Body as Mailgun sends it, with a fresh token and
// req.Now's timestamp: a form body (Content-Type
// application/x-www-form-urlencoded) gets the timestamp, token and signature
// fields; any other body must be a JSON object (or empty) and gets a
// "signature" object, replacing any, and Content-Type application/json.
func (mailgunScheme) Sign(_ *Config, req *Request, secret Secret) error {
	if secret.Value == "" {
		return errEmptySecret
	}
	ts := strconv.FormatInt(clock(req).Unix(), 10)
	var tok [25]byte
	_, _ = rand.Read(tok[:]) // never fails (crypto/rand)
	token := hex.EncodeToString(tok[:])
	sig := hmacSHA256.encode(hmacSHA256.sum([]byte(secret.Value), []byte(ts), []byte(token)))

	if format, _ := mailgunFormat(req.Header, &Trace{}); format == "form" {
		q, err := url.ParseQuery(string(req.Body))
		if err != nil {
			return errors.New("sign: mailgun form body is malformed")
		}
		q.Set("timestamp", ts)
		q.Set("token", token)
		q.Set("signature", sig)
		req.Body = []byte(q.Encode())
		return nil
	}
	obj := map[string]json.RawMessage{}
	if len(bytes.TrimSpace(req.Body)) > 0 {
		if err := json.Unmarshal(req.Body, &obj); err != nil {
			return errors.New("sign: mailgun body is not a JSON object")
		}
	}
	signed, _ := json.Marshal(map[string]string{"timestamp": ts, "token": token, "signature": sig})
	obj["signature"] = signed
	b, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	req.Body = b
	setHeader(req, "Content-Type", "application/json")
	return nil
}

func init() {
	registerPreset(Preset{
		// The token is the nonce (see mailgunScheme): Result.Nonce, and the
		// same field for the body-nonce lookup.
		Type: "mailgun", Auth: "mailgun",
		NonceBody: "signature.token",
		EventType: "body:event-data.event",
		Form:      true,
		Doc:       "https://documentation.mailgun.com/docs/mailgun/user-manual/webhooks/securing-webhooks",
	})
}
