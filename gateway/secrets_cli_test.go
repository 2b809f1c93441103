package gateway_test

import (
	"context"
	"strings"
	"testing"

	"github.com/hookgate/hookgate/cli"
)

// TestSecretsRotateKeyCommand runs `hookgate secrets rotate-key` against a
// running gateway's admin API.
func TestSecretsRotateKeyCommand(t *testing.T) {
	pg := newProviderGateway(t, "")
	pg.register(map[string]any{"type": "github", "name": "primary", "signing_secret": "s3cret-value"})
	var out, errOut strings.Builder
	code := cli.Run(context.Background(), []string{"secrets", "rotate-key", "--admin-url", pg.admin.URL}, &out, &errOut)
	if code != 0 || !strings.Contains(out.String(), "re-sealed 1 stored connections") {
		t.Fatalf("hookgate secrets rotate-key = %d\n%s%s", code, out.String(), errOut.String())
	}
	if strings.Contains(out.String()+errOut.String(), "s3cret-value") {
		t.Fatal("rotate-key printed a secret")
	}
}
