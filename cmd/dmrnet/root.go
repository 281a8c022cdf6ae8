package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/dmrnet/dmrnet/internal/config"
	"github.com/dmrnet/dmrnet/internal/progress"
	"github.com/dmrnet/dmrnet/internal/sgemm"
	"github.com/dmrnet/dmrnet/internal/train"
	"github.com/spf13/cobra"
)

// Exit statuses.
const (
	exitOK          = 0
	exitFailure     = 1
	exitUsage       = 2 // bad flags, arguments or configuration
	exitInterrupted = 130
)

// app carries what every command needs from the outside world, so tests can run the
// commands in process with their own streams and environment.
type app struct {
	out, errOut io.Writer
	// errTTY reports whether errOut is a terminal (progress bars are drawn only then).
	errTTY  bool
	environ []string
	// ctx is cancelled on SIGINT/SIGTERM.
	ctx context.Context
}

// usageError marks errors in how dmrnet was called (exit status 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// Main runs dmrnet with args and returns the exit status.
func Main(args []string, out, errOut io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a := &app{out: out, errOut: errOut, environ: os.Environ(), ctx: ctx}
	if f, ok := errOut.(*os.File); ok {
		a.errTTY = progress.IsTerminal(f)
	}
	return a.run(args)
}

func (a *app) run(args []string) int {
	// DMRNET_GEMM_KERNEL forces the GEMM micro-kernel (benchmarks use it to show the speed of
	// machines without AVX-512); a value this machine cannot honour stops every command.
	if err := sgemm.Use(a.getenv(sgemm.EnvKernel)); err != nil {
		fmt.Fprintf(a.errOut, "dmrnet: %s=%s: %s\n", sgemm.EnvKernel, a.getenv(sgemm.EnvKernel), oneLine(err.Error()))
		return exitUsage
	}
	root := a.newRoot()
	root.SetArgs(args)
	// Cobra would parse a mistyped command's flags as the parent's and complain about them
	// ("unknown flag: --config") before it noticed the command.
	err := unknownCommand(root, args)
	if err == nil {
		err = root.Execute()
	}
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(a.errOut, "dmrnet: %s\n", oneLine(err.Error()))
	return exitCode(err)
}

func exitCode(err error) int {
	var ue usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, train.ErrInterrupted), errors.Is(err, context.Canceled):
		return exitInterrupted
	case errors.As(err, &ue), errors.Is(err, config.ErrInvalid):
		return exitUsage
	}
	return exitFailure
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
}

func (a *app) newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "dmrnet",
		Short: "Train and evaluate multimodal classifiers that stay accurate when modalities are missing",
		Long: `dmrnet trains multimodal classifiers with DMRNet (Wei et al., "Robust Multimodal
Learning via Representation Decoupling", ECCV 2024): modality dropout, a probabilistic
embedding (mu, logvar) with a KL term, and a hard-combination regulariser. It then reports
how the model does under every combination of missing modalities.

Configuration comes from a YAML file (--config), overridden by DMRNET_* environment
variables (train.batch_size -> DMRNET_TRAIN_BATCH_SIZE), overridden by --set key=value.

Exit status: 0 success, 1 failure, 2 usage or configuration error, 130 interrupted.`,
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetOut(a.out)
	root.SetErr(a.errOut)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError{fmt.Errorf("%s: %w (see %s --help)", c.Name(), err, c.CommandPath())}
	})
	root.AddCommand(a.newTrainCmd(), a.newEvalCmd(), a.newSweepCmd(), a.newGridCmd(), a.newAggregateCmd(),
		a.newConfigCmd(), a.newVersionCmd(), a.newCompletionCmd(), a.newSpecialistsCmd(), a.newPredictCmd(), a.newUncertaintyCmd(), a.newExportCmd())
	root.CompletionOptions.DisableDefaultCmd = true
	a.registerCompletions(root)
	// Cobra reports unknown commands and bad arguments before any RunE: those are usage errors.
	var wrapArgs func(c *cobra.Command)
	wrapArgs = func(c *cobra.Command) {
		for _, c := range c.Commands() {
			wrapArgs(c)
			args := c.Args
			c.Args = func(cmd *cobra.Command, as []string) error {
				if args == nil {
					if len(as) == 0 {
						return nil
					}
					if cmd.HasSubCommands() {
						return unknownCommandError(cmd, as[0])
					}
					name := subPath(cmd)
					return usagef("%s %s: unexpected argument (%s takes only flags, see %s --help)", name, as[0], name, cmd.CommandPath())
				}
				if err := args(cmd, as); err != nil {
					return usageError{fmt.Errorf("%s: %w (see %s --help)", cmd.Name(), err, cmd.CommandPath())}
				}
				return nil
			}
		}
	}
	wrapArgs(root)
	root.Args = func(cmd *cobra.Command, as []string) error {
		if len(as) > 0 {
			return unknownCommandError(cmd, as[0])
		}
		return nil
	}
	root.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
	return root
}

// warn writes each warning to stderr as one line, "dmrnet: warning: ...".
func (a *app) warn(warnings []string) {
	for _, w := range warnings {
		fmt.Fprintf(a.errOut, "dmrnet: warning: %s\n", oneLine(w))
	}
}

// reportStale tells which temporary files of interrupted writes were removed from dir.
func (a *app) reportStale(dir string, removed []string) {
	if len(removed) > 0 {
		fmt.Fprintf(a.errOut, "dmrnet: removed %d stale temporary file(s) of an interrupted write from %s: %s\n", len(removed), dir, strings.Join(removed, ", "))
	}
}

