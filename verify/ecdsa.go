package verify

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
)

// ecdsaScheme is ECDSA on P-256 with SHA-256 over the timestamp header's
// value followed by the raw body, with no separator: SendGrid's Signed Event
// Webhook.
//
//   - X-Twilio-Email-Event-Webhook-Signature is the base64 (standard, padded)
//     ASN.1 DER signature, SEQUENCE { r, s }; X-Twilio-Email-Event-Webhook-
//     Timestamp is unix seconds. cfg.SignatureHeader and cfg.TimestampHeader
//     rename them for other senders.
//   - The secrets are public keys as SendGrid shows its "Verification Key":
//     base64 DER SubjectPublicKeyInfo (no PEM armour); a PEM "PUBLIC KEY"
//     block is accepted too. Only P-256 keys are accepted. Several may be
//     active (a re-generated key pair); every key is tried.
//   - SendGrid documents no tolerance on the timestamp; hookgate checks it
//     against the replay window in both directions, after the signature.
//
// https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/getting-started-event-webhook-security-features
// SendGrid's SDKs implement the same recipe (sendgrid-go
// helpers/eventwebhook: sha256(timestamp + payload), asn1 {R,S}, PKIX key).
//
// As for ed25519, a secret may also be a private key (SEC 1 "EC PRIVATE
// KEY" or PKCS #8 "PRIVATE KEY", base64 DER or PEM): its public key verifies
// and Sign signs with it, for `hookgate send` and tests. Sign with a public
// key returns errPublicKeyOnly. Validate parses every key at start-up and
// fails closed on one that does not parse, is not ECDSA or not on P-256.
type ecdsaScheme struct{}

const (
	sendgridSignature = "X-Twilio-Email-Event-Webhook-Signature"
	sendgridTimestamp = "X-Twilio-Email-Event-Webhook-Timestamp"
	ecdsaRecipe       = "ECDSA-P256-SHA256(public key, timestamp+body), signature base64 DER"
	// maxECDSASigBase64 bounds a received signature before decoding: a DER
	// P-256 signature is at most 72 bytes, 96 base64 characters.
	maxECDSASigBase64 = 96
)

var _ = scheme("ecdsa", ecdsaScheme{})

func (ecdsaScheme) NeedsSecret() bool { return true }

func (ecdsaScheme) Validate(cfg *Config) error {
	if err := requireSecretValues(cfg); err != nil {
		return err
	}
	for i, s := range cfg.Secrets {
		if _, err := parseECDSASecret(s.Value); err != nil {
			return fmt.Errorf("secret %s: %w", secretID(s, i), err)
		}
	}
	return nil
}

// ecdsaKey is a parsed secret: always a public key, and the private key
// when the secret carries one.
type ecdsaKey struct {
	public  *ecdsa.PublicKey
	private *ecdsa.PrivateKey
}

// parseECDSASecret decodes a P-256 key: base64 DER (whitespace ignored) or
// PEM; SubjectPublicKeyInfo, SEC 1 or PKCS #8. Errors never quote the value.
func parseECDSASecret(value string) (ecdsaKey, error) {
	s := strings.TrimSpace(value)
	var der []byte
	if strings.HasPrefix(s, "-----BEGIN") {
		block, rest := pem.Decode([]byte(s))
		if block == nil {
			return ecdsaKey{}, errors.New("PEM key does not decode")
		}
		if strings.TrimSpace(string(rest)) != "" {
			return ecdsaKey{}, errors.New("PEM key: more than one block")
		}
		der = block.Bytes
	} else {
		var err error
		der, err = base64.StdEncoding.DecodeString(strings.Join(strings.Fields(s), ""))
		if err != nil {
			return ecdsaKey{}, errors.New("ECDSA key is neither PEM nor base64 DER")
		}
	}
	if pub, err := x509.ParsePKIXPublicKey(der); err == nil {
		k, ok := pub.(*ecdsa.PublicKey)
		if !ok {
			return ecdsaKey{}, fmt.Errorf("public key is %T, want ECDSA P-256", pub)
		}
		if k.Curve != elliptic.P256() {
			return ecdsaKey{}, fmt.Errorf("ECDSA key on %s, want P-256", k.Curve.Params().Name)
		}
		return ecdsaKey{public: k}, nil
	}
	var priv *ecdsa.PrivateKey
	if k, err := x509.ParseECPrivateKey(der); err == nil {
		priv = k
	} else if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		p, ok := k.(*ecdsa.PrivateKey)
		if !ok {
			return ecdsaKey{}, fmt.Errorf("private key is %T, want ECDSA P-256", k)
		}
		priv = p
	} else {
		return ecdsaKey{}, errors.New("not a DER SubjectPublicKeyInfo, SEC 1 or PKCS #8 key")
	}
	if priv.Curve != elliptic.P256() {
		return ecdsaKey{}, fmt.Errorf("ECDSA key on %s, want P-256", priv.Curve.Params().Name)
	}
	return ecdsaKey{public: &priv.PublicKey, private: priv}, nil
}

