// Package evaluate measures a trained model on every modality combination: each combination
// is evaluated separately with its fixed mask, z = mu and BatchNorm running statistics, over
// the samples that really have the combination's modalities.
package evaluate

import (
	"errors"
	"fmt"
	"math"

	"github.com/dmrnet/dmrnet/internal/combo"
	"github.com/dmrnet/dmrnet/internal/dataset"
	"github.com/dmrnet/dmrnet/internal/metrics"
	"github.com/dmrnet/dmrnet/internal/model"
	"github.com/dmrnet/dmrnet/internal/report"
)

// Evaluator runs a model's inference graph over a split.
type Evaluator struct {
	*Predictor
	Data  *dataset.Dataset
	Space *combo.Space
	// LiveClass is the bona fide class of two-class tasks (APCER/BPCER/ACER).
	LiveClass int
	// Hard marks hard-set rows in reports (may be nil).
	Hard []combo.Set
	// SupportedOnly makes Sweep leave out the combinations no sample of the split has (for
	// new data that does not carry every modality).
	SupportedOnly bool
	// Threshold is the threshold rule of two-class tasks' protocol metrics (metrics.threshold:
	// "eer", "argmax" or a number; "" means eer). See Protocol.
	Threshold string
	// SkipProtocol leaves the protocol metrics out (for the per-epoch validation accuracy).
	SkipProtocol bool
}

// Predictor runs a model's inference graph on batches whose samples may each have another
// combination of modalities, and returns every sample's prediction, class probabilities and
// uncertainty.
type Predictor struct {
	Model *model.Model
	// Mode is the inference mode: "fused" (or ""), "route" or "ensemble" (see Predict);
	// EnsembleFused and EnsembleAux weigh the ensemble.
	Mode                       string
	EnsembleFused, EnsembleAux float64

	graph *model.EvalGraph
}

// Output is one sample's inference result.
type Output struct {
	// Pred is the predicted class: exactly the class Predict gives, so per-sample results
	// agree with the evaluation of a combination.
	Pred int
	// Probs is the probability of every class (see Probabilities).
	Probs []float64
	// Variance is the mean predicted variance sigma^2 of the embedding (the mean over its
	// dimensions of exp(logvar)); NaN for a model without a logvar head.
	Variance float64
	// Entropy is the entropy of Probs in nats.
	Entropy float64
}

// NewPredictor returns a predictor with an inference graph for batches of up to batch
// samples, in the fused mode.
func NewPredictor(m *model.Model, batch int) (*Predictor, error) {
	g, err := m.NewEvalGraph(batch)
	if err != nil {
		return nil, err
	}
	return &Predictor{Model: m, graph: g}, nil
}

// BatchSize is the largest batch Run takes.
func (p *Predictor) BatchSize() int { return p.graph.BatchSize() }

// Run infers every sample of bt (at most BatchSize samples; bt.Present gives each sample's
// modalities, the inputs of absent ones are ignored).
func (p *Predictor) Run(bt *model.Batch) ([]Output, error) {
	out, err := p.graph.Forward(bt)
	if err != nil {
		return nil, err
	}
	c := p.Model.Spec().Classes
	res := make([]Output, len(bt.Present))
	for i, set := range bt.Present {
		pr := Probabilities(p.Mode, p.EnsembleFused, p.EnsembleAux, out.Logits, out.Aux, set, i, c)
		o := Output{
			Pred:     Predict(p.Mode, p.EnsembleFused, p.EnsembleAux, out.Logits, out.Aux, set, i, c),
			Probs:    pr,
			Variance: math.NaN(),
			Entropy:  Entropy(pr),
		}
		if p.Model.Spec().PME {
			o.Variance = out.Var[i]
		}
		res[i] = o
	}
	return res, nil
}

// Probabilities returns sample i's class distribution under an inference mode: the softmax
// of the fused logits (fused, and route for combinations of several modalities), of the
// modality's auxiliary logits (route, single modality), or of the ensemble's mean
// log-probabilities Scores (ensemble; the normalised weighted geometric mean of the members'
// distributions). Its arg-max is Predict's class up to ties.
func Probabilities(mode string, wf, wa float64, logits []float64, aux [][]float64, set combo.Set, i, c int) []float64 {
	row := logits[i*c : (i+1)*c]
	switch mode {
	case "route":
		if set.Len() == 1 && len(aux) > 0 {
			row = aux[bits(set)][i*c : (i+1)*c]
		}
	case "ensemble":
		if len(aux) > 0 {
			row = Scores(wf, wa, logits, aux, set, i, c)
		}
	}
	return Softmax(row)
}

