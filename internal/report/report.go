// Package report provides the result types of evaluating a model on one
// or all modality combinations, and their renderings as aligned text,
// JSON, CSV and Markdown.
//
// The JSON field names of Row, Worst and Sweep are a public contract:
// other tools read them, so they must not change.
package report

import (
	"strings"

	"github.com/dmrnet/dmrnet/internal/metrics"
)

// Row is the evaluation result of one modality combination.
type Row struct {
	// Present lists the names of the present modalities, in modality order.
	Present []string `json:"present"`
	// Name is the combination's display name, the present modalities
	// joined with '+', e.g. "rgb+ir".
	Name string `json:"combination"`
	// Accuracy is the fraction of correctly classified samples.
	Accuracy float64 `json:"accuracy"`
	// MacroF1 is the unweighted mean of the per-class F1 scores.
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
}

// Worst identifies the combination with the lowest accuracy in a Sweep.
type Worst struct {
	// Present lists the names of the present modalities, in modality order.
	Present []string `json:"present"`
	// Name is the combination's display name.
	Name string `json:"combination"`
	// Accuracy is the combination's accuracy.
	Accuracy float64 `json:"accuracy"`
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
	// MeanAccuracy is the mean of the rows' accuracies.
	MeanAccuracy float64 `json:"mean_accuracy"`
	// MeanMacroF1 is the mean of the rows' macro-F1 scores.
	MeanMacroF1 float64 `json:"mean_macro_f1"`
	// MeanACER is the mean ACER over the rows that have one; it is nil
	// if no row has one.
	MeanACER *float64 `json:"mean_acer,omitempty"`
	// Worst is the row with the lowest accuracy.
	Worst Worst `json:"worst"`
	// Split names the evaluated data split, e.g. "test" or "val".
	Split string `json:"split,omitempty"`
	// Checkpoint names the evaluated model checkpoint.
	Checkpoint string `json:"checkpoint,omitempty"`
}

// NewSweep returns a Sweep over rows with the means and the worst
// combination computed. The worst combination is the row with the
// lowest accuracy; ties go to the first such row in row order. With no
// rows the means are 0 and Worst is the zero value. NewSweep copies the
// rows slice but not the rows' contents.
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
	nACER := 0
	worst := 0
	for i, r := range rows {
		acc += r.Accuracy
		f1 += r.MacroF1
		if r.ACER != nil {
			acer += *r.ACER
			nACER++
		}
		if r.Accuracy < rows[worst].Accuracy {
			worst = i
		}
	}
	n := float64(len(rows))
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
// those fields are left nil. Hard is left false.
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
	if c.Classes == 2 {
		if apcer, bpcer, acer, err := c.Binary(live); err == nil {
			r.APCER, r.BPCER, r.ACER = &apcer, &bpcer, &acer
		}
	}
	return r
}
