package main

import (
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dmrnet/dmrnet/internal/report"
)

// TestManifestExample trains the manifest example (with genuinely missing cells) and checks
// that every combination is evaluated on exactly the test samples that have its modalities.
func TestManifestExample(t *testing.T) {
	out := filepath.Join(t.TempDir(), "run")
	root := filepath.Join("..", "..")
	code, _, stderr := runCLI(t, nil, "train", "--config", filepath.Join(root, "configs", "manifest-example.yaml"),
		"--data-root", root, "--out", out, "--quiet", "--set", "train.epochs=4")
	if code != 0 {
		t.Fatalf("train: exit %d: %s", code, stderr)
	}
	code, stdout, stderr := runCLI(t, nil, "sweep-missing", "--checkpoint", out, "--format", "json")
	if code != 0 {
		t.Fatalf("sweep: %s", stderr)
	}
	var sw report.Sweep
	if err := json.Unmarshal([]byte(stdout), &sw); err != nil {
		t.Fatal(err)
	}
	// count from the manifest itself
	f, err := os.Open(filepath.Join(root, "testdata", "manifest", "manifest.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	want := map[string]int{}
	for _, r := range recs[1:] {
		if r[col["split"]] != "test" {
			continue
		}
		for _, row := range sw.Combinations {
			ok := true
			for _, m := range row.Present {
				ok = ok && r[col[m]] != ""
			}
			if ok {
				want[row.Name]++
			}
		}
	}
	if len(sw.Combinations) != 7 {
		t.Fatalf("%d combinations", len(sw.Combinations))
	}
	for _, row := range sw.Combinations {
		if row.N != want[row.Name] || row.N == 0 {
			t.Errorf("%s: n = %d, the manifest has %d test samples with it", row.Name, row.N, want[row.Name])
		}
	}
	if want["rgb+depth+audio"] >= want["rgb"] {
		t.Fatalf("fixture has no missing cells in the test split: %v", want)
	}
}

// TestBadDataWritesNothing checks that a data error is one line, exits 1 and leaves no run
// directory behind.
func TestBadDataWritesNothing(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "m.csv"), []byte("id,label,split,rgb\na,live,train,missing.png\nb,spoof,test,missing.png\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "a.csv"), []byte("1,2\n3,4\n5\n"), 0o644)
	out := filepath.Join(dir, "run")
	tests := []struct {
		sets []string
		want string
	}{
		{[]string{"data.kind=manifest", "data.manifest.file=m.csv", "data.manifest.class_names=[live, spoof]",
			"data.manifest.modalities=[{name: rgb, type: image, channels: 3, height: 4, width: 4}]"}, "missing.png"},
		{[]string{"data.kind=table", "data.table.views=[{name: a, file: a.csv}]", "data.table.labels=a.csv"}, "a.csv"},
	}
	for _, tt := range tests {
		args := []string{"train", "--data-root", dir, "--out", out}
		for _, s := range tt.sets {
			args = append(args, "--set", s)
		}
		code, _, stderr := runCLI(t, nil, args...)
		if code != 1 || !strings.Contains(stderr, tt.want) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !errorFormat.MatchString(strings.TrimSpace(stderr)) {
			t.Errorf("%v: exit %d, stderr %q", tt.sets, code, stderr)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("%v: the run directory was created", tt.sets)
		}
	}
}
