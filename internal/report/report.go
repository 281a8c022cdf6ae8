// Package report provides the result types of evaluating a model on one
// or all modality combinations, and their renderings as aligned text,
// JSON, CSV and Markdown.
//
// The JSON field names of Row, Worst and Sweep are a public contract:
// other tools read them, so they must not change.
//
// A combination that no sample of the evaluated split has (a manifest where
// one modality never occurs in the test split) has no accuracy: its Row has
// N 0 and NaN metrics, rendered as "n/a" (JSON null, an empty CSV field),
// and it is left out of the mean and the worst combination. See
// Row.Evaluated.
package report

import (
	"math"
	"strings"

	"github.com/dmrnet/dmrnet/internal/metrics"
	"github.com/dmrnet/dmrnet/internal/specialist"
)

// Row is the evaluation result of one modality combination.
type Row struct {
	// Present lists the names of the present modalities, in modality order.
	Present []string `json:"present"`
	// Name is the combination's display name, the present modalities
	// joined with '+', e.g. "rgb+ir".
	Name string `json:"combination"`
	// Accuracy is the fraction of correctly classified samples; NaN (JSON
	// null) when N is 0.
	Accuracy float64 `json:"accuracy"`
	// MacroF1 is the unweighted mean of the per-class F1 scores; NaN (JSON
	// null) when N is 0.
	MacroF1 float64 `json:"macro_f1"`
	// N is the number of evaluated samples.
	N int `json:"n"`
	// APCER is the attack presentation classification error rate, the
	// fraction of attacks accepted as bona fide; two-class tasks only.
	APCER *float64 `json:"apcer,omitempty"`
	// BPCER is the bona fide presentation classification error rate, the
	// fraction of bona fide samples rejected as attacks; two-class tasks
	// only.
	BPCER *float64 `json:"bpcer,omitempty"`
	// ACER is the average classification error rate, (APCER+BPCER)/2;
	// two-class tasks only.
	ACER *float64 `json:"acer,omitempty"`
	// Confusion is the confusion matrix, Confusion[true][predicted].
	Confusion [][]int `json:"confusion,omitempty"`
	// Hard reports whether the combination is in the hard set.
	Hard bool `json:"hard,omitempty"`
	// Inference is the inference mode that produced the row ("route", "ensemble"; empty for
	// the paper's fused path).
	Inference string `json:"inference,omitempty"`
	// Specialist is the accuracy of the specialist model of the combination (trained on
	// it alone, mean over seeds), if known; see AddSpecialist.
	Specialist *float64 `json:"specialist_accuracy,omitempty"`
	// Gap is Accuracy minus Specialist, negative where the evaluated model is worse than
	// the specialist; set with Specialist.
	Gap *float64 `json:"gap,omitempty"`
	// Protocol holds the threshold-based metrics of two-class tasks (ROC, AUC, EER,
	// BPCER at fixed APCER, the error rates at a chosen threshold); nil otherwise.
	Protocol *Protocol `json:"protocol,omitempty"`
}

// Worst identifies the combination with the lowest accuracy in a Sweep.
type Worst struct {
	// Present lists the names of the present modalities, in modality order.
	Present []string `json:"present"`
	// Name is the combination's display name.
	Name string `json:"combination"`
	// Accuracy is the combination's accuracy; NaN (JSON null) when no
	// combination was evaluated.
	Accuracy float64 `json:"accuracy"`
}

// Evaluated reports whether r has metrics: false for a combination that no
// sample of the split has, whose Accuracy and MacroF1 are NaN ("n/a").
func (r Row) Evaluated() bool { return !math.IsNaN(r.Accuracy) }

// setNA marks r as a combination without samples: NaN accuracy and
// macro-F1, and no binary error rates or specialist gap.
func (r *Row) setNA() {
	r.Accuracy, r.MacroF1 = math.NaN(), math.NaN()
	r.APCER, r.BPCER, r.ACER, r.Gap, r.Protocol = nil, nil, nil, nil, nil
}

// Sweep is the result of evaluating a model on a set of modality
// combinations, with summary statistics over the combinations.
type Sweep struct {
	// Modalities lists all modality names, in modality order.
	Modalities []string `json:"modalities"`
	// Classes lists the class names, indexed by label, if known.
	Classes []string `json:"classes,omitempty"`
	// Combinations holds one Row per evaluated combination.
	Combinations []Row `json:"combinations"`
	// MeanAccuracy is the mean of the evaluated rows' accuracies (rows
	// without samples are left out); NaN (JSON null) when no row is
	// evaluated.
	MeanAccuracy float64 `json:"mean_accuracy"`
	// MeanMacroF1 is the mean of the evaluated rows' macro-F1 scores; NaN
	// (JSON null) when no row is evaluated.
	MeanMacroF1 float64 `json:"mean_macro_f1"`
	// MeanACER is the mean ACER over the rows that have one; it is nil
	// if no row has one.
	MeanACER *float64 `json:"mean_acer,omitempty"`
	// Worst is the evaluated row with the lowest accuracy.
	Worst Worst `json:"worst"`
	// Inference is the inference mode ("fused", "route" or "ensemble"; empty means fused).
	Inference string `json:"inference,omitempty"`
	// Split names the evaluated data split, e.g. "test" or "val".
	Split string `json:"split,omitempty"`
	// Checkpoint names the evaluated model checkpoint.
	Checkpoint string `json:"checkpoint,omitempty"`
	// Cost summarises the gaps of the rows compared with a specialist; it is nil when
	// no row is. See AddSpecialists.
	Cost *Cost `json:"cost_of_robustness,omitempty"`
	// Protocol describes the threshold rule of the rows' protocol metrics and their means;
	// nil when no row has them (tasks with more than two classes).
	Protocol *ProtocolSummary `json:"protocol,omitempty"`
}

