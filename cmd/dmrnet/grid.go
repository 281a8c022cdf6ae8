package main

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/dmrnet/dmrnet/internal/grid"
	"github.com/dmrnet/dmrnet/internal/train"
	"github.com/spf13/cobra"
)

type sweepGridOptions struct {
	config   string
	format   string
	sets     []string
	grids    []string
	seeds    string
	out      string
	shard    string
	dryRun   bool
	dataRoot string
	emit     *emitOptions
	// jobs is how many jobs run at once (--jobs, 0: auto); runJob is the index of the one
	// job a child process of a parallel sweep trains (hidden --run-job, -1: none).
	jobs, runJob int
}

func (a *app) newGridCmd() *cobra.Command {
	o := &sweepGridOptions{}
	cmd := &cobra.Command{
		Use:   "sweep",
		Short: "Train a grid of settings x seeds, optionally as one shard of a cluster job array",
		Long: `Train every combination of the --grid values, for every seed, each job in its own run
directory OUT/<setting>/seed<k>. The job list is deterministic, so a job array can split it
with --shard i/n: shard i runs the jobs whose index modulo n is i, and the n shards together
run every job exactly once. Without --shard, the shard comes from Slurm job arrays
(SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT) or Kubernetes Indexed Jobs
(JOB_COMPLETION_INDEX with DMRNET_SHARD_COUNT); otherwise the whole sweep runs here.

Finished jobs (final.ckpt present) are skipped and interrupted ones resume from their
checkpoint, so re-running a sweep completes it. A failing job does not stop the others;
the exit status is non-zero if any failed. Summarise the results with dmrnet aggregate OUT.

--jobs N trains N jobs of the shard at once, each in a child process with GOMAXPROCS =
cores/N and its output in job.log in its run directory; the default, 0, is one job per
core. The results are those of --jobs 1 (one job after another, in this process) to the
bit. Ctrl-C interrupts every running job, each saving its checkpoint.

With --emit slurm or --emit k8s nothing is trained: the command writes a launcher that runs
exactly this grid on a cluster, as a Slurm job array (run the script with bash to submit the
array and an aggregate job that runs after it) or a Kubernetes Indexed Job (with a ConfigMap
of the configuration and a suspended aggregate Job; the commands are at the top of the file).
A --jobs given here is passed on to every shard.`,
		Example: `  dmrnet sweep --config configs/mfeat.yaml --grid beta=0,0.1,0.2,0.5 --grid alpha=0,1e-3 --seeds 0,1,2 --dry-run
  dmrnet sweep --config configs/mfeat.yaml --grid variant=dmrnet,no-hcr --seeds 0,1,2 --shard 0/4
  dmrnet sweep --config configs/mfeat.yaml --grid variant=dmrnet,no-hcr --seeds 0,1,2 --jobs 2
  dmrnet sweep --config configs/mfeat.yaml --grid beta=0,0.2 --seeds 0,1,2 --emit slurm --cpus 4 --time 4h --output sweep.sh
  dmrnet sweep --config configs/mfeat.yaml --grid beta=0,0.2 --seeds 0,1,2 --emit k8s --image registry.example.com/dmrnet:v1 --output sweep.yaml
  dmrnet aggregate runs/sweep/mfeat --format markdown`,
		RunE: func(cmd *cobra.Command, _ []string) error { return a.runGrid(o) },
	}
	f := cmd.Flags()
	f.StringVarP(&o.config, "config", "c", "", "base YAML configuration of every job")
	f.StringArrayVar(&o.sets, "set", nil, "override a key of the base configuration for every job (repeatable)")
	f.StringArrayVar(&o.grids, "grid", nil, "an axis KEY=V1,V2,... (repeatable; KEY is a configuration key or its last part, e.g. beta for loss.beta)")
	f.StringVar(&o.seeds, "seeds", "0", "comma-separated training seeds of every setting")
	f.StringVarP(&o.out, "out", "o", "", "root of the job run directories (default runs/sweep/<config name>)")
	f.StringVar(&o.shard, "shard", "", "run only shard i of n (i/n, 0-based; default from Slurm or Kubernetes, else all)")
	f.BoolVar(&o.dryRun, "dry-run", false, "print the jobs (of this shard) and exit")
	f.StringVar(&o.format, "format", "text", "output format of --dry-run: text or json")
	f.StringVar(&o.dataRoot, "data-root", "", "directory the data files are read from (sets data.root)")
	o.emit = addEmitFlags(f)
	f.IntVarP(&o.jobs, "jobs", "j", 0, jobsUsage)
	f.IntVar(&o.runJob, "run-job", -1, "train only the job with this index of the full job list, in this process (used by --jobs)")
	_ = f.MarkHidden("run-job")
	return cmd
}

func parseSeeds(s string) ([]int64, error) {
	var out []int64
	seen := map[int64]bool{}
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseInt(strings.TrimSpace(f), 10, 64)
		if err != nil {
			return nil, usagef("--seeds=%s: %q is not an integer (e.g. --seeds 0,1,2)", s, f)
		}
		if seen[v] {
			return nil, usagef("--seeds=%s: seed %d is listed twice (list each seed once)", s, v)
		}
		seen[v] = true
		out = append(out, v)
	}
	return out, nil
}

