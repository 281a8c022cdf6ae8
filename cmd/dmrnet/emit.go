package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/dmrnet/dmrnet/internal/atomicfile"
	"github.com/dmrnet/dmrnet/internal/buildinfo"
	"github.com/dmrnet/dmrnet/internal/grid"
	"github.com/dmrnet/dmrnet/internal/launch"
	"github.com/spf13/pflag"
)

// emitOptions are the flags of sweep --emit, which writes a cluster launcher for the grid
// instead of training it (see internal/launch).
type emitOptions struct {
	kind        string
	output      string
	shards      int
	parallelism int
	name        string
	cpus        int
	mem         string
	time        time.Duration
	partition   string
	binary      string
	image       string
	runsClaim   string
	dataClaim   string
	// flags is the sweep command's flag set, to tell the flags given from the defaults.
	flags *pflag.FlagSet
}

// Launcher kinds of --emit.
const (
	emitSlurm      = "slurm"
	emitKubernetes = "k8s"
)

// The flags that apply to one launcher kind only (the others apply to both).
var (
	slurmOnlyFlags = []string{"partition", "dmrnet"}
	k8sOnlyFlags   = []string{"image", "pvc", "data-pvc"}
)

// addEmitFlags registers the --emit flags on f.
func addEmitFlags(f *pflag.FlagSet) *emitOptions {
	e := &emitOptions{flags: f}
	f.StringVar(&e.kind, "emit", "", "instead of training, write a launcher for this grid: slurm (a job array script) or k8s (an Indexed Job manifest)")
	f.StringVar(&e.output, "output", "", "with --emit: write the launcher to this file (default stdout)")
	f.IntVar(&e.shards, "shards", 0, "with --emit: number of array tasks or pods (default one per job)")
	f.IntVar(&e.parallelism, "parallelism", 0, "with --emit: how many shards run at once (default all)")
	f.StringVar(&e.name, "name", "", "with --emit: job name (default dmrnet-<config name>)")
	f.IntVar(&e.cpus, "cpus", 0, "with --emit: CPUs of each shard (default the cluster's)")
	f.StringVar(&e.mem, "mem", "", "with --emit: memory of each shard, e.g. 4G (default the cluster's)")
	f.DurationVar(&e.time, "time", 0, "with --emit: wall-time limit of each shard, e.g. 4h (default none)")
	f.StringVar(&e.partition, "partition", "", "with --emit slurm: Slurm partition (default the cluster's)")
	f.StringVar(&e.binary, "dmrnet", "", "with --emit slurm: dmrnet binary the tasks run (default this one)")
	f.StringVar(&e.image, "image", "", "with --emit k8s: container image (default dmrnet:<version>, or dmrnet:latest for development builds; see the Dockerfile)")
	f.StringVar(&e.runsClaim, "pvc", "dmrnet-runs", "with --emit k8s: PersistentVolumeClaim the runs are written to")
	f.StringVar(&e.dataClaim, "data-pvc", "dmrnet-data", `with --emit k8s: PersistentVolumeClaim of the data, mounted as data.root ("" for none)`)
	return e
}

// given lists the flags of names that were set on the command line.
func (e *emitOptions) given(names []string) []string {
	var out []string
	for _, n := range names {
		if e.flags.Changed(n) {
			out = append(out, "--"+n)
		}
	}
	return out
}

// check refuses --emit flags that do not apply: any of them without --emit, the other
// launcher's flags, and --emit with --dry-run or --shard.
func (e *emitOptions) check(o *sweepGridOptions) error {
	if e.kind == "" {
		all := append([]string{"output", "shards", "parallelism", "name", "cpus", "mem", "time"}, append(slurmOnlyFlags, k8sOnlyFlags...)...)
		if g := e.given(all); len(g) > 0 {
			return usagef("%s: applies to --emit only (add --emit slurm or --emit k8s to write a launcher)", strings.Join(g, ", "))
		}
		return nil
	}
	switch e.kind {
	case emitSlurm:
		if g := e.given(k8sOnlyFlags); len(g) > 0 {
			return usagef("%s: applies to --emit k8s only (a Slurm script runs the binary of --dmrnet)", strings.Join(g, ", "))
		}
	case emitKubernetes:
		if g := e.given(slurmOnlyFlags); len(g) > 0 {
			return usagef("%s: applies to --emit slurm only (pods run the image of --image)", strings.Join(g, ", "))
		}
		if o.dataRoot != "" {
			return usagef("--data-root: does not apply to --emit k8s (the pods read data from the --data-pvc volume at %s)", launch.PodDataDir)
		}
	default:
		return usagef("--emit=%s: not supported (want slurm or k8s)", e.kind)
	}
	switch {
	case o.dryRun:
		return usagef("--emit and --dry-run: choose one (--dry-run lists the jobs, --emit writes a launcher that runs them)")
	case o.shard != "":
		return usagef("--emit and --shard: choose one (the launcher runs every shard; set their number with --shards)")
	}
	return nil
}