// unknownCommand returns the usage error of args whose command name is not one: the first
// argument after a command with subcommands (dmrnet itself, dmrnet config) names none of
// them. It returns nil for anything else, which Cobra then parses.
func unknownCommand(root *cobra.Command, args []string) error {
	root.InitDefaultHelpCmd() // Execute adds "help" only later
	if len(args) > 0 && (args[0] == cobra.ShellCompRequestCmd || args[0] == cobra.ShellCompNoDescRequestCmd) {
		return nil // the shell asks for completions (Cobra adds these hidden commands in Execute)
	}
	c, rest, err := root.Find(args)
	if err != nil || len(rest) == 0 || !c.HasSubCommands() || strings.HasPrefix(rest[0], "-") {
		return nil
	}
	return unknownCommandError(c, rest[0])
}

// unknownCommandError is "trian: unknown command (did you mean "train"?)", the hint naming
// the commands of parent closest to name (Cobra's suggestions: edit distance at most 2, or a
// prefix), or pointing to the help.
func unknownCommandError(parent *cobra.Command, name string) error {
	what := name
	if parent.HasParent() {
		what = subPath(parent) + " " + name
	}
	hint := fmt.Sprintf("run %s --help to see the commands", parent.CommandPath())
	if parent.SuggestionsMinimumDistance <= 0 {
		parent.SuggestionsMinimumDistance = 2 // Cobra's default, which it sets only when it suggests itself
	}
	if s := parent.SuggestionsFor(name); len(s) > 0 {
		q := make([]string, len(s))
		for i, n := range s {
			q[i] = strconv.Quote(n)
		}
		hint = "did you mean " + joinOr(q) + "?"
	}
	return usagef("%s: unknown command (%s)", what, hint)
}

// subPath is c's command path without "dmrnet": "eval", "config print".
func subPath(c *cobra.Command) string {
	return strings.TrimPrefix(c.CommandPath(), c.Root().Name()+" ")
}

// getenv looks name up in the app's environment.
func (a *app) getenv(name string) string {
	for _, kv := range a.environ {
		if k, v, ok := strings.Cut(kv, "="); ok && k == name {
			return v
		}
	}
	return ""
}

// dataRootFor returns the data root a command that opens the saved run at path (train
// --resume, eval, sweep-missing, predict) gives it, "" meaning the run's saved data.root:
// --data-root (flag) when given; else DMRNET_DATA_ROOT when the saved data.root is not a
// directory here (the data sets live elsewhere on this machine); else the saved data.root,
// which is where training found the data, even with DMRNET_DATA_ROOT exported (the manifest
// example trains from the repository with data.root ".").
func (a *app) dataRootFor(path, flag string) string {
	env := a.getenv("DMRNET_DATA_ROOT")
	if flag != "" || env == "" {
		return flag
	}
	saved, err := train.SavedDataRoot(path)
	if err != nil {
		return "" // the command itself reports what is wrong with path
	}
	if fi, err := os.Stat(saved); err == nil && fi.IsDir() {
		return ""
	}
	return env
}

// loadConfig resolves --config, --set and the environment.
func (a *app) loadConfig(file string, sets []string) (*config.Config, error) {
	cfg, err := config.Load(config.LoadOptions{File: file, Sets: sets, Environ: a.environ})
	if err != nil {
		return nil, err
	}
	return &cfg, nil
}

// runsRoot is where eval, sweep-missing, predict and export look for the most recent finished
// run when given neither --checkpoint nor --config.
const runsRoot = "runs"

// runDir finds the run directory of eval, sweep-missing, predict and export (cmd names the
// command): --checkpoint, or the output directory of --config, or, given neither, the most
// recently finished run under ./runs, which it names on stderr.
func (a *app) runDir(cmd, checkpoint, cfgFile string, sets []string) (string, error) {
	switch {
	case checkpoint != "" && cfgFile != "":
		return "", usagef("--checkpoint and --config: give one, not both (--checkpoint RUN_DIR or --config FILE)")
	case checkpoint != "":
		if len(sets) > 0 {
			return "", usagef("--set: applies to --config only (a checkpoint's configuration is fixed)")
		}
		return checkpoint, nil
	case cfgFile != "":
		cfg, err := a.loadConfig(cfgFile, sets)
		if err != nil {
			return "", err
		}
		return cfg.Out, nil
	case len(sets) > 0:
		return "", usagef("--set: applies to --config only (give --config FILE, or --checkpoint RUN_DIR without --set)")
	}
	latest, err := train.LatestFinished(runsRoot)
	if err != nil {
		return "", fmt.Errorf("%s: no model given, and ./%s cannot be searched for a finished run: %w (give --checkpoint RUN_DIR or --config FILE)", cmd, runsRoot, err)
	}
	if latest.Dir == "" {
		hint := "train one with dmrnet train --config FILE, or give --checkpoint RUN_DIR"
		if latest.Unfinished != "" {
			hint = fmt.Sprintf("%s has not finished: continue it with dmrnet train --resume %s, or give --checkpoint %s to use its latest checkpoint", latest.Unfinished, latest.Unfinished, latest.Unfinished)
		}
		where := "./" + runsRoot
		if latest.Truncated {
			where = fmt.Sprintf("the first %d directories of ./%s", train.LatestMaxDirs, runsRoot)
		}
		return "", usagef("%s: no finished run under %s (%s)", cmd, where, hint)
	}
	fmt.Fprintf(a.errOut, "dmrnet: using the most recent finished run %s (finished %s)\n", latest.Dir, latest.Finished.Local().Format("2006-01-02 15:04"))
	return latest.Dir, nil
}
