// Package evaluate measures a trained model on every modality combination: each combination
// is evaluated separately with its fixed mask, z = mu and BatchNorm running statistics, over
// the samples that really have the combination's modalities.
//
// The encoders run once per sample and their outputs serve every combination (see
// model.Inference); models without that path (the reference build) run the whole inference
// graph per batch and combination. Both give bitwise the same results.
package evaluate

import (
	"errors"
	"fmt"
	"math"
	"slices"

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

	// logitBudget replaces sweepLogits when > 0 (tests: groups of one combination).
	logitBudget int
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

	batch int
	// inf is the cached-encoder inference (model.Inference), for every model that has it;
	// graph, the whole inference graph run per batch and combination, serves the others (the
	// reference build, see model.CachedInference).
	inf   *model.Inference
	graph *model.EvalGraph
	// buffers of the cached path, reused from call to call: bufs[role] for the split being
	// evaluated (roleEval) and the threshold split (roleVal)
	bufs     [2]splitBufs
	groups   []combo.Set
	rows     [][]int
	iota     []int
	scoreBuf []float64
	// chunk holds one batch's encoder outputs while a streamed split is encoded
	chunk model.Features
}

// splitBufs are one split's reusable buffers of the cached path.
type splitBufs struct {
	feat  model.Features
	heads []model.HeadOutput
	idx   [][]int
}

const (
	roleEval = iota // the split being evaluated
	roleVal         // the validation split of the eer threshold rule
)

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

// NewPredictor returns a predictor for batches of up to batch samples, in the fused mode. It
// runs the encoders once per sample and the rest of the network per combination (see
// model.Inference) when the model allows it, else the whole inference graph per batch and
// combination; both give bitwise the same results.
func NewPredictor(m *model.Model, batch int) (*Predictor, error) {
	return newPredictor(m, batch, m.CachedInference() == nil)
}

// NewGraphPredictor is NewPredictor on the whole inference graph (model.EvalGraph) whatever
// the model: the path of the models without cached-encoder inference, run per batch and
// combination. It is slower and kept as the reference the cached path is checked against.
func NewGraphPredictor(m *model.Model, batch int) (*Predictor, error) {
	return newPredictor(m, batch, false)
}

// newPredictor is NewPredictor with the choice of path; cached false keeps the inference
// graph.
func newPredictor(m *model.Model, batch int, cached bool) (*Predictor, error) {
	p := &Predictor{Model: m, batch: batch}
	var err error
	if cached {
		p.inf, err = m.NewInference(batch)
	} else {
		p.graph, err = m.NewEvalGraph(batch)
	}
	if err != nil {
		return nil, err
	}
	return p, nil
}

// BatchSize is the largest batch Run takes.
func (p *Predictor) BatchSize() int { return p.batch }

