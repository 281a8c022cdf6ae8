// Package train runs DMRNet training: per-epoch shuffling, modality dropout, the
// reparameterisation noise, hard-combination mining after warm-up, the optimiser and its
// schedule, validation with best-model selection and early stopping, and checkpoints from
// which a run resumes to exactly the numbers an uninterrupted run gives.
//
// A run directory holds:
//
//	config.yaml                    the resolved configuration
//	provenance.json                the dmrnet build and the data fingerprint (see Provenance)
//	checkpoint.ckpt                the latest training state (for --resume)
//	checkpoint-<epoch>-<step>.ckpt earlier training states (train.keep_checkpoints - 1 of
//	                               them), the fallback when checkpoint.ckpt is damaged
//	best.ckpt                      the state at the best validation score (with validation)
//	final.ckpt                     the model that training produced (what eval and
//	                               sweep-missing use)
//	metrics.jsonl                  one JSON line per epoch
//	hardset.json                   the hard set and every combination's warm-up statistics
//	sweep.json                     every combination's test metrics of the final model
package train

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"

	"github.com/dmrnet/dmrnet/internal/audio"
	"github.com/dmrnet/dmrnet/internal/imageio"

	"github.com/dmrnet/dmrnet/internal/config"
	"github.com/dmrnet/dmrnet/internal/dataset"
	"github.com/dmrnet/dmrnet/internal/evaluate"
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

// LoadData builds the data set a configuration describes: it reads (or generates) the data,
// holds out the validation split and standardises the modalities that need it. With stored
// norms (from a checkpoint) those are applied instead of statistics of the training split,
// so evaluation transforms the data exactly as training did.
func LoadData(cfg *config.Config, stored []dataset.Norm) (*dataset.Dataset, error) {
	ds, std, err := readData(cfg)
	if err != nil {
		return nil, err
	}
	if err := cfg.CheckModalities(ds.Names()); err != nil {
		return nil, err
	}
	if cfg.Data.LiveClass >= len(ds.Classes) {
		return nil, &config.Error{Key: "data.live_class", Msg: fmt.Sprintf("data.live_class: %d is not a class of the data set, which has %d (set the index of the bona fide class)", cfg.Data.LiveClass, len(ds.Classes))}
	}
	if ds.Val != nil && cfg.Data.ValFraction > 0 {
		return nil, &config.Error{Key: "data.val_fraction", Msg: fmt.Sprintf("data.val_fraction: %g, but the data set has its own validation split (set data.val_fraction=0)", cfg.Data.ValFraction)}
	}
	ds.HoldOut(cfg.Data.ValFraction, uint64(cfg.Train.Seed))
	if err := ds.Standardize(std, stored); err != nil {
		return nil, err
	}
	if err := ds.Validate(); err != nil {
		return nil, err
	}
	return ds, nil
}

// dataPath resolves a data file name against data.root.
func dataPath(cfg *config.Config, name string) string {
	if name == "" || filepath.IsAbs(name) {
		return name
	}
	return filepath.Join(cfg.Data.Root, name)
}

// readData reads or generates the configured data set, through the on-disk cache when
// data.cache_dir is set. A manifest with data.stream is read without decoding its files
// (dataset.StreamManifest).
func readData(cfg *config.Config) (*dataset.Dataset, []dataset.StandardizeSpec, error) {
	if err := checkDataFiles(cfg); err != nil {
		return nil, nil, err
	}
	d := cfg.Data
	switch d.Kind {
	case "synthetic":
		ds, err := dataset.Synthetic(syntheticSpec(cfg))
		return ds, nil, err
	case "table":
		spec := tableSpec(cfg)
		files := tableFiles(spec)
		return cachedLoad(cfg, "table", spec, func() ([]string, error) { return files, nil }, func() (*dataset.Dataset, []dataset.StandardizeSpec, error) { return dataset.LoadTable(spec) })
	case "avmnist":
		a := d.AVMNIST
		spec := dataset.AVMNISTSpec{AudioDir: dataPath(cfg, a.Audio), MNISTDir: dataPath(cfg, a.MNIST), TestMaxTake: a.TestMaxTake, Mel: melSpec(a.Mel)}
		files := func() ([]string, error) { return dirFiles(spec.AudioDir, spec.MNISTDir) }
		return cachedLoad(cfg, "avmnist", spec, files, func() (*dataset.Dataset, []dataset.StandardizeSpec, error) { return dataset.LoadAVMNIST(spec) })
	case "manifest":
		mf := d.Manifest
		spec := dataset.ManifestSpec{Path: dataPath(cfg, mf.File), IDColumn: mf.IDColumn, LabelColumn: mf.LabelColumn,
			SplitColumn: mf.SplitColumn, ClassNames: mf.ClassNames, Modalities: manifestModalities(cfg),
			Root: cfg.Data.Root, AllowOutside: mf.AllowOutside}
		if d.Stream {
			// config validation refuses data.cache_dir with data.stream
			return dataset.StreamManifest(spec, dataset.StreamOptions{Prefetch: d.Prefetch})
		}
		files := func() ([]string, error) { return dirFiles(filepath.Dir(spec.Path)) }
		return cachedLoad(cfg, "manifest", spec, files, func() (*dataset.Dataset, []dataset.StandardizeSpec, error) { return dataset.LoadManifest(spec) })
	}
	return nil, nil, &config.Error{Key: "data.kind", Msg: fmt.Sprintf("data.kind: %q is not supported (want synthetic, table, avmnist or manifest)", d.Kind)}
}

