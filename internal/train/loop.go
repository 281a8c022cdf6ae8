package train

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/dmrnet/dmrnet/internal/atomicfile"
	"github.com/dmrnet/dmrnet/internal/checkpoint"
	"github.com/dmrnet/dmrnet/internal/combo"
	"github.com/dmrnet/dmrnet/internal/config"
	"github.com/dmrnet/dmrnet/internal/dataset"
	"github.com/dmrnet/dmrnet/internal/evaluate"
	"github.com/dmrnet/dmrnet/internal/hardset"
	"github.com/dmrnet/dmrnet/internal/model"
	"github.com/dmrnet/dmrnet/internal/optim"
	"github.com/dmrnet/dmrnet/internal/report"
)

// ErrInterrupted is returned when training stops on a cancelled context; the state at that
// point is in the run directory's checkpoint.
var ErrInterrupted = errors.New("interrupted")

// ErrDiverged is returned when the loss becomes NaN, infinite or larger than train.max_loss.
var ErrDiverged = errors.New("loss diverged")

// EpochStats is the summary of one epoch, as written to metrics.jsonl.
type EpochStats struct {
	Epoch int     `json:"epoch"` // 1-based
	Loss  float64 `json:"loss"`
	CE    float64 `json:"ce"`
	KL    float64 `json:"kl"`
	HCR   float64 `json:"hcr"`
	// Aux is the auxiliary heads' cross-entropy (0 without them).
	Aux      float64 `json:"aux,omitempty"`
	TrainAcc float64 `json:"train_acc"`
	LR       float64 `json:"lr"`
	Seconds  float64 `json:"seconds"`
	// ValAccuracy is the validation accuracy averaged over combinations (with validation).
	ValAccuracy *float64 `json:"val_mean_accuracy,omitempty"`
	// HardSet is set in the epoch whose end chose H.
	HardSet []string `json:"hard_set,omitempty"`
	// Stop is set on the run's last epoch only: why training stopped there and which
	// epoch's weights final.ckpt keeps.
	Stop *StopInfo `json:"stop,omitempty"`
}

// Reasons training stops.
const (
	StopEpochs   = "epochs"   // train.epochs reached
	StopPatience = "patience" // early stopping: no validation improvement for train.patience epochs
)

// StopInfo says why and where training stopped, as written in the "stop" field of
// metrics.jsonl's last line.
type StopInfo struct {
	// Reason is StopEpochs or StopPatience.
	Reason string `json:"reason"`
	// Epoch is the last epoch trained (1-based); Epochs is train.epochs.
	Epoch  int `json:"epoch"`
	Epochs int `json:"epochs"`
	// Patience is train.patience (0: no early stopping).
	Patience int `json:"patience,omitempty"`
	// BestEpoch is the epoch with the best validation mean accuracy (0 without validation),
	// BestScore that accuracy.
	BestEpoch int     `json:"best_epoch,omitempty"`
	BestScore float64 `json:"best_val_mean_accuracy,omitempty"`
	// KeptEpoch is the epoch whose weights final.ckpt holds: BestEpoch with
	// train.select_best, Epoch otherwise.
	KeptEpoch int `json:"kept_epoch"`
	// SelectBest is train.select_best.
	SelectBest bool `json:"select_best,omitempty"`
}

// EarlyStopped reports whether training stopped before train.epochs.
func (s *StopInfo) EarlyStopped() bool { return s != nil && s.Reason == StopPatience }

// Hooks let callers observe training without the loop knowing about terminals.
type Hooks struct {
	// OnStart is called once with the total number of steps left.
	OnStart func(totalSteps int)
	// OnStep is called after every optimiser step.
	OnStep func(epoch, step, steps int, loss float64)
	// OnEpoch is called after each epoch with its summary.
	OnEpoch func(s EpochStats, epochs int)
	// OnHardSet is called when H is chosen, with every combination's statistics.
	OnHardSet func(epoch int, h []string, stats []hardset.Stat)
}

