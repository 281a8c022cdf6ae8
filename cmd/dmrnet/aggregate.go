package main

import (
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"

	"github.com/dmrnet/dmrnet/internal/aggregate"
	"github.com/dmrnet/dmrnet/internal/config"
	"github.com/dmrnet/dmrnet/internal/specialist"
	"github.com/spf13/cobra"
)

type aggregateOptions struct {
	format, plot, metric, output, title, specialists, baseline string
}

func (a *app) newAggregateCmd() *cobra.Command {
	o := &aggregateOptions{}
	cmd := &cobra.Command{
		Use:   "aggregate RUN_DIR...",
		Short: "Combine runs into per-variant mean±std tables over seeds (and a plot)",
		Long: `Read the finished runs under the given directories (each a run directory, or a directory
holding run directories at any depth), group them by their settings (runs that differ only in
train.seed are seeds of one group, labelled by variant), and report per combination the mean
and sample standard deviation over seeds, plus the mean over combinations and the worst
combination. Runs of different data or model settings are refused rather than mixed.

--plot draws the figure in the format of its extension (.png, .svg or .pdf). With more than
15 combinations it is a heatmap: one named row per combination (ordered by the number of
modalities present), one column per group, the value written in every cell; with fewer, a
chart of one line per group (distinct colour, marker and dashes) with its seed spread.
--baseline NAME makes it a heatmap of every group's difference to group NAME.`,
		Example: `  scripts/ablations.sh configs/mfeat.yaml runs/ablations/mfeat
  dmrnet aggregate runs/ablations/mfeat --format markdown --plot mfeat.png
  dmrnet aggregate runs/ablations/mfeat --format latex --plot mfeat-heatmap.svg --baseline deterministic
  dmrnet aggregate runs/sweep/mfeat --metric macro_f1 --format csv --output sweep.csv`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return a.runAggregate(o, args) },
	}
	f := cmd.Flags()
	f.StringVar(&o.format, "format", "table", "output format: table, markdown, csv, json or latex (a booktabs tabular)")
	f.StringVar(&o.plot, "plot", "", "also draw the accuracy of every combination into this file (.png, .svg or .pdf)")
	f.StringVar(&o.baseline, "baseline", "", "with --plot: a heatmap of each group's difference to this group (a label of the table)")
	f.StringVar(&o.metric, "metric", "accuracy", "metric: accuracy, macro_f1, acer (at arg-max), or for two-class tasks auc, eer, acer_threshold (at the protocol threshold, see metrics.threshold), bpcer_apcer_1, bpcer_apcer_5, bpcer_apcer_10")
	f.StringVar(&o.output, "output", "", "write the table to this file (atomically) instead of stdout")
	f.StringVar(&o.title, "title", "", "title of the plot (default: the data set and metric)")
	f.StringVar(&o.specialists, "specialists", "", "compare with the specialists in this directory (dmrnet specialists): a specialist column and each variant's cost of robustness")
	return cmd
}

func (a *app) runAggregate(o *aggregateOptions, paths []string) error {
	if !validFormat(o.format, aggregate.Formats()) {
		return usagef("--format=%s: not supported (want %s)", o.format, joinOr(aggregate.Formats()))
	}
	if !validFormat(o.metric, aggregate.Metrics()) {
		return usagef("--metric=%s: not supported (want %s)", o.metric, joinOr(aggregate.Metrics()))
	}
	if o.plot != "" && !slices.Contains(aggregate.PlotFormats(), strings.ToLower(filepath.Ext(o.plot))) {
		return usagef("--plot=%s: not a .png, .svg or .pdf file name (the extension chooses the format)", o.plot)
	}
	if o.baseline != "" && o.plot == "" {
		return usagef("--baseline: needs --plot (add --plot FILE.svg)")
	}
	dirs, unfinished, err := aggregate.Discover(paths)
	if err != nil {
		return err
	}
	if len(unfinished) > 0 {
		fmt.Fprintf(a.errOut, "dmrnet: skipped %d unfinished runs (e.g. %s)\n", len(unfinished), unfinished[0])
	}
	runs, err := aggregate.Load(dirs)
	if err != nil {
		return err
	}
	groups, err := aggregate.GroupRuns(runs)
	if err != nil {
		return err
	}
	a.warn(aggregate.SameSettings(groups))
	table, err := aggregate.Summarize(groups, o.metric)
	if err != nil {
		return err
	}
	if o.specialists != "" {
		if o.metric != "accuracy" {
			return usagef("--specialists: compares accuracy only (drop --metric=%s)", o.metric)
		}
		set, err := specialist.Load(o.specialists)
		if err != nil {
			return err
		}
		if err := set.Check(table.Modalities); err != nil {
			return err
		}
		table.AddSpecialists(set)
	}
	if o.plot != "" {
		title := o.title
		if title == "" {
			title = fmt.Sprintf("%s: %s per combination (mean ± std over seeds)", dataLabel(runs[0].Config), o.metric)
		}
		if o.baseline != "" && !slices.Contains(table.Groups, o.baseline) {
			return usagef("--baseline=%s: not a group of these runs (want %s)", o.baseline, joinOr(table.Groups))
		}
		if err := table.PlotWith(o.plot, title, aggregate.PlotOptions{Baseline: o.baseline}); err != nil {
			return err
		}
		fmt.Fprintf(a.errOut, "dmrnet: wrote %s\n", o.plot)
	}
	return a.writeOutput(o.output, func(w io.Writer) error { return table.Write(w, o.format) })
}

// dataLabel names the data set of a configuration for titles.
func dataLabel(cfg *config.Config) string {
	d := cfg.Data
	switch d.Kind {
	case "table":
		if len(d.Table.Views) > 0 {
			return filepath.Base(filepath.Dir(d.Table.Views[0].File))
		}
	case "manifest":
		return strings.TrimSuffix(filepath.Base(d.Manifest.File), filepath.Ext(d.Manifest.File))
	}
	return d.Kind
}
