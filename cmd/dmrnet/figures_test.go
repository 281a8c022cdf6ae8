package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dmrnet/dmrnet/internal/aggregate"
	"github.com/dmrnet/dmrnet/internal/config"
	"github.com/dmrnet/dmrnet/internal/report"
)

// writeFakeRun writes the config.yaml and sweep.json of a finished run of the default
// configuration with the given variant and seed into dir.
func writeFakeRun(t *testing.T, dir, variant string, seed int64) {
	t.Helper()
	cfg := config.Default()
	cfg.Out, cfg.Variant, cfg.Train.Seed = dir, variant, seed
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	data, err := cfg.YAML()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, aggregate.ConfigFile), data, 0o644); err != nil {
		t.Fatal(err)
	}
	mods := cfg.ModalityNames()
	var rows []report.Row
	for i, present := range [][]string{{mods[0]}, {mods[1]}, {mods[0], mods[1]}} {
		rows = append(rows, report.Row{Present: present, Name: strings.Join(present, "+"), Accuracy: 0.6 + 0.1*float64(i) + 0.01*float64(seed), N: 100})
	}
	sw, err := json.Marshal(report.NewSweep(mods, nil, rows))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, aggregate.SweepFile), sw, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestAggregateFigures checks --format latex, --plot in SVG and PDF, --baseline, and the
// warning on two groups that are one model: an empty variant keeps the default
// hard.by=loss, which is what dmrnet-loss sets.
func TestAggregateFigures(t *testing.T) {
	root := t.TempDir()
	for _, seed := range []int64{0, 1} {
		writeFakeRun(t, filepath.Join(root, "plain", "seed"+string(rune('0'+seed))), "", seed)
		writeFakeRun(t, filepath.Join(root, "dmrnet-loss", "seed"+string(rune('0'+seed))), "dmrnet-loss", seed)
		writeFakeRun(t, filepath.Join(root, "no-kl", "seed"+string(rune('0'+seed))), "no-kl", seed)
	}
	out := t.TempDir()
	for _, ext := range []string{".svg", ".pdf", ".png"} {
		plot := filepath.Join(out, "p"+ext)
		code, stdout, stderr := runCLI(t, nil, "aggregate", root, "--format", "latex", "--plot", plot, "--baseline", "no-kl")
		if code != 0 || !strings.Contains(stdout, `\toprule`) || !strings.Contains(stdout, `$\pm$`) {
			t.Fatalf("aggregate %s: exit %d\n%s\n%s", ext, code, stdout, stderr)
		}
		var warnings []string
		for _, l := range strings.Split(strings.TrimSpace(stderr), "\n") {
			if strings.HasPrefix(l, "dmrnet: warning: ") {
				warnings = append(warnings, l)
			}
		}
		if len(warnings) != 1 || !strings.Contains(warnings[0], `"plain" and "dmrnet-loss" have identical settings`) {
			t.Errorf("warnings %q, want one on plain and dmrnet-loss", warnings)
		}
		if fi, err := os.Stat(plot); err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v", plot, err)
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--plot", filepath.Join(out, "p.jpg")}, "not a .png, .svg or .pdf file name"},
		{[]string{"--baseline", "no-kl"}, "--baseline: needs --plot"},
		{[]string{"--plot", filepath.Join(out, "q.svg"), "--baseline", "nope"}, "--baseline=nope: not a group"},
	} {
		code, _, stderr := runCLI(t, nil, append([]string{"aggregate", root}, tc.args...)...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) || strings.Count(strings.TrimSpace(stderr), "\n") > 1 {
			t.Errorf("%v: exit %d, stderr %q, want %q", tc.args, code, stderr, tc.want)
		}
	}
}