// Softmax returns the softmax of row, computed stably.
func Softmax(row []float64) []float64 {
	mx := math.Inf(-1)
	for _, v := range row {
		mx = math.Max(mx, v)
	}
	out := make([]float64, len(row))
	var s float64
	for j, v := range row {
		out[j] = math.Exp(v - mx)
		s += out[j]
	}
	for j := range out {
		out[j] /= s
	}
	return out
}

// Entropy is the entropy of a distribution in nats (0 log 0 = 0).
func Entropy(p []float64) float64 {
	var h float64
	for _, v := range p {
		if v > 0 {
			h -= v * math.Log(v)
		}
	}
	return h
}

// Predict returns sample i's class under an inference mode for a combination set, from the
// fused logits and the auxiliary heads' logits (per modality, row-major with c classes):
//
//	fused:    argmax fused
//	route:    argmax aux_m when set is the single modality m, else argmax fused
//	ensemble: argmax of Scores
func Predict(mode string, wf, wa float64, logits []float64, aux [][]float64, set combo.Set, i, c int) int {
	switch mode {
	case "route":
		if set.Len() == 1 && len(aux) > 0 {
			return argmax(aux[bits(set)][i*c : (i+1)*c])
		}
	case "ensemble":
		if len(aux) > 0 {
			return argmax(Scores(wf, wa, logits, aux, set, i, c))
		}
	}
	return argmax(logits[i*c : (i+1)*c])
}

// Scores is the ensemble's log-probability of every class for sample i:
//
//	(wf log softmax(fused) + sum_{m in set} wa log softmax(aux_m)) / (wf + |set| wa)
func Scores(wf, wa float64, logits []float64, aux [][]float64, set combo.Set, i, c int) []float64 {
	out := make([]float64, c)
	add := func(row []float64, w float64) {
		if w == 0 {
			return
		}
		mx := math.Inf(-1)
		for _, v := range row {
			mx = math.Max(mx, v)
		}
		var s float64
		for _, v := range row {
			s += math.Exp(v - mx)
		}
		lse := mx + math.Log(s)
		for j, v := range row {
			out[j] += w * (v - lse)
		}
	}
	add(logits[i*c:(i+1)*c], wf)
	total := wf
	for m := range aux {
		if set.Has(m) {
			add(aux[m][i*c:(i+1)*c], wa)
			total += wa
		}
	}
	for j := range out {
		out[j] /= total
	}
	return out
}

func argmax(row []float64) int {
	best := 0
	for j, v := range row {
		if v > row[best] {
			best = j
		}
	}
	return best
}

// bits returns the position of the single modality of a one-modality set.
func bits(s combo.Set) int {
	for m := 0; ; m++ {
		if s.Has(m) {
			return m
		}
	}
}

// New returns an evaluator with an inference graph for batches of up to batch samples.
func New(m *model.Model, ds *dataset.Dataset, batch, live int) (*Evaluator, error) {
	sp, err := combo.NewSpace(ds.Names())
	if err != nil {
		return nil, err
	}
	p, err := NewPredictor(m, batch)
	if err != nil {
		return nil, err
	}
	return &Evaluator{Predictor: p, Data: ds, Space: sp, LiveClass: live}, nil
}

// Samples returns the indices of the samples of split s that have every modality of set.
func (e *Evaluator) Samples(s *dataset.Split, set combo.Set) []int {
	var idx []int
	for i := 0; i < s.Len(); i++ {
		if s.AvailOf(i, e.Space.M())&set == set {
			idx = append(idx, i)
		}
	}
	return idx
}

// Outputs infers combination set on the samples idx of split s (see Samples), in batches.
func (e *Evaluator) Outputs(s *dataset.Split, set combo.Set, idx []int) ([]Output, error) {
	if set == 0 {
		return nil, fmt.Errorf("evaluate: empty combination")
	}
	n := e.BatchSize()
	bt := &model.Batch{X: make([][]float32, len(e.Data.Modalities))}
	out := make([]Output, 0, len(idx))
	feed := s.BatchesOf(e.Data.Modalities, chunks(idx, n), set)
	defer feed.Close()
	for lo := 0; lo < len(idx); lo += n {
		rows := idx[lo:min(lo+n, len(idx))]
		var err error
		if bt.X, err = feed.Next(bt.X); err != nil {
			return nil, err
		}
		bt.Present = bt.Present[:0]
		for range rows {
			bt.Present = append(bt.Present, set)
		}
		o, err := e.Run(bt)
		if err != nil {
			return nil, err
		}
		out = append(out, o...)
	}
	return out, nil
}

