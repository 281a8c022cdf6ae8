package aggregate

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/dmrnet/dmrnet/internal/report"
)

// Metrics returns the metrics Summarize accepts; the first is the default.
func Metrics() []string {
	return []string{"accuracy", "macro_f1", "acer", "auc", "eer", "acer_threshold", "bpcer_apcer_1", "bpcer_apcer_5", "bpcer_apcer_10"}
}

// protocolValue returns a protocol metric of two-class tasks (see report.Protocol): NaN when
// it has no value (n/a), and ok false when the row has no protocol metrics at all.
func protocolValue(p *report.Protocol, metric string) (v float64, ok bool) {
	if p == nil {
		return 0, false
	}
	get := func(x *float64) float64 {
		if x == nil {
			return math.NaN()
		}
		return *x
	}
	switch metric {
	case "auc":
		return get(p.AUC), true
	case "eer":
		return get(p.EER), true
	case "acer_threshold":
		return get(p.ACER), true
	}
	target := map[string]float64{"bpcer_apcer_1": 0.01, "bpcer_apcer_5": 0.05, "bpcer_apcer_10": 0.10}[metric]
	for _, b := range p.BPCERAt {
		if math.Abs(b.APCER-target) < 1e-9 {
			return get(b.BPCER), true
		}
	}
	return math.NaN(), true
}

// Cell is the summary over seeds of one metric of one group.
type Cell struct {
	// Mean is the mean over the group's runs that have a value; 0 when none has (N 0).
	Mean float64 `json:"mean"`
	// Std is the sample standard deviation over those runs (ddof=1), 0 for a single run.
	Std float64 `json:"std"`
	// N is the number of runs with a value. A run has no value for a combination that no
	// sample of its test split has (n/a in its sweep), so N may be below the group's number
	// of runs, and 0 where no run has a value (shown as "n/a").
	N int `json:"n"`
}

// TableRow is one line of a Table: a combination, or one of the summary rows "mean" and
// "worst".
type TableRow struct {
	// Combination is the combination's name ("rgb+ir"), or "mean" or "worst".
	Combination string `json:"combination"`
	// Present lists the combination's present modalities; nil for a summary row.
	Present []string `json:"present"`
	// Summary marks the "mean" and "worst" rows.
	Summary bool `json:"summary,omitempty"`
	// Cells holds one Cell per group, in the order of Table.Groups.
	Cells []Cell `json:"cells"`
	// Specialist is the accuracy of the combination's specialist model (trained on it
	// alone) over its seeds, if known; nil for a summary row. See Table.AddSpecialists.
	Specialist *Cell `json:"specialist,omitempty"`
	// Gaps holds, per group in the order of Table.Groups, the group's mean minus the
	// specialist's mean (negative where the group is worse); an entry is nil where the
	// group has no value, and Gaps is nil for a row without a specialist.
	Gaps []*float64 `json:"gaps,omitempty"`
}

// Table is the summary of several groups of runs over all modality combinations.
type Table struct {
	// Metric is the summarised metric: "accuracy", "macro_f1" or "acer".
	Metric string `json:"metric"`
	// Modalities lists the data set's modalities, in modality order.
	Modalities []string `json:"modalities"`
	// Groups are the groups' labels.
	Groups []string `json:"groups"`
	// Seeds are the seeds of each group's runs, Seeds[g] for Groups[g].
	Seeds [][]int64 `json:"seeds"`
	// Rows are the combinations in sweep order, then the "mean" row (over seeds, of each
	// run's mean over combinations) and the "worst" row (over seeds, of each run's worst
	// combination: the lowest accuracy or macro-F1, the highest ACER).
	Rows []TableRow `json:"rows"`
	// WorstNames[g][i] is the worst combination of run i (in seed order) of group g.
	WorstNames [][]string `json:"worst_names"`
	// Costs holds the cost of robustness of each group compared with specialists, in the
	// order of Groups; nil without specialists. See AddSpecialists.
	Costs []GroupCost `json:"costs,omitempty"`
}

// metricValue returns the value of metric in row r of the sweep in file: NaN when the
// combination has no samples (see report.Row.Evaluated).
func metricValue(r report.Row, metric, dir string) (float64, error) {
	if !r.Evaluated() {
		return math.NaN(), nil
	}
	switch metric {
	case "macro_f1":
		return r.MacroF1, nil
	case "acer":
		if r.ACER == nil {
			return 0, fmt.Errorf("aggregate: run %s: combination %s has no ACER, which only two-class tasks have (summarise accuracy or macro_f1 instead)", dir, r.Name)
		}
		return *r.ACER, nil
	case "accuracy", "":
		return r.Accuracy, nil
	}
	v, ok := protocolValue(r.Protocol, metric)
	if !ok {
		return 0, fmt.Errorf("aggregate: run %s: combination %s has no %s (two-class tasks only; a sweep.json written by an earlier dmrnet lacks it: run dmrnet sweep-missing --checkpoint %s --format json --output %s/sweep.json)", dir, r.Name, metricName(metric), dir, dir)
	}
	return v, nil
}

