package grid

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dmrnet/dmrnet/internal/config"
)

func mustAxes(t *testing.T, flags ...string) []Axis {
	t.Helper()
	axes, err := ParseAxes(flags)
	if err != nil {
		t.Fatal(err)
	}
	return axes
}

func TestJobs(t *testing.T) {
	axes := mustAxes(t, "beta=0,0.2", "loss.alpha=0,1e-3,[1, 2]")
	root := filepath.Join("runs", "sweep")
	got := Jobs(root, axes, []int64{0, 7})
	want := []struct {
		name, beta, alpha string
		seed              int64
	}{
		{"beta=0_loss.alpha=0/seed0", "0", "0", 0},
		{"beta=0_loss.alpha=0/seed7", "0", "0", 7},
		{"beta=0_loss.alpha=1e-3/seed0", "0", "1e-3", 0},
		{"beta=0_loss.alpha=1e-3/seed7", "0", "1e-3", 7},
		{"beta=0_loss.alpha=1-2/seed0", "0", "[1, 2]", 0},
		{"beta=0_loss.alpha=1-2/seed7", "0", "[1, 2]", 7},
		{"beta=0.2_loss.alpha=0/seed0", "0.2", "0", 0},
		{"beta=0.2_loss.alpha=0/seed7", "0.2", "0", 7},
		{"beta=0.2_loss.alpha=1e-3/seed0", "0.2", "1e-3", 0},
		{"beta=0.2_loss.alpha=1e-3/seed7", "0.2", "1e-3", 7},
		{"beta=0.2_loss.alpha=1-2/seed0", "0.2", "[1, 2]", 0},
		{"beta=0.2_loss.alpha=1-2/seed7", "0.2", "[1, 2]", 7},
	}
	if len(got) != len(want) {
		t.Fatalf("%d jobs; want %d: %v", len(got), len(want), got)
	}
	for i, w := range want {
		dir := filepath.Join(root, filepath.FromSlash(w.name))
		wj := Job{
			Index: i,
			Name:  w.name,
			Dir:   dir,
			Seed:  w.seed,
			Sets: []string{"loss.beta=" + w.beta, "loss.alpha=" + w.alpha,
				fmt.Sprintf("train.seed=%d", w.seed), "out=" + dir},
		}
		g := got[i]
		if g.Index != wj.Index || g.Name != wj.Name || g.Dir != wj.Dir || g.Seed != wj.Seed || !slices.Equal(g.Sets, wj.Sets) {
			t.Errorf("job %d = %#v; want %#v", i, g, wj)
		}
	}
	if again := Jobs(root, axes, []int64{0, 7}); !jobsEqual(got, again) {
		t.Errorf("Jobs is not deterministic")
	}
}

func jobsEqual(a, b []Job) bool {
	return slices.EqualFunc(a, b, func(x, y Job) bool {
		return x.Index == y.Index && x.Name == y.Name && x.Dir == y.Dir && x.Seed == y.Seed && slices.Equal(x.Sets, y.Sets)
	})
}

func TestJobsEdges(t *testing.T) {
	if got := Jobs("runs", nil, []int64{3, -1}); len(got) != 2 ||
		got[0].Name != "seed3" || got[1].Name != "seed-1" ||
		!slices.Equal(got[0].Sets, []string{"train.seed=3", "out=" + filepath.Join("runs", "seed3")}) {
		t.Errorf("no axes: %#v", got)
	}
	if got := Jobs("runs", mustAxes(t, "beta=0,1"), nil); len(got) != 0 {
		t.Errorf("no seeds: %d jobs", len(got))
	}
	if got := Jobs("runs", []Axis{{Key: "loss.beta"}}, []int64{0}); len(got) != 0 {
		t.Errorf("empty axis: %d jobs", len(got))
	}
	// Without a Name, the full key names the axis; an empty root leaves Dir relative.
	got := Jobs("", []Axis{{Key: "optim.lr", Values: []string{"1e-3"}}}, []int64{0})
	if len(got) != 1 || got[0].Name != "optim.lr=1e-3/seed0" || got[0].Dir != filepath.Join("optim.lr=1e-3", "seed0") {
		t.Errorf("got %#v", got)
	}
}

