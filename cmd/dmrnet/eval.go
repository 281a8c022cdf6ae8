package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/dmrnet/dmrnet/internal/config"
	"github.com/dmrnet/dmrnet/internal/inputs"
	"go.yaml.in/yaml/v3"

	"github.com/dmrnet/dmrnet/internal/combo"
	"github.com/dmrnet/dmrnet/internal/dataset"
	"github.com/dmrnet/dmrnet/internal/evaluate"
	"github.com/dmrnet/dmrnet/internal/report"
	"github.com/dmrnet/dmrnet/internal/train"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// modelOptions choose a trained model and the data to evaluate it on.
type modelOptions struct {
	checkpoint string
	config     string
	sets       []string
	split      string
	dataRoot   string
	inference  string
	threshold  string
	// data, views and labels give new labelled data instead of a split of the training data.
	data   string
	views  []string
	labels string
	// flags is the command's flag set (to see whether --split was given).
	flags *pflag.FlagSet
	// allowDataChange evaluates on training data that differs from the recorded fingerprint.
	allowDataChange bool
	// command is the command's name, for messages: eval, sweep-missing.
	command string
}

func (o *modelOptions) addFlags(cmd *cobra.Command) {
	o.command = cmd.Name()
	f := cmd.Flags()
	f.StringVar(&o.checkpoint, "checkpoint", "", "the trained model: a run directory (final.ckpt, or checkpoint.ckpt if training has not finished) or a checkpoint file; default, with no --config either: the most recently finished run under ./runs")
	f.StringVarP(&o.config, "config", "c", "", "use the run directory this configuration trains into (its out key)")
	f.StringArrayVar(&o.sets, "set", nil, "override a key of --config to find the run directory, e.g. --set out=runs/other (repeatable; data.root and model.inference are honoured, other keys must equal the trained values)")
	o.addEvalFlags(cmd)
}

// addEvalFlags adds the flags that say how to evaluate a model once it is chosen: the data
// (--split, or new data with --data / --view / --labels), --data-root and --inference.
func (o *modelOptions) addEvalFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	o.flags = f
	f.StringVar(&o.split, "split", "test", "split of the training data to evaluate: test, val or train")
	f.StringVar(&o.dataRoot, "data-root", "", "directory of the data files, if it moved since training (default: the saved data.root, or $DMRNET_DATA_ROOT where that is not a directory)")
	f.StringVar(&o.inference, "inference", "", "inference mode instead of the trained model.inference: fused, route or ensemble (route and ensemble need auxiliary heads)")
	f.StringVar(&o.threshold, "threshold", "", "threshold rule of two-class protocol metrics instead of the trained metrics.threshold: eer (the EER threshold of the validation split), argmax, or a probability of the live class in [0, 1]")
	f.StringVar(&o.data, "data", "", "evaluate on this labelled manifest CSV alone (models of file modalities) instead of a split of the training data")
	f.StringArrayVar(&o.views, "view", nil, "NAME=FILE: evaluate on these view files alone, CSV or NPY, rows aligned (models of feature vectors; repeatable; needs --labels)")
	f.StringVar(&o.labels, "labels", "", "labels of the --view rows: one class name or index per line, or an NPY vector")
	f.BoolVar(&o.allowDataChange, "allow-data-change", false, "evaluate even if the training data files differ from those the model was trained on (size and SHA-256 recorded in the checkpoint; without it such data is refused)")
}

// checkEvalFlags reports a --split or --inference value that names no split or mode, and
// --split given together with new data, before anything is loaded.
func (o *modelOptions) checkEvalFlags() error {
	switch o.split {
	case "test", "train", "val":
	default:
		return usagef("--split=%s: not a split (want test, val or train)", o.split)
	}
	switch o.inference {
	case "", "fused", "route", "ensemble":
	default:
		return usagef("--inference=%s: not an inference mode (want fused, route or ensemble)", o.inference)
	}
	if t := o.threshold; t != "" && t != "eer" && t != "argmax" {
		if v, err := strconv.ParseFloat(t, 64); err != nil || !(v >= 0 && v <= 1) {
			return usagef("--threshold=%s: not a threshold rule (want eer, argmax or a probability of the live class in [0, 1], e.g. 0.5)", t)
		}
	}
	if o.newData() && o.flags != nil && o.flags.Changed("split") {
		return usagef("--split=%s: evaluates a split of the training data; --data, --view and --labels evaluate new data (give one or the other)", o.split)
	}
	return nil
}

// newData reports whether new data (--data, --view, --labels) replaces the training splits.
func (o *modelOptions) newData() bool { return o.data != "" || len(o.views) > 0 || o.labels != "" }

// evalSets are the --set keys eval and sweep-missing act on besides out: the data root, the
// inference mode and the protocol threshold rule.
var evalSets = []string{"data.root", "model.inference", "metrics.threshold"}

