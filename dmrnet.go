// Package dmrnet uses models trained by the dmrnet command in Go programs: Load a run
// directory (or checkpoint file) and Predict new samples with whatever modalities they carry.
//
// A prediction gives the class, the probability of every class and two uncertainties: the
// mean predicted variance sigma^2 of the probabilistic embedding (the method's own
// uncertainty, where the model has a logvar head) and the entropy of the predicted
// distribution. Inputs are preprocessed exactly as training preprocessed its data (the
// standardisation statistics, audio front end and image normalisation stored with the
// model), and the predicted class is exactly the one `dmrnet eval` and `dmrnet
// sweep-missing` count for the sample's combination of modalities.
//
//	m, err := dmrnet.Load("runs/quickstart")
//	preds, err := m.Predict(ctx, []dmrnet.Sample{{ID: "frame-1", Vectors: map[string][]float64{"rgb": rgb}}})
//	fmt.Println(preds[0].Class, preds[0].Probs, preds[0].Variance)
package dmrnet

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"

	"github.com/dmrnet/dmrnet/internal/combo"
	"github.com/dmrnet/dmrnet/internal/dataset"
	"github.com/dmrnet/dmrnet/internal/evaluate"
	"github.com/dmrnet/dmrnet/internal/model"
	"github.com/dmrnet/dmrnet/internal/train"
)

// Model is a trained model ready to score samples. Its methods are safe for concurrent use
// (Predict calls run one at a time).
type Model struct {
	loaded *train.Loaded
	prep   *dataset.Prep
	mu     sync.Mutex
	pred   *evaluate.Predictor
	x      [][]float32
}

// Options adjust Load.
type Options struct {
	// Inference replaces the trained model.inference: "fused", "route" or "ensemble" (the
	// last two need a model with auxiliary heads). Empty keeps the trained mode.
	Inference string
	// BatchSize is the number of samples run through the model at once (default: the
	// trained train.eval_batch_size). It changes speed and memory, never the results.
	BatchSize int
	// DataRoot locates the training data of a checkpoint written before dmrnet recorded
	// its models' input shapes, which is read once to recover them. Newer checkpoints need
	// no data.
	DataRoot string
}

// Modality is one input of a model.
type Modality struct {
	Name string
	// Input is what a Sample gives for it: "vector" (a row of numbers in Sample.Vectors),
	// or "image", "audio" or "npy" (a file path in Sample.Files).
	Input string
	// Shape is the shape of the model input after preprocessing, e.g. [64] or [1, 28, 28].
	Shape []int
}

// Load loads the model of a run directory (its final.ckpt, or the latest checkpoint.ckpt
// of a run that has not finished) or of a checkpoint file.
func Load(path string) (*Model, error) { return LoadWith(path, Options{}) }

