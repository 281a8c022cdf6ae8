package grid

import (
	"path/filepath"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Job is one run of a sweep: one value of every axis and one seed.
type Job struct {
	// Index is the job's position in the list Jobs returns, 0-based; shards select by it.
	Index int
	// Name is the job's directory relative to the sweep's root, such as
	// "beta=0.1_alpha=1e-3/seed0", always with '/' separators.
	Name string
	// Dir is the run directory: the sweep's root joined with Name.
	Dir string
	// Sets are the --set overrides of the job, applied on top of the sweep's configuration:
	// "KEY=VALUE" for every axis (with its full key), then "train.seed=SEED" and "out=DIR"
	// (DIR is quoted only if YAML would read it as something else, e.g. a root with " #").
	Sets []string
	// Seed is the training seed (train.seed).
	Seed int64
}

// maxSettingsLen bounds the length of the settings part of a job name, to stay below the
// usual 255-byte limit of a file name.
const maxSettingsLen = 200

// Jobs returns the jobs of the sweep over axes and seeds, with their run directories under
// outRoot: the cartesian product of the axes' values in the order given (the first axis
// varies slowest), each repeated for every seed (the fastest). No axes is one combination;
// an axis without values, or no seeds, gives no jobs. The list depends on the arguments only.
//
// A job's name is its settings joined by '_', as NAME=VALUE with the axis's Name (beta, as
// typed, rather than loss.beta), then "/seed" and the seed: "beta=0.1_alpha=1e-3/seed0", or
// "seed0" without axes. Characters that are awkward in file names are dropped ([]{}, quotes)
// or replaced with '-' (',', ' ', ':', '/' and others) and long settings are cut short, so
// when two names become equal (ignoring case, for case-insensitive file systems) each of them
// gets "_job" and its index appended: "layers=64-32/seed0_job3".
//
// The axes are expected to come from ParseAxes (full keys, no duplicates).
func Jobs(outRoot string, axes []Axis, seeds []int64) []Job {
	combos := 1
	for _, a := range axes {
		combos *= len(a.Values)
	}
	if combos == 0 || len(seeds) == 0 {
		return nil
	}
	jobs := make([]Job, 0, combos*len(seeds))
	pick := make([]int, len(axes)) // the value index of each axis
	for c := range combos {
		rest := c
		for i := len(axes) - 1; i >= 0; i-- {
			pick[i] = rest % len(axes[i].Values)
			rest /= len(axes[i].Values)
		}
		parts := make([]string, len(axes))
		sets := make([]string, 0, len(axes)+2)
		for i, a := range axes {
			v := a.Values[pick[i]]
			parts[i] = sanitize(a.label()) + "=" + sanitize(v)
			sets = append(sets, a.Key+"="+v)
		}
		settings := strings.Join(parts, "_")
		if len(settings) > maxSettingsLen {
			settings = strings.TrimRight(settings[:maxSettingsLen], "-_")
		}
		for _, seed := range seeds {
			name := "seed" + strconv.FormatInt(seed, 10)
			if settings != "" {
				name = settings + "/" + name
			}
			jobs = append(jobs, Job{
				Index: len(jobs),
				Name:  name,
				Seed:  seed,
				Sets:  append(sets[:len(sets):len(sets)], "train.seed="+strconv.FormatInt(seed, 10)),
			})
		}
	}

	// Make the names unique. The suffix goes on the last segment, "seedN", which no other
	// name's last segment equals once suffixed, so the result is unique.
	count := make(map[string]int, len(jobs))
	for _, j := range jobs {
		count[strings.ToLower(j.Name)]++
	}
	for i := range jobs {
		j := &jobs[i]
		if count[strings.ToLower(j.Name)] > 1 {
			j.Name += "_job" + strconv.Itoa(j.Index)
		}
		j.Dir = filepath.Join(outRoot, filepath.FromSlash(j.Name))
		j.Sets = append(j.Sets, "out="+yamlString(j.Dir))
	}
	return jobs
}

// sanitize makes s safe in a file name: letters, digits and ".+=-_" are kept, brackets,
// braces and quotes are dropped, and runs of other characters become one '-'.
func sanitize(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9',
			r == '.', r == '+', r == '=', r == '-', r == '_':
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteRune(r)
		case strings.ContainsRune(`[]{}"'`, r):
		default:
			dash = true
		}
	}
	return b.String()
}

// yamlString returns s as a YAML scalar that reads back as the string s: s itself when it
// does, or else s quoted.
func yamlString(s string) string {
	var n yaml.Node
	if yaml.Unmarshal([]byte(s), &n) == nil && len(n.Content) == 1 {
		if v := n.Content[0]; v.Kind == yaml.ScalarNode && v.Tag == "!!str" && v.Value == s {
			return s
		}
	}
	return strconv.Quote(s)
}
