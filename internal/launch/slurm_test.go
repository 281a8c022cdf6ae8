package launch

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// directives returns the #SBATCH options of script, which sbatch reads up to the first
// command.
func directives(script string) []string {
	var out []string
	for line := range strings.Lines(script) {
		line = strings.TrimSpace(line)
		if d, ok := strings.CutPrefix(line, "#SBATCH "); ok {
			out = append(out, strings.TrimSpace(d))
		} else if line != "" && !strings.HasPrefix(line, "#") {
			break
		}
	}
	return out
}

// writeExe writes an executable shell script.
func writeExe(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+text), 0o755); err != nil {
		t.Fatal(err)
	}
}

// lines splits text into its lines, without the empty last one.
func lines(text string) []string {
	return strings.Split(strings.TrimSuffix(text, "\n"), "\n")
}

func TestSlurmScript(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	for _, tc := range []struct {
		name       string
		edit       func(s *Slurm)
		directives []string
		args       []string
		aggOpts    []string
	}{
		{"one task per job, defaults", func(s *Slurm) {},
			[]string{"--job-name=dmrnet-quickstart", "--array=0-5", "--chdir=DIR", "--output=slurm-%A_%a.out"},
			[]string{"sweep", "--config=configs/quickstart.yaml", "--grid=beta=0,0.2", "--seeds=0,1,2", "--out=runs/sweep/quickstart"},
			nil},
		{"shards, throttle, resources, sets with quotes", func(s *Slurm) {
			s.Shards, s.Parallelism, s.CPUs, s.Time, s.Partition, s.DataRoot = 4, 2, 3, 25*time.Hour+30*time.Second, "gpu", "/data/sets"
			s.Mem, _ = ParseMemory("2G")
			s.Sets = []string{`data.synthetic.class_names=["it's", "a b"]`, "train.epochs=$HOME"}
		}, []string{"--job-name=dmrnet-quickstart", "--array=0-3%2", "--chdir=DIR", "--output=slurm-%A_%a.out",
			"--cpus-per-task=3", "--mem=2G", "--time=1-01:00:30", "--partition=gpu"},
			[]string{"sweep", "--config=configs/quickstart.yaml", `--set=data.synthetic.class_names=["it's", "a b"]`,
				"--set=train.epochs=$HOME", "--grid=beta=0,0.2", "--seeds=0,1,2", "--out=runs/sweep/quickstart", "--data-root=/data/sets"},
			[]string{"--partition=gpu", "--time=1-01:00:30", "--mem=2G"}},
		{"parallelism of all shards needs no throttle", func(s *Slurm) { s.Shards, s.Parallelism = 2, 2 },
			[]string{"--job-name=dmrnet-quickstart", "--array=0-1", "--chdir=DIR", "--output=slurm-%A_%a.out"},
			[]string{"sweep", "--config=configs/quickstart.yaml", "--grid=beta=0,0.2", "--seeds=0,1,2", "--out=runs/sweep/quickstart"},
			nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			fake := filepath.Join(dir, "dmrnet")
			writeExe(t, fake, `echo "GOMAXPROCS=${GOMAXPROCS:-unset}"; for a; do printf '%s\n' "$a"; done`+"\n")
			s := Slurm{
				Sweep: Sweep{Config: "configs/quickstart.yaml", Grids: []string{"beta=0,0.2"}, Seeds: "0,1,2",
					Out: "runs/sweep/quickstart", Jobs: 6},
				Resources: Resources{Name: "dmrnet-quickstart", Shards: 6},
				Dir:       dir, Binary: fake, Command: []string{"dmrnet", "sweep", "--seeds=0,1,2"},
			}
			tc.edit(&s)
			var buf bytes.Buffer
			if err := s.Write(&buf); err != nil {
				t.Fatal(err)
			}
			script := buf.String()
			want := slices.Clone(tc.directives)
			for i, d := range want {
				want[i] = strings.Replace(d, "DIR", dir, 1)
			}
			if got := directives(script); !slices.Equal(got, want) {
				t.Errorf("directives\n%q\nwant\n%q", got, want)
			}
			path := filepath.Join(dir, "sweep.sh")
			if err := os.WriteFile(path, buf.Bytes(), 0o755); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(bash, "-n", path).CombinedOutput(); err != nil {
				t.Fatalf("bash -n: %v\n%s", err, out)
			}

			// as an array task, the script runs dmrnet sweep with the grid's arguments
			cmd := exec.Command(bash, path)
			cmd.Dir = t.TempDir()
			cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "SLURM_JOB_ID=12", "SLURM_ARRAY_JOB_ID=11",
				"SLURM_ARRAY_TASK_ID=1", "SLURM_ARRAY_TASK_COUNT=6", "SLURM_CPUS_PER_TASK=3"}
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("array task: %v", err)
			}
			got := lines(string(out))
			if !strings.HasPrefix(got[0], "dmrnet-quickstart: task 1 of 6 (array job 11)") {
				t.Errorf("first line %q; want the task", got[0])
			}
			if got[1] != "GOMAXPROCS=3" {
				t.Errorf("dmrnet ran with %s; want GOMAXPROCS=3, the task's SLURM_CPUS_PER_TASK", got[1])
			}
			if !slices.Equal(got[2:], tc.args) {
				t.Errorf("dmrnet args\n%q\nwant\n%q", got[2:], tc.args)
			}

			// a job that is not an array task refuses to run the whole sweep
			cmd = exec.Command(bash, path)
			cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "SLURM_JOB_ID=12"}
			if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "not an array task") {
				t.Errorf("plain job: %v, %s; want a failure", err, out)
			}

			// outside Slurm, the script submits itself as the array, then the aggregate job
			bin := t.TempDir()
			calls := filepath.Join(bin, "calls")
			writeExe(t, filepath.Join(bin, "sbatch"), `n=$(cat "`+calls+`.n" 2>/dev/null || echo 0)
n=$((n + 1)); echo "$n" > "`+calls+`.n"
for a; do printf '%s\n' "$a"; done > "`+calls+`.$n"
if [ "$n" = 1 ]; then echo "41;cluster"; else echo 42; fi
`)
			cmd = exec.Command(bash, "sweep.sh")
			cmd.Dir = dir
			cmd.Env = []string{"PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH")}
			out, err = cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("bash sweep.sh: %v\n%s", err, out)
			}
			if !strings.Contains(string(out), "array job 41 (") || !strings.Contains(string(out), "aggregate job 42 (") {
				t.Errorf("output %q; want the job ids 41 and 42", out)
			}
			first, _ := os.ReadFile(calls + ".1")
			if got := lines(string(first)); !slices.Equal(got, []string{"--parsable", path}) {
				t.Errorf("first sbatch %q; want --parsable %s", got, path)
			}
			second, _ := os.ReadFile(calls + ".2")
			got = lines(string(second))
			wantAgg := append([]string{"--parsable", "--job-name=dmrnet-quickstart-aggregate", "--chdir=" + dir,
				"--output=slurm-%j-aggregate.out", "--dependency=afterok:41", "--kill-on-invalid-dep=yes"}, tc.aggOpts...)
			if len(got) != len(wantAgg)+1 || !slices.Equal(got[:len(wantAgg)], wantAgg) {
				t.Fatalf("second sbatch\n%q\nwant\n%q and --wrap", got, wantAgg)
			}
			// the --wrap command runs dmrnet aggregate on the sweep's root
			wrap, ok := strings.CutPrefix(got[len(got)-1], "--wrap=")
			if !ok {
				t.Fatalf("last option %q; want --wrap", got[len(got)-1])
			}
			out, err = exec.Command("sh", "-c", wrap).Output()
			if err != nil {
				t.Fatalf("sh -c %q: %v", wrap, err)
			}
			wantArgs := []string{"aggregate", "runs/sweep/quickstart", "--format=markdown", "--output=runs/sweep/quickstart/summary.md"}
			if got := lines(string(out))[1:]; !slices.Equal(got, wantArgs) {
				t.Errorf("aggregate args %q; want %q", got, wantArgs)
			}
		})
	}
}

