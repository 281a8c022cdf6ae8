package main

// Running the jobs of dmrnet sweep: one after another in this process (--jobs 1), or
// several at once, each as a child process of this binary (--jobs N).
//
// Why child processes rather than goroutines: every training splits its work over
// GOMAXPROCS goroutines (GEMM, conv stack, Adam), and GOMAXPROCS belongs to a process, so
// goroutine jobs could not get a share of the cores each; N jobs would each try to use every
// core. A child gets its share through GOMAXPROCS in its environment, its own memory (a job
// that runs out of it does not take the others down) and its own log file. The results do not
// depend on it: training computes the same bits at any GOMAXPROCS.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dmrnet/dmrnet/internal/grid"
	"github.com/dmrnet/dmrnet/internal/train"
)

// JobLogFile is the file in a job's run directory that receives the output (warnings and
// error messages) of the child process that trains it when sweep runs jobs in parallel.
// Every run of the job appends to it.
const JobLogFile = "job.log"

// checkJobs validates --jobs: a count of at least 1, or 0 for auto.
func checkJobs(n int) error {
	if n < 0 {
		return usagef("--jobs=%d: not a job count (give N >= 1 jobs at once, or 0 for one job per core)", n)
	}
	return nil
}

// jobSlots returns how many of pending jobs run at once for --jobs flag (0: auto) on a
// machine with cores usable cores (GOMAXPROCS), and the GOMAXPROCS of each of them.
//
// Auto is one job per core, each with one thread: the benchmark models gain little from a
// second thread (a 2-thread mfeat step is 3.1 ms against 3.2 ms with one, avmnist 33 against
// 37 ms), so separate jobs use the cores better: on the quiet 2-core Xeon the 18-run mfeat
// ablation took 118 s with two jobs at once against 216 s one after another with two threads
// (scripts/ablations.sh with JOBS=2 and JOBS=1). There are never more slots than pending jobs,
// and the cores are split between the slots that are used: 3 jobs at once with 2 pending run 2
// jobs with cores/2 threads each.
func jobSlots(flag, cores, pending int) (slots, threads int) {
	cores = max(cores, 1)
	slots = flag
	if slots == 0 {
		slots = cores
	}
	slots = max(1, min(slots, pending))
	return slots, max(1, cores/slots)
}

