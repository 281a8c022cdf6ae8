package hardset

import (
	"reflect"
	"testing"

	"github.com/dmrnet/dmrnet/internal/combo"
)

func TestSelectOnCraftedStatistics(t *testing.T) {
	sp, _ := combo.NewSpace([]string{"rgb", "depth", "ir"})
	var m Miner
	// variance: rgb+depth+ir largest, then depth+ir, ir; cross-entropy: ir largest, then depth, depth+ir
	crafted := map[string][2]float64{
		"rgb": {1.0, 0.1}, "depth": {1.1, 0.9}, "ir": {1.5, 1.4},
		"rgb+depth": {1.2, 0.05}, "rgb+ir": {1.3, 0.2}, "depth+ir": {1.8, 0.7}, "rgb+depth+ir": {2.4, 0.02},
	}
	for name, v := range crafted {
		s, err := sp.ParseCombination(name)
		if err != nil {
			t.Fatal(err)
		}
		// two samples averaging to the crafted value
		m.Add(s, v[0]-0.1, v[1]-0.01)
		m.Add(s, v[0]+0.1, v[1]+0.01)
	}
	stats := m.Stats(sp)
	if len(stats) != 7 || stats[0].Name != "rgb" || stats[0].N != 2 {
		t.Fatalf("stats %+v", stats)
	}
	tests := []struct {
		by   string
		k    int
		want []string
	}{
		{ByVariance, 3, []string{"rgb+depth+ir", "depth+ir", "ir"}},
		{ByLoss, 3, []string{"ir", "depth", "depth+ir"}},
		{ByLoss, 1, []string{"ir"}},
		{ByVariance, 10, []string{"rgb+depth+ir", "depth+ir", "ir", "rgb+ir", "rgb+depth", "depth", "rgb"}},
	}
	for _, tt := range tests {
		h, err := Select(stats, tt.k, tt.by)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, s := range h {
			got = append(got, sp.Name(s))
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Select(k=%d, by=%s) = %v, want %v", tt.k, tt.by, got, tt.want)
		}
	}
	if _, err := Select(stats, 1, "size"); err == nil {
		t.Error("unknown criterion accepted")
	}
}

func TestStatsSkipUnseen(t *testing.T) {
	sp, _ := combo.NewSpace([]string{"a", "b"})
	var m Miner
	m.Add(combo.Full(2), 2, 1)
	st := m.Stats(sp)
	if len(st) != 1 || st[0].Name != "a+b" {
		t.Fatalf("stats %+v", st)
	}
	h, _ := Select(st, 1, ByVariance)
	if len(h) != 1 || h[0] != combo.Full(2) {
		t.Fatalf("H = %v", h)
	}
}
