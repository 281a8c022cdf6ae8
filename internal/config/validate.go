package config

import (
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// MaxModalities bounds the number of modalities of a data set (2^M-1 combinations).
const MaxModalities = 20

// MaxClasses bounds the number of classes of a data set; it equals dataset.MaxClasses,
// which the data loaders enforce on labels.
const MaxClasses = 10000

// modalityName is the form of a modality name. Names are lower case because they are keys of
// model.encoders and dropout.probs, and configuration keys are case-insensitive.
var modalityName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// Validate applies the Variant preset and fills the empty type and layers of model.encoders
// entries from model.encoder, so that the Config shows the effective values; then it checks
// every key. The error (the first problem found) wraps ErrInvalid and names the key, the bad
// value and the accepted values.
//
// For synthetic data Validate also calls CheckModalities with the generated modalities; for
// file-based data sets, whose modalities are known only once loaded, the caller must.
func (c *Config) Validate() error {
	if err := c.applyVariant(); err != nil {
		return err
	}
	if len(c.Model.Encoders) > 0 {
		// A new map: the old one may be shared with copies of c.
		encoders := make(map[string]Encoder, len(c.Model.Encoders))
		for name := range c.Model.Encoders {
			encoders[name] = c.EncoderFor(name)
		}
		c.Model.Encoders = encoders
	}
	if c.Out == "" {
		return invalid("out", "empty (set the run directory, e.g. --set out=runs/x)")
	}
	for _, check := range []func() error{
		c.validateData, c.validateModel, c.validateLoss, c.validateHard, c.validateDropout,
		c.validateOptim, c.validateTrain, c.validateSchedule, c.validateMetrics,
	} {
		if err := check(); err != nil {
			return err
		}
	}
	return c.CheckModalities(c.ModalityNames())
}

// applyVariant sets the keys of the Variant preset.
//
// "dmrnet" is the paper's method whatever the configuration's defaults: the probabilistic
// embedding on (model.pme=true) and the hard set chosen once, at the end of warm-up, by the
// largest mean predicted variance (hard.by=variance, hard.mode=once). The ablations
// "dmrnet-loss", "no-hcr", "no-kl" and "no-dropout" are that method with one change each,
// so that each differs from "dmrnet" in the component it names only. "deterministic" turns
// the embedding, KL and HCR off (there is no variance and no hard set to mine). Loss weights,
// warm-up length, hard-set size and dropout distribution stay the configuration's (their
// defaults are the paper's: alpha 1e-3, beta 0.2, W 5, k = ceil((2^M-1)/3), uniform), so a
// sweep over them keeps its meaning. An empty variant applies no preset.
func (c *Config) applyVariant() error {
	paper := func() {
		c.Model.PME = true
		c.Hard.By = "variance"
		c.Hard.Mode = "once"
	}
	switch c.Variant {
	case "":
	case "dmrnet":
		paper()
	case "dmrnet-loss":
		paper()
		c.Hard.By = "loss"
	case "no-hcr":
		paper()
		c.Loss.Beta = 0
	case "no-kl":
		paper()
		c.Loss.Alpha = 0
	case "deterministic":
		c.Model.PME = false
		c.Loss.Alpha = 0
		c.Loss.Beta = 0
	case "no-dropout":
		paper()
		c.Dropout.Mode = "none"
		c.Dropout.Probs = nil
	default:
		return invalid("variant", "%q is not a variant (use one of %s, or leave it empty)", c.Variant,
			quoteList([]string{"dmrnet", "dmrnet-loss", "no-hcr", "no-kl", "deterministic", "no-dropout"}))
	}
	return nil
}

// ModalityNames returns the modality names of the data set when the configuration defines
// them (synthetic data), in data set order; nil for file-based data sets.
func (c *Config) ModalityNames() []string {
	var names []string
	switch c.Data.Kind {
	case "synthetic":
		for _, m := range c.Data.Synthetic.Modalities {
			names = append(names, m.Name)
		}
	case "table":
		for _, v := range c.Data.Table.Views {
			names = append(names, v.Name)
		}
	case "avmnist":
		names = []string{"audio", "image"}
	case "manifest":
		for _, m := range c.Data.Manifest.Modalities {
			names = append(names, m.Name)
		}
	}
	return names
}

// K returns the size of the hard set for the modalities of ModalityNames: hard.k, or
// ceil((2^M-1)/3) when hard.k is 0.
func (c *Config) K() int { return c.KFor(len(c.ModalityNames())) }

// KFor returns the size of the hard set of a data set with m modalities: hard.k, or
// ceil((2^m-1)/3) when hard.k is 0.
func (c *Config) KFor(m int) int {
	if c.Hard.K > 0 || m <= 0 {
		return c.Hard.K
	}
	n := 1<<min(m, 62) - 1
	return (n + 2) / 3
}

// EncoderFor returns the encoder of the named modality: its model.encoders entry, whose empty
// type and layers are taken from model.encoder, or model.encoder when it has none.
func (c *Config) EncoderFor(name string) Encoder {
	e, ok := c.Model.Encoders[name]
	if !ok {
		e = c.Model.Encoder
	}
	if e.Type == "" {
		e.Type = c.Model.Encoder.Type
	}
	if len(e.Layers) == 0 {
		e.Layers = c.Model.Encoder.Layers
	}
	if len(e.Channels) == 0 {
		e.Channels = c.Model.Encoder.Channels
	}
	if e.Kernel == 0 {
		e.Kernel = c.Model.Encoder.Kernel
	}
	if e.Pool == 0 {
		e.Pool = c.Model.Encoder.Pool
	}
	e.Layers = slices.Clone(e.Layers)
	e.Channels = slices.Clone(e.Channels)
	return e
}

// CheckModalities checks the keys that name modalities against the modality names of the data
// set: the keys of model.encoders, the combinations of dropout.probs and the upper bound
// 2^M-1 of hard.k. Validate calls it for synthetic data; file-based data sets call it once
// their modalities are known.
func (c *Config) CheckModalities(names []string) error {
	if len(names) == 0 || len(names) > MaxModalities {
		return invalid("data", "the data set has %d modalities (it needs 1 to %d)", len(names), MaxModalities)
	}
	index := make(map[string]int, len(names))
	for i, n := range names {
		index[n] = i
	}
	unknown := func(key, name string) error {
		msg := fmt.Sprintf("%q is not a modality of the data set (use one of %s)", name, quoteList(names))
		if s := suggest(name, names); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		}
		return invalid(key, "%s", msg)
	}
	for _, name := range slices.Sorted(maps.Keys(c.Model.Encoders)) {
		if _, ok := index[name]; !ok {
			return unknown("model.encoders."+name, name)
		}
	}
	seen := map[uint64]string{}
	for _, combo := range slices.Sorted(maps.Keys(c.Dropout.Probs)) {
		key := "dropout.probs." + combo
		var set uint64
		for part := range strings.SplitSeq(combo, "+") {
			i, ok := index[part]
			switch {
			case part == "":
				return invalid(key, "combination %q has an empty modality name (join modality names with '+', e.g. %q)",
					combo, strings.Join(names[:min(2, len(names))], "+"))
			case !ok:
				return unknown(key, part)
			case set&(1<<i) != 0:
				return invalid(key, "combination %q names %q twice (name each modality once)", combo, part)
			}
			set |= 1 << i
		}
		if other, dup := seen[set]; dup {
			return invalid(key, "combination %q is the same as %q (keep one of them)", combo, other)
		}
		seen[set] = combo
	}
	if maxK := 1<<len(names) - 1; c.Hard.K > maxK {
		return invalid("hard.k", "%d is out of range (set a value in [0, %d], the 2^M-1 combinations of M=%d modalities, or 0 for ceil((2^M-1)/3))",
			c.Hard.K, maxK, len(names))
	}
	return nil
}

