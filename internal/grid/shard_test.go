package grid

import (
	"strings"
	"testing"
)

func TestParseShard(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Shard
	}{
		{"0/1", Shard{0, 1}},
		{"3/8", Shard{3, 8}},
		{" 7 / 8 ", Shard{7, 8}},
	} {
		got, err := ParseShard(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseShard(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
		if again, err := ParseShard(got.String()); err != nil || again != got {
			t.Errorf("ParseShard(%q) = %v, %v", got.String(), again, err)
		}
	}
	for _, tc := range []struct{ in, want string }{
		{"", "want INDEX/COUNT"},
		{"3", "want INDEX/COUNT"},
		{"a/8", `index "a" is not an integer`},
		{"1/b", `count "b" is not an integer`},
		{"0/0", "at least 1"},
		{"8/8", "0..7"},
		{"-1/8", "0..7"},
		{"1/2/3", "not an integer"},
	} {
		if _, err := ParseShard(tc.in); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseShard(%q) = %v; want an error containing %q", tc.in, err, tc.want)
		}
	}
}

// TestSelectPartition checks that the shards of every count cover each job exactly once.
func TestSelectPartition(t *testing.T) {
	axes := mustAxes(t, "beta=0,0.1,0.2", "lr=1e-3,1e-4", "variant=dmrnet,no-hcr,no-kl")
	for _, seeds := range [][]int64{{0}, {0, 1, 2}, {5, 6, 7, 8, 9}} {
		jobs := Jobs("runs", axes, seeds)
		for n := 1; n <= 7; n++ {
			seen := make([]int, len(jobs))
			sizes := make([]int, n)
			for i := range n {
				for _, j := range (Shard{i, n}).Select(jobs) {
					if j.Index%n != i {
						t.Errorf("shard %d/%d selected job %d", i, n, j.Index)
					}
					seen[j.Index]++
					sizes[i]++
				}
			}
			for idx, c := range seen {
				if c != 1 {
					t.Errorf("%d jobs, %d shards: job %d selected %d times", len(jobs), n, idx, c)
				}
			}
			for i := range sizes {
				if d := sizes[i] - sizes[0]; d < -1 || d > 1 {
					t.Errorf("%d jobs, %d shards: unbalanced sizes %v", len(jobs), n, sizes)
					break
				}
			}
		}
	}
	jobs := Jobs("runs", axes, []int64{0})
	if got := (Shard{}).Select(jobs); len(got) != len(jobs) {
		t.Errorf("the zero Shard selected %d of %d jobs", len(got), len(jobs))
	}
	if got := (Shard{0, 1}).Select(nil); len(got) != 0 {
		t.Errorf("Select(nil) = %v", got)
	}
}

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestShardFromEnv(t *testing.T) {
	for _, tc := range []struct {
		name   string
		getenv func(string) string
		want   Shard
		ok     bool
	}{
		{"none", env(), Shard{}, false},
		{"unrelated", env("SLURM_JOB_ID", "12", "DMRNET_TRAIN_SEED", "1"), Shard{}, false},
		{"empty values", env("SLURM_ARRAY_TASK_ID", "", "JOB_COMPLETION_INDEX", ""), Shard{}, false},
		{"slurm", env("SLURM_ARRAY_TASK_ID", "3", "SLURM_ARRAY_TASK_COUNT", "8"), Shard{3, 8}, true},
		{"slurm min 0", env("SLURM_ARRAY_TASK_ID", "0", "SLURM_ARRAY_TASK_COUNT", "8",
			"SLURM_ARRAY_TASK_MIN", "0", "SLURM_ARRAY_TASK_MAX", "7"), Shard{0, 8}, true},
		{"slurm 1-8 first", env("SLURM_ARRAY_TASK_ID", "1", "SLURM_ARRAY_TASK_COUNT", "8",
			"SLURM_ARRAY_TASK_MIN", "1", "SLURM_ARRAY_TASK_MAX", "8"), Shard{0, 8}, true},
		{"slurm 1-8 last", env("SLURM_ARRAY_TASK_ID", "8", "SLURM_ARRAY_TASK_COUNT", "8",
			"SLURM_ARRAY_TASK_MIN", "1"), Shard{7, 8}, true},
		{"slurm wins", env("SLURM_ARRAY_TASK_ID", "2", "SLURM_ARRAY_TASK_COUNT", "4",
			"JOB_COMPLETION_INDEX", "1", "DMRNET_SHARD_COUNT", "2"), Shard{2, 4}, true},
		{"kubernetes", env("JOB_COMPLETION_INDEX", "5", "DMRNET_SHARD_COUNT", "8"), Shard{5, 8}, true},
		{"kubernetes first", env("JOB_COMPLETION_INDEX", "0", "DMRNET_SHARD_COUNT", "1"), Shard{0, 1}, true},
	} {
		got, ok, err := ShardFromEnv(tc.getenv)
		if err != nil || ok != tc.ok || got != tc.want {
			t.Errorf("%s: ShardFromEnv = %v, %v, %v; want %v, %v", tc.name, got, ok, err, tc.want, tc.ok)
		}
	}
}

func TestShardFromEnvErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		getenv func(string) string
		want   string
	}{
		{"slurm id", env("SLURM_ARRAY_TASK_ID", "x", "SLURM_ARRAY_TASK_COUNT", "8"), `SLURM_ARRAY_TASK_ID="x" is not an integer`},
		{"slurm count", env("SLURM_ARRAY_TASK_ID", "1", "SLURM_ARRAY_TASK_COUNT", "eight"), `SLURM_ARRAY_TASK_COUNT="eight" is not an integer`},
		{"slurm no count", env("SLURM_ARRAY_TASK_ID", "1"), "SLURM_ARRAY_TASK_COUNT is not"},
		{"slurm zero count", env("SLURM_ARRAY_TASK_ID", "0", "SLURM_ARRAY_TASK_COUNT", "0"), "SLURM_ARRAY_TASK_COUNT=0"},
		{"slurm min", env("SLURM_ARRAY_TASK_ID", "1", "SLURM_ARRAY_TASK_COUNT", "8", "SLURM_ARRAY_TASK_MIN", "-"), `SLURM_ARRAY_TASK_MIN="-" is not an integer`},
		{"slurm max", env("SLURM_ARRAY_TASK_ID", "1", "SLURM_ARRAY_TASK_COUNT", "8", "SLURM_ARRAY_TASK_MAX", "y"), `SLURM_ARRAY_TASK_MAX="y" is not an integer`},
		{"slurm range", env("SLURM_ARRAY_TASK_ID", "8", "SLURM_ARRAY_TASK_COUNT", "8"), "SLURM_ARRAY_TASK_ID=8 is out of range 0..7"},
		{"slurm below min", env("SLURM_ARRAY_TASK_ID", "0", "SLURM_ARRAY_TASK_COUNT", "8", "SLURM_ARRAY_TASK_MIN", "1"), "SLURM_ARRAY_TASK_ID=0 is out of range 1..8"},
		{"slurm step", env("SLURM_ARRAY_TASK_ID", "2", "SLURM_ARRAY_TASK_COUNT", "8",
			"SLURM_ARRAY_TASK_MIN", "0", "SLURM_ARRAY_TASK_MAX", "14"), "not a range without gaps"},
		{"k8s index", env("JOB_COMPLETION_INDEX", "one", "DMRNET_SHARD_COUNT", "8"), `JOB_COMPLETION_INDEX="one" is not an integer`},
		{"k8s count", env("JOB_COMPLETION_INDEX", "1", "DMRNET_SHARD_COUNT", "8x"), `DMRNET_SHARD_COUNT="8x" is not an integer`},
		{"k8s no count", env("JOB_COMPLETION_INDEX", "1"), "DMRNET_SHARD_COUNT is not"},
		{"k8s no index", env("DMRNET_SHARD_COUNT", "8"), "JOB_COMPLETION_INDEX is not"},
		{"k8s zero count", env("JOB_COMPLETION_INDEX", "0", "DMRNET_SHARD_COUNT", "0"), "DMRNET_SHARD_COUNT=0"},
		{"k8s range", env("JOB_COMPLETION_INDEX", "8", "DMRNET_SHARD_COUNT", "8"), "JOB_COMPLETION_INDEX=8 is out of range 0..7"},
		{"k8s negative", env("JOB_COMPLETION_INDEX", "-1", "DMRNET_SHARD_COUNT", "8"), "JOB_COMPLETION_INDEX=-1 is out of range"},
	} {
		s, ok, err := ShardFromEnv(tc.getenv)
		if err == nil || ok || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: ShardFromEnv = %v, %v, %v; want an error containing %q", tc.name, s, ok, err, tc.want)
		}
	}
}