// Run infers every sample of bt (at most BatchSize samples; bt.Present gives each sample's
// modalities, the inputs of absent ones are ignored).
func (p *Predictor) Run(bt *model.Batch) ([]Output, error) {
	c := p.Model.Spec().Classes
	res := make([]Output, len(bt.Present))
	if p.inf == nil {
		out, err := p.graph.Forward(bt)
		if err != nil {
			return nil, err
		}
		for i, set := range bt.Present {
			res[i] = p.output(set, out.Logits[i*c:(i+1)*c], out.Aux, i, out.Var[i])
		}
		return res, nil
	}
	rows := len(bt.Present)
	if rows > p.batch {
		return nil, fmt.Errorf("evaluate: batch of %d samples for a predictor of %d", rows, p.batch)
	}
	spec := p.Model.Spec()
	if len(bt.X) != len(spec.Modalities) {
		return nil, fmt.Errorf("evaluate: batch has %d modalities, model %d", len(bt.X), len(spec.Modalities))
	}
	for m, ms := range spec.Modalities {
		if len(bt.X[m]) != rows*ms.InputSize() {
			return nil, fmt.Errorf("evaluate: modality %q: %d values for %d samples of size %d", ms.Name, len(bt.X[m]), rows, ms.InputSize())
		}
	}
	for len(p.iota) < rows {
		p.iota = append(p.iota, len(p.iota))
	}
	b := &p.bufs[roleEval]
	if err := p.inf.Encode(bt.X, p.iota[:rows], &b.feat); err != nil {
		return nil, err
	}
	// one group of rows per combination, in order of first appearance
	p.groups = p.groups[:0]
	for i, set := range bt.Present {
		k := slices.Index(p.groups, set)
		if k < 0 {
			k = len(p.groups)
			p.groups = append(p.groups, set)
			if k == len(p.rows) {
				p.rows = append(p.rows, nil)
			}
			p.rows[k] = p.rows[k][:0]
		}
		p.rows[k] = append(p.rows[k], i)
	}
	b.heads = growHeads(b.heads, len(p.groups))
	if err := p.inf.Heads(&b.feat, p.groups, p.rows[:len(p.groups)], b.heads, true); err != nil {
		return nil, err
	}
	for k, set := range p.groups {
		h := b.heads[k]
		for t, i := range p.rows[k] {
			res[i] = p.output(set, h.Logits[t*c:(t+1)*c], b.feat.Aux(), i, h.Var[t])
		}
	}
	return res, nil
}

// output is the Output of one sample of combination set from its fused logits row, the
// auxiliary logits aux (row ai of each modality) and its mean variance vr.
func (p *Predictor) output(set combo.Set, row []float64, aux [][]float64, ai int, vr float64) Output {
	c := len(row)
	pr := probabilitiesRow(p.Mode, p.EnsembleFused, p.EnsembleAux, row, aux, ai, set, c)
	o := Output{
		Pred:     predictRow(p.Mode, p.EnsembleFused, p.EnsembleAux, row, aux, ai, set, c, &p.scoreBuf),
		Probs:    pr,
		Variance: math.NaN(),
		Entropy:  Entropy(pr),
	}
	if p.Model.Spec().PME {
		o.Variance = vr
	}
	return o
}

// growHeads returns h with n elements, keeping the buffers of those it had.
func growHeads(h []model.HeadOutput, n int) []model.HeadOutput {
	for len(h) < n {
		h = append(h, model.HeadOutput{})
	}
	return h[:n]
}

// Probabilities returns sample i's class distribution under an inference mode: the softmax
// of the fused logits (fused, and route for combinations of several modalities), of the
// modality's auxiliary logits (route, single modality), or of the ensemble's mean
// log-probabilities Scores (ensemble; the normalised weighted geometric mean of the members'
// distributions). Its arg-max is Predict's class up to ties.
func Probabilities(mode string, wf, wa float64, logits []float64, aux [][]float64, set combo.Set, i, c int) []float64 {
	return probabilitiesRow(mode, wf, wa, logits[i*c:(i+1)*c], aux, i, set, c)
}