// syntheticSpec is the generator settings of data.synthetic.
func syntheticSpec(cfg *config.Config) dataset.SyntheticSpec {
	s := cfg.Data.Synthetic
	spec := dataset.SyntheticSpec{Seed: uint64(s.Seed), Classes: s.Classes, ClassNames: s.ClassNames, Train: s.Train, Test: s.Test, Val: s.Val}
	for _, m := range s.Modalities {
		spec.Modalities = append(spec.Modalities, dataset.SyntheticModality{Name: m.Name, Dim: m.Dim, Signal: m.Signal})
	}
	return spec
}

// tableSpec is the table loader's view of data.table.
func tableSpec(cfg *config.Config) dataset.TableSpec {
	t := cfg.Data.Table
	spec := dataset.TableSpec{Name: tableName(cfg), Labels: dataPath(cfg, t.Labels), ClassNames: t.ClassNames,
		SplitFile: dataPath(cfg, t.SplitFile), TestFraction: t.TestFraction, SplitSeed: uint64(t.SplitSeed), Standardize: t.Standardize}
	for _, v := range t.Views {
		spec.Views = append(spec.Views, dataset.TableView{Name: v.Name, Path: dataPath(cfg, v.File), Format: v.Format})
	}
	return spec
}

// tableFiles lists the files a table data set is read from: labels, split file, views.
func tableFiles(spec dataset.TableSpec) []string {
	files := []string{spec.Labels}
	if spec.SplitFile != "" {
		files = append(files, spec.SplitFile)
	}
	for _, v := range spec.Views {
		files = append(files, v.Path)
	}
	return files
}

// checkDataFiles checks that the files and directories the configuration's data keys name
// exist, so that a missing one is reported with the key that names it and the data root it
// was looked for under (a wrong data.root is the usual cause), rather than as a bare "no
// such file".
func checkDataFiles(cfg *config.Config) error {
	type ref struct{ key, name string }
	var refs []ref
	d := cfg.Data
	switch d.Kind {
	case "table":
		refs = append(refs, ref{"data.table.labels", d.Table.Labels})
		if d.Table.SplitFile != "" {
			refs = append(refs, ref{"data.table.split_file", d.Table.SplitFile})
		}
		for i, v := range d.Table.Views {
			refs = append(refs, ref{fmt.Sprintf("data.table.views[%d].file", i), v.File})
		}
	case "avmnist":
		refs = append(refs, ref{"data.avmnist.audio", d.AVMNIST.Audio}, ref{"data.avmnist.mnist", d.AVMNIST.MNIST})
	case "manifest":
		refs = append(refs, ref{"data.manifest.file", d.Manifest.File})
	}
	for _, r := range refs {
		p := dataPath(cfg, r.name)
		if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if filepath.IsAbs(r.name) {
			return fmt.Errorf("%s: no such file (correct %s)", p, r.key)
		}
		if _, err := os.Stat(d.Root); errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s: no such file, and data.root %s does not exist (point --data-root, DMRNET_DATA_ROOT or data.root at the directory that holds %s, the %s)",
				p, d.Root, r.name, r.key)
		}
		return fmt.Errorf("%s: no such file (%s is %q under data.root %s: correct the key, or point --data-root, DMRNET_DATA_ROOT or data.root at the directory that holds it)",
			p, r.key, r.name, d.Root)
	}
	return nil
}

// cachedLoad builds the data set, through the on-disk cache when data.cache_dir is set; the
// cache key covers the settings and the content of the files listFiles names.
func cachedLoad(cfg *config.Config, kind string, settings any, listFiles func() ([]string, error), build func() (*dataset.Dataset, []dataset.StandardizeSpec, error)) (*dataset.Dataset, []dataset.StandardizeSpec, error) {
	if cfg.Data.CacheDir == "" {
		return build()
	}
	files, err := listFiles()
	if err != nil {
		return nil, nil, err
	}
	key, err := dataset.CacheKey(settings, files)
	if err != nil {
		return nil, nil, err
	}
	return dataset.Cached(cfg.Data.CacheDir, kind, key, build)
}

