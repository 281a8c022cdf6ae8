package main

import (
	"fmt"

	"github.com/dmrnet/dmrnet/internal/combo"
	"github.com/dmrnet/dmrnet/internal/dataset"
	"github.com/dmrnet/dmrnet/internal/evaluate"
	"github.com/dmrnet/dmrnet/internal/report"
	"github.com/dmrnet/dmrnet/internal/train"
	"github.com/spf13/cobra"
)

// modelOptions choose a trained model and the split to evaluate it on.
type modelOptions struct {
	checkpoint string
	config     string
	sets       []string
	split      string
	dataRoot   string
	inference  string
}

func (o *modelOptions) addFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.checkpoint, "checkpoint", "", "run directory of a trained model (holding final.ckpt or checkpoint.ckpt)")
	f.StringVarP(&o.config, "config", "c", "", "use the run directory this configuration trains into (its out key)")
	f.StringArrayVar(&o.sets, "set", nil, "override a key of --config, e.g. --set out=runs/other (repeatable)")
	f.StringVar(&o.split, "split", "test", "split to evaluate: test, val or train")
	f.StringVar(&o.dataRoot, "data-root", "", "directory of the data files, if it moved since training (default: $DMRNET_DATA_ROOT, else the saved data.root)")
	f.StringVar(&o.inference, "inference", "", "inference mode instead of the trained model.inference: fused, route or ensemble (route and ensemble need auxiliary heads)")
}

// open loads the model and its evaluator, and returns the split to evaluate.
func (a *app) openModel(o *modelOptions) (*train.Trained, *evaluate.Evaluator, *dataset.Split, error) {
	dir, err := a.runDir(o.checkpoint, o.config, o.sets)
	if err != nil {
		return nil, nil, nil, err
	}
	root := o.dataRoot
	if root == "" {
		root = a.getenv("DMRNET_DATA_ROOT")
	}
	tr, err := train.Open(dir, root)
	if err != nil {
		return nil, nil, nil, err
	}
	var split *dataset.Split
	switch o.split {
	case "test":
		split = tr.Data.Test
	case "train":
		split = tr.Data.Train
	case "val":
		if split = tr.Data.Val; split == nil {
			return nil, nil, nil, usagef("--split=val: the run has no validation split (it was trained with data.val_fraction 0)")
		}
	default:
		return nil, nil, nil, usagef("--split=%s: not a split (want test, val or train)", o.split)
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
	switch o.inference {
	case "":
	case "fused", "route", "ensemble":
		if o.inference != "fused" && !tr.Model.HasAux() {
			return nil, nil, nil, usagef("--inference=%s: the model in %s has no auxiliary heads (train it with model.aux_heads.weight > 0, or use --inference=fused)", o.inference, dir)
		}
		ev.Mode = o.inference
	default:
		return nil, nil, nil, usagef("--inference=%s: not an inference mode (want fused, route or ensemble)", o.inference)
	}
	return tr, ev, split, nil
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
	row, err := ev.Row(split, set)
	if err != nil {
		return err
	}
	return report.WriteRow(a.out, row, tr.Data.Classes, o.format)
}