// Trainer trains one run.
type Trainer struct {
	cfg     *config.Config
	cfgYAML []byte
	dir     string
	data    *dataset.Dataset
	space   *combo.Space
	model   *model.Model
	opt     optim.Optimizer
	sched   optim.Schedule
	rng     *rngStreams
	graphs  map[int]*model.TrainGraph
	eval    *evaluate.Evaluator
	dropW   []float64 // explicit dropout: cumulative weights over dropSets
	dropS   []combo.Set
	// absent are the modalities the model has no encoder for (see unusedModalities).
	absent  []string
	st      State
	hooks   Hooks
	Now     func() time.Time
	resumed bool
	// saved is the training position of the state in the run's checkpoint.ckpt, which the
	// next checkpoint preserves as checkpoint-<epoch>-<step>.ckpt; nil when there is none,
	// or when it is damaged.
	saved *position
	// wroteCheckpoint is set once this session has written checkpoint.ckpt.
	wroteCheckpoint bool
	// replace, aside and restored follow a replacement of a previous run (see Replace).
	replace  bool
	aside    string
	restored bool
	// LoadSeconds is the time spent reading and preprocessing the data, fingerprint included.
	LoadSeconds float64
	// ResumedFrom is the checkpoint file a resumed run continues from: checkpoint.ckpt, or an
	// earlier checkpoint when that is damaged.
	ResumedFrom string
	// Warnings are what the caller should tell the user: a damaged newest checkpoint that
	// was replaced by an earlier one, data that changed since training
	// (ResumeOptions.AllowDataChange).
	Warnings []string
	// StaleRemoved are the temporary files of interrupted writes that the run's start removed
	// from the run directory.
	StaleRemoved []string
}

// New prepares a fresh run of cfg into cfg.Out. It refuses a directory that already holds a
// checkpoint of another run, so results are never silently overwritten (Replace replaces
// one). The caller should hold the run directory's lock (package runlock) from New until the
// last file is written.
func New(cfg *config.Config, hooks Hooks) (*Trainer, error) {
	if err := Device(cfg.Train.Device); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(cfg.Out, CheckpointFile)); err == nil {
		return nil, fmt.Errorf("run directory %s already holds a run (resume it with --resume %s, or choose another --out)", cfg.Out, cfg.Out)
	}
	return fresh(cfg, hooks)
}

// fresh reads the data and builds a freshly initialised trainer of cfg with its provenance,
// and removes stale temporary files from the run directory (New and Replace).
func fresh(cfg *config.Config, hooks Hooks) (*Trainer, error) {
	t, err := loadTrainer(cfg, nil, hooks)
	if err != nil {
		return nil, err
	}
	fp, err := t.fingerprint()
	if err != nil {
		return nil, err
	}
	t.st.Provenance = newProvenance(fp)
	t.model.Init(rand.New(t.rng.init))
	if t.StaleRemoved, err = RemoveStaleTemps(cfg.Out); err != nil {
		return nil, err
	}
	return t, nil
}

// ResumeOptions adjust ResumeWith.
type ResumeOptions struct {
	// AllowDataChange continues on data whose fingerprint differs from the one recorded in
	// the checkpoint, with a warning and a note in the provenance, instead of refusing.
	AllowDataChange bool
}

// Resume continues the run in dir. The saved configuration is used; overrides (e.g. more
// epochs) may be given as sets, which take precedence over the saved values. Data that
// differs from the fingerprint the checkpoint records is refused (ErrDataChanged).
func Resume(dir string, sets []string, hooks Hooks) (*Trainer, error) {
	return ResumeWith(dir, sets, hooks, ResumeOptions{})
}