// emitLauncher writes the launcher of kind e.kind for the grid jobs under root.
func (a *app) emitLauncher(o *sweepGridOptions, root string, jobs []grid.Job) error {
	e := o.emit
	base := withDataRoot(o.sets, o.dataRoot)
	// every job's configuration must load: a typo in a grid value fails now, not on the cluster
	for _, j := range jobs {
		if _, err := a.loadConfig(o.config, append(append([]string(nil), base...), j.Sets...)); err != nil {
			return fmt.Errorf("sweep job %d (%s): %w", j.Index, j.Name, err)
		}
	}
	res := launch.Resources{Name: e.name, Shards: e.shards, Parallelism: e.parallelism, CPUs: e.cpus, Time: e.time}
	if res.Name == "" {
		res.Name = launch.DefaultName(o.config)
	}
	if !e.flags.Changed("shards") {
		res.Shards = len(jobs)
	}
	if e.mem != "" {
		m, err := launch.ParseMemory(e.mem)
		if err != nil {
			return usagef("--mem=%s: %v", e.mem, err)
		}
		res.Mem = m
	}
	if e.flags.Changed("time") && e.time <= 0 {
		return usagef("--time=%s: want a positive duration such as 4h (or leave it out for no limit)", e.time)
	}
	sweep := launch.Sweep{Config: o.config, Sets: o.sets, Grids: o.grids, Seeds: o.seeds, Out: root, DataRoot: o.dataRoot, Jobs: len(jobs)}
	if e.flags.Changed("jobs") {
		sweep.AtOnce = strconv.Itoa(o.jobs)
	}
	command := e.commandLine()
	var buf bytes.Buffer
	switch e.kind {
	case emitSlurm:
		dir, err := os.Getwd()
		if err != nil {
			return fmt.Errorf("sweep --emit slurm: %w", err)
		}
		bin := e.binary
		if bin == "" {
			if bin, err = os.Executable(); err != nil {
				return fmt.Errorf("sweep --emit slurm: finding this binary: %w (name it with --dmrnet PATH)", err)
			}
			if p, err := filepath.EvalSymlinks(bin); err == nil {
				bin = p
			}
		}
		s := launch.Slurm{Sweep: sweep, Resources: res, Dir: dir, Binary: bin, Partition: e.partition, Command: command}
		if err := s.Write(&buf); err != nil {
			return usagef("sweep --emit slurm: %v", err)
		}
	case emitKubernetes:
		cfg, err := os.ReadFile(o.config)
		if err != nil {
			return fmt.Errorf("sweep --emit k8s: reading the configuration for its ConfigMap: %w", err)
		}
		image := e.image
		if image == "" {
			image = defaultImage(buildinfo.Read().Version)
		}
		k := launch.Kubernetes{Sweep: sweep, Resources: res, ConfigData: cfg, Image: image,
			RunsClaim: e.runsClaim, DataClaim: e.dataClaim, Command: command}
		if err := k.Write(&buf); err != nil {
			return usagef("sweep --emit k8s: %v", err)
		}
	}
	if e.output == "" {
		_, err := a.out.Write(buf.Bytes())
		return err
	}
	if err := atomicfile.WriteFile(e.output, buf.Bytes(), 0o755); err != nil {
		return fmt.Errorf("sweep --emit: writing the launcher: %w", err)
	}
	fmt.Fprintf(a.errOut, "dmrnet: wrote %s, a %s launcher for %d jobs in %d shards (%s)\n", e.output, e.kind, len(jobs), res.Shards, e.hint())
	return nil
}

// hint tells how to start the launcher written to e.output.
func (e *emitOptions) hint() string {
	if e.kind == emitSlurm {
		return "submit it with the aggregate step: bash " + e.output
	}
	return "run it with the commands at its top: kubectl apply -f " + e.output + " ..."
}

// commandLine is the dmrnet sweep command line of the given flags, for the launcher's header.
func (e *emitOptions) commandLine() []string {
	cmd := []string{"dmrnet", "sweep"}
	e.flags.Visit(func(f *pflag.Flag) {
		if f.Name == "output" {
			return
		}
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			for _, v := range sv.GetSlice() {
				cmd = append(cmd, "--"+f.Name+"="+v)
			}
			return
		}
		cmd = append(cmd, "--"+f.Name+"="+f.Value.String())
	})
	return cmd
}

// releaseTag matches module versions that are also image tags: releases such as v1.2.0.
var releaseTag = regexp.MustCompile(`^v[0-9]+\.[0-9]+\.[0-9]+$`)

// defaultImage is the image --emit k8s names without --image: dmrnet:<version> for a
// release build, dmrnet:latest otherwise (what the README's docker build command tags).
func defaultImage(version string) string {
	if releaseTag.MatchString(version) {
		return "dmrnet:" + version
	}
	return "dmrnet:latest"
}
