// Package uncertainty measures whether a model's uncertainty means anything: how well a
// per-sample uncertainty score separates wrong predictions from right ones (AUROC), and how
// accurate the model is on the samples it keeps when it abstains on the most uncertain ones
// (risk–coverage). Three scores are compared: the embedding's predicted variance sigma^2, the
// entropy of the class probabilities, and one minus the largest class probability.
package uncertainty

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/dmrnet/dmrnet/internal/evaluate"
)

// Measure is a per-sample uncertainty score; larger values mean less certain.
type Measure int

// The measures, in the order of tables and JSON.
const (
	// Variance is the mean predicted variance sigma^2 of the embedding (Output.Variance);
	// undefined (NaN) for a model without a logvar head.
	Variance Measure = iota
	// Entropy is the entropy of the class probabilities in nats (Output.Entropy).
	Entropy
	// MaxProb is one minus the largest class probability.
	MaxProb
	// NumMeasures is the number of measures.
	NumMeasures int = iota
)

// Measures returns every measure, in table order.
func Measures() []Measure { return []Measure{Variance, Entropy, MaxProb} }

// String returns the measure's name as commands and JSON spell it: "variance", "entropy" or
// "1-maxprob".
func (m Measure) String() string {
	switch m {
	case Variance:
		return "variance"
	case Entropy:
		return "entropy"
	case MaxProb:
		return "1-maxprob"
	}
	return fmt.Sprintf("Measure(%d)", int(m))
}

// Label returns the measure's short column label: "σ²", "entropy" or "1-maxp".
func (m Measure) Label() string {
	switch m {
	case Variance:
		return "σ²"
	case MaxProb:
		return "1-maxp"
	}
	return m.String()
}

// ParseMeasure returns the measure named s (see String; "sigma2" and "maxprob" are accepted
// too).
func ParseMeasure(s string) (Measure, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "variance", "sigma2", "var":
		return Variance, nil
	case "entropy":
		return Entropy, nil
	case "1-maxprob", "maxprob":
		return MaxProb, nil
	}
	return 0, fmt.Errorf("unknown uncertainty measure %q (want variance, entropy or 1-maxprob)", s)
}

// Score returns the measure's value for one sample's output: its Variance, its Entropy, or
// 1 − max(Probs). A sample without probabilities scores NaN under MaxProb.
func (m Measure) Score(o evaluate.Output) float64 {
	switch m {
	case Variance:
		return o.Variance
	case Entropy:
		return o.Entropy
	case MaxProb:
		if len(o.Probs) == 0 {
			return math.NaN()
		}
		return 1 - slices.Max(o.Probs)
	}
	return math.NaN()
}

// AUROC returns the area under the ROC curve of scores as a detector of the positive samples:
// the probability that a randomly chosen positive sample (for uncertainty: a wrong
// prediction) has a higher score than a randomly chosen negative one (a right prediction),
// a tie counting one half. 0.5 is chance, 1 a perfect separation, 0 a perfectly inverted one.
//
// It sorts the scores once (O(n log n)) and counts, per group of equal scores, the pairs of a
// positive in the group with a negative below it (1 each) or in the group (1/2 each), in
// integer arithmetic. AUROC is NaN when there are no positives or no negatives (the area is
// undefined then, not 0 or 1) and when a score is NaN. It panics if the slices differ in
// length.
func AUROC(scores []float64, positive []bool) float64 {
	if len(scores) != len(positive) {
		panic(fmt.Sprintf("uncertainty: AUROC of %d scores and %d labels", len(scores), len(positive)))
	}
	var pos, neg int64
	for i, s := range scores {
		if math.IsNaN(s) {
			return math.NaN()
		}
		if positive[i] {
			pos++
		} else {
			neg++
		}
	}
	if pos == 0 || neg == 0 {
		return math.NaN()
	}
	idx := make([]int, len(scores))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return cmp.Compare(scores[a], scores[b]) })
	// twice the number of (positive, negative) pairs ordered correctly, ties counting 1
	var twice, negBelow int64
	for lo := 0; lo < len(idx); {
		hi := lo
		var p, n int64
		for ; hi < len(idx) && scores[idx[hi]] == scores[idx[lo]]; hi++ {
			if positive[idx[hi]] {
				p++
			} else {
				n++
			}
		}
		twice += p * (2*negBelow + n)
		negBelow += n
		lo = hi
	}
	return float64(twice) / float64(2*pos*neg)
}