// probabilitiesRow is Probabilities for the fused logits row of a sample whose auxiliary
// logits are row ai of aux.
func probabilitiesRow(mode string, wf, wa float64, row []float64, aux [][]float64, ai int, set combo.Set, c int) []float64 {
	switch mode {
	case "route":
		if set.Len() == 1 && len(aux) > 0 {
			row = aux[bits(set)][ai*c : (ai+1)*c]
		}
	case "ensemble":
		if len(aux) > 0 {
			row = scoresRow(wf, wa, row, aux, ai, set, c, make([]float64, c))
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
	return predictRow(mode, wf, wa, logits[i*c:(i+1)*c], aux, i, set, c, nil)
}

// predictRow is Predict for the fused logits row of a sample whose auxiliary logits are row
// ai of aux; buf, when not nil, holds the ensemble's scores (reused).
func predictRow(mode string, wf, wa float64, row []float64, aux [][]float64, ai int, set combo.Set, c int, buf *[]float64) int {
	switch mode {
	case "route":
		if set.Len() == 1 && len(aux) > 0 {
			return argmax(aux[bits(set)][ai*c : (ai+1)*c])
		}
	case "ensemble":
		if len(aux) > 0 {
			var out []float64
			if buf != nil && cap(*buf) >= c {
				out = (*buf)[:c]
			} else {
				out = make([]float64, c)
				if buf != nil {
					*buf = out
				}
			}
			return argmax(scoresRow(wf, wa, row, aux, ai, set, c, out))
		}
	}
	return argmax(row)
}

// Scores is the ensemble's log-probability of every class for sample i:
//
//	(wf log softmax(fused) + sum_{m in set} wa log softmax(aux_m)) / (wf + |set| wa)
func Scores(wf, wa float64, logits []float64, aux [][]float64, set combo.Set, i, c int) []float64 {
	return scoresRow(wf, wa, logits[i*c:(i+1)*c], aux, i, set, c, make([]float64, c))
}

// scoresRow is Scores for the fused logits row of a sample whose auxiliary logits are row ai
// of aux, written to out (c values).
func scoresRow(wf, wa float64, row []float64, aux [][]float64, ai int, set combo.Set, c int, out []float64) []float64 {
	clear(out)
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
	add(row, wf)
	total := wf
	for m := range aux {
		if set.Has(m) {
			add(aux[m][ai*c:(ai+1)*c], wa)
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
	return e.samplesInto(s, set, nil)
}

func (e *Evaluator) samplesInto(s *dataset.Split, set combo.Set, idx []int) []int {
	idx = idx[:0]
	for i := 0; i < s.Len(); i++ {
		if s.AvailOf(i, e.Space.M())&set == set {
			idx = append(idx, i)
		}
	}
	return idx
}

// result is one combination's inference outputs over the samples idx of a split.
type result struct {
	idx    []int
	logits []float64 // (len(idx), classes)
	aux    [][]float64
	// auxBySample says that the auxiliary logits of sample idx[t] are row idx[t] of aux (the
	// cached path keeps them per sample of the split), not row t.
	auxBySample bool
}

func (r *result) row(t, c int) []float64 { return r.logits[t*c : (t+1)*c] }

func (r *result) auxRow(t int) int {
	if r.auxBySample {
		return r.idx[t]
	}
	return t
}

// results infers the combinations sets on their samples of split s (logits and auxiliary
// logits: the evaluation does not use the variance). On the cached path the
// encoders run once per sample of s for all the combinations, and the results live in the
// buffers of role until the next call with that role.
func (e *Evaluator) results(s *dataset.Split, sets []combo.Set, role int) ([]result, error) {
	for _, set := range sets {
		if set == 0 {
			return nil, fmt.Errorf("evaluate: empty combination")
		}
	}
	res := make([]result, len(sets))
	if e.inf == nil {
		for k, set := range sets {
			r, err := e.graphResult(s, set)
			if err != nil {
				return nil, err
			}
			res[k] = r
		}
		return res, nil
	}
	b := &e.bufs[role]
	for len(b.idx) < len(sets) {
		b.idx = append(b.idx, nil)
	}
	some := false
	for k, set := range sets {
		b.idx[k] = e.samplesInto(s, set, b.idx[k])
		some = some || len(b.idx[k]) > 0
	}
	if !some {
		for k := range res {
			res[k].idx = b.idx[k]
		}
		return res, nil
	}
	for len(e.iota) < s.Len() {
		e.iota = append(e.iota, len(e.iota))
	}
	if err := e.encode(s, e.iota[:s.Len()], &b.feat); err != nil {
		return nil, err
	}
	b.heads = growHeads(b.heads, len(sets))
	if err := e.inf.Heads(&b.feat, sets, b.idx[:len(sets)], b.heads, false); err != nil {
		return nil, err
	}
	for k := range sets {
		res[k] = result{idx: b.idx[k], logits: b.heads[k].Logits, aux: b.feat.Aux(), auxBySample: true}
	}
	return res, nil
}

// graphResult infers combination set on its samples of s with the inference graph, batch by
// batch: the path of models without cached-encoder inference.
func (e *Evaluator) graphResult(s *dataset.Split, set combo.Set) (result, error) {
	r := result{idx: e.Samples(s, set)}
	n := e.graph.BatchSize()
	bt := &model.Batch{X: make([][]float32, len(e.Data.Modalities))}
	feed := s.BatchesOf(e.Data.Modalities, chunks(r.idx, n), set)
	defer feed.Close()
	for lo := 0; lo < len(r.idx); lo += n {
		rows := r.idx[lo:min(lo+n, len(r.idx))]
		var err error
		if bt.X, err = feed.Next(bt.X); err != nil {
			return result{}, err
		}
		bt.Present = bt.Present[:0]
		for range rows {
			bt.Present = append(bt.Present, set)
		}
		out, err := e.graph.Forward(bt)
		if err != nil {
			return result{}, err
		}
		r.logits = append(r.logits, out.Logits...)
		if r.aux == nil && len(out.Aux) > 0 {
			r.aux = make([][]float64, len(out.Aux))
		}
		for m, a := range out.Aux {
			r.aux[m] = append(r.aux[m], a...)
		}
	}
	return r, nil
}

// Outputs infers combination set on the samples idx of split s (see Samples).
func (e *Evaluator) Outputs(s *dataset.Split, set combo.Set, idx []int) ([]Output, error) {
	if set == 0 {
		return nil, fmt.Errorf("evaluate: empty combination")
	}
	c := len(e.Data.Classes)
	out := make([]Output, 0, len(idx))
	if e.inf == nil {
		n := e.BatchSize()
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
			o, err := e.Run(bt)
			if err != nil {
				return nil, err
			}
			out = append(out, o...)
		}
		return out, nil
	}
	b := &e.bufs[roleEval]
	if err := e.encode(s, idx, &b.feat); err != nil {
		return nil, err
	}
	for len(e.iota) < len(idx) {
		e.iota = append(e.iota, len(e.iota))
	}
	b.heads = growHeads(b.heads, 1)
	if err := e.inf.Heads(&b.feat, []combo.Set{set}, [][]int{e.iota[:len(idx)]}, b.heads, true); err != nil {
		return nil, err
	}
	h := b.heads[0]
	for t := range idx {
		out = append(out, e.output(set, h.Logits[t*c:(t+1)*c], b.feat.Aux(), t, h.Var[t]))
	}
	return out, nil
}

// Confusion evaluates combination set on split s. Samples that lack one of the set's
// modalities are skipped; the returned confusion matrix counts the others.
func (e *Evaluator) Confusion(s *dataset.Split, set combo.Set) (*metrics.Confusion, error) {
	res, err := e.results(s, []combo.Set{set}, roleEval)
	if err != nil {
		return nil, err
	}
	return e.confusion(s, set, &res[0]), nil
}

func (e *Evaluator) confusion(s *dataset.Split, set combo.Set, r *result) *metrics.Confusion {
	c := len(e.Data.Classes)
	conf := metrics.NewConfusion(c)
	for t, j := range r.idx {
		conf.Add(s.Y[j], predictRow(e.Mode, e.EnsembleFused, e.EnsembleAux, r.row(t, c), r.aux, r.auxRow(t), set, c, &e.scoreBuf))
	}
	return conf
}

// Row evaluates one combination and returns its report row; when no sample of s has the
// combination's modalities the row has N 0 and NaN (n/a) metrics.
func (e *Evaluator) Row(s *dataset.Split, set combo.Set) (report.Row, error) {
	res, err := e.results(s, []combo.Set{set}, roleEval)
	if err != nil {
		return report.Row{}, err
	}
	return e.row(s, set, &res[0], func() (*result, error) {
		v, err := e.results(e.Data.Val, []combo.Set{set}, roleVal)
		if err != nil {
			return nil, err
		}
		return &v[0], nil
	})
}

// row builds combination set's report row from its results r on split s; val returns its
// results on the validation split (for the eer threshold rule).
func (e *Evaluator) row(s *dataset.Split, set combo.Set, r *result, val func() (*result, error)) (report.Row, error) {
	rw := report.FromConfusion(e.Space.Present(set), e.confusion(s, set, r), e.LiveClass)
	if rw.Evaluated() && !e.SkipProtocol {
		var err error
		if rw.Protocol, err = e.protocol(s, set, r, val); err != nil {
			return report.Row{}, err
		}
	}
	if e.Mode != "" && e.Mode != "fused" {
		rw.Inference = e.Mode
	}
	for _, h := range e.Hard {
		if h == set {
			rw.Hard = true
		}
	}
	return rw, nil
}

// sweepGroup is how many combinations Sweep infers together at most: the cached path shares
// partial products between them, and keeps their logits until their rows are built, at most
// sweepLogits values (fewer combinations per group on large splits).
const (
	sweepGroup  = 64
	sweepLogits = 1 << 23
)

// Sweep evaluates every non-empty combination on split s. A combination that no sample of
// s has gives a row with N 0 and n/a metrics (see report.Row.Evaluated), which the sweep's
// mean and worst leave out; with SupportedOnly it is left out of the sweep altogether.
func (e *Evaluator) Sweep(s *dataset.Split) (*report.Sweep, error) {
	var rows []report.Row
	all := e.Space.All()
	budget := sweepLogits
	if e.logitBudget > 0 {
		budget = e.logitBudget
	}
	per := max(1, min(sweepGroup, budget/max(1, s.Len()*len(e.Data.Classes))))
	for g0 := 0; g0 < len(all); g0 += per {
		group := all[g0:min(g0+per, len(all))]
		res, err := e.results(s, group, roleEval)
		if errors.Is(err, dataset.ErrInvalid) {
			return nil, err // a bad file of a streamed split: its message names it
		}
		if err != nil {
			return nil, fmt.Errorf("evaluate: %w", err)
		}
		var val []result
		for k, set := range group {
			if e.SupportedOnly && len(res[k].idx) == 0 {
				continue
			}
			r, err := e.row(s, set, &res[k], func() (*result, error) {
				if val == nil {
					v, err := e.results(e.Data.Val, group, roleVal)
					if err != nil {
						return nil, err
					}
					val = v
				}
				return &val[k], nil
			})
			if errors.Is(err, dataset.ErrInvalid) {
				return nil, err
			}
			if err != nil {
				return nil, fmt.Errorf("evaluate %s: %w", e.Space.Name(set), err)
			}
			rows = append(rows, r)
		}
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

// chunks splits idx into consecutive batches of at most n samples: the order in which the
// evaluator reads a split.
func chunks(idx []int, n int) [][]int {
	var out [][]int
	for lo := 0; lo < len(idx); lo += n {
		out = append(out, idx[lo:min(lo+n, len(idx))])
	}
	return out
}

// encode runs the encoders on the samples idx of split s into feat. A split in memory is
// encoded in place; a streamed one (data.stream) is decoded batch by batch and its encoder
// outputs appended, which gives the same rows bit for bit since an encoder's output depends
// on its own sample alone.
func (e *Evaluator) encode(s *dataset.Split, idx []int, feat *model.Features) error {
	if !s.Streamed() {
		return e.inf.Encode(s.X, idx, feat)
	}
	feat.Reset()
	n := e.inf.BatchSize()
	feed := s.Batches(e.Data.Modalities, chunks(idx, n))
	defer feed.Close()
	var x [][]float32
	for lo := 0; lo < len(idx); lo += n {
		rows := min(n, len(idx)-lo)
		var err error
		if x, err = feed.Next(x); err != nil {
			return err
		}
		for len(e.iota) < rows {
			e.iota = append(e.iota, len(e.iota))
		}
		if err := e.inf.Encode(x, e.iota[:rows], &e.chunk); err != nil {
			return err
		}
		feat.Append(&e.chunk)
	}
	return nil
}
