package aggregate

import (
	"cmp"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/dmrnet/dmrnet/internal/config"
)

// Group is a set of runs of one configuration that differ only in the training seed (and the
// run directory).
type Group struct {
	// Label names the group in tables and plots: the variant name, followed by the settings
	// that tell it apart from other groups of the same variant, e.g. "dmrnet (loss.beta=0.5)".
	Label string
	// Variant is the runs' variant, "dmrnet" when the configuration leaves it empty.
	Variant string
	// Runs are the group's runs, in increasing seed order.
	Runs []Run
	// Seeds are the runs' training seeds, Seeds[i] of Runs[i].
	Seeds []int64
}

// paperVariants are the variants in the order of the paper's ablation table.
func paperVariants() []string {
	return []string{"dmrnet", "dmrnet-loss", "no-hcr", "no-kl", "deterministic", "no-dropout"}
}

// presetKeys returns the keys that the preset of variant sets, which may therefore differ
// from the runs of other variants even where settings must otherwise agree.
func presetKeys(variant string) []string {
	paper := []string{"model.pme", "hard.by", "hard.mode"}
	switch variant {
	case "dmrnet", "dmrnet-loss":
		return paper
	case "no-hcr":
		return append(paper, "loss.beta")
	case "no-kl":
		return append(paper, "loss.alpha")
	case "deterministic":
		return []string{"model.pme", "loss.alpha", "loss.beta"}
	case "no-dropout":
		return append(paper, "dropout.mode", "dropout.probs")
	}
	return nil
}

// setByPreset reports whether the preset of variant sets key or a key below it.
func setByPreset(variant, key string) bool {
	for _, p := range presetKeys(variant) {
		if key == p || strings.HasPrefix(key, p+".") {
			return true
		}
	}
	return false
}

// ignoredKey reports the keys that never tell runs of one configuration apart: the seed, the
// run directory and how many training checkpoints the run keeps.
func ignoredKey(key string) bool {
	return key == "train.seed" || key == "out" || key == "train.keep_checkpoints"
}

// fixedKey reports whether key must be equal across all aggregated runs: the data set and
// the model must be the same for their results to be comparable. The auxiliary heads and the
// inference mode are options of the same model that such comparisons are about.
func fixedKey(key string) bool {
	for _, free := range []string{"model.aux_heads", "model.inference", "model.ensemble"} {
		if key == free || strings.HasPrefix(key, free+".") {
			return false
		}
	}
	return strings.HasPrefix(key, "data.") || strings.HasPrefix(key, "model.")
}

// variantOf returns the variant of r, "dmrnet" for an empty one.
func variantOf(r Run) string {
	if r.Config.Variant == "" {
		return "dmrnet"
	}
	return r.Config.Variant
}

// settings is a configuration flattened into dotted keys, in document order.
type settings struct {
	keys   []string
	values map[string]string
}

// get returns the value of key and whether it is set.
func (s settings) get(key string) (string, bool) {
	v, ok := s.values[key]
	return v, ok
}