// ResumeWith is Resume with options. When the run's checkpoint.ckpt is damaged, it continues
// from the newest intact earlier checkpoint (ResumedFrom, Warnings).
func ResumeWith(dir string, sets []string, hooks Hooks, o ResumeOptions) (*Trainer, error) {
	path := filepath.Join(dir, CheckpointFile)
	stp, used, warning, err := loadState(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s: %w to resume (start a run with dmrnet train --config FILE --out %s)", dir, ErrNoCheckpoint, dir)
		}
		return nil, err
	}
	st := *stp
	cfg, err := config.FromYAML(st.Config, used, sets...)
	if err != nil {
		return nil, err
	}
	cfg.Out = dir
	if err := Device(cfg.Train.Device); err != nil {
		return nil, err
	}
	// the data is checked against the checkpoint's fingerprint before it is read, so that a
	// changed file is reported as such rather than by what the change breaks
	start := time.Now()
	fp, err := Fingerprint(cfg)
	if err != nil {
		return nil, err
	}
	prov, dataWarning, err := resumedProvenance(st.Provenance, fp, cfg.Data.Root, used, st.Epoch, st.Step, o.AllowDataChange)
	if err != nil {
		return nil, err
	}
	fpSeconds := time.Since(start).Seconds()
	t, err := loadTrainer(cfg, st.Norms, hooks)
	if err != nil {
		return nil, err
	}
	t.LoadSeconds += fpSeconds
	st.Provenance = prov
	for _, w := range []string{warning, dataWarning} {
		if w != "" {
			t.Warnings = append(t.Warnings, w)
		}
	}
	// the checkpoint's architecture: a run saved before absent modalities were left out (or
	// with fewer left out) keeps all its encoders
	if !slices.Equal(st.Absent, t.absent) {
		if err := checkAbsent(st.Absent, t.absent); err != nil {
			return nil, fmt.Errorf("%s: %w", used, err)
		}
		if err := t.buildModel(st.Absent); err != nil {
			return nil, err
		}
	}
	if st.Perm != nil && len(st.Perm) != t.data.Train.Len() {
		return nil, fmt.Errorf("%s: the checkpoint's epoch order has %d samples, the training split %d (the training data changed since the checkpoint: restore it, or start over with --force)", used, len(st.Perm), t.data.Train.Len())
	}
	if err := restoreModel(&st, t.model); err != nil {
		return nil, fmt.Errorf("%s: %w", used, err)
	}
	if err := restoreOptimizer(&st, t.opt); err != nil {
		return nil, fmt.Errorf("%s: %w", used, err)
	}
	if err := t.rng.unmarshal(st.RNG); err != nil {
		return nil, fmt.Errorf("%s: %w", used, err)
	}
	if st.Done && st.Epoch < cfg.Train.Epochs && (cfg.Train.Patience == 0 || st.Stale < cfg.Train.Patience) {
		st.Done = false // more epochs were asked for
	}
	t.st = st
	t.resumed = true
	t.ResumedFrom = used
	if used == path {
		t.saved = &position{st.Epoch, st.Step}
	}
	if t.StaleRemoved, err = RemoveStaleTemps(dir); err != nil {
		return nil, err
	}
	return t, nil
}

// fingerprint computes the fingerprint of the trainer's data, timed into LoadSeconds.
func (t *Trainer) fingerprint() (*DataFingerprint, error) {
	start := time.Now()
	fp, err := Fingerprint(t.cfg)
	t.LoadSeconds += time.Since(start).Seconds()
	return fp, err
}

// resumedProvenance checks the data's fingerprint fp (read from root) against the provenance
// recorded in the checkpoint file (nil in older checkpoints: nothing to check), and returns
// the provenance the resumed run records: this build and fp, with notes of what differed
// from earlier sessions, and a warning when changed data is allowed.
func resumedProvenance(old *Provenance, fp *DataFingerprint, root, file string, epoch, step int, allow bool) (*Provenance, string, error) {
	p := newProvenance(fp)
	if old == nil {
		return p, "", nil
	}
	p.Notes = append(p.Notes, old.Notes...)
	if old.Dmrnet != p.Dmrnet {
		p.Notes = append(p.Notes, fmt.Sprintf("the epochs before epoch %d, step %d were trained by %s", epoch+1, step, old.Dmrnet))
	}
	err := checkData(old.Data, fp, root, file)
	if err == nil {
		return p, "", nil
	}
	var dc *DataChangedError
	if !allow || !errors.As(err, &dc) {
		return nil, "", err
	}
	p.Notes = append(p.Notes, fmt.Sprintf("resumed after epoch %d, step %d, on changed data (--allow-data-change): %s", epoch, step, dc.summary()))
	return p, "continuing on changed data (--allow-data-change): " + dc.summary(), nil
}

// loadTrainer reads the data (applying stored norms, if any) and builds a trainer.
func loadTrainer(cfg *config.Config, norms []dataset.Norm, hooks Hooks) (*Trainer, error) {
	start := time.Now()
	data, err := LoadData(cfg, norms)
	if err != nil {
		return nil, err
	}
	t, err := newTrainer(cfg, data, hooks)
	if err != nil {
		return nil, err
	}
	t.LoadSeconds = time.Since(start).Seconds()
	return t, nil
}

