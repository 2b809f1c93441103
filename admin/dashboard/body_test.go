package dashboard

import (
	"strings"
	"testing"
)

func TestShowBody(t *testing.T) {
	for _, tc := range []struct {
		name, body, want, note string
	}{
		{"json is indented", `{"a":[1,2]}`, "{\n  \"a\": [\n    1,\n    2\n  ]\n}", ""},
		{"text stays as it is", "a=1&b=<x>", "a=1&b=<x>", ""},
		{"not UTF-8 is base64", "\xff\xfe", "//4=", "base64"},
		{"large bodies are cut", strings.Repeat("x", maxShownBody+10), strings.Repeat("x", maxShownBody), "Truncated"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, note := showBody([]byte(tc.body))
			if got != tc.want || !strings.Contains(note, tc.note) || (tc.note == "" && note != "") {
				t.Errorf("showBody = %.40q, %q", got, note)
			}
		})
	}
	if _, note := showBody(nil); !strings.Contains(note, "No body") {
		t.Errorf("nil body note %q", note)
	}
}

func TestLocalPath(t *testing.T) {
	for in, want := range map[string]string{"/receipts?status=dead": "/receipts?status=dead", "//evil.example": "",
		"/\\evil.example": "", "https://evil.example/": "", "": ""} {
		if got := localPath(in); got != want {
			t.Errorf("localPath(%q) = %q, want %q", in, got, want)
		}
	}
}