// Confusion evaluates combination set on split s. Samples that lack one of the set's
// modalities are skipped; the returned confusion matrix counts the others.
func (e *Evaluator) Confusion(s *dataset.Split, set combo.Set) (*metrics.Confusion, error) {
	if set == 0 {
		return nil, fmt.Errorf("evaluate: empty combination")
	}
	conf := metrics.NewConfusion(len(e.Data.Classes))
	var idx []int
	for i := 0; i < s.Len(); i++ {
		if s.AvailOf(i, e.Space.M())&set == set {
			idx = append(idx, i)
		}
	}
	n := e.graph.BatchSize()
	bt := &model.Batch{X: make([][]float32, len(e.Data.Modalities))}
	feed := s.BatchesOf(e.Data.Modalities, chunks(idx, n), set)
	defer feed.Close()
	for lo := 0; lo < len(idx); lo += n {
		rows := idx[lo:min(lo+n, len(idx))]
		var err error
		if bt.X, err = feed.Next(bt.X); err != nil {
			return nil, err
		}
		bt.Present = bt.Present[:0]
		for range rows {
			bt.Present = append(bt.Present, set)
		}
		out, err := e.graph.Forward(bt)
		if err != nil {
			return nil, err
		}
		c := len(e.Data.Classes)
		for i, j := range rows {
			conf.Add(s.Y[j], Predict(e.Mode, e.EnsembleFused, e.EnsembleAux, out.Logits, out.Aux, set, i, c))
		}
	}
	return conf, nil
}

// chunks splits idx into consecutive batches of at most n samples: the order in which
// Outputs and Confusion read a split.
func chunks(idx []int, n int) [][]int {
	var out [][]int
	for lo := 0; lo < len(idx); lo += n {
		out = append(out, idx[lo:min(lo+n, len(idx))])
	}
	return out
}

// Row evaluates one combination and returns its report row; when no sample of s has the
// combination's modalities the row has N 0 and NaN (n/a) metrics.
func (e *Evaluator) Row(s *dataset.Split, set combo.Set) (report.Row, error) {
	conf, err := e.Confusion(s, set)
	if err != nil {
		return report.Row{}, err
	}
	r := report.FromConfusion(e.Space.Present(set), conf, e.LiveClass)
	if r.Evaluated() && !e.SkipProtocol {
		if r.Protocol, err = e.Protocol(s, set); err != nil {
			return report.Row{}, err
		}
	}
	if e.Mode != "" && e.Mode != "fused" {
		r.Inference = e.Mode
	}
	for _, h := range e.Hard {
		if h == set {
			r.Hard = true
		}
	}
	return r, nil
}

// Sweep evaluates every non-empty combination on split s. A combination that no sample of
// s has gives a row with N 0 and n/a metrics (see report.Row.Evaluated), which the sweep's
// mean and worst leave out; with SupportedOnly it is left out of the sweep altogether.
func (e *Evaluator) Sweep(s *dataset.Split) (*report.Sweep, error) {
	var rows []report.Row
	for _, set := range e.Space.All() {
		if e.SupportedOnly && len(e.Samples(s, set)) == 0 {
			continue
		}
		r, err := e.Row(s, set)
		if errors.Is(err, dataset.ErrInvalid) {
			return nil, err // a bad file of a streamed split: its message names it
		}
		if err != nil {
			return nil, fmt.Errorf("evaluate %s: %w", e.Space.Name(set), err)
		}
		rows = append(rows, r)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("evaluate: no combination has samples")
	}
	sw := report.NewSweep(e.Space.Names(), e.Data.Classes, rows)
	if !e.SkipProtocol {
		ps, err := e.ProtocolSummary()
		if err != nil {
			return nil, err
		}
		sw.Protocol = ps
		sw.Summarise()
	}
	sw.Inference = e.Mode
	if sw.Inference == "" {
		sw.Inference = "fused"
	}
	return sw, nil
}