func newTrainer(cfg *config.Config, data *dataset.Dataset, hooks Hooks) (*Trainer, error) {
	space, err := combo.NewSpace(data.Names())
	if err != nil {
		return nil, err
	}
	yml, err := cfg.YAML()
	if err != nil {
		return nil, err
	}
	rng := newStreams(cfg.Train.Seed)
	opt, sched, err := newOptimizer(cfg)
	if err != nil {
		return nil, err
	}
	t := &Trainer{cfg: cfg, cfgYAML: yml, dir: cfg.Out, data: data, space: space, opt: opt,
		sched: sched, rng: rng, hooks: hooks, Now: time.Now}
	if cfg.Dropout.Mode == "explicit" {
		var cum float64
		for _, s := range space.All() {
			if w, ok := cfg.Dropout.Probs[space.Name(s)]; ok && w > 0 {
				cum += w
				t.dropS = append(t.dropS, s)
				t.dropW = append(t.dropW, cum)
			}
		}
		if cum <= 0 {
			return nil, fmt.Errorf("dropout.probs gives no combination a positive weight")
		}
	}
	if err := t.buildModel(t.unusedModalities()); err != nil {
		return nil, err
	}
	return t, nil
}

// buildModel builds the trainer's model, without encoders for the absent modalities, and its
// evaluator.
func (t *Trainer) buildModel(absent []string) error {
	m, err := model.New(withAbsent(ModelSpec(t.cfg, t.data), absent), rand.New(rand.NewPCG(0, 0)))
	if err != nil {
		return err
	}
	ev, err := NewEvaluator(t.cfg, m, t.data)
	if err != nil {
		return err
	}
	t.model, t.eval, t.absent = m, ev, absent
	t.graphs = map[int]*model.TrainGraph{}
	return nil
}

// Model returns the model being trained.
func (t *Trainer) Model() *model.Model { return t.model }

// Config returns the run's resolved configuration.
func (t *Trainer) Config() *config.Config { return t.cfg }

// Data returns the run's data set.
func (t *Trainer) Data() *dataset.Dataset { return t.data }

// State returns the training state (epoch, hard set, ...).
func (t *Trainer) State() *State { return &t.st }

// batches splits n samples into batch bounds of size b; the last partial batch is kept, and
// a remainder of one sample (BatchNorm cannot normalise a single sample) joins the batch
// before it.
func batches(n, b int) [][2]int {
	var out [][2]int
	for lo := 0; lo < n; lo += b {
		out = append(out, [2]int{lo, min(lo+b, n)})
	}
	if k := len(out); k > 1 && out[k-1][1]-out[k-1][0] == 1 {
		out[k-2][1] = n
		out = out[:k-1]
	}
	return out
}

func (t *Trainer) graph(n int) (*model.TrainGraph, error) {
	if g, ok := t.graphs[n]; ok {
		return g, nil
	}
	g, err := t.model.NewTrainGraph(n, model.LossWeights{Alpha: t.cfg.Loss.Alpha, Beta: t.cfg.Loss.Beta})
	if err != nil {
		return nil, err
	}
	t.graphs[n] = g
	return g, nil
}

// drawCombination draws a sample's training combination, intersected with what the sample
// really has; if nothing remains, the sample trains on all it has.
func (t *Trainer) drawCombination(rng *rand.Rand, avail combo.Set) combo.Set {
	var c combo.Set
	switch t.cfg.Dropout.Mode {
	case "none":
		c = t.space.Full()
	case "explicit":
		u := rng.Float64() * t.dropW[len(t.dropW)-1]
		c = t.dropS[len(t.dropS)-1]
		for i, w := range t.dropW {
			if u < w {
				c = t.dropS[i]
				break
			}
		}
	default:
		c = combo.Set(1 + rng.IntN(int(t.space.Full())))
	}
	if c&avail == 0 {
		return avail
	}
	return c & avail
}

// Run trains until the configured number of epochs, early stopping, or ctx's cancellation
// (then the state is checkpointed and ErrInterrupted returned). A run made by Replace first
// sets the previous run aside and puts it back if it fails before its first checkpoint.
func (t *Trainer) Run(ctx context.Context) error {
	if err := os.MkdirAll(t.dir, 0o755); err != nil {
		return fmt.Errorf("%s: cannot create the run directory: %w", t.dir, err)
	}
	if err := t.beginReplace(); err != nil {
		return err
	}
	return t.endReplace(t.run(ctx))
}