// checkSets refuses --set keys a command cannot honour: it uses --config and --set to find
// the run directory (out), and the trained model's settings are fixed, so a key other than
// out and honoured that asks for a value other than the trained one would be silently
// ignored.
func (a *app) checkSets(sets []string, cfgFile string, trainedYAML []byte, cmd string, honoured ...string) error {
	if len(sets) == 0 {
		return nil
	}
	req, err := a.loadConfig(cfgFile, sets)
	if err != nil {
		return err
	}
	trained, err := config.FromYAML(trainedYAML, "checkpoint")
	if err != nil {
		return err
	}
	rm, err := yamlMap(req)
	if err != nil {
		return err
	}
	tm, err := yamlMap(trained)
	if err != nil {
		return err
	}
	for _, kv := range sets {
		key, _, _ := strings.Cut(kv, "=")
		key = strings.TrimSpace(key)
		if key == "out" || slices.Contains(honoured, key) {
			continue
		}
		want, got := lookupKey(rm, key), lookupKey(tm, key)
		if reflect.DeepEqual(want, got) {
			continue
		}
		hint := fmt.Sprintf("use --set only for %s, or train a model with this setting", joinOr(append([]string{"out"}, honoured...)))
		if strings.HasPrefix(key, "data.") {
			hint = "to evaluate other data give it with --data FILE, or --view NAME=FILE and --labels FILE"
		}
		return usagef("--set %s: %s cannot change the trained model's %s, trained as %v (%s)", kv, cmd, key, formatValue(got), hint)
	}
	return nil
}

func yamlMap(c *config.Config) (map[string]any, error) {
	b, err := c.YAML()
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	return m, nil
}

func lookupKey(m map[string]any, key string) any {
	var cur any = m
	for _, part := range strings.Split(key, ".") {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = mm[part]
	}
	return cur
}

