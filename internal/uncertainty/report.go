package uncertainty

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"

	"github.com/dmrnet/dmrnet/internal/dataset"
	"github.com/dmrnet/dmrnet/internal/evaluate"
)

// DefaultAbstain returns the abstained fractions the uncertainty command reports: 0.1 and 0.2
// (90 % and 80 % coverage).
func DefaultAbstain() []float64 { return []float64{0.1, 0.2} }

// Combination is one run's Result on one modality combination.
type Combination struct {
	// Name is the combination's name ("rgb+ir") and Present its present modalities.
	Name    string
	Present []string
	Result
}

// Run is the uncertainty evaluation of one trained model on every combination.
type Run struct {
	// Dir is the run directory (or checkpoint) and Seed its training seed.
	Dir  string
	Seed int64
	// Modalities are the model's modalities, in modality order.
	Modalities []string
	// Combinations holds every non-empty combination, in sweep order.
	Combinations []Combination
}

// EvaluateRun assesses every non-empty combination of ev's modalities on split s, each over
// the samples that have all of its modalities (see evaluate.Evaluator.Samples), abstaining
// on the fractions abstain. done, when not nil, is called after each combination.
func EvaluateRun(ev *evaluate.Evaluator, s *dataset.Split, abstain []float64, done func()) ([]Combination, error) {
	var out []Combination
	for _, set := range ev.Space.All() {
		idx := ev.Samples(s, set)
		outs, err := ev.Outputs(s, set, idx)
		if err != nil {
			return nil, fmt.Errorf("uncertainty: combination %s: %w", ev.Space.Name(set), err)
		}
		labels := make([]int, len(idx))
		for i, j := range idx {
			labels[i] = s.Y[j]
		}
		out = append(out, Combination{Name: ev.Space.Name(set), Present: ev.Space.Present(set), Result: Assess(outs, labels, abstain)})
		if done != nil {
			done()
		}
	}
	return out, nil
}

// Cell summarises one value over runs.
type Cell struct {
	// Mean is the mean over the runs in which the value is defined; nil (JSON null) when it
	// is defined in none.
	Mean *float64 `json:"mean"`
	// Std is the sample standard deviation (ddof=1) over those runs; nil with fewer than two.
	Std *float64 `json:"std"`
	// Runs is the number of runs in which the value is defined.
	Runs int `json:"runs"`
}

// summarize returns the Cell of vals, leaving out NaN values (undefined in that run).
func summarize(vals []float64) Cell {
	var def []float64
	for _, v := range vals {
		if !math.IsNaN(v) {
			def = append(def, v)
		}
	}
	c := Cell{Runs: len(def)}
	if len(def) == 0 {
		return c
	}
	var sum float64
	for _, v := range def {
		sum += v
	}
	mean := sum / float64(len(def))
	c.Mean = &mean
	if len(def) > 1 {
		var ss float64
		for _, v := range def {
			ss += (v - mean) * (v - mean)
		}
		std := math.Sqrt(ss / float64(len(def)-1))
		c.Std = &std
	}
	return c
}

// PerMeasure holds one Cell per measure, indexed by Measure. In JSON it is an object keyed
// by the measures' names, in measure order: {"variance": …, "entropy": …, "1-maxprob": …}.
type PerMeasure [NumMeasures]Cell

// MarshalJSON writes p as an object keyed by measure name, in measure order.
func (p PerMeasure) MarshalJSON() ([]byte, error) {
	b := []byte{'{'}
	for _, m := range Measures() {
		if m > 0 {
			b = append(b, ',')
		}
		k, err := json.Marshal(m.String())
		if err != nil {
			return nil, err
		}
		v, err := json.Marshal(p[m])
		if err != nil {
			return nil, err
		}
		b = append(append(append(b, k...), ':'), v...)
	}
	return append(b, '}'), nil
}

// UnmarshalJSON reads the object MarshalJSON writes; unknown measure names are an error.
func (p *PerMeasure) UnmarshalJSON(data []byte) error {
	var obj map[string]Cell
	if err := json.Unmarshal(data, &obj); err != nil {
		return err
	}
	*p = PerMeasure{}
	for k, c := range obj {
		m, err := ParseMeasure(k)
		if err != nil {
			return err
		}
		p[m] = c
	}
	return nil
}

// Coverage is the accuracy on the samples each measure keeps when the model abstains on a
// fraction of them.
type Coverage struct {
	// Abstain is the fraction abstained on; 1 − Abstain is the coverage.
	Abstain float64 `json:"abstain"`
	// Accuracy holds, per measure, the accuracy on the retained samples (a fraction).
	Accuracy PerMeasure `json:"accuracy"`
}

// Row is one line of a Table: a combination, or the summary row "mean".
type Row struct {
	// Combination is the combination's name, or "mean" for the summary row.
	Combination string `json:"combination"`
	// Present lists the present modalities; nil for the summary row.
	Present []string `json:"present"`
	// Summary marks the "mean" row: every cell is the mean over runs of each run's mean over
	// the combinations where the value is defined.
	Summary bool `json:"summary,omitempty"`
	// N is the number of samples evaluated (0 in the summary row).
	N int `json:"n"`
	// Accuracy is the accuracy at full coverage (a fraction).
	Accuracy Cell `json:"accuracy"`
	// AUROC holds each measure's AUROC as a detector of wrong predictions.
	AUROC PerMeasure `json:"auroc"`
	// Retained holds the accuracy per measure at each abstained fraction.
	Retained []Coverage `json:"retained"`
}

