package main

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/dmrnet/dmrnet/internal/config"
	"github.com/dmrnet/dmrnet/internal/train"
	"github.com/spf13/cobra"
)

// Values of the enumerated flags, for shell completion (the commands check them themselves).
var (
	tableFormats   = []string{"table", "json", "csv", "markdown"}
	splits         = []string{"test", "val", "train"}
	inferenceModes = []string{"fused", "route", "ensemble"}
	textJSON       = []string{"text", "json"}
)

// enumFlags maps a command (its path without "dmrnet") and a flag to the flag's values.
var enumFlags = map[string]map[string][]string{
	"train":           {"format": tableFormats},
	"eval":            {"format": textJSON, "split": splits, "inference": inferenceModes},
	"sweep-missing":   {"format": tableFormats, "split": splits, "inference": inferenceModes},
	"predict":         {"format": {"jsonl", "csv"}, "inference": inferenceModes, "abstain-measure": abstainMeasures},
	"export":          {"format": {"safetensors", "npz"}, "split": splits},
	"aggregate":       {"format": {"table", "markdown", "csv", "json"}, "metric": {"accuracy", "macro_f1", "acer"}},
	"uncertainty":     {"format": {"table", "markdown", "csv", "json"}, "split": splits, "inference": inferenceModes},
	"sweep":           {"format": textJSON, "emit": {emitSlurm, emitKubernetes}},
	"specialists":     {"format": textJSON},
	"version":         {"format": textJSON},
	"config print":    {"format": {"yaml", "json"}},
	"config validate": {"format": textJSON},
}

// registerCompletions adds shell completion to the flags of every command under c: --config
// to YAML files, --resume, --out, --specialists and --data-root to directories, --missing and --present to the model's modality names, and the enumerated
// flags to their values.
func (a *app) registerCompletions(c *cobra.Command) {
	for _, sub := range c.Commands() {
		a.registerCompletions(sub)
	}
	f := c.Flags()
	if f.Lookup("config") != nil {
		_ = c.RegisterFlagCompletionFunc("config", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			return []string{"yaml", "yml"}, cobra.ShellCompDirectiveFilterFileExt
		})
	}
	// run directories (--checkpoint also takes a checkpoint file: files are offered too)
	for _, name := range []string{"resume", "out", "specialists", "data-root"} {
		if f.Lookup(name) != nil {
			_ = c.RegisterFlagCompletionFunc(name, func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
				return nil, cobra.ShellCompDirectiveFilterDirs
			})
		}
	}
	for _, name := range []string{"missing", "present"} {
		if f.Lookup(name) != nil {
			_ = c.RegisterFlagCompletionFunc(name, a.completeModalities)
		}
	}
	for name, values := range enumFlags[subPath(c)] {
		if f.Lookup(name) == nil {
			panic("dmrnet: completion of --" + name + " for " + subPath(c) + ", which has no such flag")
		}
		_ = c.RegisterFlagCompletionFunc(name, completeValues(values))
	}
}

// completeValues completes a flag to those of values that start with what is typed.
func completeValues(values []string) cobra.CompletionFunc {
	return func(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		var out []string
		for _, v := range values {
			if strings.HasPrefix(v, toComplete) {
				out = append(out, v)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// completeModalities completes the last element of a comma-separated list of modalities
// (--missing=rgb,de<TAB>) with the names of the model that --config or --checkpoint gives, or
// of the most recent finished run under ./runs, leaving out those already listed.
func (a *app) completeModalities(cmd *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	names := a.modalityNames(cmd)
	i := strings.LastIndex(toComplete, ",")
	prefix, last := toComplete[:i+1], toComplete[i+1:]
	listed := map[string]bool{}
	for _, n := range strings.Split(prefix, ",") {
		listed[n] = true
	}
	var out []string
	for _, n := range names {
		if !listed[n] && strings.HasPrefix(n, last) {
			out = append(out, prefix+n)
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
}

// modalityNames are the modalities of the model a command would open; nil when it cannot
// tell (completion prints no error).
func (a *app) modalityNames(cmd *cobra.Command) []string {
	f := cmd.Flags()
	get := func(name string) string {
		if fl := f.Lookup(name); fl != nil {
			return fl.Value.String()
		}
		return ""
	}
	if file := get("config"); file != "" {
		sets, _ := f.GetStringArray("set")
		cfg, err := a.loadConfig(file, sets)
		if err != nil {
			return nil
		}
		return cfg.ModalityNames()
	}
	dir := get("checkpoint")
	if dir == "" {
		latest, err := train.LatestFinished(runsRoot)
		if err != nil || latest.Dir == "" {
			return nil
		}
		dir = latest.Dir
	} else if _, d, _, err := train.CheckpointPath(dir); err == nil {
		dir = d
	}
	data, err := os.ReadFile(filepath.Join(dir, train.ConfigFile))
	if err != nil {
		return nil
	}
	cfg, err := config.FromYAML(data, dir)
	if err != nil {
		return nil
	}
	return cfg.ModalityNames()
}
