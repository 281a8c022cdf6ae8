package train

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/dmrnet/dmrnet/internal/atomicfile"

	"github.com/dmrnet/dmrnet/internal/checkpoint"
	"github.com/dmrnet/dmrnet/internal/combo"
	"github.com/dmrnet/dmrnet/internal/config"
	"github.com/dmrnet/dmrnet/internal/dataset"
	"github.com/dmrnet/dmrnet/internal/hardset"
	"github.com/dmrnet/dmrnet/internal/model"
	"github.com/dmrnet/dmrnet/internal/optim"
)

// ErrNoCheckpoint means a run directory has no checkpoint to read.
var ErrNoCheckpoint = errors.New("no checkpoint")

// State is everything a checkpoint holds: the model, the optimiser, the position in training
// and the random streams, so that a resumed run continues exactly where it stopped.
type State struct {
	// Config is the resolved configuration (YAML) the state was trained with.
	Config []byte
	Params []checkpoint.Tensor
	BN     []checkpoint.Tensor
	// OptSteps and OptSlots are the optimiser's step count and moments.
	OptSteps int64
	OptSlots []checkpoint.Tensor
	// Epoch is the number of completed epochs; Step the number of completed batches of the
	// current epoch, whose sample order is Perm (nil until the epoch draws it).
	Epoch int
	Step  int
	Perm  []int
	Acc   EpochAcc
	// Hard is the hard set H (nil until chosen at the end of warm-up).
	Hard       []combo.Set
	HardChosen bool
	Miner      hardset.Miner
	// SoftR and SoftW are hard.by=soft's running mean cross-entropy and sample weight per
	// combination.
	SoftR, SoftW map[combo.Set]float64
	RNG          map[string][]byte
	// Validation bookkeeping.
	BestScore float64
	BestEpoch int
	Stale     int
	// Done is set once training has finished (last epoch or early stop).
	Done bool
	// Seconds of training so far, over all sessions.
	Seconds float64
	// Norms are the data standardisations computed on the training split.
	Norms []dataset.Norm
	// Modalities and Classes describe the model's inputs and outputs, so that a trained model
	// can be rebuilt without its training data (see OpenModel). Checkpoints written before
	// they were recorded leave them empty.
	Modalities []dataset.Modality
	Classes    []string
	// Absent lists the modalities the model has no encoder for (a specialist's other
	// modalities, see model.ModalitySpec.Absent). Checkpoints written before they were left
	// out have none absent: their models keep every encoder.
	Absent []string
	// Provenance is the dmrnet build and the fingerprint of the data that trained the
	// state; nil in checkpoints written before it was recorded.
	Provenance *Provenance
}

// EpochAcc sums the current epoch's per-sample training statistics.
type EpochAcc struct {
	Loss, CE, KL, HCR, Aux float64
	Correct, N             int
	Seconds                float64
}

// capture copies the model and optimiser into st.
func capture(st *State, m *model.Model, opt optim.Optimizer, rng *rngStreams) error {
	st.Params = st.Params[:0]
	for _, p := range m.Params() {
		st.Params = append(st.Params, checkpoint.NewTensor(p.Name, p.Shape(), p.Data()))
	}
	st.BN = st.BN[:0]
	for _, bn := range m.BatchNorms() {
		mean, variance := bn.Stats()
		c := []int{lenOf(mean)}
		st.BN = append(st.BN, checkpoint.NewTensor(bn.Name+".running_mean", c, mean), checkpoint.NewTensor(bn.Name+".running_var", c, variance))
	}
	steps, slots := opt.State()
	st.OptSteps = steps
	st.OptSlots = st.OptSlots[:0]
	for _, s := range slots {
		st.OptSlots = append(st.OptSlots, checkpoint.NewTensor(s.Name, []int{lenOf(s.Data)}, s.Data))
	}
	var err error
	st.RNG, err = rng.marshal()
	return err
}

func lenOf(v any) int {
	switch d := v.(type) {
	case []float32:
		return len(d)
	case []float64:
		return len(d)
	}
	panic(fmt.Sprintf("train: unexpected slice %T", v))
}

