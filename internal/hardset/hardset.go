// Package hardset mines DMRNet's hard modality combinations: during warm-up it accumulates,
// per combination, the mean predicted variance and the mean per-sample cross-entropy, and
// then picks the k combinations with the largest value of the chosen criterion.
package hardset

import (
	"fmt"
	"sort"

	"github.com/dmrnet/dmrnet/internal/combo"
)

// Criteria of Select.
const (
	ByVariance = "variance" // mean sigma^2 over the embedding dims (the paper's rule)
	ByLoss     = "loss"     // mean per-sample cross-entropy
)

// Miner accumulates per-combination statistics. The zero value is ready to use.
type Miner struct {
	SumVar map[combo.Set]float64
	SumCE  map[combo.Set]float64
	Count  map[combo.Set]int64
}

// Add records one training sample drawn with combination c.
func (m *Miner) Add(c combo.Set, variance, ce float64) {
	if m.Count == nil {
		m.SumVar, m.SumCE, m.Count = map[combo.Set]float64{}, map[combo.Set]float64{}, map[combo.Set]int64{}
	}
	m.SumVar[c] += variance
	m.SumCE[c] += ce
	m.Count[c]++
}

// Reset forgets everything.
func (m *Miner) Reset() { *m = Miner{} }

// Stat is one combination's statistics.
type Stat struct {
	Set          combo.Set `json:"-"`
	Name         string    `json:"combination"`
	MeanVariance float64   `json:"mean_variance"`
	MeanCE       float64   `json:"mean_ce"`
	N            int64     `json:"n"`
	Hard         bool      `json:"hard"`
}

// Stats lists every combination seen, in the space's combination order.
func (m *Miner) Stats(sp *combo.Space) []Stat {
	var out []Stat
	for _, s := range sp.All() {
		n := m.Count[s]
		if n == 0 {
			continue
		}
		out = append(out, Stat{Set: s, Name: sp.Name(s), MeanVariance: m.SumVar[s] / float64(n), MeanCE: m.SumCE[s] / float64(n), N: n})
	}
	return out
}

// Select returns the k combinations with the largest criterion among stats (ties keep the
// order of stats), sorted in that order of decreasing value.
func Select(stats []Stat, k int, by string) ([]combo.Set, error) {
	key := func(s Stat) float64 { return s.MeanVariance }
	switch by {
	case ByVariance:
	case ByLoss:
		key = func(s Stat) float64 { return s.MeanCE }
	default:
		return nil, fmt.Errorf("hardset: unknown criterion %q (want %s or %s)", by, ByVariance, ByLoss)
	}
	sorted := append([]Stat(nil), stats...)
	sort.SliceStable(sorted, func(i, j int) bool { return key(sorted[i]) > key(sorted[j]) })
	if k > len(sorted) {
		k = len(sorted)
	}
	out := make([]combo.Set, k)
	for i := range out {
		out[i] = sorted[i].Set
	}
	return out, nil
}

// Contains reports whether c is in h.
func Contains(h []combo.Set, c combo.Set) bool {
	for _, s := range h {
		if s == c {
			return true
		}
	}
	return false
}