// runSweepJobs trains the jobs of this shard that are not finished yet, o.jobs at once, and
// reports one line per job on stderr when it starts and when it ends. A failing job does not
// stop the others; the error names every failed job. base holds the --set overrides of every
// job; root is the sweep's root.
func (a *app) runSweepJobs(o *sweepGridOptions, base []string, root string, mine []grid.Job) error {
	var todo []int // positions in mine of the jobs to run
	for n, j := range mine {
		if train.Status(j.Dir) == train.Finished {
			fmt.Fprintf(a.errOut, "dmrnet: job %d/%d %s: done\n", n+1, len(mine), j.Name)
			continue
		}
		todo = append(todo, n)
	}
	slots, threads := jobSlots(o.jobs, runtime.GOMAXPROCS(0), len(todo))
	var errs []error // errs[n] is the error of job mine[n]
	var err error
	if slots == 1 {
		errs, err = a.runJobsHere(o, base, mine, todo)
	} else {
		errs, err = a.runJobsInChildren(o, base, root, mine, todo, slots, threads)
	}
	if err != nil {
		return err
	}
	var failed []string
	for n, err := range errs {
		if err != nil {
			fmt.Fprintf(a.errOut, "dmrnet: job %s failed: %s\n", mine[n].Name, oneLine(err.Error()))
			failed = append(failed, mine[n].Name)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("sweep: %d of %d jobs failed: %s (see the messages above)", len(failed), len(mine), strings.Join(failed, ", "))
	}
	fmt.Fprintf(a.errOut, "dmrnet: %d jobs finished in %s (summarise: dmrnet aggregate %s)\n", len(mine), root, root)
	return nil
}

// runJobsHere trains the jobs mine[todo[...]] one after another in this process. It stops at
// an interruption (Ctrl-C), which the returned error says; otherwise errs[n] is the error of
// job mine[n].
func (a *app) runJobsHere(o *sweepGridOptions, base []string, mine []grid.Job, todo []int) (errs []error, err error) {
	errs = make([]error, len(mine))
	for _, n := range todo {
		j := mine[n]
		fmt.Fprintf(a.errOut, "dmrnet: job %d/%d %s: started\n", n+1, len(mine), j.Name)
		start := time.Now()
		err := a.runJob(o.config, base, j, "sweep")
		if errors.Is(err, train.ErrInterrupted) {
			return nil, fmt.Errorf("sweep: %w in job %s (run the same command again to resume)", err, j.Name)
		}
		errs[n] = err
		fmt.Fprintf(a.errOut, "dmrnet: job %d/%d %s: %s after %s\n", n+1, len(mine), j.Name, outcome(err), elapsed(start))
	}
	return errs, nil
}

// outcome is the word for how a job ended with err.
func outcome(err error) string {
	switch {
	case errors.Is(err, train.ErrInterrupted):
		return "interrupted"
	case err != nil:
		return "failed"
	}
	return "finished"
}

// elapsed is the time since start, to a tenth of a second.
func elapsed(start time.Time) time.Duration {
	return time.Since(start).Round(100 * time.Millisecond)
}

// runJobsInChildren trains the jobs mine[todo[...]], slots at once, each in a child process
// of this binary with GOMAXPROCS threads (see childJobArgs). On Ctrl-C (a.ctx done) it starts
// no more jobs, interrupts the running ones, which save their checkpoints, waits for them and
// returns an error wrapping train.ErrInterrupted; otherwise errs[n] is the error of job mine[n].
func (a *app) runJobsInChildren(o *sweepGridOptions, base []string, root string, mine []grid.Job, todo []int, slots, threads int) (errs []error, err error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("sweep --jobs %d: cannot find the dmrnet binary to run the jobs: %w (use --jobs 1)", o.jobs, err)
	}
	env := childEnv(a.environ, threads)
	fmt.Fprintf(a.errOut, "dmrnet: %d jobs to run, %d at once, GOMAXPROCS=%d each (logs: %s in each run directory)\n", len(todo), slots, threads, JobLogFile)

	var (
		mu     sync.Mutex // serialises the lines on a.errOut
		wg     sync.WaitGroup
		queue  = make(chan int)
		report = func(format string, args ...any) {
			mu.Lock()
			defer mu.Unlock()
			fmt.Fprintf(a.errOut, format, args...)
		}
	)
	errs = make([]error, len(mine))
	for range slots {
		wg.Go(func() {
			for n := range queue {
				j := mine[n]
				report("dmrnet: job %d/%d %s: started\n", n+1, len(mine), j.Name)
				start := time.Now()
				errs[n] = a.runChildJob(exe, childJobArgs(o, base, root, j.Index), env, j)
				report("dmrnet: job %d/%d %s: %s after %s\n", n+1, len(mine), j.Name, outcome(errs[n]), elapsed(start))
			}
		})
	}
feed:
	for _, n := range todo {
		select {
		case queue <- n:
		case <-a.ctx.Done():
			break feed
		}
	}
	close(queue)
	wg.Wait()
	if a.ctx.Err() != nil {
		var stopped []string
		for n, err := range errs {
			if errors.Is(err, train.ErrInterrupted) {
				stopped = append(stopped, mine[n].Name)
			}
		}
		return nil, fmt.Errorf("sweep: %w; %d running jobs saved their checkpoints (%s) (run the same command again to resume)",
			train.ErrInterrupted, len(stopped), strings.Join(stopped, ", "))
	}
	return errs, nil
}

// childJobArgs are the arguments of the child process that trains the job with index in the
// full job list of the sweep o: the same sweep, with --run-job. base already holds
// --data-root as data.root.
func childJobArgs(o *sweepGridOptions, base []string, root string, index int) []string {
	args := []string{"sweep", "--config", o.config, "--out", root, "--seeds", o.seeds}
	for _, s := range base {
		args = append(args, "--set", s)
	}
	for _, g := range o.grids {
		args = append(args, "--grid", g)
	}
	return append(args, "--run-job", strconv.Itoa(index))
}

