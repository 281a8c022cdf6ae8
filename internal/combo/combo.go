// Package combo names and enumerates modality combinations: the non-empty subsets of a
// data set's M modalities that may be present at test time.
//
// A combination is a bit set: bit m is set when modality m is present. Names join the
// present modalities' names with '+' in modality order ("rgb+ir").
package combo

import (
	"fmt"
	"math/bits"
	"sort"
	"strings"
)

// MaxModalities bounds M so that a Set fits in a uint64 and 2^M-1 combinations stay countable.
const MaxModalities = 20

// Set is a modality combination; bit m set means modality m is present.
type Set uint64

// Has reports whether modality m is present in s.
func (s Set) Has(m int) bool { return s>>uint(m)&1 == 1 }

// Len is the number of present modalities.
func (s Set) Len() int { return bits.OnesCount64(uint64(s)) }

// Full is the combination with all m modalities present.
func Full(m int) Set { return Set(1)<<uint(m) - 1 }

// Space names the modalities of one data set and converts between names and Sets.
type Space struct {
	names []string
	index map[string]int
}

// NewSpace returns the space of the given modality names (in data set order).
func NewSpace(names []string) (*Space, error) {
	if len(names) == 0 {
		return nil, fmt.Errorf("combo: no modalities")
	}
	if len(names) > MaxModalities {
		return nil, fmt.Errorf("combo: %d modalities, at most %d supported", len(names), MaxModalities)
	}
	s := &Space{names: append([]string(nil), names...), index: make(map[string]int, len(names))}
	for i, n := range names {
		if n == "" || strings.ContainsAny(n, "+,") {
			return nil, fmt.Errorf("combo: invalid modality name %q (must be non-empty, without '+' or ',')", n)
		}
		if _, dup := s.index[n]; dup {
			return nil, fmt.Errorf("combo: duplicate modality name %q", n)
		}
		s.index[n] = i
	}
	return s, nil
}

// M is the number of modalities.
func (sp *Space) M() int { return len(sp.names) }

// Names returns the modality names in order.
func (sp *Space) Names() []string { return append([]string(nil), sp.names...) }

// Full is the combination with every modality present.
func (sp *Space) Full() Set { return Full(len(sp.names)) }

// Index returns the position of the named modality.
func (sp *Space) Index(name string) (int, bool) {
	i, ok := sp.index[name]
	return i, ok
}

// Name joins the present modalities' names with '+'.
func (sp *Space) Name(s Set) string { return strings.Join(sp.Present(s), "+") }

// Present lists the names of the present modalities of s in modality order.
func (sp *Space) Present(s Set) []string {
	out := make([]string, 0, s.Len())
	for m, n := range sp.names {
		if s.Has(m) {
			out = append(out, n)
		}
	}
	return out
}

// All enumerates the 2^M-1 non-empty combinations, ordered by the number of present
// modalities, then lexicographically by modality positions (so "a", "b", "a+b", ...).
func (sp *Space) All() []Set {
	m := len(sp.names)
	out := make([]Set, 0, int(Full(m)))
	for s := Set(1); s <= Full(m); s++ {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return Less(out[i], out[j]) })
	return out
}

// Less orders combinations by size, then by the positions of their modalities.
func Less(a, b Set) bool {
	if a.Len() != b.Len() {
		return a.Len() < b.Len()
	}
	for a != 0 && b != 0 {
		la, lb := bits.TrailingZeros64(uint64(a)), bits.TrailingZeros64(uint64(b))
		if la != lb {
			return la < lb
		}
		a &^= 1 << uint(la)
		b &^= 1 << uint(lb)
	}
	return false
}

// Parse reads a list of modality names separated by ',' or '+' ("rgb,ir" or "rgb+ir").
// Unknown or repeated names are errors, and so is an empty name between separators ("rgb,",
// ","): a stray separator must not silently name nothing. An empty list gives the empty set.
func (sp *Space) Parse(list string) (Set, error) {
	var s Set
	list = strings.TrimSpace(list)
	if list == "" {
		return 0, nil
	}
	// strings.FieldsFunc would drop the empty names this must refuse.
	for _, f := range strings.Split(strings.ReplaceAll(list, "+", ","), ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			return 0, fmt.Errorf("empty modality name in %q (separate the names by single commas, e.g. %s)", list, sp.example())
		}
		i, ok := sp.index[f]
		if !ok {
			return 0, fmt.Errorf("unknown modality %q (known: %s)", f, strings.Join(sp.names, ", "))
		}
		if s.Has(i) {
			return 0, fmt.Errorf("modality %q named twice (name each once)", f)
		}
		s |= 1 << uint(i)
	}
	return s, nil
}

// ParseCombination reads a non-empty combination name such as "rgb+ir".
func (sp *Space) ParseCombination(name string) (Set, error) {
	s, err := sp.Parse(name)
	if err != nil {
		return 0, err
	}
	if s == 0 {
		return 0, fmt.Errorf("empty combination (name at least one modality)")
	}
	return s, nil
}

// FromMissing returns the combination that remains when the listed modalities are missing.
// It is an error if the list names no modality (that is not a combination with something
// missing) or if nothing remains.
func (sp *Space) FromMissing(missing string) (Set, error) {
	miss, err := sp.Parse(missing)
	if err != nil {
		return 0, err
	}
	if miss == 0 {
		return 0, fmt.Errorf("names no modality (name the missing ones, e.g. %s)", sp.example())
	}
	s := sp.Full() &^ miss
	if s == 0 {
		return 0, fmt.Errorf("no modality left, all of %s are missing (keep at least one)", strings.Join(sp.names, ", "))
	}
	return s, nil
}

// example is a list of modality names for hints: the first two, or the only one.
func (sp *Space) example() string {
	return strings.Join(sp.names[:min(2, len(sp.names))], ",")
}

// DefaultK is the default hard-set size ceil((2^M-1)/3).
func DefaultK(m int) int {
	n := int(Full(m))
	return (n + 2) / 3
}
