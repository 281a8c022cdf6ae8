// Package launch writes cluster launchers for a dmrnet sweep: a Slurm batch script that runs
// the sweep as a job array, and a Kubernetes manifest that runs it as an Indexed Job. Each
// array task or pod runs dmrnet sweep with exactly the grid it was generated from and takes
// its shard from the environment (see grid.ShardFromEnv); both launchers also run dmrnet
// aggregate once every shard has succeeded. Generating them from the grid, instead of
// editing templates by hand, keeps the shard count, the array size and the arguments equal.
package launch

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Sweep is the grid a launcher runs: the arguments of dmrnet sweep that every task repeats.
type Sweep struct {
	// Config is the base configuration file, as given to --config.
	Config string
	// Sets are the --set overrides of every job, in order.
	Sets []string
	// Grids are the --grid axes, in order, as given.
	Grids []string
	// Seeds is the --seeds list, as given.
	Seeds string
	// Out is the root of the job run directories (sweep's --out, or its default).
	Out string
	// DataRoot is the --data-root flag ("" when not given).
	DataRoot string
	// Jobs is the number of jobs of the grid (settings x seeds).
	Jobs int
	// AtOnce is the --jobs value every shard runs with ("" when not given: the shard's
	// default).
	AtOnce string
}

// args returns the dmrnet sweep arguments for config file cfg, output root out and data
// root dataRoot, in --flag=value form so that no value can be read as a flag.
func (s Sweep) args(cfg, out, dataRoot string) []string {
	a := []string{"sweep", "--config=" + cfg}
	for _, v := range s.Sets {
		a = append(a, "--set="+v)
	}
	for _, g := range s.Grids {
		a = append(a, "--grid="+g)
	}
	a = append(a, "--seeds="+s.Seeds, "--out="+out)
	if dataRoot != "" {
		a = append(a, "--data-root="+dataRoot)
	}
	if s.AtOnce != "" {
		a = append(a, "--jobs="+s.AtOnce)
	}
	return a
}

// Resources are the settings both launchers share.
type Resources struct {
	// Name names the job (Slurm job name, Kubernetes Job name); the aggregate step is
	// Name-aggregate. It must be a DNS label (see CheckName).
	Name string
	// Shards is the number of array tasks or pods, 1..Sweep.Jobs.
	Shards int
	// Parallelism is how many shards may run at once; 0 means all.
	Parallelism int
	// CPUs is the number of CPUs of each shard; 0 leaves it to the cluster's default.
	CPUs int
	// Mem is the memory of each shard; zero leaves it to the cluster's default.
	Mem Memory
	// Time is the wall-time limit of each shard; 0 means none.
	Time time.Duration
}

// check validates the resources against a sweep of jobs jobs.
func (r Resources) check(jobs int) error {
	if err := CheckName(r.Name); err != nil {
		return err
	}
	switch {
	case jobs < 1:
		return fmt.Errorf("the grid has no jobs")
	case r.Shards < 1 || r.Shards > jobs:
		return fmt.Errorf("shards %d: want 1..%d, the number of jobs (more shards than jobs would leave tasks idle)", r.Shards, jobs)
	case r.Parallelism < 0 || r.Parallelism > r.Shards:
		return fmt.Errorf("parallelism %d: want 0 (all at once) to %d, the number of shards", r.Parallelism, r.Shards)
	case r.CPUs < 0:
		return fmt.Errorf("cpus %d: want 0 (the cluster's default) or more", r.CPUs)
	case r.Time < 0:
		return fmt.Errorf("time %s: want a positive duration such as 4h", r.Time)
	}
	return nil
}

// nameRE is a DNS label (RFC 1123) as Kubernetes requires for object names.
var nameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// MaxName is the longest job name: a Kubernetes Job name with the "-aggregate" suffix and
// the pod name suffixes Kubernetes adds must stay within 63 characters.
const MaxName = 40

// CheckName reports whether name can name the launcher's jobs on both Slurm and Kubernetes.
func CheckName(name string) error {
	if len(name) > MaxName || !nameRE.MatchString(name) {
		return fmt.Errorf("name %q: want at most %d lower-case letters, digits and '-', starting and ending with a letter or digit", name, MaxName)
	}
	return nil
}

// DefaultName is the job name for configuration file cfg when none is given:
// dmrnet-<file name without extension>, reduced to a valid name.
func DefaultName(cfg string) string {
	base := cfg
	if i := strings.LastIndexAny(base, `/\`); i >= 0 {
		base = base[i+1:]
	}
	if i := strings.LastIndex(base, "."); i > 0 {
		base = base[:i]
	}
	var b strings.Builder
	dash := true
	for _, r := range strings.ToLower(base) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
			dash = false
		} else if !dash {
			b.WriteByte('-')
			dash = true
		}
	}
	name := strings.Trim("dmrnet-"+b.String(), "-")
	if len(name) > MaxName {
		name = strings.TrimRight(name[:MaxName], "-")
	}
	return name
}

// Memory is an amount of memory in MiB, written like Slurm's --mem: 512M, 4G, 1T (binary
// units, also written 4Gi or 4GiB as Kubernetes does; a number without a unit is MiB).
type Memory struct{ MiB int64 }

// ParseMemory parses a memory size such as 4G, 512M, 4096 (MiB) or 1T.
func ParseMemory(s string) (Memory, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "B"), "I") // 4G, 4GB, 4Gi and 4GiB are the same
	mult := int64(1)
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'M':
			t = t[:n-1]
		case 'G':
			mult, t = 1<<10, t[:n-1]
		case 'T':
			mult, t = 1<<20, t[:n-1]
		}
	}
	v, err := strconv.ParseInt(t, 10, 64)
	if err != nil || v < 1 || v > (1<<40)/mult {
		return Memory{}, fmt.Errorf("memory %q: want a positive whole size such as 512M, 4G or 1T", s)
	}
	return Memory{MiB: v * mult}, nil
}

// slurm is the size as Slurm's --mem reads it.
func (m Memory) slurm() string {
	switch {
	case m.MiB%(1<<20) == 0:
		return fmt.Sprintf("%dT", m.MiB>>20)
	case m.MiB%(1<<10) == 0:
		return fmt.Sprintf("%dG", m.MiB>>10)
	}
	return fmt.Sprintf("%dM", m.MiB)
}

// kubernetes is the size as a Kubernetes quantity.
func (m Memory) kubernetes() string {
	switch {
	case m.MiB%(1<<20) == 0:
		return fmt.Sprintf("%dTi", m.MiB>>20)
	case m.MiB%(1<<10) == 0:
		return fmt.Sprintf("%dGi", m.MiB>>10)
	}
	return fmt.Sprintf("%dMi", m.MiB)
}

// seconds is d in whole seconds, rounded up.
func seconds(d time.Duration) int64 {
	return int64((d + time.Second - 1) / time.Second)
}

// slurmTime is d as Slurm's --time reads it, D-HH:MM:SS, rounded up to a second.
func slurmTime(d time.Duration) string {
	s := seconds(d)
	return fmt.Sprintf("%d-%02d:%02d:%02d", s/86400, s/3600%24, s/60%60, s%60)
}

// shellQuote quotes s for a POSIX shell: unchanged when it holds only safe characters,
// else in single quotes.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@%+=:,./_-") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// shellJoin quotes each word with shellQuote and joins them with blanks.
func shellJoin(words []string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = shellQuote(w)
	}
	return strings.Join(q, " ")
}
