// Package train runs DMRNet training: per-epoch shuffling, modality dropout, the
// reparameterisation noise, hard-combination mining after warm-up, the optimiser and its
// schedule, validation with best-model selection and early stopping, and checkpoints from
// which a run resumes to exactly the numbers an uninterrupted run gives.
//
// A run directory holds:
//
//	config.yaml      the resolved configuration
//	checkpoint.ckpt  the latest training state (for --resume)
//	best.ckpt        the state at the best validation score (with validation)
//	final.ckpt       the model that training produced (what eval and sweep-missing use)
//	metrics.jsonl    one JSON line per epoch
//	hardset.json     the hard set and every combination's warm-up statistics
//	sweep.json       every combination's test metrics of the final model
package train

import (
	"fmt"
	"math/rand/v2"

	"github.com/dmrnet/dmrnet/internal/config"
	"github.com/dmrnet/dmrnet/internal/dataset"
	"github.com/dmrnet/dmrnet/internal/model"
	"github.com/dmrnet/dmrnet/internal/optim"
	"gorgonia.org/tensor"
)

// Files of a run directory.
const (
	ConfigFile     = "config.yaml"
	CheckpointFile = "checkpoint.ckpt"
	BestFile       = "best.ckpt"
	FinalFile      = "final.ckpt"
	MetricsFile    = "metrics.jsonl"
	HardSetFile    = "hardset.json"
	SweepFile      = "sweep.json"
)

// LoadData builds the data set a configuration describes, with its validation hold-out.
func LoadData(cfg *config.Config) (*dataset.Dataset, error) {
	var ds *dataset.Dataset
	switch cfg.Data.Kind {
	case "synthetic":
		s := cfg.Data.Synthetic
		spec := dataset.SyntheticSpec{Seed: uint64(s.Seed), Classes: s.Classes, ClassNames: s.ClassNames, Train: s.Train, Test: s.Test}
		for _, m := range s.Modalities {
			spec.Modalities = append(spec.Modalities, dataset.SyntheticModality{Name: m.Name, Dim: m.Dim, Signal: m.Signal})
		}
		var err error
		if ds, err = dataset.Synthetic(spec); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("data.kind %q is not supported (want synthetic)", cfg.Data.Kind)
	}
	if err := cfg.CheckModalities(ds.Names()); err != nil {
		return nil, err
	}
	ds.HoldOut(cfg.Data.ValFraction, uint64(cfg.Train.Seed))
	if err := ds.Validate(); err != nil {
		return nil, err
	}
	return ds, nil
}

// ModelSpec translates a configuration and the data set's modalities into an architecture.
func ModelSpec(cfg *config.Config, ds *dataset.Dataset) model.Spec {
	spec := model.Spec{
		Latent:     cfg.Model.Latent,
		Classes:    len(ds.Classes),
		PME:        cfg.Model.PME,
		DType:      tensor.Float32,
		BNMomentum: cfg.Model.BNMomentum,
		BNEps:      cfg.Model.BNEps,
	}
	if cfg.Model.DType == "float64" {
		spec.DType = tensor.Float64
	}
	for _, m := range ds.Modalities {
		enc := cfg.EncoderFor(m.Name)
		spec.Modalities = append(spec.Modalities, model.ModalitySpec{
			Name:       m.Name,
			InputShape: m.Shape,
			Encoder:    model.EncoderSpec{Type: enc.Type, Layers: enc.Layers},
		})
	}
	return spec
}

// newOptimizer builds the configured optimiser and schedule.
func newOptimizer(cfg *config.Config) (optim.Optimizer, optim.Schedule, error) {
	o := cfg.Optim
	sched := optim.Schedule{
		Name: cfg.Sched.Name, Base: o.LR, Warmup: cfg.Sched.WarmupEpochs,
		StepSize: cfg.Sched.StepSize, Gamma: cfg.Sched.Gamma, MinLR: cfg.Sched.MinLR, Epochs: cfg.Train.Epochs,
	}
	switch o.Name {
	case "adam":
		return &optim.Adam{Beta1: o.Beta1, Beta2: o.Beta2, Eps: o.Eps, WeightDecay: o.WeightDecay}, sched, nil
	case "sgd":
		return &optim.SGD{Momentum: o.Momentum, Nesterov: o.Nesterov, WeightDecay: o.WeightDecay}, sched, nil
	}
	return nil, sched, fmt.Errorf("optim.name %q is not supported (want adam or sgd)", o.Name)
}

// rngStreams are the independent, seeded random streams of a run. Keeping them apart means,
// for example, that the deterministic variant (which draws no noise) shuffles exactly like
// the probabilistic one.
type rngStreams struct {
	init, shuffle, dropout, noise *rand.PCG
}

func newStreams(seed int64) *rngStreams {
	s := uint64(seed)
	return &rngStreams{
		init:    rand.NewPCG(s, 1),
		shuffle: rand.NewPCG(s, 2),
		dropout: rand.NewPCG(s, 3),
		noise:   rand.NewPCG(s, 4),
	}
}

func (r *rngStreams) marshal() (map[string][]byte, error) {
	out := map[string][]byte{}
	for name, p := range r.byName() {
		b, err := p.MarshalBinary()
		if err != nil {
			return nil, err
		}
		out[name] = b
	}
	return out, nil
}

func (r *rngStreams) unmarshal(m map[string][]byte) error {
	for name, p := range r.byName() {
		b, ok := m[name]
		if !ok {
			return fmt.Errorf("checkpoint has no %s random state", name)
		}
		if err := p.UnmarshalBinary(b); err != nil {
			return fmt.Errorf("restore %s random state: %w", name, err)
		}
	}
	return nil
}

func (r *rngStreams) byName() map[string]*rand.PCG {
	return map[string]*rand.PCG{"init": r.init, "shuffle": r.shuffle, "dropout": r.dropout, "noise": r.noise}
}

// Device checks that the configured device is usable by this binary.
func Device(name string) error {
	switch name {
	case "cpu", "":
		return nil
	case "cuda":
		if model.CUDA {
			return nil
		}
		return fmt.Errorf("train.device=cuda, but this dmrnet was built without CUDA support (rebuild with -tags cuda on a machine with the CUDA toolkit, or use train.device=cpu)")
	}
	return fmt.Errorf("train.device %q is not supported (want cpu or cuda)", name)
}
