package main

import (
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// quickStart returns the README's quick-start section.
func quickStart(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "## Quick start")
	j := strings.Index(s[i+1:], "\n## ")
	if i < 0 || j < 0 {
		t.Fatal("README has no quick-start section")
	}
	return s[i : i+1+j]
}

// TestReadmeQuickStart runs the README's quick-start commands verbatim (in a scratch
// directory holding the quick-start config) and checks that their output has the shape the
// README shows: the same combinations in the table, the same eval fields.
func TestReadmeQuickStart(t *testing.T) {
	qs := quickStart(t)
	setup := regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(qs, -1)
	if len(setup) < 2 {
		t.Fatalf("quick start has %d sh blocks, want the set-up and the walk-through", len(setup))
	}
	first := strings.Split(strings.TrimSpace(setup[0][1]), "\n")
	if len(first) != 2 || !strings.Contains(first[0], "dmrnet train --config configs/quickstart.yaml") || !strings.HasPrefix(first[1], "go test ./...") {
		t.Fatalf("set-up block is not the two commands (train the quick start, run the tests):\n%s", setup[0][1])
	}
	var cmds []string
	for _, line := range strings.Split(setup[1][1], "\n") {
		if line = strings.TrimSpace(line); strings.HasPrefix(line, "dmrnet ") {
			cmds = append(cmds, line)
		}
	}
	want := []string{
		"dmrnet train --config configs/quickstart.yaml",
		"dmrnet eval --config configs/quickstart.yaml --missing=depth",
		"dmrnet sweep-missing --config configs/quickstart.yaml",
	}
	if strings.Join(cmds, "\n") != strings.Join(want, "\n") {
		t.Fatalf("walk-through commands:\n%s\nwant:\n%s", strings.Join(cmds, "\n"), strings.Join(want, "\n"))
	}
	cfg, err := os.ReadFile(filepath.Join("..", "..", "configs", "quickstart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(t.TempDir())
	if err := os.MkdirAll("configs", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("configs", "quickstart.yaml"), cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	outputs := map[string]string{}
	for _, c := range append([]string{want[0]}, want...) { // train twice: the repeat shows the run
		code, stdout, stderr := runCLI(t, nil, strings.Fields(c)[1:]...)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", c, code, stderr)
		}
		outputs[c] = stdout
	}
	// the README's table rows (first column) must be the rows dmrnet prints
	readmeRows := tableNames(qs)
	for _, c := range []string{want[0], want[2]} {
		if got := tableNames(outputs[c]); strings.Join(got, ",") != strings.Join(readmeRows, ",") {
			t.Errorf("%s prints rows %v, the README shows %v", c, got, readmeRows)
		}
	}
	for _, field := range []string{"combination:  rgb+ir", "accuracy:", "macro-F1:", "APCER:", "BPCER:", "ACER:", "confusion matrix", "live", "spoof"} {
		if !strings.Contains(outputs[want[1]], field) || !strings.Contains(qs, field) {
			t.Errorf("eval output or README lacks %q", field)
		}
	}
}

// tableNames lists the first column of a combination table's rows.
func tableNames(s string) []string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) > 2 && (strings.Contains(f[0], "rgb") || strings.Contains(f[0], "depth") || strings.HasPrefix(f[0], "ir")) && regexp.MustCompile(`^\d+$`).MatchString(f[1]) {
			out = append(out, f[0])
		}
	}
	return out
}

// TestReadmePredict runs the README's predict example on the quick start and compares its
// records with the output the README shows: the same ids, modalities and classes, and the
// same numbers to 1e-3 (the last digits may differ between CPU kinds).
func TestReadmePredict(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "## Use a trained model")
	if i < 0 {
		t.Fatal("README has no \"Use a trained model\" section")
	}
	blocks := regexp.MustCompile("(?s)```(sh)?\n(.*?)```").FindAllStringSubmatch(s[i:], 2)
	if len(blocks) < 2 || blocks[0][1] != "sh" {
		t.Fatal("the section does not start with the command and its output")
	}
	cmd := strings.TrimSpace(blocks[0][2])
	if !strings.HasPrefix(cmd, "dmrnet predict --checkpoint runs/quickstart ") {
		t.Fatalf("command %q", cmd)
	}
	root, _ := filepath.Abs(filepath.Join("..", ".."))
	t.Chdir(t.TempDir())
	for _, f := range []string{"configs/quickstart.yaml", "testdata/quickstart/rgb.csv", "testdata/quickstart/ir.csv"} {
		data, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Dir(f), 0o755)
		if err := os.WriteFile(f, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if code, _, stderr := runCLI(t, nil, "train", "--config", "configs/quickstart.yaml", "--quiet"); code != 0 {
		t.Fatalf("train: %s", stderr)
	}
	code, stdout, stderr := runCLI(t, nil, strings.Fields(cmd)[1:]...)
	if code != 0 {
		t.Fatalf("%s: %s", cmd, stderr)
	}
	got, want := parseRecords(t, stdout), parseRecords(t, blocks[1][2])
	if len(got) != len(want) || len(got) == 0 {
		t.Fatalf("%d records, the README shows %d", len(got), len(want))
	}
	near := func(a, b float64) bool { return math.Abs(a-b) <= 1e-3 }
	for k := range got {
		g, w := got[k], want[k]
		ok := g.ID == w.ID && strings.Join(g.Present, "+") == strings.Join(w.Present, "+") && g.Class == w.Class &&
			near(*g.Variance, *w.Variance) && near(g.Entropy, w.Entropy) && near(g.MaxProb, w.MaxProb)
		for c, p := range w.Probs {
			ok = ok && near(g.Probs[c], p)
		}
		if !ok {
			t.Errorf("record %d: got %+v, the README shows %+v", k+1, g, w)
		}
	}
}
