package promtext

import (
	"strings"
	"testing"
)

const scrape = `# HELP kido_requests_total HTTP requests answered.
# TYPE kido_requests_total counter
kido_requests_total{status="200",endpoint="upload"} 1812
kido_requests_total{endpoint="upload",status="503"} 96
# HELP kido_longpolls_active Long-polls.
# TYPE kido_longpolls_active gauge
kido_longpolls_active 200
# HELP kido_upload_batch_records Records per upload.
# TYPE kido_upload_batch_records histogram
kido_upload_batch_records_bucket{le="1"} 2
kido_upload_batch_records_bucket{le="4"} 3
kido_upload_batch_records_bucket{le="+Inf"} 4
kido_upload_batch_records_sum 107
kido_upload_batch_records_count 4
`

func TestParse(t *testing.T) {
	sc, err := Parse(strings.NewReader(scrape))
	if err != nil {
		t.Fatal(err)
	}
	got := sc.Map()
	want := map[string]float64{
		`kido_requests_total{endpoint="upload",status="200"}`: 1812,
		`kido_requests_total{endpoint="upload",status="503"}`: 96,
		`kido_longpolls_active`:                               200,
		`kido_upload_batch_records_bucket{le="1"}`:            2,
		`kido_upload_batch_records_bucket{le="4"}`:            3,
		`kido_upload_batch_records_bucket{le="+Inf"}`:         4,
		`kido_upload_batch_records_sum`:                       107,
		`kido_upload_batch_records_count`:                     4,
	}
	if len(got) != len(want) {
		t.Errorf("got %d samples, want %d: %v", len(got), len(want), got)
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
}

func TestParseRejects(t *testing.T) {
	for _, in := range []string{
		"kido_x{endpoint=\"a\" 1\n", // unclosed labels
		"kido_x one\n",              // not a number
		"# TYPE kido_x counter\n# TYPE kido_x gauge\nkido_x 1\n", // two types
	} {
		if _, err := Parse(strings.NewReader(in)); err == nil || !strings.HasPrefix(err.Error(), "promtext: ") {
			t.Errorf("Parse(%q) = %v, want an error prefixed promtext:", in, err)
		}
	}
}

// FuzzParse: whatever a server answers, Parse returns samples or an error,
// and every sample's Key parses back to the same value.
func FuzzParse(f *testing.F) {
	f.Add(scrape)
	f.Add("kido_x{a=\"\\\"\"} 1e3\n")
	f.Fuzz(func(t *testing.T, in string) {
		sc, err := Parse(strings.NewReader(in))
		if err != nil {
			return
		}
		for _, s := range sc {
			back, err := Parse(strings.NewReader(s.Key() + " 1\n"))
			if err != nil || len(back) != 1 || back[0].Key() != s.Key() {
				t.Errorf("key %q does not parse back: %v %v", s.Key(), back, err)
			}
		}
	})
}