// runSettings returns the configuration of r without its seed and run directory, as YAML (the
// identity of its group) and flattened.
func runSettings(r Run) (string, settings, error) {
	c := *r.Config
	c.Train.Seed = 0
	c.Out = ""
	c.Variant = variantOf(r)
	data, err := c.YAML()
	if err != nil {
		return "", settings{}, fmt.Errorf("aggregate: run %s: %w", r.Dir, err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return "", settings{}, fmt.Errorf("aggregate: run %s: decoding the configuration: %w", r.Dir, err)
	}
	s := settings{values: map[string]string{}}
	flattenNode(&doc, reflect.TypeFor[config.Config](), "", &s)
	return string(data), s, nil
}

// flattenNode adds the leaves of n, a value of type t, below prefix to s. Lists of scalars and
// maps of scalars (such as dropout.probs) are one leaf written in flow style ("[64, 32]",
// "{rgb: 1, rgb+ir: 2}"); other lists are indexed ("data.synthetic.modalities[0].dim").
func flattenNode(n *yaml.Node, t reflect.Type, prefix string, s *settings) {
	leaf := func(v string) {
		if _, dup := s.values[prefix]; !dup {
			s.keys = append(s.keys, prefix)
		}
		s.values[prefix] = v
	}
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			flattenNode(c, t, prefix, s)
		}
	case yaml.MappingNode:
		if t != nil && t.Kind() == reflect.Map && scalarNodes(n.Content) {
			items := make([]string, 0, len(n.Content)/2)
			for i := 0; i+1 < len(n.Content); i += 2 {
				items = append(items, n.Content[i].Value+": "+n.Content[i+1].Value)
			}
			leaf("{" + strings.Join(items, ", ") + "}")
			return
		}
		if len(n.Content) == 0 {
			leaf("{}")
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := n.Content[i].Value
			if prefix != "" {
				key = prefix + "." + key
			}
			flattenNode(n.Content[i+1], fieldType(t, n.Content[i].Value), key, s)
		}
	case yaml.SequenceNode:
		if scalarNodes(n.Content) {
			items := make([]string, len(n.Content))
			for i, c := range n.Content {
				items[i] = c.Value
			}
			leaf("[" + strings.Join(items, ", ") + "]")
			return
		}
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		for i, c := range n.Content {
			flattenNode(c, elem, prefix+"["+strconv.Itoa(i)+"]", s)
		}
	case yaml.AliasNode:
		flattenNode(n.Alias, t, prefix, s)
	default:
		leaf(n.Value)
	}
}

// scalarNodes reports whether all nodes are scalars.
func scalarNodes(nodes []*yaml.Node) bool {
	for _, c := range nodes {
		if c.Kind != yaml.ScalarNode {
			return false
		}
	}
	return true
}

// fieldType returns the type of the value at key in a value of type t: the element type of a
// map, the type of the struct field whose YAML name is key, or nil when unknown.
func fieldType(t reflect.Type, key string) reflect.Type {
	if t == nil {
		return nil
	}
	switch t.Kind() {
	case reflect.Map:
		return t.Elem()
	case reflect.Struct:
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "" {
				name = strings.ToLower(f.Name)
			}
			if name == key {
				return f.Type
			}
		}
	}
	return nil
}

// GroupRuns sorts runs into groups of identical configuration apart from train.seed and out. It
// refuses runs that cannot be compared: runs whose data.* or model.* settings differ (other
// than the keys a variant preset sets, such as model.pme of the deterministic variant), runs
// with different modalities, and two runs of one configuration with the same seed.
//
// Groups come in the order of the paper's ablation table (dmrnet, dmrnet-loss, no-hcr, no-kl,
// deterministic, no-dropout), then other variants, each variant's groups ordered by label.
func GroupRuns(runs []Run) ([]Group, error) {
	if len(runs) == 0 {
		return nil, fmt.Errorf("aggregate: no runs to group")
	}
	type info struct {
		id  string
		set settings
	}
	infos := make([]info, len(runs))
	for i, r := range runs {
		if r.Config == nil || r.Sweep == nil {
			return nil, fmt.Errorf("aggregate: run %s has no configuration or sweep", r.Dir)
		}
		id, set, err := runSettings(r)
		if err != nil {
			return nil, err
		}
		infos[i] = info{id, set}
	}
	sets := make([]settings, len(runs))
	for i := range infos {
		sets[i] = infos[i].set
	}
	if err := checkComparable(runs, sets); err != nil {
		return nil, err
	}

	var groups []Group
	var groupSets []settings
	index := map[string]int{}
	for i, r := range runs {
		g, ok := index[infos[i].id]
		if !ok {
			g = len(groups)
			index[infos[i].id] = g
			groups = append(groups, Group{Variant: variantOf(r)})
			groupSets = append(groupSets, infos[i].set)
		}
		groups[g].Runs = append(groups[g].Runs, r)
	}
	for gi := range groups {
		g := &groups[gi]
		slices.SortStableFunc(g.Runs, func(a, b Run) int {
			return cmp.Or(cmp.Compare(a.Config.Train.Seed, b.Config.Train.Seed), cmp.Compare(a.Dir, b.Dir))
		})
		g.Seeds = make([]int64, len(g.Runs))
		for i, r := range g.Runs {
			g.Seeds[i] = r.Config.Train.Seed
			if i > 0 && g.Seeds[i] == g.Seeds[i-1] {
				return nil, fmt.Errorf("aggregate: runs %s and %s have the same configuration and seed %d, a duplicate run (pass only one of them)",
					g.Runs[i-1].Dir, r.Dir, g.Seeds[i])
			}
		}
	}
	label(groups, groupSets)
	if names := dirLabels(groups); names != nil {
		for i := range groups {
			groups[i].Label = names[i]
		}
	}

	rank := func(variant string) int {
		if i := slices.Index(paperVariants(), variant); i >= 0 {
			return i
		}
		return len(paperVariants())
	}
	slices.SortStableFunc(groups, func(a, b Group) int {
		return cmp.Or(cmp.Compare(rank(a.Variant), rank(b.Variant)), cmp.Compare(a.Label, b.Label))
	})
	return groups, nil
}