func (a *app) runGrid(o *sweepGridOptions) error {
	if err := checkFormat(o.format, textJSON); err != nil {
		return err
	}
	if err := o.emit.check(o); err != nil {
		return err
	}
	if o.format != "text" && !o.dryRun {
		return usagef("--format=%s: applies to --dry-run only (the jobs' results are read with dmrnet aggregate --format)", o.format)
	}
	if err := checkJobs(o.jobs); err != nil {
		return err
	}
	if o.config == "" {
		return usagef("sweep: no --config (give the base configuration of every job: --config FILE)")
	}
	axes, err := grid.ParseAxes(o.grids)
	if err != nil {
		return usageError{err}
	}
	seeds, err := parseSeeds(o.seeds)
	if err != nil {
		return err
	}
	base := withDataRoot(o.sets, o.dataRoot)
	// the base configuration must be valid before any job starts
	if _, err := a.loadConfig(o.config, base); err != nil {
		return err
	}
	root := firstNonEmpty(o.out, defaultRoot("sweep", o.config))
	jobs := grid.Jobs(root, axes, seeds)
	if o.emit.kind != "" {
		return a.emitLauncher(o, root, jobs)
	}
	if o.runJob >= 0 {
		return a.runOneJob(o, base, jobs, o.runJob)
	}
	shard := grid.Shard{Index: 0, Count: 1}
	if o.shard != "" {
		if shard, err = grid.ParseShard(o.shard); err != nil {
			return usageError{err}
		}
	} else if s, ok, err := grid.ShardFromEnv(a.getenv); err != nil {
		return usageError{err}
	} else if ok {
		shard = s
	}
	mine := shard.Select(jobs)
	// every job's configuration must load: a typo in a grid value fails now, not hours later
	for _, j := range mine {
		if _, err := a.loadConfig(o.config, append(append([]string(nil), base...), j.Sets...)); err != nil {
			return fmt.Errorf("sweep job %d (%s): %w", j.Index, j.Name, err)
		}
	}
	if o.dryRun && o.format == "json" {
		return printJSON(a.out, dryRunJSON(root, shard, len(jobs), mine))
	}
	if o.dryRun {
		fmt.Fprintf(a.out, "# %d jobs in %s; shard %s runs %d\n", len(jobs), root, shard, len(mine))
		tw := tabwriter.NewWriter(a.out, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "index\tdirectory\tsettings")
		for _, j := range mine {
			fmt.Fprintf(tw, "%d\t%s\t%s\n", j.Index, j.Dir, strings.Join(j.Sets[:len(j.Sets)-1], " "))
		}
		return tw.Flush()
	}
	return a.runSweepJobs(o, base, root, mine)
}

// dryRunJob is one job of sweep --dry-run --format json.
type dryRunJob struct {
	Index int    `json:"index"`
	Name  string `json:"name"`
	Dir   string `json:"dir"`
	Seed  int64  `json:"seed"`
	// Sets are the job's --set overrides, out=DIR included.
	Sets []string `json:"sets"`
}

// dryRunJSON is what sweep --dry-run --format json prints.
func dryRunJSON(root string, shard grid.Shard, total int, mine []grid.Job) any {
	jobs := make([]dryRunJob, len(mine))
	for i, j := range mine {
		jobs[i] = dryRunJob{Index: j.Index, Name: j.Name, Dir: j.Dir, Seed: j.Seed, Sets: j.Sets}
	}
	return struct {
		Root  string      `json:"root"`
		Total int         `json:"total_jobs"`
		Shard string      `json:"shard"`
		Jobs  []dryRunJob `json:"jobs"`
	}{root, total, shard.String(), jobs}
}

// withDataRoot returns sets followed by data.root=root when root is given, without
// changing sets.
func withDataRoot(sets []string, root string) []string {
	out := append([]string(nil), sets...)
	if root != "" {
		out = append(out, "data.root="+root)
	}
	return out
}

// defaultRoot is the directory a command that trains many runs of cfgFile puts them under
// when --out is not given: runs/<kind>/<name of cfgFile without its extension>.
func defaultRoot(kind, cfgFile string) string {
	return filepath.Join("runs", kind, strings.TrimSuffix(filepath.Base(cfgFile), filepath.Ext(cfgFile)))
}

// runJob trains one job for command (sweep or specialists), resuming it when a checkpoint
// exists; the job's run directory is locked meanwhile, and a job another process finished in
// the meantime is left alone.
func (a *app) runJob(cfgFile string, base []string, j grid.Job, command string) error {
	release, err := a.lockRun(j.Dir, command)
	if err != nil {
		return err
	}
	defer release()
	var t *train.Trainer
	switch train.Status(j.Dir) {
	case train.Finished:
		return nil
	case train.Unfinished:
		t, err = train.Resume(j.Dir, nil, train.Hooks{})
	default:
		cfg, lerr := a.loadConfig(cfgFile, append(append([]string(nil), base...), j.Sets...))
		if lerr != nil {
			return lerr
		}
		t, err = train.New(cfg, train.Hooks{})
	}
	if err != nil {
		return err
	}
	a.warn(t.Warnings)
	a.reportStale(j.Dir, t.StaleRemoved)
	if err := t.Run(a.ctx); err != nil {
		return err
	}
	_, err = t.Evaluate()
	return err
}