// restoreModel copies a state's parameters and BatchNorm statistics into m, checking every
// tensor's presence and shape.
func restoreModel(st *State, m *model.Model) error {
	byName := map[string]checkpoint.Tensor{}
	for _, t := range st.Params {
		byName[t.Name] = t
	}
	for _, t := range st.BN {
		byName[t.Name] = t
	}
	used := 0
	for _, p := range m.Params() {
		t, ok := byName[p.Name]
		if !ok {
			return fmt.Errorf("checkpoint has no tensor %s that the configuration needs", p.Name)
		}
		if err := t.CopyTo(p.Data(), p.Shape()); err != nil {
			return err
		}
		used++
	}
	for _, bn := range m.BatchNorms() {
		mean, variance := bn.Stats()
		for _, x := range []struct {
			suffix string
			dst    any
		}{{".running_mean", mean}, {".running_var", variance}} {
			t, ok := byName[bn.Name+x.suffix]
			if !ok {
				return fmt.Errorf("checkpoint has no tensor %s that the configuration needs", bn.Name+x.suffix)
			}
			if err := t.CopyTo(x.dst, []int{lenOf(x.dst)}); err != nil {
				return err
			}
			used++
		}
	}
	if used != len(byName) {
		for name := range byName {
			if m.Param(name) == nil && !isBNStat(m, name) {
				return fmt.Errorf("checkpoint tensor %s is not part of the configured model", name)
			}
		}
	}
	return nil
}

func isBNStat(m *model.Model, name string) bool {
	for _, bn := range m.BatchNorms() {
		if name == bn.Name+".running_mean" || name == bn.Name+".running_var" {
			return true
		}
	}
	return false
}

func restoreOptimizer(st *State, opt optim.Optimizer) error {
	slots := make([]optim.Slot, len(st.OptSlots))
	for i, t := range st.OptSlots {
		slots[i] = optim.Slot{Name: t.Name, Data: t.Data()}
	}
	return opt.SetState(st.OptSteps, slots)
}

// Trained is a model restored from a run directory, ready for evaluation.
type Trained struct {
	Config *config.Config
	Data   *dataset.Dataset
	Model  *model.Model
	State  *State
	// Final is false when training has not finished and the latest checkpoint is used.
	Final bool
	// Path is the checkpoint file the model was read from.
	Path string
	// Warnings are what the caller should tell the user: that the newest checkpoint was
	// damaged and an earlier one is used, or that the data changed since training.
	Warnings []string
}

// Loaded is a trained model without its data: what prediction and export need.
type Loaded struct {
	Config *config.Config
	Model  *model.Model
	State  *State
	// Modalities are the model's inputs (names and per-sample shapes) and Classes its
	// class names, in the model's order.
	Modalities []dataset.Modality
	Classes    []string
	// Final is false when training has not finished and the latest checkpoint is used.
	Final bool
	// Path is the checkpoint file and Dir the run directory.
	Path, Dir string
	// Warnings are what the caller should tell the user: that the newest checkpoint was
	// damaged and an earlier one is used.
	Warnings []string
}

// CheckpointPath resolves what a user names as a model: a run directory (its final.ckpt when
// training finished, else its latest checkpoint.ckpt) or a checkpoint file itself. final
// reports whether the file is a finished model (final.ckpt, or any file not named
// checkpoint.ckpt).
func CheckpointPath(path string) (file, dir string, final bool, err error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", "", false, fmt.Errorf("%s: %w: the directory does not exist (train first: dmrnet train --config FILE)", path, ErrNoCheckpoint)
	}
	if !fi.IsDir() {
		return path, filepath.Dir(path), filepath.Base(path) != CheckpointFile, nil
	}
	file = filepath.Join(path, FinalFile)
	if _, err := os.Stat(file); err == nil {
		return file, path, true, nil
	}
	file = filepath.Join(path, CheckpointFile)
	if _, err := os.Stat(file); err == nil {
		return file, path, false, nil
	}
	return "", "", false, fmt.Errorf("%s: %w (train first, or point --checkpoint at a run directory)", path, ErrNoCheckpoint)
}

// rotatedPrefix and rotatedExt frame the names of the earlier training checkpoints a run
// directory keeps: checkpoint-<epoch>-<step>.ckpt, the state after <epoch> completed epochs
// and <step> batches of the next.
const (
	rotatedPrefix = "checkpoint-"
	rotatedExt    = ".ckpt"
)

// rotatedName is the file name of the earlier checkpoint at a training position.
func rotatedName(epoch, step int) string {
	return fmt.Sprintf("%s%d-%d%s", rotatedPrefix, epoch, step, rotatedExt)
}