func (t *Trainer) run(ctx context.Context) error {
	if err := t.writeConfig(); err != nil {
		return err
	}
	if err := writeJSON(filepath.Join(t.dir, ProvenanceFile), t.st.Provenance); err != nil {
		return err
	}
	// A fresh run (epoch 0) keeps no line of an earlier one that never wrote a checkpoint.
	if err := trimMetrics(filepath.Join(t.dir, MetricsFile), t.st.Epoch, !t.st.Done); err != nil {
		return err
	}
	cfg := t.cfg
	train := t.data.Train
	bounds := batches(train.Len(), cfg.Train.BatchSize)
	if t.hooks.OnStart != nil && !t.st.Done {
		t.hooks.OnStart((cfg.Train.Epochs-t.st.Epoch)*len(bounds) - t.st.Step)
	}
	shuffle, drop, noise := rand.New(t.rng.shuffle), rand.New(t.rng.dropout), rand.New(t.rng.noise)
	spec := t.model.Spec()
	bt := &model.Batch{X: make([][]float32, len(t.data.Modalities))}
	warm := cfg.Hard.WarmupEpochs
	var feed *dataset.Batches
	defer func() { feed.Close() }()
	for !t.st.Done && t.st.Epoch < cfg.Train.Epochs {
		epoch := t.st.Epoch
		if t.st.Perm == nil {
			t.st.Perm = shuffle.Perm(train.Len())
			t.st.Acc = EpochAcc{}
		}
		// the epoch's remaining batches, decoded ahead when the data is streamed
		plan := make([][]int, 0, len(bounds)-t.st.Step)
		for _, b := range bounds[t.st.Step:] {
			plan = append(plan, t.st.Perm[b[0]:b[1]])
		}
		feed = train.Batches(t.data.Modalities, plan)
		lr, err := t.sched.LR(epoch)
		if err != nil {
			return err
		}
		soft := cfg.Hard.By == "soft"
		useHCR := !soft && epoch >= warm && cfg.Loss.Beta > 0 && t.st.HardChosen
		useSoft := soft && epoch >= warm && t.st.SoftW != nil
		mine := epoch < warm || cfg.Hard.Mode == "every-epoch" || soft
		for ; t.st.Step < len(bounds); t.st.Step++ {
			if ctx.Err() != nil {
				if t.aside != "" {
					// A replacement interrupted before the new run's first epoch ended:
					// Run puts the previous run back rather than keep a sliver of the new one.
					return ErrInterrupted
				}
				if err := t.save(CheckpointFile); err != nil {
					return fmt.Errorf("%w (saving the checkpoint failed too: %v)", ErrInterrupted, err)
				}
				return ErrInterrupted
			}
			start := t.Now()
			b := bounds[t.st.Step]
			idx := t.st.Perm[b[0]:b[1]]
			n := len(idx)
			if bt.X, err = feed.Next(bt.X); err != nil {
				return err
			}
			bt.Y = bt.Y[:0]
			bt.Present = bt.Present[:0]
			bt.Hard = bt.Hard[:0]
			bt.Weight = bt.Weight[:0]
			for _, j := range idx {
				c := t.drawCombination(drop, train.AvailOf(j, t.space.M()))
				bt.Y = append(bt.Y, train.Y[j])
				bt.Present = append(bt.Present, c)
				bt.Hard = append(bt.Hard, useHCR && hardset.Contains(t.st.Hard, c))
				w := 1.0
				if useSoft {
					if sw, ok := t.st.SoftW[c]; ok {
						w = sw
					}
				}
				bt.Weight = append(bt.Weight, w)
			}
			bt.Noise = nil
			if spec.PME {
				bt.Noise = make([]float64, n*spec.Latent)
				for i := range bt.Noise {
					bt.Noise[i] = noise.NormFloat64()
				}
			}
			g, err := t.graph(n)
			if err != nil {
				return err
			}
			res, err := g.Step(bt)
			if err != nil {
				return err
			}
			if math.IsNaN(res.Loss) || math.IsInf(res.Loss, 0) || res.Loss > cfg.Train.MaxLoss {
				return t.diverged(epoch, res.Loss, lr)
			}
			if err := t.opt.Step(t.vars(g), lr); err != nil {
				return err
			}
			acc := &t.st.Acc
			fn := float64(n)
			acc.Loss += res.Loss * fn
			acc.CE += res.CE * fn
			acc.KL += res.KL * fn
			acc.HCR += res.HCR * fn
			acc.Aux += res.Aux * fn
			acc.N += n
			for i, p := range res.Pred {
				if p == bt.Y[i] {
					acc.Correct++
				}
				if mine {
					t.st.Miner.Add(bt.Present[i], res.VarPerSample[i], res.CEPerSample[i])
				}
			}
			dt := t.Now().Sub(start).Seconds()
			acc.Seconds += dt
			t.st.Seconds += dt
			if t.hooks.OnStep != nil {
				t.hooks.OnStep(epoch, t.st.Step, len(bounds), res.Loss)
			}
		}
		feed.Close()
		if err := t.endEpoch(epoch, lr); err != nil {
			return err
		}
	}
	return t.finish()
}

