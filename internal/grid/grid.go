// Package grid enumerates the jobs of a hyper-parameter sweep and splits them into shards, so
// that a sweep can run as one process or as a Slurm job array or a Kubernetes Indexed Job with
// each task training its own share of the jobs.
//
// A sweep is a list of axes, each a configuration key with the values to try (the --grid
// flags, see ParseAxis), times a list of training seeds. Jobs lists every combination in a
// fixed order with its run directory and the --set overrides that configure it; a Shard
// selects every Count-th job, and ShardFromEnv finds the shard of the running array task.
package grid

import (
	"fmt"
	"strings"
)

// Axis is one dimension of a sweep: a configuration key and the values it takes.
type Axis struct {
	// Key is the full dotted configuration key, such as loss.beta.
	Key string
	// Values are the values of Key, as --set values (YAML): "0.1", "no-hcr", "[64, 32]".
	Values []string
	// Name is the key as the user wrote it (beta for loss.beta), used in job names; ""
	// means Key.
	Name string
}

// label is the name of the axis used in job names.
func (a Axis) label() string {
	if a.Name != "" {
		return a.Name
	}
	return a.Key
}

// ParseAxis parses a --grid flag KEY=V1,V2,..., such as beta=0,0.1,0.2,0.5, loss.alpha=0,1e-3
// or variant=dmrnet,no-hcr. KEY is resolved by ResolveKey. Values are separated by ',' except
// inside [] or {} brackets and quotes, so model.encoder.layers=[64,32],[128,64] has two
// values; when the flag contains a ';' outside brackets and quotes, ';' separates the values
// instead and ',' is part of them (model.encoder.layers=[64,32];[128,64], or
// data.synthetic.class_names=a,b;c,d for the strings "a,b" and "c,d"). Blanks around values
// are dropped. Empty and duplicate values are errors.
func ParseAxis(s string) (Axis, error) {
	k, text, ok := strings.Cut(s, "=")
	if strings.TrimSpace(k) == "" {
		return Axis{}, fmt.Errorf("grid %q: missing key (write --grid KEY=V1,V2,...)", s)
	}
	if !ok {
		return Axis{}, fmt.Errorf("grid %q: missing '=' after the key (write --grid %s=V1,V2,...)", s, strings.TrimSpace(k))
	}
	key, err := ResolveKey(k)
	if err != nil {
		return Axis{}, err
	}
	values, err := splitValues(text)
	if err != nil {
		return Axis{}, fmt.Errorf("grid %q: %v", s, err)
	}
	seen := make(map[string]bool, len(values))
	for i, v := range values {
		switch {
		case v == "":
			return Axis{}, fmt.Errorf("grid %q: value %d of %d is empty (remove the extra separator)", s, i+1, len(values))
		case seen[v]:
			return Axis{}, fmt.Errorf("grid %q: duplicate value %q", s, v)
		}
		seen[v] = true
	}
	return Axis{Key: key, Values: values, Name: strings.TrimSpace(k)}, nil
}

// ParseAxes parses --grid flags with ParseAxis, in order, and checks that no two of them set
// the same key.
func ParseAxes(flags []string) ([]Axis, error) {
	axes := make([]Axis, 0, len(flags))
	for _, f := range flags {
		a, err := ParseAxis(f)
		if err != nil {
			return nil, err
		}
		for _, b := range axes {
			if a.Key == b.Key {
				if a.label() == b.label() {
					return nil, fmt.Errorf("grid key %q is given twice (list all its values in one --grid)", a.label())
				}
				return nil, fmt.Errorf("grid keys %q and %q both set %s (list all its values in one --grid)", b.label(), a.label(), a.Key)
			}
		}
		axes = append(axes, a)
	}
	return axes, nil
}

// splitValues splits text at ';' if it has one outside brackets and quotes, else at ',', and
// trims the values.
func splitValues(text string) ([]string, error) {
	values, err := splitTopLevel(text, ';')
	if err != nil || len(values) > 1 {
		return values, err
	}
	return splitTopLevel(text, ',')
}

// splitTopLevel splits text at the byte sep outside brackets and quotes and trims the
// values; unbalanced brackets and unterminated quotes are errors.
func splitTopLevel(text string, sep byte) ([]string, error) {
	var (
		values []string
		stack  []byte // open brackets
		quote  byte   // the open quote, or 0
		start  int
	)
	for i := 0; i < len(text); i++ {
		c := text[i]
		switch {
		case quote == '"' && c == '\\':
			i++ // skip the escaped character
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '[' || c == '{':
			stack = append(stack, c)
		case c == ']' || c == '}':
			open := byte('[')
			if c == '}' {
				open = '{'
			}
			if len(stack) == 0 || stack[len(stack)-1] != open {
				return nil, fmt.Errorf("unbalanced %q at offset %d of the values", c, i)
			}
			stack = stack[:len(stack)-1]
		case c == sep && len(stack) == 0:
			values = append(values, strings.TrimSpace(text[start:i]))
			start = i + 1
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c quote in the values", quote)
	}
	if len(stack) > 0 {
		return nil, fmt.Errorf("unclosed %q in the values", stack[len(stack)-1])
	}
	return append(values, strings.TrimSpace(text[start:])), nil
}