// RunInfo names one run of a Table.
type RunInfo struct {
	Dir  string `json:"dir"`
	Seed int64  `json:"seed"`
}

// Table is the uncertainty evaluation of one configuration's runs (seeds) on every
// combination.
type Table struct {
	// Split and Inference say what was evaluated (set by the caller).
	Split     string `json:"split,omitempty"`
	Inference string `json:"inference,omitempty"`
	// Modalities are the data set's modalities, Measures the measures' names in order.
	Modalities []string `json:"modalities"`
	Measures   []string `json:"measures"`
	// Runs are the runs summarised, in the order given.
	Runs []RunInfo `json:"runs"`
	// Rows holds one row per combination, in sweep order.
	Rows []Row `json:"rows"`
	// Mean is the summary row: per value, the mean over runs of each run's mean over the
	// combinations where it is defined.
	Mean Row `json:"mean"`
	// Best is the measure with the highest mean AUROC over combinations (Mean.AUROC); nil
	// when no measure has a defined AUROC. A tie goes to the earlier measure.
	Best *string `json:"best"`
}

// Summarize combines runs of one configuration (seeds) into a Table: per combination and
// value the mean and sample standard deviation over the runs in which the value is defined.
// The runs must have the same modalities, combinations, sample counts and abstained
// fractions; the caller checks that they are seeds of one configuration.
func Summarize(runs []Run) (*Table, error) {
	if len(runs) == 0 {
		return nil, fmt.Errorf("uncertainty: no runs to summarise")
	}
	ref := runs[0]
	if len(ref.Combinations) == 0 {
		return nil, fmt.Errorf("uncertainty: run %s has no combinations", ref.Dir)
	}
	abstain := ref.Combinations[0].Abstain
	for _, r := range runs {
		if !slices.Equal(r.Modalities, ref.Modalities) {
			return nil, fmt.Errorf("uncertainty: runs %s and %s have different modalities (%v vs %v)", ref.Dir, r.Dir, ref.Modalities, r.Modalities)
		}
		if len(r.Combinations) != len(ref.Combinations) {
			return nil, fmt.Errorf("uncertainty: runs %s and %s have %d and %d combinations", ref.Dir, r.Dir, len(ref.Combinations), len(r.Combinations))
		}
		for i, c := range r.Combinations {
			rc := ref.Combinations[i]
			switch {
			case c.Name != rc.Name:
				return nil, fmt.Errorf("uncertainty: runs %s and %s list combination %d as %s and %s", ref.Dir, r.Dir, i, rc.Name, c.Name)
			case c.N != rc.N:
				return nil, fmt.Errorf("uncertainty: runs %s and %s evaluate combination %s on %d and %d samples (same data and split only)", ref.Dir, r.Dir, c.Name, rc.N, c.N)
			case !slices.Equal(c.Abstain, abstain):
				return nil, fmt.Errorf("uncertainty: run %s: combination %s abstains on %v, not %v", r.Dir, c.Name, c.Abstain, abstain)
			}
		}
	}
	t := &Table{Modalities: slices.Clone(ref.Modalities)}
	for _, m := range Measures() {
		t.Measures = append(t.Measures, m.String())
	}
	for _, r := range runs {
		t.Runs = append(t.Runs, RunInfo{Dir: r.Dir, Seed: r.Seed})
	}
	// value returns, per run, the value get reads from combination i, or (i < 0) each run's
	// mean of it over the combinations where it is defined.
	value := func(i int, get func(Result) float64) []float64 {
		vals := make([]float64, len(runs))
		for k, r := range runs {
			if i >= 0 {
				vals[k] = get(r.Combinations[i].Result)
				continue
			}
			var sum float64
			n := 0
			for _, c := range r.Combinations {
				if v := get(c.Result); !math.IsNaN(v) {
					sum += v
					n++
				}
			}
			vals[k] = math.NaN()
			if n > 0 {
				vals[k] = sum / float64(n)
			}
		}
		return vals
	}
	row := func(i int) Row {
		var r Row
		if i >= 0 {
			c := ref.Combinations[i]
			r = Row{Combination: c.Name, Present: slices.Clone(c.Present), N: c.N}
		} else {
			r = Row{Combination: "mean", Summary: true}
		}
		r.Accuracy = summarize(value(i, func(x Result) float64 { return x.Accuracy }))
		for _, m := range Measures() {
			r.AUROC[m] = summarize(value(i, func(x Result) float64 { return x.AUROC[m] }))
		}
		for k, f := range abstain {
			cov := Coverage{Abstain: f}
			for _, m := range Measures() {
				cov.Accuracy[m] = summarize(value(i, func(x Result) float64 { return x.Retained[k][m] }))
			}
			r.Retained = append(r.Retained, cov)
		}
		return r
	}
	for i := range ref.Combinations {
		t.Rows = append(t.Rows, row(i))
	}
	t.Mean = row(-1)
	if m, ok := t.BestMeasure(); ok {
		name := m.String()
		t.Best = &name
	}
	return t, nil
}

// BestMeasure returns the measure with the highest mean AUROC over combinations
// (Mean.AUROC), the earlier measure on a tie; ok is false when no measure's AUROC is defined.
func (t *Table) BestMeasure() (best Measure, ok bool) {
	for _, m := range Measures() {
		c := t.Mean.AUROC[m]
		if c.Mean != nil && (!ok || *c.Mean > *t.Mean.AUROC[best].Mean) {
			best, ok = m, true
		}
	}
	return best, ok
}