// writeConfig writes config.yaml. When that changes the configuration of a run with results
// (a finished run resumed for more epochs), sweep.json is removed first: it describes the
// old configuration, and aggregate reads the two files as a pair.
func (t *Trainer) writeConfig() error {
	path := filepath.Join(t.dir, ConfigFile)
	old, err := os.ReadFile(path)
	if err == nil && bytes.Equal(old, t.cfgYAML) {
		return nil
	}
	if err := os.Remove(filepath.Join(t.dir, SweepFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%s: cannot remove the results of the previous configuration: %w", t.dir, err)
	}
	return atomicfile.WriteFile(path, t.cfgYAML, 0o644)
}

// diverged is the error of a loss that is NaN, infinite or above train.max_loss. Its hint
// depends on whether the run has a checkpoint to continue from.
func (t *Trainer) diverged(epoch int, loss, lr float64) error {
	fix := fmt.Sprintf("lower optim.lr, now %g, or raise train.max_loss, now %g", lr, t.cfg.Train.MaxLoss)
	if !t.wroteCheckpoint && !t.resumed {
		return fmt.Errorf("%w at epoch %d, step %d: loss %g, before the run's first checkpoint, so there is none to keep (%s, and train again)",
			ErrDiverged, epoch+1, t.st.Step+1, loss, fix)
	}
	return fmt.Errorf("%w at epoch %d, step %d: loss %g (%s, then continue from the last good checkpoint with dmrnet train --resume %s --set optim.lr=...)",
		ErrDiverged, epoch+1, t.st.Step+1, loss, fix, t.dir)
}

func (t *Trainer) vars(g *model.TrainGraph) []optim.Var {
	grads := g.Grads()
	params := t.model.Params()
	out := make([]optim.Var, len(params))
	for i, p := range params {
		out[i] = optim.Var{Name: p.Name, Value: p.Data(), Grad: grads[i], Decay: p.Decay}
	}
	return out
}

func (t *Trainer) endEpoch(epoch int, lr float64) error {
	cfg := t.cfg
	acc := t.st.Acc
	fn := float64(acc.N)
	s := EpochStats{Epoch: epoch + 1, Loss: acc.Loss / fn, CE: acc.CE / fn, KL: acc.KL / fn, HCR: acc.HCR / fn, Aux: acc.Aux / fn,
		TrainAcc: float64(acc.Correct) / fn, LR: lr, Seconds: acc.Seconds}
	warm := cfg.Hard.WarmupEpochs
	switch {
	case cfg.Hard.By == "soft":
		if err := t.updateSoft(epoch); err != nil {
			return err
		}
	case epoch == warm-1 || (cfg.Hard.Mode == "every-epoch" && epoch >= warm):
		if err := t.chooseHard(epoch, &s); err != nil {
			return err
		}
	}
	t.st.Epoch = epoch + 1
	t.st.Step = 0
	t.st.Perm = nil
	improved := false
	if t.data.Val != nil {
		t.eval.SkipProtocol = true
		sw, err := t.eval.Sweep(t.data.Val)
		t.eval.SkipProtocol = false
		if err != nil {
			return err
		}
		v := sw.MeanAccuracy
		s.ValAccuracy = &v
		if t.st.BestEpoch == 0 || v > t.st.BestScore {
			t.st.BestScore, t.st.BestEpoch, t.st.Stale = v, epoch+1, 0
			improved = true
		} else {
			t.st.Stale++
		}
		if cfg.Train.Patience > 0 && t.st.Stale >= cfg.Train.Patience {
			t.st.Done = true
		}
	}
	if t.st.Done || t.st.Epoch >= cfg.Train.Epochs {
		reason := StopEpochs
		if t.st.Epoch < cfg.Train.Epochs {
			reason = StopPatience
		}
		t.st.Done = true
		stop := &StopInfo{Reason: reason, Epoch: t.st.Epoch, Epochs: cfg.Train.Epochs, Patience: cfg.Train.Patience,
			BestEpoch: t.st.BestEpoch, KeptEpoch: t.st.Epoch, SelectBest: cfg.Train.SelectBest}
		if t.st.BestEpoch > 0 {
			stop.BestScore = t.st.BestScore
			if cfg.Train.SelectBest {
				stop.KeptEpoch = t.st.BestEpoch // finish copies best.ckpt to final.ckpt
			}
		}
		s.Stop = stop
	}
	if err := appendMetrics(filepath.Join(t.dir, MetricsFile), s); err != nil {
		return err
	}
	if err := t.save(CheckpointFile); err != nil {
		return err
	}
	if improved && cfg.Train.SelectBest {
		if err := t.save(BestFile); err != nil {
			return err
		}
	}
	if t.hooks.OnEpoch != nil {
		t.hooks.OnEpoch(s, cfg.Train.Epochs)
	}
	return nil
}

// HardSetReport is the content of hardset.json.
type HardSetReport struct {
	By           string         `json:"by"`
	K            int            `json:"k"`
	Mode         string         `json:"mode"`
	Epoch        int            `json:"epoch"` // 1-based epoch whose end chose H
	Applied      bool           `json:"applied"`
	HardSet      []string       `json:"hard_set"`
	Combinations []hardset.Stat `json:"combinations"`
}

func (t *Trainer) chooseHard(epoch int, s *EpochStats) error {
	cfg := t.cfg
	stats := t.st.Miner.Stats(t.space)
	if len(stats) == 0 {
		return nil
	}
	h, err := hardset.Select(stats, cfg.KFor(t.space.M()), cfg.Hard.By)
	if err != nil {
		return err
	}
	t.st.Hard, t.st.HardChosen = h, true
	t.st.Miner.Reset()
	names := make([]string, len(h))
	for i, c := range h {
		names[i] = t.space.Name(c)
	}
	for i := range stats {
		stats[i].Hard = hardset.Contains(h, stats[i].Set)
	}
	s.HardSet = names
	rep := HardSetReport{By: cfg.Hard.By, K: cfg.KFor(t.space.M()), Mode: cfg.Hard.Mode, Epoch: epoch + 1,
		Applied: cfg.Loss.Beta > 0, HardSet: names, Combinations: stats}
	if err := writeJSON(filepath.Join(t.dir, HardSetFile), rep); err != nil {
		return err
	}
	if t.hooks.OnHardSet != nil {
		t.hooks.OnHardSet(epoch, names, stats)
	}
	return nil
}

// softDecay is the weight of the old value in hard.by=soft's running mean: r <- 0.8 r + 0.2 m.
const softDecay = 0.8

// updateSoft folds the epoch's mean cross-entropy per combination into the running means r_c
// (r_c = m_c after the first epoch), derives the next epoch's weights w_c = r_c / mean(r), and
// logs both in hardset.json.
func (t *Trainer) updateSoft(epoch int) error {
	stats := t.st.Miner.Stats(t.space)
	t.st.Miner.Reset()
	m := make(map[combo.Set]float64, len(stats))
	for _, st := range stats {
		m[st.Set] = st.MeanCE
	}
	t.st.SoftR = foldSoft(t.st.SoftR, m, epoch == 0)
	t.st.SoftW = softWeights(t.st.SoftR)
	rep := SoftReport{Epoch: epoch + 1, AppliedFrom: t.cfg.Hard.WarmupEpochs + 1}
	for _, s := range t.space.All() {
		r, ok := t.st.SoftR[s]
		if !ok {
			continue
		}
		w := t.st.SoftW[s]
		rep.Combinations = append(rep.Combinations, SoftStat{Name: t.space.Name(s), RunningCE: r, Weight: w})
	}
	return writeJSON(filepath.Join(t.dir, HardSetFile), rep)
}

// foldSoft returns the running mean cross-entropies after an epoch whose mean per-sample
// cross-entropy of combination c was m[c]: r_c = m_c for a combination seen for the first
// time or after the first epoch, r_c <- 0.8 r_c + 0.2 m_c for the others drawn in the epoch,
// and r_c unchanged for those not drawn. r is not modified.
func foldSoft(r, m map[combo.Set]float64, first bool) map[combo.Set]float64 {
	out := make(map[combo.Set]float64, max(len(r), len(m)))
	for c, v := range r {
		out[c] = v
	}
	for c, mc := range m {
		if old, ok := out[c]; ok && !first {
			out[c] = softDecay*old + (1-softDecay)*mc
		} else {
			out[c] = mc
		}
	}
	return out
}

// softWeights returns w_c = r_c / mean over c' of r_c', or 1 for every combination when the
// mean is not positive.
func softWeights(r map[combo.Set]float64) map[combo.Set]float64 {
	// Sum in a fixed order: map order varies between runs and float addition is not
	// associative, and the same seed must give the same numbers.
	var mean float64
	for _, c := range slices.Sorted(maps.Keys(r)) {
		mean += r[c]
	}
	if len(r) > 0 {
		mean /= float64(len(r))
	}
	w := make(map[combo.Set]float64, len(r))
	for c, v := range r {
		w[c] = 1
		if mean > 0 {
			w[c] = v / mean
		}
	}
	return w
}

// SoftReport is hardset.json with hard.by=soft: the weights for the epochs after Epoch.
type SoftReport struct {
	Epoch        int        `json:"epoch"`
	AppliedFrom  int        `json:"applied_from_epoch"`
	Combinations []SoftStat `json:"combinations"`
}

// SoftStat is one combination's running cross-entropy and sample weight.
type SoftStat struct {
	Name      string  `json:"combination"`
	RunningCE float64 `json:"running_ce"`
	Weight    float64 `json:"weight"`
}

// save writes the training state as the run file name. The training checkpoint
// (checkpoint.ckpt) rotates: the one it replaces is kept as checkpoint-<epoch>-<step>.ckpt,
// and only the newest train.keep_checkpoints - 1 of those stay.
func (t *Trainer) save(name string) error {
	t.st.Config = t.cfgYAML
	t.st.Norms = t.data.Norms
	t.st.Modalities, t.st.Classes = t.data.Modalities, t.data.Classes
	t.st.Absent = t.absent
	if err := capture(&t.st, t.model, t.opt, t.rng); err != nil {
		return err
	}
	if name != CheckpointFile {
		return checkpoint.Save(filepath.Join(t.dir, name), &t.st)
	}
	keep := t.cfg.Train.KeepCheckpoints
	path := filepath.Join(t.dir, CheckpointFile)
	if keep > 1 && t.saved != nil {
		if err := atomicfile.Preserve(path, filepath.Join(t.dir, rotatedName(t.saved.epoch, t.saved.step))); err != nil {
			return err
		}
	}
	if err := checkpoint.Save(path, &t.st); err != nil {
		return err
	}
	now := position{t.st.Epoch, t.st.Step}
	t.saved = &now
	t.wroteCheckpoint = true
	if err := pruneRotated(t.dir, now, keep-1); err != nil {
		return err
	}
	// The new run has a checkpoint now: a previous run it replaces goes.
	return t.discardAside()
}

// pruneRotated keeps the newest n earlier checkpoints of dir that are not after now, the
// position of checkpoint.ckpt, and removes the others: older ones beyond n, and any after
// now, which belong to training that a resume from an earlier checkpoint abandoned.
func pruneRotated(dir string, now position, n int) error {
	files, err := rotatedFiles(dir)
	if err != nil {
		return fmt.Errorf("%s: %w", dir, err)
	}
	kept := 0
	for _, f := range files {
		if !now.before(f.pos) && kept < n {
			kept++
			continue
		}
		if err := os.Remove(filepath.Join(dir, f.name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove an old checkpoint: %w", err)
		}
	}
	return nil
}

// finish writes final.ckpt: the best validation state when train.select_best is set, the last
// state otherwise; the model in memory becomes that final model.
func (t *Trainer) finish() error {
	final := filepath.Join(t.dir, FinalFile)
	if t.cfg.Train.SelectBest && t.st.BestEpoch > 0 {
		var best State
		if err := checkpoint.Load(filepath.Join(t.dir, BestFile), &best); err != nil {
			return err
		}
		if err := restoreModel(&best, t.model); err != nil {
			return err
		}
		best.Done = true
		return checkpoint.Save(final, &best)
	}
	return t.save(FinalFile)
}

// Evaluate sweeps every combination of the final model on the test split, marks the hard set
// and writes sweep.json into the run directory.
func (t *Trainer) Evaluate() (*report.Sweep, error) {
	t.eval.Hard = t.st.Hard
	sw, err := t.eval.Sweep(t.data.Test)
	if err != nil {
		return nil, err
	}
	sw.Split = "test"
	sw.Checkpoint = filepath.Join(t.dir, FinalFile)
	if err := writeJSON(filepath.Join(t.dir, SweepFile), sw); err != nil {
		return nil, err
	}
	return sw, nil
}

func writeJSON(path string, v any) error {
	return atomicfile.Write(path, 0o644, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	})
}
