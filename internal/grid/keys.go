package grid

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/dmrnet/dmrnet/internal/config"
	"go.yaml.in/yaml/v3"
)

// schema is the set of configuration keys a grid axis may name.
type schema struct {
	// leaves are the dotted keys that hold one value (a scalar, a list or a whole map), in
	// the order of config.Default().YAML().
	leaves []string
	// maps are the leaves whose value is a map with user-chosen keys (model.encoders,
	// dropout.probs): keys below them, such as model.encoders.rgb.layers, are valid too.
	maps []string
}

// configSchema computes the schema once from the YAML of config.Default(), which lists every
// key of the configuration.
var configSchema = sync.OnceValues(func() (schema, error) {
	data, err := config.Default().YAML()
	if err != nil {
		return schema{}, fmt.Errorf("grid: listing configuration keys: %w", err)
	}
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc); err != nil {
		return schema{}, fmt.Errorf("grid: listing configuration keys: %w", err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return schema{}, fmt.Errorf("grid: listing configuration keys: the default configuration is not a YAML mapping")
	}
	var s schema
	var walk func(n *yaml.Node, prefix string)
	walk = func(n *yaml.Node, prefix string) {
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := n.Content[i].Value
			if prefix != "" {
				key = prefix + "." + key
			}
			switch v := n.Content[i+1]; {
			case v.Kind == yaml.MappingNode && len(v.Content) > 0:
				walk(v, key) // a section
			case v.Kind == yaml.MappingNode:
				// Sections always have fields, so an empty mapping is a map-valued key
				// (nil in the defaults).
				s.leaves = append(s.leaves, key)
				s.maps = append(s.maps, key)
			default:
				s.leaves = append(s.leaves, key)
			}
		}
	}
	walk(doc.Content[0], "")
	return s, nil
})

// Keys returns every configuration key a grid axis may set in full: the leaf keys of the
// configuration (scalars, lists and the maps model.encoders and dropout.probs), in the order
// of config.Default().YAML(), except train.seed and out, which the sweep sets per job.
func Keys() []string {
	s, err := configSchema()
	if err != nil {
		return nil
	}
	return slices.DeleteFunc(slices.Clone(s.leaves), reserved)
}

// reserved reports whether key is set by the sweep itself and so cannot be a grid axis.
func reserved(key string) bool { return key == "train.seed" || key == "out" }

// ResolveKey returns the full dotted configuration key named by a --grid key: either a full
// key (loss.beta, or a key below a map such as model.encoders.rgb.layers) or a short name
// that is a dotted suffix of exactly one key, usually its last segment (beta -> loss.beta,
// lr -> optim.lr, synthetic.seed -> data.synthetic.seed). Keys are case-insensitive.
//
// The training seed (seed, train.seed) is refused, as the sweep takes seeds from their own
// flag, and so is out, which the sweep sets to each job's directory. Unknown and ambiguous
// keys are one-line errors that list the candidates.
func ResolveKey(short string) (string, error) {
	name := strings.ToLower(strings.TrimSpace(short))
	if name == "" {
		return "", fmt.Errorf("empty grid key (write --grid KEY=V1,V2,... with a configuration key such as loss.beta)")
	}
	if name == "seed" || name == "train.seed" {
		return "", fmt.Errorf("grid key %q: training seeds are not a grid axis (list them with --seeds, or make the data set's seed data.synthetic.seed an axis)", short)
	}
	if name == "out" {
		return "", fmt.Errorf("grid key %q: the sweep sets out to each job's directory (choose the sweep's root with --out)", short)
	}
	s, err := configSchema()
	if err != nil {
		return "", err
	}
	if slices.Contains(s.leaves, name) {
		return name, nil
	}
	for _, m := range s.maps {
		if rest, ok := strings.CutPrefix(name, m+"."); ok && rest != "" {
			return name, nil
		}
	}
	var matches []string
	for _, k := range s.leaves {
		if strings.HasSuffix(k, "."+name) {
			matches = append(matches, k)
		}
	}
	switch len(matches) {
	case 1:
		if reserved(matches[0]) {
			return "", fmt.Errorf("grid key %q names %s, which the sweep sets per job", short, matches[0])
		}
		return matches[0], nil
	case 0:
		var under []string
		for _, k := range s.leaves {
			if strings.HasPrefix(k, name+".") && !reserved(k) {
				under = append(under, k)
			}
		}
		if len(under) > 0 {
			if len(under) > 6 {
				under = append(under[:5], "...")
			}
			return "", fmt.Errorf("grid key %q is a section, not a value (name one of its keys: %s)", short, strings.Join(under, ", "))
		}
		msg := fmt.Sprintf("grid key %q is not a configuration key", short)
		if c := candidates(name, s.leaves); len(c) > 0 {
			return "", fmt.Errorf("%s (did you mean %s?)", msg, orList(c))
		}
		return "", fmt.Errorf("%s (use a dotted key such as loss.beta, or its last segment, beta)", msg)
	default:
		return "", fmt.Errorf("grid key %q is ambiguous: %s (write the full key)", short, orList(matches))
	}
}

// candidates returns up to five keys whose last segment, or whole key, is close to name, or
// whose last segment contains name's last segment (or is contained in it), closest first.
func candidates(name string, keys []string) []string {
	type scored struct {
		key string
		d   int
	}
	var found []scored
	qlast := name[strings.LastIndexByte(name, '.')+1:]
	for _, k := range keys {
		if reserved(k) {
			continue
		}
		last := k[strings.LastIndexByte(k, '.')+1:]
		d := min(config.EditDistance(name, last), config.EditDistance(name, k))
		switch {
		case d <= max(1, len(name)/4):
		case len(qlast) >= 3 && len(last) >= 3 && (strings.Contains(last, qlast) || strings.Contains(qlast, last)):
			d = max(d, 3)
		default:
			continue
		}
		found = append(found, scored{k, d})
	}
	slices.SortStableFunc(found, func(a, b scored) int { return cmp.Compare(a.d, b.d) })
	var out []string
	for _, f := range found[:min(len(found), 5)] {
		out = append(out, f.key)
	}
	return out
}

// orList joins words as "a", "a or b" or "a, b or c".
func orList(words []string) string {
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}
