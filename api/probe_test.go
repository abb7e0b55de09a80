package api

import (
	"strings"
	"testing"
)

// A failed probe says why in one line: the problem's detail, else its
// title, else the start of the body.
func TestProbeReason(t *testing.T) {
	f := func(body, want string) {
		t.Helper()
		if got := probeReason([]byte(body)); got != want {
			t.Errorf("probeReason(%.40q) = %.60q, want %.60q", body, got, want)
		}
	}
	f(`{"title":"Service Unavailable","detail":"not ready: the features table is not recovered yet"}`, "not ready: the features table is not recovered yet")
	f(`{"title":"Not Found"}`, "Not Found")
	f("<html>\n  <body>bad gateway</body>\n</html>", "<html> <body>bad gateway</body> </html>")
	f("", "(empty body)")
	f(strings.Repeat("x", 400), strings.Repeat("x", 300)+"…")
}
