package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/dmrnet/dmrnet/internal/config"
	"github.com/dmrnet/dmrnet/internal/hardset"
	"github.com/dmrnet/dmrnet/internal/progress"
	"github.com/dmrnet/dmrnet/internal/report"
	"github.com/dmrnet/dmrnet/internal/runlock"
	"github.com/dmrnet/dmrnet/internal/train"
	"github.com/spf13/cobra"
)

type trainOptions struct {
	config   string
	sets     []string
	out      string
	resume   string
	quiet    bool
	format   string
	dataRoot string
	force    bool
	// allowDataChange resumes on data that differs from the data the run was trained on.
	allowDataChange bool
}

func (a *app) newTrainCmd() *cobra.Command {
	o := &trainOptions{}
	cmd := &cobra.Command{
		Use:   "train",
		Short: "Train a model, then evaluate it on every modality combination",
		Long: `Train a DMRNet model as the configuration says, writing into its run directory
(out, or --out): config.yaml (the resolved configuration), checkpoint.ckpt (the latest state,
saved every epoch and on Ctrl-C), final.ckpt (the trained model), metrics.jsonl (one line per
epoch), hardset.json (the hard combinations and their warm-up statistics) and sweep.json
(test metrics of every combination). At the end the per-combination table is printed.

Progress goes to stderr: a progress bar with ETA on a terminal, one line per epoch
otherwise. Ctrl-C saves a checkpoint; --resume continues it to exactly the numbers an
uninterrupted run gives.

The run directory keeps the last train.keep_checkpoints (default 2) training checkpoints:
checkpoint.ckpt and the earlier checkpoint-<epoch>-<step>.ckpt; --resume falls back to the
newest intact one when checkpoint.ckpt is damaged, and says so. provenance.json (and every
checkpoint) records the dmrnet version and the size and SHA-256 of every data file; --resume
refuses data that changed since unless --allow-data-change is given. Temporary files left by
a killed write are removed when training starts.`,
		Example: `  dmrnet train --config configs/quickstart.yaml
  dmrnet train --config configs/quickstart.yaml --set train.epochs=5 --set loss.beta=0 --out runs/nohcr
  DMRNET_TRAIN_SEED=1 dmrnet train --config configs/quickstart.yaml --out runs/seed1
  dmrnet train --resume runs/quickstart --set train.epochs=40`,
		RunE: func(cmd *cobra.Command, _ []string) error { return a.runTrain(o) },
	}
	f := cmd.Flags()
	f.StringVarP(&o.config, "config", "c", "", "YAML configuration file (defaults apply to keys it leaves out)")
	f.StringArrayVar(&o.sets, "set", nil, "override a configuration key, e.g. --set train.epochs=5 (repeatable; value is YAML)")
	f.StringVarP(&o.out, "out", "o", "", "run directory (overrides the configuration's out)")
	f.StringVar(&o.resume, "resume", "", "continue the run in this directory from its checkpoint (its saved configuration is used; --set may change it)")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "print no progress, only the final table")
	f.StringVar(&o.format, "format", "table", "format of the final table: table, json, csv or markdown")
	f.BoolVar(&o.force, "force", false, "start over: replace the run in the run directory (it is kept until the new run has read its data and written its first checkpoint)")
	f.StringVar(&o.dataRoot, "data-root", "", "directory the data files are read from (sets data.root; default: the configuration file's data.root, else $DMRNET_DATA_ROOT, else ../shared/data; with --resume, the saved one)")
	f.BoolVar(&o.allowDataChange, "allow-data-change", false, "with --resume: continue even if the data files differ from those the run was trained on (size and SHA-256 recorded in the checkpoint; the change is noted in provenance.json)")
	return cmd
}

