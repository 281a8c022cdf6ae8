package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/dmrnet/dmrnet/internal/atomicfile"
	"github.com/dmrnet/dmrnet/internal/combo"
	"github.com/dmrnet/dmrnet/internal/grid"
	"github.com/dmrnet/dmrnet/internal/report"
	"github.com/dmrnet/dmrnet/internal/specialist"
	"github.com/dmrnet/dmrnet/internal/train"
	"github.com/spf13/cobra"
)

type specialistsOptions struct {
	config   string
	format   string
	sets     []string
	maxSize  int
	seeds    string
	out      string
	dataRoot string
}

func (a *app) newSpecialistsCmd() *cobra.Command {
	o := &specialistsOptions{}
	cmd := &cobra.Command{
		Use:   "specialists",
		Short: "Train one model per small modality combination: the yardstick of a robust model",
		Long: `Train a specialist for every combination of at most --max-size modalities: the same
encoders and head, trained (deterministic variant, no KL, no HCR) on that combination only, the
other modalities absent. A specialist has encoders for its own modalities only (unless the
configuration has auxiliary heads): the others would never be trained. Each seed of each specialist gets its own run directory
OUT/<combination>/seed<k>; finished ones are skipped. Their test accuracy on their own
combination, mean and standard deviation over seeds, goes to OUT/specialists.json, which
sweep-missing --specialists and aggregate --specialists compare a robust model against.`,
		Example: `  dmrnet specialists --config configs/mfeat.yaml --seeds 0,1,2 --out runs/specialists/mfeat
  dmrnet sweep-missing --config configs/mfeat.yaml --specialists runs/specialists/mfeat
  dmrnet aggregate runs/ablations/mfeat --specialists runs/specialists/mfeat`,
		RunE: func(cmd *cobra.Command, _ []string) error { return a.runSpecialists(o) },
	}
	f := cmd.Flags()
	f.StringVarP(&o.config, "config", "c", "", "configuration of the robust model whose encoders and head the specialists share")
	f.StringArrayVar(&o.sets, "set", nil, "override a configuration key for every specialist (repeatable)")
	f.IntVar(&o.maxSize, "max-size", 1, "largest number of modalities in a specialist's combination")
	f.StringVar(&o.seeds, "seeds", "0", "comma-separated training seeds")
	f.StringVarP(&o.out, "out", "o", "", "root of the specialists' run directories (default runs/specialists/<config name>)")
	f.StringVar(&o.dataRoot, "data-root", "", "directory the data files are read from (sets data.root)")
	f.StringVar(&o.format, "format", "text", "output format of the table: text or json (the content of specialists.json)")
	return cmd
}

func (a *app) runSpecialists(o *specialistsOptions) error {
	if err := checkFormat(o.format, textJSON); err != nil {
		return err
	}
	if o.config == "" {
		return usagef("specialists: no --config (give the robust model's configuration: --config FILE)")
	}
	seeds, err := parseSeeds(o.seeds)
	if err != nil {
		return err
	}
	base := withDataRoot(o.sets, o.dataRoot)
	cfg, err := a.loadConfig(o.config, base)
	if err != nil {
		return err
	}
	names := cfg.ModalityNames()
	sp, err := combo.NewSpace(names)
	if err != nil {
		return err
	}
	if o.maxSize < 1 || o.maxSize > sp.M() {
		return usagef("--max-size=%d: out of range (want 1 to %d, the number of modalities)", o.maxSize, sp.M())
	}
	root := firstNonEmpty(o.out, defaultRoot("specialists", o.config))
	stale, err := atomicfile.RemoveStale(root, func(base string) bool { return base == specialist.File })
	if err != nil {
		return err
	}
	a.reportStale(root, stale)
	results := map[string][]specialist.SeedResult{}
	for _, s := range sp.All() {
		if s.Len() > o.maxSize {
			continue
		}
		name := sp.Name(s)
		for _, seed := range seeds {
			dir := filepath.Join(root, name, fmt.Sprintf("seed%d", seed))
			job := grid.Job{Name: name, Dir: dir, Seed: seed, Sets: []string{
				"variant=deterministic", "dropout.mode=explicit", fmt.Sprintf("dropout.probs={%s: 1}", name),
				fmt.Sprintf("train.seed=%d", seed), "out=" + dir,
			}}
			if train.Status(dir) != train.Finished {
				fmt.Fprintf(a.errOut, "dmrnet: specialist %s, seed %d\n", name, seed)
				if err := a.runJob(o.config, base, job, "specialists"); err != nil {
					if errors.Is(err, train.ErrInterrupted) {
						return fmt.Errorf("specialists: %w in %s (run the same command again to resume)", err, dir)
					}
					return fmt.Errorf("specialist %s, seed %d: %w", name, seed, err)
				}
			}
			acc, err := ownAccuracy(dir, name)
			if err != nil {
				return err
			}
			results[name] = append(results[name], specialist.SeedResult{Seed: seed, Run: dir, Accuracy: acc})
		}
	}
	set := specialist.Collect(names, results)
	if err := set.Save(root); err != nil {
		return err
	}
	if o.format == "json" {
		if err := printJSON(a.out, set); err != nil {
			return err
		}
		fmt.Fprintf(a.errOut, "dmrnet: wrote %s\n", filepath.Join(root, specialist.File))
		return nil
	}
	tw := tabwriter.NewWriter(a.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "specialist\taccuracy %\tstd\tseeds")
	for _, e := range set.Entries {
		fmt.Fprintf(tw, "%s\t%.2f\t%.2f\t%d\n", e.Combination, 100*e.Accuracy, 100*e.Std, len(e.Seeds))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(a.errOut, "dmrnet: wrote %s\n", filepath.Join(root, specialist.File))
	return nil
}

// ownAccuracy reads a specialist run's test accuracy on its own combination.
func ownAccuracy(dir, name string) (float64, error) {
	data, err := os.ReadFile(filepath.Join(dir, train.SweepFile))
	if err != nil {
		return 0, fmt.Errorf("%s: %w (the run did not finish: run the command again)", dir, err)
	}
	var sw report.Sweep
	if err := json.Unmarshal(data, &sw); err != nil {
		return 0, fmt.Errorf("%s: %w", filepath.Join(dir, train.SweepFile), err)
	}
	for _, r := range sw.Combinations {
		if r.Name == name {
			if !r.Evaluated() {
				return 0, fmt.Errorf("%s: no test sample has every modality of %s, so its specialist has no test accuracy (give the test split samples that have it)", filepath.Join(dir, train.SweepFile), name)
			}
			return r.Accuracy, nil
		}
	}
	return 0, fmt.Errorf("%s: no row for %s (the run is not a specialist of %s: remove it and run the command again)", filepath.Join(dir, train.SweepFile), name, name)
}