// Cost is the cost of robustness: how far the accuracy of a model trained for all
// modality combinations falls short of that of the specialists, each trained for one
// combination only.
type Cost struct {
	// MeanGap is the mean gap (accuracy minus specialist accuracy) over the compared
	// combinations.
	MeanGap float64 `json:"mean_gap"`
	// Worst is the compared combination with the most negative gap; its Accuracy field
	// holds the gap, not the accuracy.
	Worst Worst `json:"worst"`
	// N is the number of compared combinations.
	N int `json:"n"`
}

// NewSweep returns a Sweep over rows with the means and the worst
// combination computed over the evaluated rows (see Row.Evaluated): rows
// without samples are kept in Combinations but left out of the means and
// the worst. The worst combination is the evaluated row with the lowest
// accuracy; ties go to the first such row in row order. With no rows the
// means are 0 and Worst is the zero value; with rows but none evaluated the
// means and Worst.Accuracy are NaN. NewSweep copies the rows slice but not
// the rows' contents.
func NewSweep(modalities, classes []string, rows []Row) *Sweep {
	s := &Sweep{
		Modalities:   modalities,
		Classes:      classes,
		Combinations: append([]Row{}, rows...),
	}
	if len(rows) == 0 {
		return s
	}
	var acc, f1, acer float64
	nACER, nEval := 0, 0
	worst := -1
	for i, r := range rows {
		if !r.Evaluated() {
			continue
		}
		nEval++
		acc += r.Accuracy
		f1 += r.MacroF1
		if r.ACER != nil {
			acer += *r.ACER
			nACER++
		}
		if worst < 0 || r.Accuracy < rows[worst].Accuracy {
			worst = i
		}
	}
	if nEval == 0 {
		s.MeanAccuracy, s.MeanMacroF1 = math.NaN(), math.NaN()
		s.Worst.Accuracy = math.NaN()
		return s
	}
	n := float64(nEval)
	s.MeanAccuracy = acc / n
	s.MeanMacroF1 = f1 / n
	if nACER > 0 {
		m := acer / float64(nACER)
		s.MeanACER = &m
	}
	w := rows[worst]
	s.Worst = Worst{
		Present:  append([]string(nil), w.Present...),
		Name:     w.Name,
		Accuracy: w.Accuracy,
	}
	return s
}

// FromConfusion returns the Row of the combination of the present
// modalities evaluated to the confusion matrix c. It fills Present,
// Name (present joined with '+'), Accuracy, MacroF1, N and a copy of the
// matrix. For a two-class matrix it also fills APCER, BPCER and ACER,
// with live the index of the bona fide class; if live is not 0 or 1
// those fields are left nil. Hard is left false. An empty matrix (no
// sample has the combination) gives N 0, NaN Accuracy and MacroF1 and
// nil error rates: the row is not Evaluated.
func FromConfusion(present []string, c *metrics.Confusion, live int) Row {
	r := Row{
		Present:  append([]string(nil), present...),
		Name:     strings.Join(present, "+"),
		Accuracy: c.Accuracy(),
		MacroF1:  c.MacroF1(),
		N:        c.N(),
	}
	r.Confusion = make([][]int, len(c.M))
	for i, row := range c.M {
		r.Confusion[i] = append([]int(nil), row...)
	}
	if r.N == 0 {
		r.setNA()
		return r
	}
	if c.Classes == 2 {
		if apcer, bpcer, acer, err := c.Binary(live); err == nil {
			r.APCER, r.BPCER, r.ACER = &apcer, &bpcer, &acer
		}
	}
	return r
}

// AddSpecialist sets r's Specialist to the accuracy of the specialist of r's combination
// in set, matched by name, and Gap to r's accuracy minus it. It reports whether it set a
// gap: when set has no such specialist (or is nil) it clears both fields, and a row that
// is not Evaluated gets the specialist's accuracy but no gap.
func (r *Row) AddSpecialist(set *specialist.Set) bool {
	r.Specialist, r.Gap = nil, nil
	e, ok := set.Lookup(r.Name)
	if !ok {
		return false
	}
	acc := e.Accuracy
	r.Specialist = &acc
	if !r.Evaluated() {
		return false
	}
	gap := r.Accuracy - e.Accuracy
	r.Gap = &gap
	return true
}

// AddSpecialists compares s with the specialists in set: it fills the Specialist and Gap
// of every row whose combination has a specialist (see Row.AddSpecialist, which clears
// them for the other rows) and sets Cost to the mean gap of those rows and the one with
// the most negative gap (ties go to the first in row order); rows that are not Evaluated
// have no gap and are left out. Cost is nil when no row has a gap, or when set is nil. AddSpecialists changes nothing else; the caller should
// check that set's modalities are s's (see specialist.Set.Check).
func (s *Sweep) AddSpecialists(set *specialist.Set) {
	s.Cost = nil
	var sum float64
	n, worst := 0, -1
	for i := range s.Combinations {
		r := &s.Combinations[i]
		if !r.AddSpecialist(set) {
			continue
		}
		sum += *r.Gap
		n++
		if worst < 0 || *r.Gap < *s.Combinations[worst].Gap {
			worst = i
		}
	}
	if n == 0 {
		return
	}
	w := s.Combinations[worst]
	s.Cost = &Cost{
		MeanGap: sum / float64(n),
		Worst:   Worst{Present: append([]string(nil), w.Present...), Name: w.Name, Accuracy: *w.Gap},
		N:       n,
	}
}