// checkInt is the error of the integer key x, or nil when ok.
func checkInt(key string, x int, want string, ok bool) error {
	if ok {
		return nil
	}
	return invalid(key, "%d is out of range (set a value %s)", x, want)
}

// checkFloat is the error of the number key x, or nil when ok and x is not NaN.
func checkFloat(key string, x float64, want string, ok bool) error {
	if ok && !math.IsNaN(x) {
		return nil
	}
	return invalid(key, "%s is out of range (set a value %s)", formatFloat(x), want)
}

// formatFloat formats x as the shortest decimal that reads back as x.
func formatFloat(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }

// finite reports whether x is neither infinite nor NaN.
func finite(x float64) bool { return !math.IsInf(x, 0) && !math.IsNaN(x) }

// firstError returns the first non-nil error.
func firstError(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func (c *Config) validateData() error {
	d := &c.Data
	if err := firstError(
		checkFloat("data.val_fraction", d.ValFraction, "in [0, 0.9]", d.ValFraction >= 0 && d.ValFraction <= 0.9),
		checkInt("data.live_class", d.LiveClass, ">= 0", d.LiveClass >= 0),
		checkInt("data.prefetch", d.Prefetch, fmt.Sprintf("from 0 to %d (0: %d batches)", MaxPrefetch, defaultPrefetch), d.Prefetch >= 0 && d.Prefetch <= MaxPrefetch),
		c.validateStream(),
	); err != nil {
		return err
	}
	switch d.Kind {
	case "synthetic":
		return c.validateSynthetic()
	case "table":
		return c.validateTable()
	case "avmnist":
		return c.validateAVMNIST()
	case "manifest":
		return c.validateManifest()
	default:
		return oneOf("data.kind", d.Kind, "synthetic", "table", "avmnist", "manifest")
	}
}

// MaxPrefetch is the largest data.prefetch: the decoded batches held ahead cost memory, and
// beyond a few of them decoding gains nothing.
const MaxPrefetch = 64

// defaultPrefetch is what data.prefetch 0 means (dataset.DefaultPrefetch).
const defaultPrefetch = 4

// validateStream checks data.stream and data.prefetch against the data set kind and cache.
func (c *Config) validateStream() error {
	d := &c.Data
	if !d.Stream {
		if d.Prefetch != 0 {
			return invalid("data.prefetch", "%d applies to streamed data only, but data.stream is false (set data.stream=true, or remove data.prefetch)", d.Prefetch)
		}
		return nil
	}
	if d.Kind != "manifest" {
		return invalid("data.stream", "true needs a manifest data set, but data.kind is %q (streaming decodes manifest files per batch; set data.stream=false)", d.Kind)
	}
	if d.CacheDir != "" {
		return invalid("data.stream", "true cannot be combined with data.cache_dir %q, which stores the whole decoded data set (remove data.cache_dir, or set data.stream=false)", d.CacheDir)
	}
	return nil
}

func (c *Config) validateSynthetic() error {
	s := &c.Data.Synthetic
	const p = "data.synthetic."
	if err := firstError(
		checkInt(p+"classes", s.Classes, fmt.Sprintf("in [2, %d]", MaxClasses), s.Classes >= 2 && s.Classes <= MaxClasses),
		checkInt("data.live_class", c.Data.LiveClass, fmt.Sprintf("from 0 to %d, for the %d classes of data.synthetic.classes", s.Classes-1, s.Classes),
			c.Data.LiveClass < s.Classes),
		checkInt(p+"train", s.Train, fmt.Sprintf(">= %d, 2 per class", 2*s.Classes), s.Train >= 2*s.Classes),
		checkInt(p+"test", s.Test, ">= 1", s.Test >= 1),
		checkInt(p+"val", s.Val, ">= 0 (0: no validation split)", s.Val >= 0),
	); err != nil {
		return err
	}
	if n := len(s.ClassNames); n != 0 && n != s.Classes {
		return invalid(p+"class_names", "%d names for %d classes (give one name per class or none)", n, s.Classes)
	}
	for i, name := range s.ClassNames {
		key := fmt.Sprintf("%sclass_names[%d]", p, i)
		if name == "" {
			return invalid(key, "empty class name (name every class)")
		}
		if j := slices.Index(s.ClassNames, name); j < i {
			return invalid(key, "%q repeats class_names[%d] (class names must be unique)", name, j)
		}
	}
	if n := len(s.Modalities); n < 1 || n > MaxModalities {
		return invalid(p+"modalities", "%d modalities (give 1 to %d)", n, MaxModalities)
	}
	for i, m := range s.Modalities {
		key := fmt.Sprintf("%smodalities[%d]", p, i)
		if err := checkModalityName(key+".name", m.Name); err != nil {
			return err
		}
		for j := range i {
			if s.Modalities[j].Name == m.Name {
				return invalid(key+".name", "%q repeats modalities[%d] (modality names must be unique)", m.Name, j)
			}
		}
		if err := firstError(
			checkInt(key+".dim", m.Dim, ">= 1", m.Dim >= 1),
			checkFloat(key+".signal", m.Signal, ">= 0, finite", m.Signal >= 0 && finite(m.Signal)),
		); err != nil {
			return err
		}
	}
	return nil
}

// checkModalityName checks that name is a valid modality name.
func checkModalityName(key, name string) error {
	switch {
	case modalityName.MatchString(name):
		return nil
	case name != "" && strings.ToLower(name) != name:
		return invalid(key, "%q has upper-case letters (write %q: modality names are keys of model.encoders and dropout.probs, which are case-insensitive, so they must be lower case)",
			name, strings.ToLower(name))
	}
	return invalid(key, "%q is not a valid modality name (use lower-case letters, digits, '_' and '-', starting with a letter or digit: %s)",
		name, modalityName)
}

func (c *Config) validateModel() error {
	m := &c.Model
	if err := validateEncoder("model.encoder", m.Encoder); err != nil {
		return err
	}
	for _, name := range slices.Sorted(maps.Keys(m.Encoders)) {
		if err := validateEncoder("model.encoders."+name, c.EncoderFor(name)); err != nil {
			return err
		}
	}
	if err := checkInt("model.latent", m.Latent, ">= 1", m.Latent >= 1); err != nil {
		return err
	}
	switch m.DType {
	case "float32", "float64":
	default:
		return oneOf("model.dtype", m.DType, "float32", "float64")
	}
	if err := firstError(
		checkFloat("model.bn_momentum", m.BNMomentum, "in (0, 1]", m.BNMomentum > 0 && m.BNMomentum <= 1),
		checkFloat("model.bn_eps", m.BNEps, "> 0, finite", m.BNEps > 0 && finite(m.BNEps)),
		checkFloat("model.aux_heads.weight", m.AuxHeads.Weight, ">= 0, 0 for no auxiliary heads", m.AuxHeads.Weight >= 0 && finite(m.AuxHeads.Weight)),
		checkFloat("model.ensemble.fused", m.Ensemble.Fused, ">= 0", m.Ensemble.Fused >= 0 && finite(m.Ensemble.Fused)),
		checkFloat("model.ensemble.aux", m.Ensemble.Aux, ">= 0", m.Ensemble.Aux >= 0 && finite(m.Ensemble.Aux)),
	); err != nil {
		return err
	}
	switch m.Inference {
	case "fused":
	case "route", "ensemble":
		if m.AuxHeads.Weight == 0 {
			return invalid("model.inference", "%s needs auxiliary heads (set model.aux_heads.weight > 0, e.g. 1)", m.Inference)
		}
		if m.Inference == "ensemble" && m.Ensemble.Fused+m.Ensemble.Aux == 0 {
			return invalid("model.ensemble", "both weights are 0 (give the fused path or the auxiliary heads a positive weight)")
		}
	default:
		return oneOf("model.inference", m.Inference, "fused", "route", "ensemble")
	}
	return nil
}

// validateEncoder checks the encoder at key.
func validateEncoder(key string, e Encoder) error {
	switch e.Type {
	case "mlp":
		if len(e.Layers) == 0 {
			return invalid(key+".layers", "empty (give the widths of the hidden blocks, e.g. [128, 64])")
		}
		for i, w := range e.Layers {
			if err := checkInt(fmt.Sprintf("%s.layers[%d]", key, i), w, ">= 1", w >= 1); err != nil {
				return err
			}
		}
		return nil
	case "conv":
		if len(e.Channels) == 0 {
			return invalid(key+".channels", "empty (a conv encoder needs the output channels of its blocks, e.g. [16, 32])")
		}
		for i, ch := range e.Channels {
			if err := checkInt(fmt.Sprintf("%s.channels[%d]", key, i), ch, ">= 1", ch >= 1); err != nil {
				return err
			}
		}
		if len(e.Layers) == 0 {
			return invalid(key+".layers", "empty (a conv encoder needs the widths of its Linear layers after flattening, e.g. [64])")
		}
		for i, w := range e.Layers {
			if err := checkInt(fmt.Sprintf("%s.layers[%d]", key, i), w, ">= 1", w >= 1); err != nil {
				return err
			}
		}
		return firstError(
			checkInt(key+".kernel", e.Kernel, "odd and >= 1", e.Kernel >= 1 && e.Kernel%2 == 1),
			checkInt(key+".pool", e.Pool, ">= 1", e.Pool >= 1),
		)
	default:
		return oneOf(key+".type", e.Type, "mlp", "conv")
	}
}

func (c *Config) validateLoss() error {
	l := &c.Loss
	return firstError(
		checkFloat("loss.alpha", l.Alpha, ">= 0, finite", l.Alpha >= 0 && finite(l.Alpha)),
		checkFloat("loss.beta", l.Beta, ">= 0, finite", l.Beta >= 0 && finite(l.Beta)),
	)
}

func (c *Config) validateHard() error {
	h := &c.Hard
	if err := checkInt("hard.k", h.K, ">= 0, or 0 for ceil((2^M-1)/3)", h.K >= 0); err != nil {
		return err
	}
	switch h.By {
	case "variance", "loss", "soft":
	default:
		return oneOf("hard.by", h.By, "variance", "loss", "soft")
	}
	if h.By == "soft" && h.WarmupEpochs < 1 {
		return invalid("hard.warmup_epochs", "is 0, but hard.by=soft weights samples from epoch W on with statistics of the epochs before (set hard.warmup_epochs >= 1)")
	}
	switch h.Mode {
	case "once", "every-epoch":
	default:
		return oneOf("hard.mode", h.Mode, "once", "every-epoch")
	}
	if err := checkInt("hard.warmup_epochs", h.WarmupEpochs, ">= 0", h.WarmupEpochs >= 0); err != nil {
		return err
	}
	if c.Loss.Beta > 0 && h.WarmupEpochs < 1 {
		return invalid("hard.warmup_epochs", "is 0, but loss.beta=%s needs at least one warm-up epoch to mine the hard set (set hard.warmup_epochs >= 1 or loss.beta=0)", formatFloat(c.Loss.Beta))
	}
	if c.Loss.Beta > 0 && h.By == "variance" && !c.Model.PME {
		return invalid("hard.by", "is variance, but model.pme=false predicts no variance (use hard.by=loss, model.pme=true or loss.beta=0)")
	}
	return nil
}

func (c *Config) validateDropout() error {
	d := &c.Dropout
	switch d.Mode {
	case "uniform", "none":
		if len(d.Probs) > 0 {
			return invalid("dropout.probs", "given with dropout.mode %q (set dropout.mode=explicit or remove dropout.probs)", d.Mode)
		}
		return nil
	case "explicit":
	default:
		return oneOf("dropout.mode", d.Mode, "uniform", "none", "explicit")
	}
	if len(d.Probs) == 0 {
		return invalid("dropout.probs", "empty with dropout.mode \"explicit\" (give a weight per combination, e.g. {a: 1, a+b: 2})")
	}
	sum := 0.0
	for _, combo := range slices.Sorted(maps.Keys(d.Probs)) {
		w := d.Probs[combo]
		if err := checkFloat("dropout.probs."+combo, w, ">= 0, finite", w >= 0 && finite(w)); err != nil {
			return err
		}
		sum += w
	}
	if !(sum > 0) || !finite(sum) {
		return invalid("dropout.probs", "the weights sum to %s (give at least one combination a positive weight)", formatFloat(sum))
	}
	return nil
}

func (c *Config) validateOptim() error {
	o := &c.Optim
	switch o.Name {
	case "adam", "sgd":
	default:
		return oneOf("optim.name", o.Name, "adam", "sgd")
	}
	if err := firstError(
		checkFloat("optim.lr", o.LR, "> 0, finite", o.LR > 0 && finite(o.LR)),
		checkFloat("optim.beta1", o.Beta1, "in [0, 1)", o.Beta1 >= 0 && o.Beta1 < 1),
		checkFloat("optim.beta2", o.Beta2, "in [0, 1)", o.Beta2 >= 0 && o.Beta2 < 1),
		checkFloat("optim.eps", o.Eps, "> 0, finite", o.Eps > 0 && finite(o.Eps)),
		checkFloat("optim.momentum", o.Momentum, "in [0, 1)", o.Momentum >= 0 && o.Momentum < 1),
	); err != nil {
		return err
	}
	if o.Nesterov && (o.Name != "sgd" || o.Momentum <= 0) {
		return invalid("optim.nesterov", "true needs optim.name=sgd and optim.momentum > 0, not %q with momentum %s (set optim.nesterov=false)",
			o.Name, formatFloat(o.Momentum))
	}
	return checkFloat("optim.weight_decay", o.WeightDecay, ">= 0, finite", o.WeightDecay >= 0 && finite(o.WeightDecay))
}

func (c *Config) validateSchedule() error {
	s := &c.Sched
	switch s.Name {
	case "constant", "cosine":
	case "step":
		if err := firstError(
			checkInt("schedule.step_size", s.StepSize, ">= 1, the epochs between steps", s.StepSize >= 1),
			checkFloat("schedule.gamma", s.Gamma, "in (0, 1], the factor of each step", s.Gamma > 0 && s.Gamma <= 1),
		); err != nil {
			return err
		}
	default:
		return oneOf("schedule.name", s.Name, "constant", "step", "cosine")
	}
	lr := c.Optim.LR
	return firstError(
		checkFloat("schedule.min_lr", s.MinLR, fmt.Sprintf("in [0, optim.lr] = [0, %s]", formatFloat(lr)), s.MinLR >= 0 && s.MinLR <= lr),
		checkInt("schedule.warmup_epochs", s.WarmupEpochs,
			fmt.Sprintf("in [0, train.epochs) = [0, %d)", c.Train.Epochs), s.WarmupEpochs >= 0 && s.WarmupEpochs < c.Train.Epochs),
	)
}

func (c *Config) validateTrain() error {
	t := &c.Train
	if err := firstError(
		checkInt("train.epochs", t.Epochs, ">= 1", t.Epochs >= 1),
		checkInt("train.batch_size", t.BatchSize, ">= 2", t.BatchSize >= 2),
	); err != nil {
		return err
	}
	switch t.Device {
	case "cpu", "cuda":
	default:
		return oneOf("train.device", t.Device, "cpu", "cuda")
	}
	if err := firstError(
		checkInt("train.eval_batch_size", t.EvalBatchSize, ">= 1", t.EvalBatchSize >= 1),
		checkInt("train.patience", t.Patience, ">= 0, or 0 for no early stopping", t.Patience >= 0),
		checkInt("train.keep_checkpoints", t.KeepCheckpoints, ">= 1 (the newest checkpoint is always kept)", t.KeepCheckpoints >= 1),
	); err != nil {
		return err
	}
	if v := c.Data.ValFraction; !(v > 0) {
		if t.SelectBest {
			return invalid("train.select_best", "true needs a validation split, but data.val_fraction is %s (set data.val_fraction, e.g. 0.1, or train.select_best=false)", formatFloat(v))
		}
		if t.Patience > 0 {
			return invalid("train.patience", "%d needs a validation split, but data.val_fraction is %s (set data.val_fraction, e.g. 0.1, or train.patience=0)", t.Patience, formatFloat(v))
		}
	}
	return checkFloat("train.max_loss", t.MaxLoss, "> 0", t.MaxLoss > 0)
}

// validateMetrics checks metrics.threshold: eer, argmax or a number in [0, 1].
func (c *Config) validateMetrics() error {
	switch t := c.Metrics.Threshold; t {
	case "":
		c.Metrics.Threshold = "eer"
	case "eer", "argmax":
	default:
		v, err := strconv.ParseFloat(t, 64)
		if err != nil || !(v >= 0 && v <= 1) {
			return invalid("metrics.threshold", "%q is not a threshold rule (use \"eer\", \"argmax\" or a probability of the live class in [0, 1], e.g. 0.5)", t)
		}
	}
	return nil
}
