package evaluate

import (
	"fmt"
	"math"
	"strconv"

	"github.com/dmrnet/dmrnet/internal/combo"
	"github.com/dmrnet/dmrnet/internal/dataset"
	"github.com/dmrnet/dmrnet/internal/metrics"
	"github.com/dmrnet/dmrnet/internal/report"
)

// NoValNote is the note of a sweep whose threshold rule is eer but which has no validation
// split to choose the threshold on.
const NoValNote = "no validation split (data.val_fraction 0): APCER/BPCER/ACER at arg-max instead of the EER threshold of the validation split (set data.val_fraction, e.g. 0.2, and retrain)"

// applied returns the threshold rule the evaluator applies: "eer" (needs Data.Val), "argmax"
// or "fixed", the fixed threshold, and a note when eer falls back to arg-max.
func (e *Evaluator) applied() (rule string, fixed float64, note string, err error) {
	switch e.Threshold {
	case "", "eer":
		if e.Data == nil || e.Data.Val == nil || e.Data.Val.Len() == 0 {
			return "argmax", 0, NoValNote, nil
		}
		return "eer", 0, "", nil
	case "argmax":
		return "argmax", 0, "", nil
	}
	v, perr := strconv.ParseFloat(e.Threshold, 64)
	if perr != nil || !(v >= 0 && v <= 1) {
		return "", 0, "", fmt.Errorf("metrics.threshold: %q is not a threshold rule (use eer, argmax or a probability in [0, 1])", e.Threshold)
	}
	return "fixed", v, "", nil
}

// scores returns the live-class probability of the samples of split s in results r of
// combination set, and whether each is live, with the predictions.
func (e *Evaluator) scores(s *dataset.Split, set combo.Set, r *result) (sc []float64, live []bool, pred []bool) {
	c := len(e.Data.Classes)
	for t, j := range r.idx {
		o := e.output(set, r.row(t, c), r.aux, r.auxRow(t), 0)
		sc = append(sc, o.Probs[e.LiveClass])
		live = append(live, s.Y[j] == e.LiveClass)
		pred = append(pred, o.Pred == e.LiveClass)
	}
	return sc, live, pred
}

// Protocol computes the threshold-based metrics of combination set on split s (two-class
// tasks): ROC, AUC, EER, BPCER at the APCER targets, and APCER/BPCER/ACER at the threshold
// of the evaluator's rule (for eer: the EER threshold of the same combination on the
// validation split). It returns nil for tasks that do not have two classes.
func (e *Evaluator) Protocol(s *dataset.Split, set combo.Set) (*report.Protocol, error) {
	res, err := e.results(s, []combo.Set{set}, roleEval)
	if err != nil {
		return nil, err
	}
	return e.protocol(s, set, &res[0], func() (*result, error) {
		v, err := e.results(e.Data.Val, []combo.Set{set}, roleVal)
		if err != nil {
			return nil, err
		}
		return &v[0], nil
	})
}

// protocol is Protocol from combination set's results r on s; val returns its results on the
// validation split, which only the eer rule asks for.
func (e *Evaluator) protocol(s *dataset.Split, set combo.Set, r *result, val func() (*result, error)) (*report.Protocol, error) {
	if len(e.Data.Classes) != 2 || (e.LiveClass != 0 && e.LiveClass != 1) {
		return nil, nil
	}
	rule, fixed, note, err := e.applied()
	if err != nil {
		return nil, err
	}
	sc, live, pred := e.scores(s, set, r)
	pts := metrics.ROC(sc, live)
	p := &report.Protocol{ROC: pts, AUC: report.Ptr(metrics.AUC(pts))}
	eer, eerT := metrics.EER(pts)
	p.EER, p.EERThreshold = report.Ptr(eer), report.Ptr(eerT)
	for _, t := range report.APCERTargets {
		b, bt := metrics.BPCERAtAPCER(pts, t)
		p.BPCERAt = append(p.BPCERAt, report.BPCERAt{APCER: t, BPCER: report.Ptr(b), Threshold: report.Ptr(bt)})
	}
	var a, b, acer float64
	switch rule {
	case "argmax":
		p.Rule = "argmax"
		if note != "" {
			p.Rule = "argmax (no validation split)"
		}
		acc := make([]float64, len(pred))
		for i, l := range pred {
			if l {
				acc[i] = 1
			}
		}
		a, b, acer = metrics.RatesAt(acc, live, 0.5)
	case "fixed":
		p.Rule = "fixed"
		p.Threshold = report.Ptr(fixed)
		a, b, acer = metrics.RatesAt(sc, live, fixed)
	case "eer":
		vr, err := val()
		if err != nil {
			return nil, err
		}
		vs, vl, _ := e.scores(e.Data.Val, set, vr)
		_, t := metrics.EER(metrics.ROC(vs, vl))
		p.Rule = "eer on val"
		if math.IsNaN(t) {
			// The validation split lacks live samples or attacks of this combination.
			p.Rule = "n/a (the validation split has no live sample or no attack of " + e.Space.Name(set) + ")"
			a, b, acer = math.NaN(), math.NaN(), math.NaN()
			break
		}
		p.Threshold = report.Ptr(t)
		a, b, acer = metrics.RatesAt(sc, live, t)
	}
	p.APCER, p.BPCER, p.ACER = report.Ptr(a), report.Ptr(b), report.Ptr(acer)
	return p, nil
}

// ProtocolSummary returns the sweep-level description of the threshold rule, nil for tasks
// that do not have two classes; Sweep sets it and the means.
func (e *Evaluator) ProtocolSummary() (*report.ProtocolSummary, error) {
	if len(e.Data.Classes) != 2 || (e.LiveClass != 0 && e.LiveClass != 1) {
		return nil, nil
	}
	rule, _, note, err := e.applied()
	if err != nil {
		return nil, err
	}
	r := e.Threshold
	if r == "" {
		r = "eer"
	}
	ps := &report.ProtocolSummary{Rule: r, Applied: rule, Note: note}
	if rule == "eer" {
		ps.ThresholdSplit = "val"
	}
	return ps, nil
}