func (a *app) runTrain(o *trainOptions) error {
	hooks, finish := a.trainHooks(o.quiet)
	var t *train.Trainer
	var err error
	switch {
	case o.resume != "" && o.config != "":
		return usagef("--config and --resume: give one, not both (--config FILE starts a run, --resume DIR continues one)")
	case o.allowDataChange && o.resume == "":
		return usagef("--allow-data-change: applies with --resume only (a new run records the data it is trained on)")
	case o.resume != "":
		if o.out != "" && filepath.Clean(o.out) != filepath.Clean(o.resume) {
			return usagef("--out=%s: differs from --resume %s (a resumed run stays in its directory)", o.out, o.resume)
		}
		release, err := a.lockRun(o.resume, "train --resume")
		if err != nil {
			return err
		}
		defer release()
		t, err = train.ResumeWith(o.resume, withDataRoot(o.sets, a.dataRootFor(o.resume, o.dataRoot)), hooks, train.ResumeOptions{AllowDataChange: o.allowDataChange})
		if err != nil {
			return err
		}
	default:
		sets := o.sets
		if o.out != "" {
			sets = append(append([]string(nil), sets...), "out="+o.out)
		}
		sets = withDataRoot(sets, o.dataRoot)
		cfg, err := a.loadConfig(o.config, sets)
		if err != nil {
			return err
		}
		release, err := a.lockRun(cfg.Out, "train")
		if err != nil {
			return err
		}
		defer release()
		replace, done, err := a.existingRun(cfg, o)
		if done || err != nil {
			return err
		}
		if replace {
			// the previous run stays until the new one has its data, model and first checkpoint
			t, err = train.Replace(cfg, hooks)
		} else {
			t, err = train.New(cfg, hooks)
		}
		if err != nil {
			return err
		}
	}
	dir := t.Config().Out
	a.warn(t.Warnings)
	a.reportStale(dir, t.StaleRemoved)
	if !o.quiet {
		n := 0
		for _, p := range t.Model().Params() {
			size := 1
			for _, d := range p.Shape() {
				size *= d
			}
			n += size
		}
		fmt.Fprintf(a.errOut, "dmrnet: training %s (%s, %d parameters) into %s: %d train / %d test samples (loaded in %.2fs), modalities %s, %d epochs\n",
			t.Data().Name, variantName(t.Config().Variant), n, dir, t.Data().Train.Len(), t.Data().Test.Len(), t.LoadSeconds,
			strings.Join(t.Data().Names(), ", "), t.Config().Train.Epochs)
	}
	err = t.Run(a.ctx)
	finish()
	switch {
	case t.Restored() && errors.Is(err, train.ErrInterrupted):
		return fmt.Errorf("train: %w before the new run's first checkpoint (the previous run in %s is back in place: run the command again to replace it)", err, dir)
	case t.Restored():
		err = restoredError{err, dir}
	case errors.Is(err, train.ErrInterrupted):
		st := t.State()
		return fmt.Errorf("train: %w at epoch %d, step %d (checkpoint saved in %s: continue with dmrnet train --resume %s)",
			err, st.Epoch+1, st.Step, dir, dir)
	}
	if err != nil {
		return err
	}
	sw, err := t.Evaluate()
	if err != nil {
		return err
	}
	if !o.quiet {
		fmt.Fprintf(a.errOut, "dmrnet: trained in %.1fs; wrote %s\n", t.State().Seconds, filepath.Join(dir, train.SweepFile))
	}
	return sw.Write(a.out, o.format)
}

// statsTable renders the mining statistics of every combination seen during warm-up.
func statsTable(stats []hardset.Stat) string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  combination\tmean variance\tmean CE\tsamples\thard")
	for _, s := range stats {
		mark := ""
		if s.Hard {
			mark = "*"
		}
		fmt.Fprintf(tw, "  %s\t%.4f\t%.4f\t%d\t%s\n", s.Name, s.MeanVariance, s.MeanCE, s.N, mark)
	}
	tw.Flush()
	return b.String()
}

// existingRun handles a run directory that already holds a run: with --force the run is to be
// replaced (see train.Replace); a finished run of the very same configuration is shown instead
// of retrained (so that repeating a command is harmless); anything else is an error that says
// what to do. The caller holds the directory's lock.
func (a *app) existingRun(cfg *config.Config, o *trainOptions) (replace, done bool, err error) {
	dir := cfg.Out
	st := train.Status(dir)
	if st == train.NoRun {
		return false, false, nil
	}
	if o.force {
		return true, false, nil
	}
	if st == train.Finished {
		saved, rerr := savedConfigYAML(filepath.Join(dir, train.ConfigFile))
		want, yerr := cfg.YAML()
		if rerr == nil && yerr == nil && bytes.Equal(saved, want) {
			data, err := os.ReadFile(filepath.Join(dir, train.SweepFile))
			var sw report.Sweep
			if err == nil {
				err = json.Unmarshal(data, &sw)
			}
			if err != nil {
				return false, true, fmt.Errorf("%s: its %s is unreadable: %v (retrain with --force)", dir, train.SweepFile, err)
			}
			if !o.quiet {
				fmt.Fprintf(a.errOut, "dmrnet: %s already holds this finished run; showing its results (retrain with --force)\n", dir)
			}
			return false, true, sw.Write(a.out, o.format)
		}
	}
	return false, true, fmt.Errorf("%s: already holds another run (continue it with --resume %s, retrain with --force, or choose another --out)", dir, dir)
}

