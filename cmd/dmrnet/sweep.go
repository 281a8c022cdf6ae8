package main

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/dmrnet/dmrnet/internal/atomicfile"
	"github.com/dmrnet/dmrnet/internal/report"
	"github.com/dmrnet/dmrnet/internal/specialist"
	"github.com/spf13/cobra"
)

type sweepOptions struct {
	modelOptions
	format      string
	output      string
	specialists string
	plot        string
}

func (a *app) newSweepCmd() *cobra.Command {
	o := &sweepOptions{}
	cmd := &cobra.Command{
		Use:   "sweep-missing",
		Short: "Evaluate a trained model on every combination of missing modalities",
		Long: `Evaluate a trained model on each of the 2^M-1 non-empty modality combinations
and report one row per combination plus the mean over combinations and the worst one.
Combinations in the model's hard set are marked.`,
		Example: `  dmrnet sweep-missing --config configs/quickstart.yaml
  dmrnet sweep-missing --checkpoint runs/quickstart --format csv --output sweep.csv`,
		RunE: func(cmd *cobra.Command, _ []string) error { return a.runSweep(o) },
	}
	o.addFlags(cmd)
	f := cmd.Flags()
	f.StringVar(&o.format, "format", "table", "output format: table, json, csv or markdown")
	f.StringVar(&o.output, "output", "", "write to this file (atomically) instead of stdout")
	f.StringVar(&o.specialists, "specialists", "", "compare with the specialists in this directory (dmrnet specialists): their accuracy, the gap and the cost of robustness")
	f.StringVar(&o.plot, "plot", "", "two-class tasks: write the ROC of every combination to this file, one curve each (format by extension: .svg, .pdf, .png)")
	return cmd
}

func (a *app) runSweep(o *sweepOptions) error {
	if !validFormat(o.format, report.Formats()) {
		return usagef("--format=%s: not supported (want %s)", o.format, joinOr(report.Formats()))
	}
	tr, ev, split, err := a.openModel(&o.modelOptions)
	if err != nil {
		return err
	}
	sw, err := ev.Sweep(split)
	if err != nil {
		return err
	}
	sw.Split = o.split
	sw.Checkpoint = tr.Path
	if o.specialists != "" {
		set, err := specialist.Load(o.specialists)
		if err != nil {
			return err
		}
		if err := set.Check(sw.Modalities); err != nil {
			return err
		}
		sw.AddSpecialists(set)
	}
	if o.plot != "" {
		b, err := sw.PlotROC(o.plot)
		if err != nil {
			return fmt.Errorf("--plot=%s: %w", o.plot, err)
		}
		if err := atomicfile.WriteFile(o.plot, b, 0o644); err != nil {
			return err
		}
		fmt.Fprintf(a.errOut, "dmrnet: wrote %s\n", o.plot)
	}
	return a.writeOutput(o.output, func(w io.Writer) error { return sw.Write(w, o.format) })
}

// writeOutput renders with write to standard output or, when path is given, atomically to
// that file, reporting it on standard error.
func (a *app) writeOutput(path string, write func(io.Writer) error) error {
	if path == "" {
		return write(a.out)
	}
	var buf bytes.Buffer
	if err := write(&buf); err != nil {
		return err
	}
	if err := atomicfile.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(a.errOut, "dmrnet: wrote %s\n", path)
	return nil
}

func validFormat(f string, valid []string) bool {
	for _, v := range valid {
		if f == v {
			return true
		}
	}
	return false
}

func joinOr(v []string) string {
	if len(v) < 2 {
		return strings.Join(v, "")
	}
	return strings.Join(v[:len(v)-1], ", ") + " or " + v[len(v)-1]
}