// checkComparable reports runs whose results cannot be compared: different data or model
// settings, or different modalities.
func checkComparable(runs []Run, sets []settings) error {
	keys := unionKeys(sets)
	for _, key := range keys {
		if !fixedKey(key) {
			continue
		}
		ref := -1
		for i, r := range runs {
			if setByPreset(r.Config.Variant, key) { // an empty variant sets nothing
				continue
			}
			if ref < 0 {
				ref = i
				continue
			}
			a, aok := sets[ref].get(key)
			b, bok := sets[i].get(key)
			if a != b || aok != bok {
				return fmt.Errorf("aggregate: runs %s and %s differ in %s, %s vs %s (aggregate runs of the same data and model only)",
					runs[ref].Dir, r.Dir, key, quoteValue(a, aok), quoteValue(b, bok))
			}
		}
	}
	for _, r := range runs[1:] {
		if !slices.Equal(r.Sweep.Modalities, runs[0].Sweep.Modalities) {
			return fmt.Errorf("aggregate: runs %s and %s have different modalities, [%s] vs [%s] (aggregate runs of the same data only)",
				runs[0].Dir, r.Dir, strings.Join(runs[0].Sweep.Modalities, ", "), strings.Join(r.Sweep.Modalities, ", "))
		}
	}
	return nil
}

func quoteValue(v string, ok bool) string {
	if !ok {
		return "unset"
	}
	return strconv.Quote(v)
}

