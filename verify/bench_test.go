package verify

import (
	"bytes"
	"testing"
)

var body2K = bytes.Repeat([]byte(`{"k":"0123456789abcdef"}`), 2048/24+1)[:2048]

func benchVerify(b *testing.B, c schemeCase) {
	v := mustVerifier(b, c.cfg())
	req := signed(b, v, 1, body2K) // the second secret: the worst common case
	b.ReportAllocs()
	b.SetBytes(int64(len(body2K)))
	b.ResetTimer()
	for b.Loop() {
		if _, err := v.Verify(req); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifySHA256(b *testing.B) { benchVerify(b, schemeCases[1]) }

func BenchmarkVerifySvix(b *testing.B) { benchVerify(b, schemeCases[4]) }