func TestJobNamesSafe(t *testing.T) {
	axes := []Axis{
		{Key: "data.root", Name: "root", Values: []string{"/data/a b", "C:\\x", "..", "é"}},
		{Key: "dropout.probs", Values: []string{"{a: 1, a+b: 2}", `"q"`}},
	}
	for _, j := range Jobs("out", axes, []int64{0}) {
		settings, _, ok := strings.Cut(j.Name, "/")
		if !ok || strings.Count(j.Name, "/") != 1 {
			t.Errorf("name %q: want SETTINGS/seedN", j.Name)
		}
		if strings.ContainsAny(settings, "[]{}:\\ \"'") || settings == ".." {
			t.Errorf("name %q has unsafe characters", j.Name)
		}
	}
	got := Jobs("out", axes[:1], []int64{0})
	var names []string
	for _, j := range got {
		names = append(names, j.Name)
	}
	want := []string{"root=data-a-b/seed0", "root=C-x/seed0", "root=../seed0", "root=/seed0"}
	if !slices.Equal(names, want) {
		t.Errorf("names %q; want %q", names, want)
	}
}

func TestJobNamesUnique(t *testing.T) {
	// [64,32] and [64, 32] and 64,32 sanitise to the same name; so do A and a on
	// case-insensitive file systems.
	axes := []Axis{
		{Key: "model.encoder.layers", Name: "layers", Values: []string{"[64,32]", "[128]", "[64, 32]"}},
		{Key: "variant", Values: []string{"a", "A"}},
	}
	got := Jobs("r", axes, []int64{0, 1})
	var names []string
	seen := map[string]bool{}
	for _, j := range got {
		names = append(names, j.Name)
		if seen[strings.ToLower(j.Name)] {
			t.Errorf("duplicate name %q", j.Name)
		}
		seen[strings.ToLower(j.Name)] = true
	}
	want := []string{
		"layers=64-32_variant=a/seed0_job0", "layers=64-32_variant=a/seed1_job1",
		"layers=64-32_variant=A/seed0_job2", "layers=64-32_variant=A/seed1_job3",
		"layers=128_variant=a/seed0_job4", "layers=128_variant=a/seed1_job5",
		"layers=128_variant=A/seed0_job6", "layers=128_variant=A/seed1_job7",
		"layers=64-32_variant=a/seed0_job8", "layers=64-32_variant=a/seed1_job9",
		"layers=64-32_variant=A/seed0_job10", "layers=64-32_variant=A/seed1_job11",
	}
	if !slices.Equal(names, want) {
		t.Errorf("names\n%q\nwant\n%q", names, want)
	}
	// Only colliding names get a suffix.
	got = Jobs("r", []Axis{{Key: "model.encoder.layers", Values: []string{"[64,32]", "[64, 32]", "[8]"}}}, []int64{0})
	if got[2].Name != "model.encoder.layers=8/seed0" || got[1].Name != "model.encoder.layers=64-32/seed0_job1" {
		t.Errorf("names %q, %q", got[1].Name, got[2].Name)
	}
	// Long settings are cut short, and stay unique.
	long := strings.Repeat("x", 300)
	got = Jobs("r", []Axis{{Key: "variant", Values: []string{long + "1", long + "2"}}}, []int64{0})
	for _, j := range got {
		if settings, _, _ := strings.Cut(j.Name, "/"); len(settings) > maxSettingsLen {
			t.Errorf("settings of %d bytes", len(settings))
		}
	}
	if got[0].Name == got[1].Name {
		t.Errorf("long names collide: %q", got[0].Name)
	}
}

// TestJobsLoad checks that config.Load accepts the settings of every job.
func TestJobsLoad(t *testing.T) {
	axes := mustAxes(t, "beta=0,0.5", "variant=dmrnet,no-kl", "layers=[64,32];[8]", "lr=1e-3")
	for _, root := range []string{filepath.Join(t.TempDir(), "sweep"), "runs/a #1", "runs/yes: no", "123", "true"} {
		for _, j := range Jobs(root, axes, []int64{0, 3}) {
			cfg, err := config.Load(config.LoadOptions{Sets: j.Sets, Environ: []string{}})
			if err != nil {
				t.Errorf("job %s: %v", j.Name, err)
				continue
			}
			if cfg.Out != j.Dir || cfg.Train.Seed != j.Seed || cfg.Optim.LR != 1e-3 {
				t.Errorf("job %s: out %q, seed %d, lr %g", j.Name, cfg.Out, cfg.Train.Seed, cfg.Optim.LR)
			}
		}
	}
	j := Jobs("r", axes, []int64{1})[7]
	cfg, err := config.Load(config.LoadOptions{Sets: j.Sets, Environ: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Loss.Beta != 0.5 || cfg.Variant != "no-kl" || !slices.Equal(cfg.Model.Encoder.Layers, []int{8}) {
		t.Errorf("job %s: beta %g, variant %q, layers %v", j.Name, cfg.Loss.Beta, cfg.Variant, cfg.Model.Encoder.Layers)
	}
}