// Retained returns how many of n samples are kept when the fraction abstain of them, the most
// uncertain, is abstained on: ceil((1 − abstain) · n), computed as n − floor(abstain · n) with
// a tolerance of 1e-9 for the rounding of abstain (so that 0.1 of 10 samples abstains on
// exactly 1). It panics unless 0 ≤ abstain < 1.
func Retained(n int, abstain float64) int {
	if !(abstain >= 0 && abstain < 1) {
		panic(fmt.Sprintf("uncertainty: abstain fraction %v outside [0, 1)", abstain))
	}
	return n - int(math.Floor(abstain*float64(n)+1e-9))
}

// RetainedAccuracy returns the accuracy on the samples kept when the model abstains on the
// fraction abstain of the most uncertain ones (see Retained for how many are kept), and the
// number kept. The kept samples are the ones with the lowest scores; among equal scores the
// earlier sample (lower index) counts as more certain and is kept first, so the result is
// deterministic. correct[i] says whether sample i's prediction is right. abstain 0 gives the
// accuracy at full coverage.
//
// The accuracy is NaN when there are no samples or a score is NaN. It panics if the slices
// differ in length or abstain is outside [0, 1).
func RetainedAccuracy(scores []float64, correct []bool, abstain float64) (acc float64, kept int) {
	if len(scores) != len(correct) {
		panic(fmt.Sprintf("uncertainty: RetainedAccuracy of %d scores and %d labels", len(scores), len(correct)))
	}
	kept = Retained(len(scores), abstain)
	if kept == 0 || slices.ContainsFunc(scores, math.IsNaN) {
		return math.NaN(), kept
	}
	idx := make([]int, len(scores))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return cmp.Or(cmp.Compare(scores[a], scores[b]), cmp.Compare(a, b)) })
	right := 0
	for _, i := range idx[:kept] {
		if correct[i] {
			right++
		}
	}
	return float64(right) / float64(kept), kept
}

// Result is the uncertainty evaluation of one set of predictions (one combination of one
// run).
type Result struct {
	// N is the number of samples and Accuracy the fraction predicted right (NaN for none).
	N        int
	Accuracy float64
	// AUROC[m] is the AUROC of measure m as a detector of wrong predictions (NaN when
	// undefined: all predictions right, all wrong, or the measure undefined).
	AUROC [NumMeasures]float64
	// Retained[k][m] is the accuracy on the samples kept by measure m when the model abstains
	// on the fraction Abstain[k] (see RetainedAccuracy).
	Retained [][NumMeasures]float64
	// Abstain holds the abstained fractions of Retained.
	Abstain []float64
}

// Assess evaluates the outputs of a model on samples with the true classes labels (outs[i]
// is the output for labels[i]): accuracy, the AUROC of each measure, and the accuracy
// retained by each measure when abstaining on each fraction of abstain. It panics if outs and
// labels differ in length.
func Assess(outs []evaluate.Output, labels []int, abstain []float64) Result {
	if len(outs) != len(labels) {
		panic(fmt.Sprintf("uncertainty: %d outputs and %d labels", len(outs), len(labels)))
	}
	r := Result{N: len(outs), Accuracy: math.NaN(), Abstain: slices.Clone(abstain)}
	wrong := make([]bool, len(outs))
	correct := make([]bool, len(outs))
	right := 0
	for i, o := range outs {
		correct[i] = o.Pred == labels[i]
		wrong[i] = !correct[i]
		if correct[i] {
			right++
		}
	}
	if len(outs) > 0 {
		r.Accuracy = float64(right) / float64(len(outs))
	}
	r.Retained = make([][NumMeasures]float64, len(abstain))
	scores := make([]float64, len(outs))
	for _, m := range Measures() {
		for i, o := range outs {
			scores[i] = m.Score(o)
		}
		r.AUROC[m] = AUROC(scores, wrong)
		for k, f := range abstain {
			r.Retained[k][m], _ = RetainedAccuracy(scores, correct, f)
		}
	}
	return r
}