// higherIsWorse reports whether larger values of metric are worse.
func higherIsWorse(metric string) bool {
	return metric != "accuracy" && metric != "macro_f1" && metric != "auc"
}

// Summarize returns the table of metric ("accuracy" when empty, "macro_f1" or "acer") over
// groups: for every combination, in the order of the sweeps, the mean and sample standard
// deviation over each group's runs, then the "mean" and "worst" rows. All runs must have
// evaluated the same combinations, and for "acer" every combination with samples must have
// an ACER. A combination without samples in a run (n/a) is left out of that run's values:
// its cell summarises the runs that have one, and the run's mean over combinations and its
// worst combination are taken over its combinations with samples.
func Summarize(groups []Group, metric string) (*Table, error) {
	if metric == "" {
		metric = Metrics()[0]
	}
	if !slices.Contains(Metrics(), metric) {
		return nil, fmt.Errorf("aggregate: unknown metric %q (valid metrics: %s)", metric, strings.Join(Metrics(), ", "))
	}
	if len(groups) == 0 {
		return nil, fmt.Errorf("aggregate: no groups to summarise")
	}
	for _, g := range groups {
		if len(g.Runs) == 0 {
			return nil, fmt.Errorf("aggregate: group %s has no runs", g.Label)
		}
	}
	ref := groups[0].Runs[0]
	t := &Table{
		Metric:     metric,
		Modalities: slices.Clone(ref.Sweep.Modalities),
	}
	index := map[string]int{}
	for i, r := range ref.Sweep.Combinations {
		index[r.Name] = i
		t.Rows = append(t.Rows, TableRow{Combination: r.Name, Present: slices.Clone(r.Present)})
	}
	nc := len(t.Rows)
	mean := TableRow{Combination: "mean", Summary: true}
	worst := TableRow{Combination: "worst", Summary: true}

	for _, g := range groups {
		t.Groups = append(t.Groups, g.Label)
		seeds := make([]int64, len(g.Runs))
		values := make([][]float64, nc) // values[combination][run]
		var means, worsts []float64
		var worstNames []string
		for ri, run := range g.Runs {
			seeds[ri] = run.Config.Train.Seed
			if err := sameCombinations(ref, run, index); err != nil {
				return nil, err
			}
			var sum float64
			n, wi := 0, -1
			var wv float64
			for _, row := range run.Sweep.Combinations {
				v, err := metricValue(row, metric, run.Dir)
				if err != nil {
					return nil, err
				}
				if math.IsNaN(v) {
					continue
				}
				values[index[row.Name]] = append(values[index[row.Name]], v)
				sum += v
				n++
				if wi < 0 || (higherIsWorse(metric) && v > wv) || (!higherIsWorse(metric) && v < wv) {
					wi, wv = index[row.Name], v
				}
			}
			if n == 0 {
				return nil, fmt.Errorf("aggregate: run %s: no combination has test samples (every row of its %s is n/a)", run.Dir, SweepFile)
			}
			means = append(means, sum/float64(n))
			worsts = append(worsts, wv)
			worstNames = append(worstNames, t.Rows[wi].Combination)
		}
		for i := range nc {
			t.Rows[i].Cells = append(t.Rows[i].Cells, summarize(values[i]))
		}
		mean.Cells = append(mean.Cells, summarize(means))
		worst.Cells = append(worst.Cells, summarize(worsts))
		t.Seeds = append(t.Seeds, seeds)
		t.WorstNames = append(t.WorstNames, worstNames)
	}
	t.Rows = append(t.Rows, mean, worst)
	return t, nil
}

// sameCombinations reports whether run evaluated the combinations of ref, whose names index
// maps to their rows. Both sweeps must be free of duplicate names (checkSweep).
func sameCombinations(ref, run Run, index map[string]int) error {
	if err := checkSweep(run.Sweep); err != nil {
		return fmt.Errorf("aggregate: run %s: %w", run.Dir, err)
	}
	differ := func(name, dir string) error {
		return fmt.Errorf("aggregate: runs %s and %s evaluated different combinations, %s only in %s (aggregate complete sweeps only)",
			ref.Dir, run.Dir, name, dir)
	}
	have := map[string]bool{}
	for _, row := range run.Sweep.Combinations {
		if _, ok := index[row.Name]; !ok {
			return differ(row.Name, run.Dir)
		}
		have[row.Name] = true
	}
	for _, row := range ref.Sweep.Combinations {
		if !have[row.Name] {
			return differ(row.Name, ref.Dir)
		}
	}
	return nil
}

// summarize returns the mean and sample standard deviation (ddof=1) of x.
func summarize(x []float64) Cell {
	c := Cell{N: len(x)}
	if c.N == 0 {
		return c
	}
	for _, v := range x {
		c.Mean += v
	}
	c.Mean /= float64(c.N)
	if c.N > 1 {
		var ss float64
		for _, v := range x {
			d := v - c.Mean
			ss += d * d
		}
		c.Std = math.Sqrt(ss / float64(c.N-1))
	}
	return c
}
