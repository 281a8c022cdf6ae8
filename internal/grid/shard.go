package grid

import (
	"fmt"
	"strconv"
	"strings"
)

// Environment variables ShardFromEnv reads.
const (
	// Slurm job arrays (sbatch --array=0-7) set these in every array task.
	EnvSlurmTaskID    = "SLURM_ARRAY_TASK_ID"
	EnvSlurmTaskCount = "SLURM_ARRAY_TASK_COUNT"
	EnvSlurmTaskMin   = "SLURM_ARRAY_TASK_MIN"
	EnvSlurmTaskMax   = "SLURM_ARRAY_TASK_MAX"
	// EnvCompletionIndex is set by Kubernetes in the pods of an Indexed Job
	// (completionMode: Indexed), from 0 to completions-1.
	EnvCompletionIndex = "JOB_COMPLETION_INDEX"
	// EnvShardCount is the number of shards of a Kubernetes Indexed Job. Kubernetes does not
	// tell a pod the Job's completion count, so the manifest must set this variable to the
	// same number as spec.completions (dmrnet sweep --emit k8s generates it so).
	EnvShardCount = "DMRNET_SHARD_COUNT"
)

// Shard is one of Count parts of a sweep: the jobs whose index is Index modulo Count. The
// whole sweep is Shard{0, 1}.
type Shard struct {
	Index, Count int
}

// String returns the shard as "INDEX/COUNT", the form ParseShard reads.
func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.Index, s.Count) }

// ParseShard parses a shard written "i/n", with 0 <= i < n, such as the --shard flag 3/8.
func ParseShard(s string) (Shard, error) {
	is, ns, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok {
		return Shard{}, fmt.Errorf("shard %q: want INDEX/COUNT, such as 0/8", s)
	}
	i, err := strconv.Atoi(strings.TrimSpace(is))
	if err != nil {
		return Shard{}, fmt.Errorf("shard %q: index %q is not an integer (want INDEX/COUNT, such as 0/8)", s, is)
	}
	n, err := strconv.Atoi(strings.TrimSpace(ns))
	if err != nil {
		return Shard{}, fmt.Errorf("shard %q: count %q is not an integer (want INDEX/COUNT, such as 0/8)", s, ns)
	}
	if n < 1 {
		return Shard{}, fmt.Errorf("shard %q: the count must be at least 1", s)
	}
	if i < 0 || i >= n {
		return Shard{}, fmt.Errorf("shard %q: the index must be in 0..%d (shards are numbered from 0)", s, n-1)
	}
	return Shard{Index: i, Count: n}, nil
}

// Select returns the jobs of the shard, in order: those with Index%Count == s.Index (round
// robin, so shards get equal shares whatever the order of the grid). A Count below 1 selects
// every job.
func (s Shard) Select(jobs []Job) []Job {
	if s.Count < 1 {
		s = Shard{0, 1}
	}
	var out []Job
	for _, j := range jobs {
		if j.Index%s.Count == s.Index {
			out = append(out, j)
		}
	}
	return out
}

// ShardFromEnv returns the shard of the running task, from the environment read with getenv
// (os.Getenv; unset and empty variables are the same):
//
//   - in a Slurm job array, from SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT, with
//     SLURM_ARRAY_TASK_MIN subtracted from the task id so that arrays such as --array=1-8
//     work too; the array must be a range without a step (SLURM_ARRAY_TASK_MAX, when set,
//     is checked against the count);
//   - in a Kubernetes Indexed Job, from JOB_COMPLETION_INDEX and DMRNET_SHARD_COUNT, which
//     the manifest sets to spec.completions since Kubernetes does not expose it to the pod.
//
// ok is false when neither is set (the whole sweep, unless a --shard flag says otherwise).
// Malformed or inconsistent values are errors that name the variable.
func ShardFromEnv(getenv func(string) string) (s Shard, ok bool, err error) {
	if id := getenv(EnvSlurmTaskID); id != "" {
		s, err := slurmShard(getenv, id)
		return s, err == nil, err
	}
	idx, count := getenv(EnvCompletionIndex), getenv(EnvShardCount)
	switch {
	case idx == "" && count == "":
		return Shard{}, false, nil
	case idx == "":
		return Shard{}, false, fmt.Errorf("%s=%s is set but %s is not: run in a Kubernetes Job with completionMode: Indexed, or unset %s",
			EnvShardCount, count, EnvCompletionIndex, EnvShardCount)
	case count == "":
		return Shard{}, false, fmt.Errorf("%s=%s is set but %s is not: set it in the Job's manifest to the same number as spec.completions",
			EnvCompletionIndex, idx, EnvShardCount)
	}
	n, err := envInt(EnvShardCount, count)
	if err != nil {
		return Shard{}, false, err
	}
	if n < 1 {
		return Shard{}, false, fmt.Errorf("%s=%s: the shard count must be at least 1", EnvShardCount, count)
	}
	i, err := envInt(EnvCompletionIndex, idx)
	if err != nil {
		return Shard{}, false, err
	}
	if i < 0 || i >= n {
		return Shard{}, false, fmt.Errorf("%s=%s is out of range 0..%d (%s=%d): set %s to the Job's spec.completions",
			EnvCompletionIndex, idx, n-1, EnvShardCount, n, EnvShardCount)
	}
	return Shard{Index: i, Count: n}, true, nil
}

// slurmShard is the shard of the Slurm array task id.
func slurmShard(getenv func(string) string, id string) (Shard, error) {
	t, err := envInt(EnvSlurmTaskID, id)
	if err != nil {
		return Shard{}, err
	}
	count := getenv(EnvSlurmTaskCount)
	if count == "" {
		return Shard{}, fmt.Errorf("%s=%s is set but %s is not (pass the shard with --shard INDEX/COUNT instead)", EnvSlurmTaskID, id, EnvSlurmTaskCount)
	}
	n, err := envInt(EnvSlurmTaskCount, count)
	if err != nil {
		return Shard{}, err
	}
	if n < 1 {
		return Shard{}, fmt.Errorf("%s=%s: the task count must be at least 1", EnvSlurmTaskCount, count)
	}
	lo := 0
	if v := getenv(EnvSlurmTaskMin); v != "" {
		if lo, err = envInt(EnvSlurmTaskMin, v); err != nil {
			return Shard{}, err
		}
	}
	if v := getenv(EnvSlurmTaskMax); v != "" {
		hi, err := envInt(EnvSlurmTaskMax, v)
		if err != nil {
			return Shard{}, err
		}
		if hi-lo+1 != n {
			return Shard{}, fmt.Errorf("%s=%d, %s=%d and %s=%d: the job array is not a range without gaps (submit it as --array=0-%d)",
				EnvSlurmTaskMin, lo, EnvSlurmTaskMax, hi, EnvSlurmTaskCount, n, n-1)
		}
	}
	if t-lo < 0 || t-lo >= n {
		return Shard{}, fmt.Errorf("%s=%d is out of range %d..%d, with %s=%d and %s=%d (submit the array as a range without gaps, such as --array=0-%d)",
			EnvSlurmTaskID, t, lo, lo+n-1, EnvSlurmTaskMin, lo, EnvSlurmTaskCount, n, n-1)
	}
	return Shard{Index: t - lo, Count: n}, nil
}

// envInt parses the value of the environment variable name as an integer.
func envInt(name, value string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(value))
	if err != nil {
		return 0, fmt.Errorf("%s=%q is not an integer", name, value)
	}
	return n, nil
}
