package main

import (
	"fmt"
	"io"

	"github.com/dmrnet/dmrnet/internal/aggregate"
	"github.com/dmrnet/dmrnet/internal/progress"
	"github.com/dmrnet/dmrnet/internal/uncertainty"
	"github.com/spf13/cobra"
)

type uncertaintyOptions struct {
	modelOptions
	format, output string
}

func (a *app) newUncertaintyCmd() *cobra.Command {
	o := &uncertaintyOptions{}
	cmd := &cobra.Command{
		Use:   "uncertainty RUN_DIR...",
		Short: "Measure whether a model's uncertainty tells its wrong predictions from its right ones",
		Long: `Evaluate trained models on every non-empty modality combination and ask whether their
uncertainty means anything. Three per-sample uncertainty measures are compared: sigma^2 (the
mean predicted variance of the probabilistic embedding; n/a for a model without a logvar
head), the entropy of the class probabilities, and 1 - the largest class probability.

Per combination: n, accuracy, each measure's AUROC as a detector of wrong predictions (the
probability that a wrong prediction is more uncertain than a right one, ties counting 1/2;
0.5 is chance, n/a when every prediction is right or every one is wrong), and the accuracy at
90 % and 80 % coverage: on the ceil(0.9 n) and ceil(0.8 n) samples each measure calls most
certain (ties go to the earlier sample), abstaining on the rest. A last row gives the mean over
combinations, and a line below names the measure with the best mean AUROC.

Each RUN_DIR is a run directory (its final.ckpt, or checkpoint.ckpt while training runs) or
a checkpoint file. Several are seeds of one configuration: every cell is then the mean and
sample standard deviation over them. Runs whose configurations differ in anything but
train.seed and out (other data, model or training settings) are refused, as are two runs with
the same seed.`,
		Example: `  dmrnet uncertainty runs/quickstart
  dmrnet uncertainty runs/unc/mfeat/seed0 runs/unc/mfeat/seed1 runs/unc/mfeat/seed2 --format markdown --output mfeat-uncertainty.md
  dmrnet uncertainty runs/robust/avmnist/aux/seed0 --inference fused --format json`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return a.runUncertainty(o, args) },
	}
	o.addEvalFlags(cmd)
	f := cmd.Flags()
	f.StringVar(&o.format, "format", "table", "output format: table, markdown, csv or json (undefined values are n/a, empty in csv, null in json)")
	f.StringVar(&o.output, "output", "", "write to this file (atomically) instead of stdout")
	return cmd
}

func (a *app) runUncertainty(o *uncertaintyOptions, dirs []string) error {
	if !validFormat(o.format, uncertainty.Formats()) {
		return usagef("--format=%s: not supported (want %s)", o.format, joinOr(uncertainty.Formats()))
	}
	if err := o.checkEvalFlags(); err != nil {
		return err
	}
	abstain := uncertainty.DefaultAbstain()
	var (
		runs    []uncertainty.Run
		checked []aggregate.Run
		bar     *progress.Bar
		mode    string
	)
	defer func() { bar.Finish() }()
	for _, dir := range dirs {
		if err := a.ctx.Err(); err != nil {
			return err
		}
		tr, ev, split, err := a.openRun(dir, &o.modelOptions)
		if err != nil {
			return err
		}
		checked = append(checked, aggregate.Run{Dir: dir, Config: tr.Config})
		if err := aggregate.CheckSeeds(checked); err != nil {
			return fmt.Errorf("uncertainty: %w", err)
		}
		if ev.Mode == "" {
			ev.Mode = "fused"
		}
		mode = ev.Mode
		if bar == nil {
			bar = progress.New(a.errOut, len(dirs)*len(ev.Space.All()), "uncertainty", a.errTTY)
		}
		bar.SetSuffix(dir)
		combos, err := uncertainty.EvaluateRun(ev, split, abstain, func() { bar.Add(1) })
		if err != nil {
			return fmt.Errorf("%s: %w", dir, err)
		}
		runs = append(runs, uncertainty.Run{Dir: dir, Seed: tr.Config.Train.Seed, Modalities: ev.Space.Names(), Combinations: combos})
	}
	bar.Finish()
	table, err := uncertainty.Summarize(runs)
	if err != nil {
		return err
	}
	table.Split, table.Inference = o.split, mode
	return a.writeOutput(o.output, func(w io.Writer) error { return table.Write(w, o.format) })
}