// LoadWith is Load with options.
func LoadWith(path string, o Options) (*Model, error) {
	l, err := train.OpenModel(path, o.DataRoot)
	if err != nil {
		return nil, err
	}
	prep, err := train.Prep(l)
	if err != nil {
		return nil, err
	}
	batch := o.BatchSize
	if batch <= 0 {
		batch = l.Config.Train.EvalBatchSize
	}
	p, err := evaluate.NewPredictor(l.Model, batch)
	if err != nil {
		return nil, err
	}
	c := l.Config.Model
	p.Mode, p.EnsembleFused, p.EnsembleAux = c.Inference, c.Ensemble.Fused, c.Ensemble.Aux
	m := &Model{loaded: l, prep: prep, pred: p}
	if o.Inference != "" {
		if err := m.SetInference(o.Inference); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// SetInference changes the inference mode: "fused", "route" or "ensemble".
func (m *Model) SetInference(mode string) error {
	switch mode {
	case "fused":
	case "route", "ensemble":
		if !m.loaded.Model.HasAux() {
			return fmt.Errorf("inference mode %q needs auxiliary heads, and the model in %s has none (train with model.aux_heads.weight > 0, or use fused)", mode, m.loaded.Path)
		}
	default:
		return fmt.Errorf("inference mode %q is not supported (use fused, route or ensemble)", mode)
	}
	m.mu.Lock()
	m.pred.Mode = mode
	m.mu.Unlock()
	return nil
}

// Inference returns the inference mode in use.
func (m *Model) Inference() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.pred.Mode == "" {
		return "fused"
	}
	return m.pred.Mode
}

// Modalities returns the model's inputs in model order.
func (m *Model) Modalities() []Modality {
	out := make([]Modality, len(m.prep.Inputs))
	for i, in := range m.prep.Inputs {
		out[i] = Modality{Name: in.Name, Input: in.Kind, Shape: append([]int(nil), in.Shape...)}
	}
	return out
}

// Classes returns the class names; Prediction.Probs follows their order.
func (m *Model) Classes() []string { return append([]string(nil), m.loaded.Classes...) }

// HasVariance reports whether the model has a logvar head, i.e. whether
// Prediction.Variance is a number.
func (m *Model) HasVariance() bool { return m.loaded.Model.Spec().PME }

// ConfigYAML returns the resolved configuration the model was trained with.
func (m *Model) ConfigYAML() []byte { return append([]byte(nil), m.loaded.State.Config...) }

// Path is the checkpoint file the model was loaded from.
func (m *Model) Path() string { return m.loaded.Path }

// Final reports whether the model is a finished training's final model (false: the latest
// checkpoint of a run that has not finished).
func (m *Model) Final() bool { return m.loaded.Final }

// Warnings are what loading the model found worth telling a user, e.g. that the latest
// checkpoint of an unfinished run was damaged and the previous one is used (Path names it).
func (m *Model) Warnings() []string { return append([]string(nil), m.loaded.Warnings...) }

// Sample is one sample to score: per modality name, a row of raw numbers (for "vector"
// inputs, before standardisation, as in the training files) or a file path (for "image",
// "audio" and "npy" inputs). A modality that is not given is missing.
type Sample struct {
	ID      string
	Vectors map[string][]float64
	Files   map[string]string
}

// Prediction is the model's answer for one sample.
type Prediction struct {
	ID string
	// Present names the sample's modalities, in model order.
	Present []string
	// Class is the predicted class's name and ClassIndex its index in Classes().
	Class      string
	ClassIndex int
	// Probs is the probability of every class, in the order of Classes(): the softmax of
	// the fused logits, of a modality's auxiliary head (route inference, one modality), or
	// the normalised weighted geometric mean of the fused and auxiliary distributions
	// (ensemble inference).
	Probs []float64
	// Variance is the mean predicted variance sigma^2 of the embedding (NaN for a model
	// without a logvar head); Entropy is the entropy of Probs in nats.
	Variance float64
	Entropy  float64
	// Err is set when the sample could not be scored (then only ID and Present are set).
	Err error
}

// MaxProbUncertainty is 1 - the largest class probability.
func (p Prediction) MaxProbUncertainty() float64 {
	mx := 0.0
	for _, v := range p.Probs {
		mx = math.Max(mx, v)
	}
	return 1 - mx
}

// SampleError reports the first sample that could not be scored.
type SampleError struct {
	// Index is the sample's position in the Predict call and ID its ID.
	Index int
	ID    string
	Err   error
}

func (e *SampleError) Error() string {
	if e.ID != "" {
		return fmt.Sprintf("sample %d (id %s): %v", e.Index+1, e.ID, e.Err)
	}
	return fmt.Sprintf("sample %d: %v", e.Index+1, e.Err)
}

func (e *SampleError) Unwrap() error { return e.Err }

// Predict scores samples, in batches of the model's batch size. It returns one Prediction
// per sample, in order. When some samples cannot be scored (an unknown modality name, no
// modality at all, a value that is not finite, a row of the wrong width, an unreadable
// file), their Predictions carry Err, the others are complete, and the returned error is a
// *SampleError for the first of them. Other errors (ctx cancelled) return no predictions.
func (m *Model) Predict(ctx context.Context, samples []Sample) ([]Prediction, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Prediction, len(samples))
	var first *SampleError
	n := m.pred.BatchSize()
	for lo := 0; lo < len(samples); lo += n {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := m.predictBatch(samples[lo:min(lo+n, len(samples))], out[lo:]); err != nil {
			return nil, err
		}
	}
	for i := range out {
		if out[i].Err != nil {
			first = &SampleError{Index: i, ID: out[i].ID, Err: out[i].Err}
			break
		}
	}
	if first != nil {
		return out, first
	}
	return out, nil
}

func (m *Model) predictBatch(samples []Sample, out []Prediction) error {
	raw := make([]dataset.RawSample, len(samples))
	bad := make([]error, len(samples))
	names := m.prep.Names()
	for i, s := range samples {
		out[i] = Prediction{ID: s.ID}
		r := dataset.RawSample{Vectors: make([][]float64, len(names)), Files: make([]string, len(names))}
		for name, v := range s.Vectors {
			k := m.prep.Index(name)
			if k < 0 {
				bad[i] = m.unknown(name)
				continue
			}
			if v == nil {
				v = []float64{} // given but empty: a width error, not a missing modality
			}
			r.Vectors[k] = v
		}
		for name, f := range s.Files {
			k := m.prep.Index(name)
			if k < 0 {
				bad[i] = m.unknown(name)
				continue
			}
			if r.Vectors[k] != nil {
				bad[i] = fmt.Errorf("modality %q is given both as numbers and as a file (give one of them)", name)
			}
			r.Files[k] = f
		}
		raw[i] = r
	}
	x, avail, errs := m.prep.Decode(raw, m.x)
	m.x = x
	bt := &model.Batch{X: make([][]float32, len(names))}
	var rows []int
	for i := range samples {
		out[i].Present = presentNames(names, avail[i])
		if bad[i] != nil {
			out[i].Err = bad[i]
		} else if errs[i] != nil {
			out[i].Err = errs[i]
		}
		if out[i].Err == nil {
			rows = append(rows, i)
			bt.Present = append(bt.Present, avail[i])
		}
	}
	if len(rows) == 0 {
		return nil
	}
	for k, in := range m.prep.Inputs {
		bt.X[k] = dataset.Gather(x[k], in.Size(), rows, nil)
	}
	res, err := m.pred.Run(bt)
	if err != nil {
		return err
	}
	for j, i := range rows {
		r := res[j]
		out[i].ClassIndex, out[i].Class = r.Pred, m.loaded.Classes[r.Pred]
		out[i].Probs, out[i].Variance, out[i].Entropy = r.Probs, r.Variance, r.Entropy
	}
	return nil
}

func (m *Model) unknown(name string) error {
	names := m.prep.Names()
	sort.Strings(names)
	return fmt.Errorf("unknown modality %q (the model's modalities are %s)", name, strings.Join(names, ", "))
}

func presentNames(names []string, s combo.Set) []string {
	out := []string{}
	for m, n := range names {
		if s.Has(m) {
			out = append(out, n)
		}
	}
	return out
}
