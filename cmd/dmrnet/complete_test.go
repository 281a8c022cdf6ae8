package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// complete asks dmrnet for the completions of args, as a shell does through Cobra's hidden
// __complete command, and returns the candidates and the directive.
func complete(t *testing.T, args ...string) ([]string, cobra.ShellCompDirective) {
	t.Helper()
	code, stdout, stderr := runCLI(t, nil, append([]string{cobra.ShellCompRequestCmd}, args...)...)
	if code != 0 {
		t.Fatalf("__complete %q: exit %d: %s", args, code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	last := lines[len(lines)-1]
	var d int
	if _, err := fmt.Sscanf(last, ":%d", &d); err != nil {
		t.Fatalf("__complete %q: no directive in %q", args, stdout)
	}
	var got []string
	for _, l := range lines[:len(lines)-1] {
		name, _, _ := strings.Cut(l, "\t") // a description follows a tab
		got = append(got, name)
	}
	return got, cobra.ShellCompDirective(d)
}

func TestFlagCompletion(t *testing.T) {
	cfg, _ := writeConfig(t)
	run := filepath.Join(t.TempDir(), "run")
	if err := os.MkdirAll(run, 0o755); err != nil {
		t.Fatal(err)
	}
	// a run directory's config.yaml names its modalities
	if err := os.WriteFile(filepath.Join(run, "config.yaml"), []byte(strings.ReplaceAll(tinyYAML, "%OUT%", run)), 0o644); err != nil {
		t.Fatal(err)
	}
	noFile := cobra.ShellCompDirectiveNoFileComp
	list := cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
	tests := []struct {
		args []string
		want []string
		dir  cobra.ShellCompDirective
	}{
		{[]string{"train", "--config", ""}, []string{"yaml", "yml"}, cobra.ShellCompDirectiveFilterFileExt},
		{[]string{"eval", "--config", "con"}, []string{"yaml", "yml"}, cobra.ShellCompDirectiveFilterFileExt},
		{[]string{"config", "print", "--config", ""}, []string{"yaml", "yml"}, cobra.ShellCompDirectiveFilterFileExt},
		{[]string{"eval", "--config", cfg, "--missing", ""}, []string{"rgb", "depth", "ir"}, list},
		{[]string{"eval", "--config", cfg, "--missing", "d"}, []string{"depth"}, list},
		{[]string{"eval", "--config", cfg, "--missing", "rgb,"}, []string{"rgb,depth", "rgb,ir"}, list},
		{[]string{"eval", "--config", cfg, "--present=rgb,i"}, []string{"rgb,ir"}, list},
		{[]string{"eval", "--checkpoint", run, "--present", "ir,rgb,"}, []string{"ir,rgb,depth"}, list},
		{[]string{"eval", "--checkpoint", filepath.Join(run, "nope"), "--missing", ""}, nil, list},
		{[]string{"train", "--resume", ""}, nil, cobra.ShellCompDirectiveFilterDirs},
		{[]string{"sweep-missing", "--specialists", ""}, nil, cobra.ShellCompDirectiveFilterDirs},
		{[]string{"eval", "--format", ""}, []string{"text", "json"}, noFile},
		{[]string{"sweep-missing", "--format", "c"}, []string{"csv"}, noFile},
		{[]string{"train", "--format", ""}, []string{"table", "json", "csv", "markdown"}, noFile},
		{[]string{"predict", "--format", ""}, []string{"jsonl", "csv"}, noFile},
		{[]string{"export", "--format", ""}, []string{"safetensors", "npz"}, noFile},
		{[]string{"eval", "--inference", ""}, []string{"fused", "route", "ensemble"}, noFile},
		{[]string{"predict", "--abstain-measure", ""}, []string{"1-maxprob", "entropy", "variance"}, noFile},
		{[]string{"uncertainty", "--split", ""}, []string{"test", "val", "train"}, noFile},
		{[]string{"aggregate", "--metric", ""}, []string{"accuracy", "macro_f1", "acer"}, noFile},
		{[]string{"config", "print", "--format", ""}, []string{"yaml", "json"}, noFile},
		{[]string{"version", "--format", "j"}, []string{"json"}, noFile},
		{[]string{"sweep", "--emit", ""}, []string{"slurm", "k8s"}, noFile},
	}
	for _, tt := range tests {
		got, dir := complete(t, tt.args...)
		if !reflect.DeepEqual(got, tt.want) || dir != tt.dir {
			t.Errorf("complete %q = %q, directive %d; want %q, %d", tt.args, got, dir, tt.want, tt.dir)
		}
	}
}

// TestFormatJSON: every command that prints something a script reads prints JSON that parses
// with --format json.
func TestFormatJSON(t *testing.T) {
	cfg, _ := writeConfig(t)
	tests := []struct {
		args []string
		key  string // a key the object has
	}{
		{[]string{"version", "--format", "json"}, "go"},
		{[]string{"config", "print", "--config", cfg, "--format", "json"}, "train"},
		{[]string{"config", "validate", "--config", cfg, "--format", "json"}, "modalities"},
		{[]string{"sweep", "--config", cfg, "--grid", "beta=0,0.1", "--seeds", "0,1", "--dry-run", "--format", "json"}, "jobs"},
	}
	for _, tt := range tests {
		code, stdout, stderr := runCLI(t, nil, tt.args...)
		var v map[string]any
		if code != 0 || json.Unmarshal([]byte(stdout), &v) != nil || v[tt.key] == nil {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want a JSON object with %q", tt.args, code, stdout, stderr, tt.key)
		}
		if tt.key == "jobs" && len(v["jobs"].([]any)) != 4 {
			t.Errorf("sweep --dry-run --format json: %d jobs, want 4", len(v["jobs"].([]any)))
		}
	}
	// specialists --format json prints specialists.json's content
	code, stdout, stderr := runCLI(t, nil, "specialists", "--config", cfg, "--out", filepath.Join(t.TempDir(), "sp"), "--format", "json")
	var set struct {
		Specialists []struct{ Combination string } `json:"specialists"`
	}
	if code != 0 || json.Unmarshal([]byte(stdout), &set) != nil || len(set.Specialists) != 3 || set.Specialists[0].Combination != "rgb" {
		t.Errorf("specialists --format json: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	// the YAML and the JSON of config print carry the same values
	_, y, _ := runCLI(t, nil, "config", "print", "--config", cfg)
	_, j, _ := runCLI(t, nil, "config", "print", "--config", cfg, "--format", "json")
	if !strings.Contains(y, "batch_size: 32") || !strings.Contains(j, `"batch_size": 32`) {
		t.Errorf("config print yaml/json disagree:\n%s\n%s", y, j)
	}
	for _, args := range [][]string{
		{"version", "--format", "xml"},
		{"sweep", "--config", cfg, "--grid", "beta=0", "--format", "json"},
		{"config", "validate", "--format", "yaml"},
		{"specialists", "--config", cfg, "--format", "csv"},
	} {
		if code, _, stderr := runCLI(t, nil, args...); code != exitUsage || !errorFormat.MatchString(strings.TrimSpace(stderr)) {
			t.Errorf("%q: exit %d, %q; want a usage error", args, code, stderr)
		}
	}
}