// lockRun takes the run directory's lock for command (see package runlock) and finishes a
// replacement of its run that an interruption left half done. release gives the lock back.
func (a *app) lockRun(dir, command string) (release func(), err error) {
	l, err := runlock.Acquire(dir, command)
	if err != nil {
		return nil, err
	}
	release = func() {
		if err := l.Release(); err != nil {
			fmt.Fprintf(a.errOut, "dmrnet: %s\n", oneLine(err.Error()))
		}
	}
	did, err := train.Recover(dir)
	if err != nil {
		release()
		return nil, err
	}
	if did != "" {
		fmt.Fprintf(a.errOut, "dmrnet: %s: %s\n", dir, did)
	}
	return release, nil
}

// savedConfigYAML reads a run's config.yaml and resolves it again, so that a run saved by a
// dmrnet that had fewer configuration keys (their defaults then apply) compares equal to the
// same configuration resolved now.
func savedConfigYAML(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	cfg, err := config.FromYAML(data, path)
	if err != nil {
		return nil, err
	}
	return cfg.YAML()
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

func variantName(v string) string {
	if v == "" {
		return "dmrnet"
	}
	return v
}

// trainHooks reports progress on stderr: a bar on a terminal, epoch lines otherwise. finish
// clears the bar.
func (a *app) trainHooks(quiet bool) (hooks train.Hooks, finish func()) {
	if quiet {
		return train.Hooks{}, func() {}
	}
	var bar *progress.Bar
	println := func(s string) { fmt.Fprintln(a.errOut, s) }
	h := train.Hooks{
		OnStart: func(total int) {
			bar = progress.New(a.errOut, total, "train", a.errTTY)
			if a.errTTY {
				println = bar.Println
			}
		},
		OnStep: func(epoch, step, steps int, loss float64) {
			bar.SetSuffix(fmt.Sprintf("epoch %d loss %.4f", epoch+1, loss))
			bar.Add(1)
		},
		OnEpoch: func(s train.EpochStats, epochs int) {
			line := fmt.Sprintf("epoch %3d/%d  loss %.4f  ce %.4f  kl %.3f  hcr %.4f  acc %.3f  lr %.2g  %.2fs",
				s.Epoch, epochs, s.Loss, s.CE, s.KL, s.HCR, s.TrainAcc, s.LR, s.Seconds)
			if s.ValAccuracy != nil {
				line += fmt.Sprintf("  val %.4f", *s.ValAccuracy)
			}
			println(line)
			if msg := stopLine(s.Stop); msg != "" {
				println(msg)
			}
		},
		OnHardSet: func(epoch int, h []string, stats []hardset.Stat) {
			println(fmt.Sprintf("hard set after epoch %d (%d of %d combinations): %s", epoch+1, len(h), len(stats), strings.Join(h, ", ")))
			for _, line := range strings.Split(strings.TrimRight(statsTable(stats), "\n"), "\n") {
				println(line)
			}
		},
	}
	return h, func() { bar.Finish() }
}

// stopLine tells, on the last epoch, that early stopping ended training and which epoch's
// weights final.ckpt keeps; "" when training ran all its epochs and kept the last one.
func stopLine(s *train.StopInfo) string {
	if s == nil {
		return ""
	}
	var kept string
	switch {
	case s.KeptEpoch != s.Epoch:
		kept = fmt.Sprintf("final.ckpt keeps epoch %d's weights, the best validation mean accuracy %.4f (train.select_best)", s.KeptEpoch, s.BestScore)
	case s.SelectBest || s.BestEpoch == s.Epoch:
		kept = fmt.Sprintf("final.ckpt keeps epoch %d's weights, the last and the best on validation", s.KeptEpoch)
	default:
		kept = fmt.Sprintf("final.ckpt keeps epoch %d's weights, the last (the best on validation was epoch %d; train.select_best=true keeps the best)", s.KeptEpoch, s.BestEpoch)
	}
	if s.EarlyStopped() {
		return fmt.Sprintf("early stopping at epoch %d of %d: no validation improvement for %d epochs (train.patience %d); %s",
			s.Epoch, s.Epochs, s.Patience, s.Patience, kept)
	}
	if s.KeptEpoch != s.Epoch {
		return fmt.Sprintf("trained all %d epochs; %s", s.Epochs, kept)
	}
	return ""
}

// restoredError is the error of a --force run that failed before its first checkpoint, after
// the previous run was put back: its hint also says that the previous run is in place.
type restoredError struct {
	err error
	dir string
}

func (e restoredError) Error() string {
	msg, note := e.err.Error(), "the previous run in "+e.dir+" is back in place"
	if strings.HasSuffix(msg, ")") {
		return msg[:len(msg)-1] + "; " + note + ")"
	}
	return msg + " (" + note + ")"
}

func (e restoredError) Unwrap() error { return e.err }