func formatValue(v any) string {
	if v == nil {
		return "unset"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// honour applies the honoured --set keys data.root and model.inference to the options.
func (a *app) honour(o *modelOptions) error {
	if len(o.sets) == 0 {
		return nil
	}
	req, err := a.loadConfig(o.config, o.sets)
	if err != nil {
		return err
	}
	for _, kv := range o.sets {
		key, _, _ := strings.Cut(kv, "=")
		switch strings.TrimSpace(key) {
		case "data.root":
			if o.dataRoot == "" {
				o.dataRoot = req.Data.Root
			}
		case "model.inference":
			if o.inference == "" {
				o.inference = req.Model.Inference
			}
		case "metrics.threshold":
			if o.threshold == "" {
				o.threshold = req.Metrics.Threshold
			}
		}
	}
	return nil
}

// openModel loads the model that --checkpoint or --config names and its evaluator, and
// returns the data to evaluate.
func (a *app) openModel(o *modelOptions) (*train.Trained, *evaluate.Evaluator, *dataset.Split, error) {
	if err := o.checkEvalFlags(); err != nil {
		return nil, nil, nil, err
	}
	dir, err := a.runDir(o.command, o.checkpoint, o.config, o.sets)
	if err != nil {
		return nil, nil, nil, err
	}
	if o.config != "" {
		if err := a.honour(o); err != nil {
			return nil, nil, nil, err
		}
	}
	return a.openRun(dir, o)
}

// openRun loads the model of dir (a run directory or a checkpoint file, see
// train.CheckpointPath) and its evaluator, and returns the data to evaluate: a split of the
// training data, or the new data of --data / --view. With --config, the --set keys are
// checked against the trained configuration.
func (a *app) openRun(dir string, o *modelOptions) (*train.Trained, *evaluate.Evaluator, *dataset.Split, error) {
	if err := o.checkEvalFlags(); err != nil {
		return nil, nil, nil, err
	}
	root := a.dataRootFor(dir, o.dataRoot)
	newData := o.newData()
	var (
		tr    *train.Trained
		split *dataset.Split
		err   error
	)
	if newData {
		tr, split, err = a.openNewData(dir, root, o)
	} else {
		tr, err = train.OpenWith(dir, train.OpenOptions{DataRoot: root, AllowDataChange: o.allowDataChange})
	}
	if err != nil {
		return nil, nil, nil, err
	}
	a.warn(tr.Warnings)
	if o.config != "" {
		if err := a.checkSets(o.sets, o.config, tr.State.Config, "eval", evalSets...); err != nil {
			return nil, nil, nil, err
		}
	}
	if !newData {
		switch o.split {
		case "test":
			split = tr.Data.Test
		case "train":
			split = tr.Data.Train
		case "val":
			if split = tr.Data.Val; split == nil {
				return nil, nil, nil, usagef("--split=val: the run has no validation split (it was trained with data.val_fraction 0)")
			}
		}
	}
	if !tr.Final {
		fmt.Fprintf(a.errOut, "dmrnet: training in %s has not finished; evaluating its checkpoint after epoch %d of %d\n",
			dir, tr.State.Epoch, tr.Config.Train.Epochs)
	}
	ev, err := train.NewEvaluator(tr.Config, tr.Model, tr.Data)
	if err != nil {
		return nil, nil, nil, err
	}
	ev.Hard = tr.State.Hard
	ev.SupportedOnly = newData
	if o.inference != "" {
		if o.inference != "fused" && !tr.Model.HasAux() {
			return nil, nil, nil, usagef("--inference=%s: the model in %s has no auxiliary heads (train it with model.aux_heads.weight > 0, or use --inference=fused)", o.inference, dir)
		}
		ev.Mode = o.inference
	}
	if o.threshold != "" {
		ev.Threshold = o.threshold
	}
	return tr, ev, split, nil
}

// openNewData loads the model without its training data and reads the labelled samples of
// --data or --view/--labels, preprocessed as the model's training data was.
func (a *app) openNewData(dir, root string, o *modelOptions) (*train.Trained, *dataset.Split, error) {
	l, err := train.OpenModel(dir, root)
	if err != nil {
		return nil, nil, err
	}
	prep, err := train.Prep(l)
	if err != nil {
		return nil, nil, err
	}
	in, err := openInputs(prep.Names(), prep.Vectors(), l.Config, o.data, o.views, o.labels, true)
	if err != nil {
		return nil, nil, err
	}
	defer in.Close()
	split := &dataset.Split{X: make([][]float32, len(prep.Inputs))}
	var x [][]float32
	for {
		recs, err := in.Next(predictChunk)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, err
		}
		raw := make([]dataset.RawSample, len(recs))
		for i, r := range recs {
			raw[i] = dataset.RawSample{Vectors: make([][]float64, len(prep.Inputs)), Files: make([]string, len(prep.Inputs))}
			for name, v := range r.Vectors {
				raw[i].Vectors[prep.Index(name)] = v
			}
			for name, f := range r.Files {
				raw[i].Files[prep.Index(name)] = f
			}
		}
		var avail []combo.Set
		var errs []error
		x, avail, errs = prep.Decode(raw, x)
		for i, r := range recs {
			if errs[i] != nil {
				return nil, nil, sampleError(r, errs[i])
			}
			y, err := inputs.ClassIndex(r.Label, l.Classes)
			if err != nil {
				return nil, nil, sampleError(r, err)
			}
			split.Y = append(split.Y, y)
		}
		split.Avail = append(split.Avail, avail...)
		for k := range prep.Inputs {
			split.X[k] = append(split.X[k], x[k]...)
		}
	}
	name := o.data
	if name == "" {
		name = "views"
	}
	ds := &dataset.Dataset{Name: name, Modalities: l.Modalities, Classes: l.Classes, Test: split, Norms: l.State.Norms}
	return &train.Trained{Config: l.Config, Data: ds, Model: l.Model, State: l.State, Final: l.Final, Path: l.Path, Warnings: l.Warnings}, split, nil
}

type evalOptions struct {
	modelOptions
	missing, present string
	format           string
}

func (a *app) newEvalCmd() *cobra.Command {
	o := &evalOptions{}
	cmd := &cobra.Command{
		Use:   "eval",
		Short: "Evaluate a trained model with some modalities missing",
		Long: `Evaluate a trained model on one modality combination: the modalities named by
--missing are absent (their features are zeroed, as in training), or only those named by
--present are there. Prints accuracy, macro-F1, the confusion matrix (rows = true class,
columns = predicted) and, for two-class tasks, APCER, BPCER and ACER. The numbers equal the
matching row of sweep-missing.`,
		Example: `  dmrnet eval --config configs/quickstart.yaml --missing=depth
  dmrnet eval --missing=depth     # the most recently finished run under ./runs
  dmrnet eval --checkpoint runs/quickstart --present=rgb,ir --format json`,
		RunE: func(cmd *cobra.Command, _ []string) error { return a.runEval(o) },
	}
	o.addFlags(cmd)
	f := cmd.Flags()
	f.StringVar(&o.missing, "missing", "", "comma-separated modalities that are missing")
	f.StringVar(&o.present, "present", "", "comma-separated modalities that are present (the others are missing)")
	f.StringVar(&o.format, "format", "text", "output format: text or json")
	return cmd
}

func (a *app) runEval(o *evalOptions) error {
	if (o.missing == "") == (o.present == "") {
		return usagef("eval: needs exactly one of --missing=LIST or --present=LIST (e.g. --missing=depth)")
	}
	if !validFormat(o.format, report.RowFormats()) {
		return usagef("--format=%s: not supported (want %s)", o.format, joinOr(report.RowFormats()))
	}
	tr, ev, split, err := a.openModel(&o.modelOptions)
	if err != nil {
		return err
	}
	var set combo.Set
	if o.missing != "" {
		if set, err = ev.Space.FromMissing(o.missing); err != nil {
			return usageError{fmt.Errorf("--missing=%s: %w", o.missing, err)}
		}
	} else if set, err = ev.Space.ParseCombination(o.present); err != nil {
		return usageError{fmt.Errorf("--present=%s: %w", o.present, err)}
	}
	if o.data != "" || len(o.views) > 0 {
		if len(ev.Samples(split, set)) == 0 {
			return fmt.Errorf("%s: no sample of the data has all of %s (evaluate a combination the data carries)", ev.Space.Name(set), strings.Join(ev.Space.Present(set), ", "))
		}
	}
	row, err := ev.Row(split, set)
	if err != nil {
		return err
	}
	return report.WriteRow(a.out, row, tr.Data.Classes, o.format)
}
