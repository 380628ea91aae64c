// Package promtext reads what kido-server's GET /metrics answers, in the
// Prometheus text format, with the Prometheus project's own parser
// (prometheus/common/expfmt), so that kido-bench and the end-to-end tests
// read the metrics the way Prometheus does, through one parser.
package promtext

import (
	"context"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Sample is one value of a scrape. Histograms give one sample per bucket
// (Name ending in _bucket, label le), and _sum and _count, as the text
// format writes them.
type Sample struct {
	Name   string
	Labels map[string]string
	Value  float64
}

// Key is the sample as the text format writes it, labels in name order:
// kido_requests_total{endpoint="upload",status="200"}.
func (s Sample) Key() string {
	if len(s.Labels) == 0 {
		return s.Name
	}
	var b strings.Builder
	b.WriteString(s.Name)
	b.WriteByte('{')
	for i, k := range slices.Sorted(maps.Keys(s.Labels)) {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%s", k, strconv.Quote(s.Labels[k]))
	}
	b.WriteByte('}')
	return b.String()
}

// Scrape is every sample of one answer, in the order of the families'
// names.
type Scrape []Sample

// Map returns the samples by Key.
func (sc Scrape) Map() map[string]float64 {
	m := make(map[string]float64, len(sc))
	for _, s := range sc {
		m[s.Key()] = s.Value
	}
	return m
}

// Parse reads the text format from r.
func Parse(r io.Reader) (Scrape, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("promtext: %w", err)
	}
	var out Scrape
	for _, name := range slices.Sorted(maps.Keys(fams)) {
		for _, m := range fams[name].GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			out = append(out, samples(name, labels, m)...)
		}
	}
	return out, nil
}

func samples(name string, labels map[string]string, m *dto.Metric) []Sample {
	with := func(k, v string) map[string]string {
		l := maps.Clone(labels)
		l[k] = v
		return l
	}
	switch {
	case m.Counter != nil:
		return []Sample{{name, labels, m.Counter.GetValue()}}
	case m.Gauge != nil:
		return []Sample{{name, labels, m.Gauge.GetValue()}}
	case m.Untyped != nil:
		return []Sample{{name, labels, m.Untyped.GetValue()}}
	case m.Histogram != nil:
		h := m.Histogram
		var out []Sample
		for _, b := range h.GetBucket() {
			out = append(out, Sample{name + "_bucket", with("le", formatLe(b.GetUpperBound())), float64(b.GetCumulativeCount())})
		}
		out = append(out, Sample{name + "_bucket", with("le", "+Inf"), float64(h.GetSampleCount())})
		return append(out, Sample{name + "_sum", labels, h.GetSampleSum()}, Sample{name + "_count", labels, float64(h.GetSampleCount())})
	case m.Summary != nil:
		s := m.Summary
		var out []Sample
		for _, q := range s.GetQuantile() {
			out = append(out, Sample{name, with("quantile", formatLe(q.GetQuantile())), q.GetValue()})
		}
		return append(out, Sample{name + "_sum", labels, s.GetSampleSum()}, Sample{name + "_count", labels, float64(s.GetSampleCount())})
	}
	return nil
}

func formatLe(f float64) string {
	if math.IsInf(f, 1) {
		return "+Inf"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// Get scrapes url (the server's base URL; /metrics is added) with c, or
// http.DefaultClient if c is nil, asking for the text format.
func Get(ctx context.Context, c *http.Client, url string) (Scrape, error) {
	if c == nil {
		c = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(url, "/")+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", string(expfmt.NewFormat(expfmt.TypeTextPlain)))
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("promtext: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("promtext: GET /metrics: %s", resp.Status)
	}
	return Parse(resp.Body)
}
