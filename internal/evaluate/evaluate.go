// Package evaluate measures a trained model on every modality combination: each combination
// is evaluated separately with its fixed mask, z = mu and BatchNorm running statistics, over
// the samples that really have the combination's modalities.
package evaluate

import (
	"fmt"

	"github.com/dmrnet/dmrnet/internal/combo"
	"github.com/dmrnet/dmrnet/internal/dataset"
	"github.com/dmrnet/dmrnet/internal/metrics"
	"github.com/dmrnet/dmrnet/internal/model"
	"github.com/dmrnet/dmrnet/internal/report"
)

// Evaluator runs a model's inference graph over a split.
type Evaluator struct {
	Model *model.Model
	Data  *dataset.Dataset
	Space *combo.Space
	// LiveClass is the bona fide class of two-class tasks (APCER/BPCER/ACER).
	LiveClass int
	// Hard marks hard-set rows in reports (may be nil).
	Hard []combo.Set

	graph *model.EvalGraph
}

// New returns an evaluator with an inference graph for batches of up to batch samples.
func New(m *model.Model, ds *dataset.Dataset, batch, live int) (*Evaluator, error) {
	sp, err := combo.NewSpace(ds.Names())
	if err != nil {
		return nil, err
	}
	g, err := m.NewEvalGraph(batch)
	if err != nil {
		return nil, err
	}
	return &Evaluator{Model: m, Data: ds, Space: sp, LiveClass: live, graph: g}, nil
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
	for lo := 0; lo < len(idx); lo += n {
		rows := idx[lo:min(lo+n, len(idx))]
		for m, mod := range e.Data.Modalities {
			bt.X[m] = dataset.Gather(s.X[m], mod.Size(), rows, bt.X[m])
		}
		bt.Present = bt.Present[:0]
		for range rows {
			bt.Present = append(bt.Present, set)
		}
		out, err := e.graph.Forward(bt)
		if err != nil {
			return nil, err
		}
		for i, j := range rows {
			conf.Add(s.Y[j], out.Pred[i])
		}
	}
	return conf, nil
}

// Row evaluates one combination and returns its report row.
func (e *Evaluator) Row(s *dataset.Split, set combo.Set) (report.Row, error) {
	conf, err := e.Confusion(s, set)
	if err != nil {
		return report.Row{}, err
	}
	r := report.FromConfusion(e.Space.Present(set), conf, e.LiveClass)
	for _, h := range e.Hard {
		if h == set {
			r.Hard = true
		}
	}
	return r, nil
}

// Sweep evaluates every non-empty combination on split s.
func (e *Evaluator) Sweep(s *dataset.Split) (*report.Sweep, error) {
	var rows []report.Row
	for _, set := range e.Space.All() {
		r, err := e.Row(s, set)
		if err != nil {
			return nil, fmt.Errorf("evaluate %s: %w", e.Space.Name(set), err)
		}
		rows = append(rows, r)
	}
	return report.NewSweep(e.Space.Names(), e.Data.Classes, rows), nil
}