// parseRotated reads the training position from an earlier checkpoint's file name.
func parseRotated(name string) (epoch, step int, ok bool) {
	rest, found := strings.CutPrefix(name, rotatedPrefix)
	if !found {
		return 0, 0, false
	}
	rest, found = strings.CutSuffix(rest, rotatedExt)
	if !found {
		return 0, 0, false
	}
	e, st, found := strings.Cut(rest, "-")
	if !found {
		return 0, 0, false
	}
	epoch, err1 := strconv.Atoi(e)
	step, err2 := strconv.Atoi(st)
	if err1 != nil || err2 != nil || epoch < 0 || step < 0 || rotatedName(epoch, step) != name {
		return 0, 0, false
	}
	return epoch, step, true
}

// position is a point of training: completed epochs, and batches of the next epoch.
type position struct{ epoch, step int }

func (p position) before(q position) bool {
	return p.epoch < q.epoch || (p.epoch == q.epoch && p.step < q.step)
}

// rotatedFile is an earlier checkpoint of a run directory.
type rotatedFile struct {
	name string
	pos  position
}

// rotatedFiles lists the earlier checkpoints in dir, newest first.
func rotatedFiles(dir string) ([]rotatedFile, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []rotatedFile
	for _, e := range ents {
		if epoch, step, ok := parseRotated(e.Name()); ok && e.Type().IsRegular() {
			out = append(out, rotatedFile{e.Name(), position{epoch, step}})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[j].pos.before(out[i].pos) })
	return out, nil
}

// loadState reads the state in file. When file is a run's checkpoint.ckpt and is damaged
// (checkpoint.ErrCorrupt), the run's earlier checkpoints are tried, newest first; the
// returned used is the file read, and the warning says what happened. The error is that of
// file when no earlier checkpoint is intact either.
func loadState(file string) (st *State, used, warning string, err error) {
	st = &State{}
	err = checkpoint.Load(file, st)
	if err == nil || !errors.Is(err, checkpoint.ErrCorrupt) || filepath.Base(file) != CheckpointFile {
		return st, file, "", err
	}
	dir := filepath.Dir(file)
	earlier, lerr := rotatedFiles(dir)
	if lerr != nil {
		return nil, "", "", err
	}
	var skipped []string
	for _, r := range earlier {
		p := filepath.Join(dir, r.name)
		prev := &State{}
		perr := checkpoint.Load(p, prev)
		if perr == nil {
			note := ""
			if len(skipped) > 0 {
				note = fmt.Sprintf(" (also damaged: %s)", strings.Join(skipped, ", "))
			}
			return prev, p, fmt.Sprintf("%s is damaged, using the previous checkpoint %s (epoch %d, step %d)%s: %s",
				file, p, prev.Epoch, prev.Step, note, oneLine(err.Error())), nil
		}
		skipped = append(skipped, r.name)
	}
	if len(skipped) > 0 {
		return nil, "", "", fmt.Errorf("%w; the earlier checkpoints %s are damaged too (retrain the run with --force)", err, strings.Join(skipped, ", "))
	}
	return nil, "", "", err
}

// oneLine joins the lines of s.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// OpenModel loads the model that path names (see CheckpointPath) without reading its
// training data: the checkpoint records the inputs' shapes, the class names and the
// standardisation. For a checkpoint written before those were recorded the data is read once
// to recover them (from dataRoot when not empty, else the saved data.root). A damaged
// checkpoint.ckpt of an unfinished run falls back to the run's previous checkpoint (see
// Loaded.Warnings).
func OpenModel(path, dataRoot string) (*Loaded, error) {
	file, dir, final, err := CheckpointPath(path)
	if err != nil {
		return nil, err
	}
	st, file, warning, err := loadState(file)
	if err != nil {
		return nil, err
	}
	cfg, err := config.FromYAML(st.Config, file)
	if err != nil {
		return nil, err
	}
	if dataRoot != "" {
		cfg.Data.Root = dataRoot
	}
	mods, classes := st.Modalities, st.Classes
	if len(mods) == 0 || len(classes) == 0 {
		ds, err := LoadData(cfg, st.Norms)
		if err != nil {
			return nil, fmt.Errorf("%s records no input shapes (written by an older dmrnet), and its data cannot be read to recover them: %w", file, err)
		}
		mods, classes = ds.Modalities, ds.Classes
	}
	m, err := model.New(withAbsent(ModelSpecFor(cfg, mods, len(classes)), st.Absent), rand.New(rand.NewPCG(0, 0)))
	if err != nil {
		return nil, err
	}
	if err := restoreModel(st, m); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	l := &Loaded{Config: cfg, Model: m, State: st, Modalities: mods, Classes: classes, Final: final, Path: file, Dir: dir}
	if warning != "" {
		l.Warnings = append(l.Warnings, warning)
	}
	return l, nil
}

