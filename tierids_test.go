package kido_test

import (
	"encoding/json"
	"strings"
	"testing"

	"kido.dev/kido"
)

func TestTierIDsJSON(t *testing.T) {
	b, err := json.Marshal(kido.Gate{ID: 1, Tiers: kido.TierIDs{1, 255}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"tiers":[1,255]`) {
		t.Fatalf("got %s, want tiers as an array of numbers", b)
	}
	var g kido.Gate
	if err := json.Unmarshal(b, &g); err != nil || len(g.Tiers) != 2 || g.Tiers[1] != 255 {
		t.Fatalf("round trip: %+v, %v", g, err)
	}
	for _, bad := range []string{`{"tiers":[256]}`, `{"tiers":"AQI="}`, `{"tiers":[-1]}`} {
		if err := json.Unmarshal([]byte(bad), &g); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}