// childEnv is the environment of a job's child process: environ (nil: this process's) with
// GOMAXPROCS set to threads.
func childEnv(environ []string, threads int) []string {
	if environ == nil {
		environ = os.Environ()
	}
	env := make([]string, 0, len(environ)+1)
	for _, kv := range environ {
		if !strings.HasPrefix(kv, "GOMAXPROCS=") {
			env = append(env, kv)
		}
	}
	return append(env, "GOMAXPROCS="+strconv.Itoa(threads))
}

// runChildJob runs the child process exe args with env that trains job j, its output
// appended to JobLogFile in the job's run directory. The error is the child's own error
// message (its last "dmrnet: " line); it wraps train.ErrInterrupted when the child was
// interrupted (exit status 130). When a.ctx is done the child gets an interrupt, so it saves a
// checkpoint before it exits.
func (a *app) runChildJob(exe string, args, env []string, j grid.Job) error {
	if err := os.MkdirAll(j.Dir, 0o755); err != nil {
		return fmt.Errorf("%s: %w", j.Dir, err)
	}
	logPath := filepath.Join(j.Dir, JobLogFile)
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("job log: %w", err)
	}
	defer logFile.Close()
	last := &lastLine{}
	cmd := exec.CommandContext(a.ctx, exe, args...)
	cmd.Env = env
	cmd.Stdout = logFile
	cmd.Stderr = io.MultiWriter(logFile, last)
	cmd.Cancel = func() error {
		if err := cmd.Process.Signal(os.Interrupt); err != nil {
			return cmd.Process.Kill() // no interrupts to send on this system
		}
		return nil
	}
	runErr := cmd.Run()
	if cmd.ProcessState == nil { // it did not start
		return fmt.Errorf("start %s: %w", exe, runErr)
	}
	code := cmd.ProcessState.ExitCode()
	if code == 0 {
		return nil
	}
	msg := strings.TrimPrefix(last.String(), "dmrnet: ")
	if msg == "" {
		msg = cmd.ProcessState.String()
	}
	if code == exitInterrupted {
		return fmt.Errorf("%w: %s (log: %s)", train.ErrInterrupted, msg, logPath)
	}
	return fmt.Errorf("%s (log: %s)", msg, logPath)
}

// lastLine is an io.Writer that keeps the last non-empty line of "dmrnet: " messages written
// to it (the line with a child's error message).
type lastLine struct {
	partial []byte // the unfinished line
	line    string
}

func (w *lastLine) Write(p []byte) (int, error) {
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			return len(p), nil
		}
		if s := strings.TrimSpace(string(w.partial[:i])); strings.HasPrefix(s, "dmrnet: ") {
			w.line = s
		}
		w.partial = w.partial[i+1:]
	}
}

// String returns the last complete "dmrnet: " line, or the unfinished one if it is one.
func (w *lastLine) String() string {
	if s := strings.TrimSpace(string(w.partial)); strings.HasPrefix(s, "dmrnet: ") {
		return s
	}
	return w.line
}

// runOneJob is the child's side of runJobsInChildren (the hidden --run-job flag): it trains
// jobs[index] of the full job list in this process.
func (a *app) runOneJob(o *sweepGridOptions, base []string, jobs []grid.Job, index int) error {
	if index >= len(jobs) {
		return usagef("--run-job=%d: the sweep has %d jobs (0 to %d)", index, len(jobs), len(jobs)-1)
	}
	return a.runJob(o.config, base, jobs[index], "sweep")
}

// jobsUsage is the help of sweep --jobs.
const jobsUsage = `how many jobs train at once, each in a child process with GOMAXPROCS=cores/N and its output in ` + JobLogFile + ` in its run directory; 0 (auto) is one job per core, GOMAXPROCS=1 each (the models gain little from a second thread: on 2 cores two jobs at once measured 1.8 times faster than one after another); 1 trains the jobs one after another in this process, with every core`
