package plural

import "testing"

func TestCount(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want string
	}{{0, "0 records"}, {1, "1 record"}, {2, "2 records"}} {
		if got := Count(tc.n, "record", "records"); got != tc.want {
			t.Errorf("Count(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
	if got := Count(int64(1), "pass", "passes"); got != "1 pass" {
		t.Errorf("Count(int64 1) = %q", got)
	}
}