// decodeECDSASig decodes one base64 DER signature; ok is false unless it is
// exactly one DER SEQUENCE of two positive INTEGERs.
func decodeECDSASig(s string) ([]byte, bool) {
	if len(s) > maxECDSASigBase64 {
		return nil, false
	}
	d, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, false
	}
	var rs struct{ R, S *big.Int }
	rest, err := asn1.Unmarshal(d, &rs)
	if err != nil || len(rest) != 0 || rs.R.Sign() <= 0 || rs.S.Sign() <= 0 {
		return nil, false
	}
	return d, true
}

func (ecdsaScheme) Verify(cfg *Config, req *Request) (Result, error) {
	sigName := headerOr(cfg.SignatureHeader, sendgridSignature)
	tr := Trace{Scheme: "ecdsa", Header: sigName, Recipe: ecdsaRecipe}
	return verifyPublicKey(cfg, req, tr, headerOr(cfg.TimestampHeader, sendgridTimestamp), decodeECDSASig,
		func(ts string) func(secret string, sig []byte) bool {
			h := sha256.New()
			h.Write([]byte(ts))
			h.Write(req.Body)
			digest := h.Sum(nil)
			return func(secret string, sig []byte) bool {
				k, err := parseECDSASecret(secret)
				return err == nil && ecdsa.VerifyASN1(k.public, digest, sig)
			}
		})
}

// Sign sets the timestamp (req.Now) and the signature, as SendGrid would.
// The secret must be a private key (see ecdsaScheme).
func (ecdsaScheme) Sign(cfg *Config, req *Request, secret Secret) error {
	if secret.Value == "" {
		return errEmptySecret
	}
	k, err := parseECDSASecret(secret.Value)
	if err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	if k.private == nil {
		return errPublicKeyOnly
	}
	ts := strconv.FormatInt(clock(req).Unix(), 10)
	h := sha256.New()
	h.Write([]byte(ts))
	h.Write(req.Body)
	sig, err := ecdsa.SignASN1(rand.Reader, k.private, h.Sum(nil))
	if err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	setHeader(req, headerOr(cfg.SignatureHeader, sendgridSignature), base64.StdEncoding.EncodeToString(sig))
	setHeader(req, headerOr(cfg.TimestampHeader, sendgridTimestamp), ts)
	return nil
}

func init() {
	registerPreset(Preset{
		// SendGrid posts a JSON array of events, each with its own "event"
		// and "sg_event_id"; the batch is one receipt whose event type is
		// its first event's, deduplicated by checksum (a retried batch is
		// byte-identical).
		Type: "sendgrid", Auth: "ecdsa",
		ArrayBody:       true,
		EventType:       "body:event",
		SignatureHeader: sendgridSignature,
		TimestampHeader: sendgridTimestamp,
		Doc:             "https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/getting-started-event-webhook-security-features",
	})
}