func TestSlurmRefuses(t *testing.T) {
	ok := Slurm{Sweep: Sweep{Config: "c.yaml", Seeds: "0", Out: "runs/x", Jobs: 3},
		Resources: Resources{Name: "dmrnet-x", Shards: 3}, Dir: "/work", Binary: "/usr/bin/dmrnet"}
	for _, tc := range []struct {
		name string
		edit func(s *Slurm)
		want string
	}{
		{"relative directory", func(s *Slurm) { s.Dir = "work" }, "absolute"},
		{"directory with a blank", func(s *Slurm) { s.Dir = "/my work" }, "blanks"},
		{"directory with %", func(s *Slurm) { s.Dir = "/w%a" }, "blanks"},
		{"no binary", func(s *Slurm) { s.Binary = "" }, "binary"},
		{"partition with a blank", func(s *Slurm) { s.Partition = "a b" }, "partition"},
		{"more shards than jobs", func(s *Slurm) { s.Shards = 4 }, "want 1..3"},
		{"negative cpus", func(s *Slurm) { s.CPUs = -1 }, "cpus"},
		{"negative time", func(s *Slurm) { s.Time = -time.Second }, "time"},
		{"empty name", func(s *Slurm) { s.Name = "" }, "name"},
	} {
		s := ok
		tc.edit(&s)
		err := s.Write(new(bytes.Buffer))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v; want one about %q", tc.name, err, tc.want)
		}
	}
	if err := ok.Write(new(bytes.Buffer)); err != nil {
		t.Errorf("valid launcher: %v", err)
	}
}