// unionKeys returns the keys of all sets, each once, in order of first appearance.
func unionKeys(sets []settings) []string {
	var keys []string
	seen := map[string]bool{}
	for _, s := range sets {
		for _, k := range s.keys {
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	return keys
}

// dirLabels names groups after their runs' directories when a group's runs sit in
// <name>/seed<k> directories of one name and the names tell all groups apart (as
// scripts/ablations.sh and scripts/robust.sh lay them out); otherwise it returns nil.
func dirLabels(groups []Group) []string {
	names := make([]string, len(groups))
	seen := map[string]bool{}
	for i, g := range groups {
		for j, r := range g.Runs {
			base := filepath.Base(filepath.Clean(r.Dir))
			if !strings.HasPrefix(base, "seed") {
				return nil
			}
			name := filepath.Base(filepath.Dir(filepath.Clean(r.Dir)))
			if j > 0 && name != names[i] {
				return nil
			}
			names[i] = name
		}
		if names[i] == "" || seen[names[i]] {
			return nil
		}
		seen[names[i]] = true
	}
	return names
}

// label sets the labels of groups, whose flattened settings are sets: the variant, and when
// a variant has several groups, the settings in which they differ.
func label(groups []Group, sets []settings) {
	byVariant := map[string][]int{}
	for i, g := range groups {
		byVariant[g.Variant] = append(byVariant[g.Variant], i)
	}
	for variant, members := range byVariant {
		if len(members) == 1 {
			groups[members[0]].Label = variant
			continue
		}
		var memberSets []settings
		for _, i := range members {
			memberSets = append(memberSets, sets[i])
		}
		var differ []string
		for _, k := range unionKeys(memberSets) {
			if ignoredKey(k) {
				continue
			}
			first, firstOK := memberSets[0].get(k)
			for _, s := range memberSets[1:] {
				if v, ok := s.get(k); v != first || ok != firstOK {
					differ = append(differ, k)
					break
				}
			}
		}
		for _, i := range members {
			parts := make([]string, len(differ))
			for j, k := range differ {
				v, ok := sets[i].get(k)
				switch {
				case !ok:
					v = "unset"
				case v == "":
					v = `""`
				}
				parts[j] = k + "=" + v
			}
			groups[i].Label = variant + " (" + strings.Join(parts, ", ") + ")"
		}
	}
}

// CheckSeeds reports an error unless runs are seeds of one configuration: their resolved
// configurations agree on every key but train.seed and out, and no seed appears twice. Only
// the runs' Dir and Config are read. The error names the two runs and the first key in which
// they differ, without a package prefix, for commands that average runs over seeds.
func CheckSeeds(runs []Run) error {
	if len(runs) == 0 {
		return fmt.Errorf("no runs given")
	}
	sets := make([]settings, len(runs))
	for i, r := range runs {
		if r.Config == nil {
			return fmt.Errorf("run %s has no configuration", r.Dir)
		}
		_, set, err := runSettings(r)
		if err != nil {
			return err
		}
		sets[i] = set
	}
	for _, key := range unionKeys(sets) {
		if ignoredKey(key) {
			continue
		}
		a, aok := sets[0].get(key)
		for i := 1; i < len(runs); i++ {
			if b, bok := sets[i].get(key); a != b || aok != bok {
				return fmt.Errorf("runs %s and %s differ in %s, %s vs %s (give the seeds of one configuration: runs that differ only in train.seed)",
					runs[0].Dir, runs[i].Dir, key, quoteValue(a, aok), quoteValue(b, bok))
			}
		}
	}
	seen := map[int64]string{}
	for _, r := range runs {
		if other, dup := seen[r.Config.Train.Seed]; dup {
			return fmt.Errorf("runs %s and %s have the same configuration and seed %d (duplicate run; pass only one of them)",
				other, r.Dir, r.Config.Train.Seed)
		}
		seen[r.Config.Train.Seed] = r.Dir
	}
	return nil
}

// SameSettings returns one warning for each pair of groups that would be shown as different
// although their runs' resolved settings are identical apart from the seed, the run directory
// and the variant name: e.g. "" (shown as dmrnet) and dmrnet-loss on a configuration whose
// hard.by is loss. Such columns are the same model under two names.
func SameSettings(groups []Group) []string {
	ids := make([]string, len(groups))
	for i, g := range groups {
		if len(g.Runs) == 0 {
			continue
		}
		_, set, err := runSettings(g.Runs[0])
		if err != nil {
			continue
		}
		var b strings.Builder
		for _, k := range set.keys {
			if ignoredKey(k) || k == "variant" {
				continue
			}
			v, _ := set.get(k)
			b.WriteString(k + "=" + v + "\n")
		}
		ids[i] = b.String()
	}
	var warnings []string
	for i := range groups {
		for j := i + 1; j < len(groups); j++ {
			if ids[i] != "" && ids[i] == ids[j] {
				warnings = append(warnings, fmt.Sprintf("groups %q and %q have identical settings apart from the variant name: one model under two names (compare their runs' config.yaml; variant dmrnet sets hard.by=variance, an empty variant keeps the config's hard.by=%s)",
					groups[i].Label, groups[j].Label, hardBy(groups[i])))
			}
		}
	}
	return warnings
}

func hardBy(g Group) string {
	if len(g.Runs) == 0 || g.Runs[0].Config == nil {
		return "?"
	}
	return g.Runs[0].Config.Hard.By
}