// dirFiles lists the regular files under dirs, sorted, for cache keys.
func dirFiles(dirs ...string) ([]string, error) {
	var out []string
	for _, dir := range dirs {
		err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if e.Type().IsRegular() {
				out = append(out, p)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("list the data files: %w", err)
		}
	}
	sort.Strings(out)
	return out, nil
}

// manifestModalities are the configured manifest modalities.
func manifestModalities(cfg *config.Config) []dataset.ManifestModality {
	var out []dataset.ManifestModality
	for _, m := range cfg.Data.Manifest.Modalities {
		col := m.Column
		if col == "" {
			col = m.Name
		}
		out = append(out, dataset.ManifestModality{
			Name: m.Name, Column: col, Type: m.Type, Shape: m.Shape, Mel: melSpec(m.Mel),
			Image: imageio.Spec{Channels: m.Channels, Height: m.Height, Width: m.Width, Mean: m.Mean, Std: m.Std, Convert: m.Convert},
		})
	}
	return out
}

// Prep returns the preprocessing that turns a trained model's raw inputs into model inputs
// exactly as its data set's loader and stored standardisation did: rows of numbers for
// synthetic and table data, files for avmnist and manifest data.
func Prep(l *Loaded) (*dataset.Prep, error) {
	var files map[string]dataset.ManifestModality
	switch l.Config.Data.Kind {
	case "avmnist":
		files = dataset.AVMNISTInputs(melSpec(l.Config.Data.AVMNIST.Mel))
	case "manifest":
		files = map[string]dataset.ManifestModality{}
		for _, m := range manifestModalities(l.Config) {
			files[m.Name] = m
		}
	}
	p, err := dataset.NewPrep(l.Modalities, files, l.State.Norms)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", l.Path, err)
	}
	return p, nil
}

func melSpec(m config.MelAudio) dataset.MelSpec {
	return dataset.MelSpec{Samples: m.Samples, MelSpec: audio.MelSpec{SampleRate: m.SampleRate, NFFT: m.NFFT, Hop: m.Hop, NMels: m.Mels, FMin: m.FMin, FMax: m.FMax}}
}

func tableName(cfg *config.Config) string {
	if len(cfg.Data.Table.Views) > 0 {
		return filepath.Base(filepath.Dir(dataPath(cfg, cfg.Data.Table.Views[0].File)))
	}
	return "table"
}

// ModelSpec translates a configuration and the data set's modalities into an architecture.
func ModelSpec(cfg *config.Config, ds *dataset.Dataset) model.Spec {
	return ModelSpecFor(cfg, ds.Modalities, len(ds.Classes))
}

// ModelSpecFor is ModelSpec for inputs described by their modalities and class count.
func ModelSpecFor(cfg *config.Config, mods []dataset.Modality, classes int) model.Spec {
	spec := model.Spec{
		Latent:     cfg.Model.Latent,
		Classes:    classes,
		PME:        cfg.Model.PME,
		DType:      tensor.Float32,
		BNMomentum: cfg.Model.BNMomentum,
		BNEps:      cfg.Model.BNEps,
	}
	if cfg.Model.DType == "float64" {
		spec.DType = tensor.Float64
	}
	spec.AuxWeight = cfg.Model.AuxHeads.Weight
	for _, m := range mods {
		enc := cfg.EncoderFor(m.Name)
		spec.Modalities = append(spec.Modalities, model.ModalitySpec{
			Name:       m.Name,
			InputShape: m.Shape,
			Encoder: model.EncoderSpec{Type: enc.Type, Layers: enc.Layers, Channels: enc.Channels,
				Kernel: enc.Kernel, Pool: enc.Pool},
		})
	}
	return spec
}

// NewEvaluator returns the evaluator of a trained model with the configured inference mode.
func NewEvaluator(cfg *config.Config, m *model.Model, ds *dataset.Dataset) (*evaluate.Evaluator, error) {
	ev, err := evaluate.New(m, ds, cfg.Train.EvalBatchSize, cfg.Data.LiveClass)
	if err != nil {
		return nil, err
	}
	ev.Mode, ev.EnsembleFused, ev.EnsembleAux = cfg.Model.Inference, cfg.Model.Ensemble.Fused, cfg.Model.Ensemble.Aux
	ev.Threshold = cfg.Metrics.Threshold
	return ev, nil
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