// OpenOptions adjust OpenWith.
type OpenOptions struct {
	// DataRoot, when not empty, replaces the saved data.root (for data that has moved).
	DataRoot string
	// AllowDataChange evaluates on data whose fingerprint differs from the one recorded in
	// the checkpoint, with a warning, instead of refusing.
	AllowDataChange bool
}

// Open loads the model of a run directory (or checkpoint file, see CheckpointPath) together
// with its data set. The configuration and data standardisation saved in the checkpoint
// rebuild the data set and the model, so evaluation sees exactly what training saw.
// dataRoot, when not empty, replaces the saved data.root (for data that has moved). Data
// that differs from the fingerprint the checkpoint records is refused (ErrDataChanged).
func Open(dir, dataRoot string) (*Trained, error) {
	return OpenWith(dir, OpenOptions{DataRoot: dataRoot})
}

// OpenWith is Open with options. A damaged checkpoint.ckpt of an unfinished run falls back
// to the run's previous checkpoint (see Trained.Warnings).
func OpenWith(dir string, o OpenOptions) (*Trained, error) {
	file, _, final, err := CheckpointPath(dir)
	if err != nil {
		return nil, err
	}
	st, file, warning, err := loadState(file)
	if err != nil {
		return nil, err
	}
	tr := &Trained{State: st, Final: final, Path: file}
	if warning != "" {
		tr.Warnings = append(tr.Warnings, warning)
	}
	cfg, err := config.FromYAML(st.Config, file)
	if err != nil {
		return nil, err
	}
	if o.DataRoot != "" {
		cfg.Data.Root = o.DataRoot
	}
	// the data is checked against the checkpoint's fingerprint before it is read, so that a
	// changed file is reported as such rather than by what the change breaks
	if st.Provenance != nil && st.Provenance.Data != nil {
		fp, err := Fingerprint(cfg)
		if err != nil {
			return nil, err
		}
		if err := checkData(st.Provenance.Data, fp, cfg.Data.Root, file); err != nil {
			var dc *DataChangedError
			if !o.AllowDataChange || !errors.As(err, &dc) {
				return nil, err
			}
			tr.Warnings = append(tr.Warnings, "evaluating on changed data (--allow-data-change): "+dc.summary())
		}
	}
	ds, err := LoadData(cfg, st.Norms)
	if err != nil {
		return nil, err
	}
	m, err := model.New(withAbsent(ModelSpec(cfg, ds), st.Absent), rand.New(rand.NewPCG(0, 0)))
	if err != nil {
		return nil, err
	}
	if err := restoreModel(st, m); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	tr.Config, tr.Data, tr.Model = cfg, ds, m
	return tr, nil
}

// RunStatus says what a run directory holds.
type RunStatus int

// Run directory states.
const (
	NoRun      RunStatus = iota // no checkpoint
	Unfinished                  // a checkpoint but no final model
	Finished                    // a final model
)

// Status reports whether dir holds a run, and whether it finished.
func Status(dir string) RunStatus {
	if _, err := os.Stat(filepath.Join(dir, FinalFile)); err == nil {
		return Finished
	}
	if _, err := os.Stat(filepath.Join(dir, CheckpointFile)); err == nil {
		return Unfinished
	}
	return NoRun
}

// runFile reports whether name (a base name) is one of the files a run writes into its
// directory: the fixed ones, and the earlier checkpoints checkpoint-<epoch>-<step>.ckpt.
func runFile(name string) bool {
	switch name {
	case ConfigFile, CheckpointFile, BestFile, FinalFile, MetricsFile, HardSetFile, SweepFile, ProvenanceFile:
		return true
	}
	_, _, ok := parseRotated(name)
	return ok
}

// RemoveStaleTemps removes the temporary files of run files (".<file>.tmp-<digits>") that a
// process killed in the middle of an atomic write left in dir, and returns their names. It is
// called when a command that writes the run starts; no other process may be writing into dir.
func RemoveStaleTemps(dir string) ([]string, error) {
	return atomicfile.RemoveStale(dir, runFile)
}

// SavedDataRoot returns the data.root that the run or checkpoint path names (see
// CheckpointPath) was trained with.
func SavedDataRoot(path string) (string, error) {
	file, _, _, err := CheckpointPath(path)
	if err != nil {
		return "", err
	}
	var st State
	if err := checkpoint.Load(file, &st); err != nil {
		return "", err
	}
	cfg, err := config.FromYAML(st.Config, file)
	if err != nil {
		return "", err
	}
	return cfg.Data.Root, nil
}
