package config

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The schema is the type Config itself: keys are the mapstructure tags of its fields, joined
// by '.'. A struct field is a section whose sub-keys are its fields; a map field (model.encoders,
// dropout.probs) has user-chosen sub-keys; every other field (scalars and lists) is a leaf.
//
// Values from the file, the environment and --set are converted against the schema into plain
// values (bool, int, int64, float64, string, []any, map[string]any) before they reach viper, so
// that type errors name the key, the value and (for files) the line.

// rootType is the schema's root.
func rootType() reflect.Type { return reflect.TypeFor[Config]() }

// keyName is the key of a struct field: its mapstructure tag, or "" when it has none.
func keyName(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	name, _, _ := strings.Cut(f.Tag.Get("mapstructure"), ",")
	if name == "-" {
		return ""
	}
	return name
}

// fieldByKey returns the index of the field of struct type t whose key is name.
func fieldByKey(t reflect.Type, name string) (int, bool) {
	for i := range t.NumField() {
		if k := keyName(t.Field(i)); k != "" && k == name {
			return i, true
		}
	}
	return 0, false
}

// join appends the segment name to the dotted key prefix.
func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

// leaf is a key that holds one value: a scalar, a list or a whole map.
type leaf struct {
	key string
	typ reflect.Type
}

// leaves lists the leaf keys of struct type t under prefix, in field order.
func leaves(t reflect.Type, prefix string) []leaf {
	var out []leaf
	for i := range t.NumField() {
		f := t.Field(i)
		name := keyName(f)
		if name == "" {
			continue
		}
		if f.Type.Kind() == reflect.Struct {
			out = append(out, leaves(f.Type, join(prefix, name))...)
		} else {
			out = append(out, leaf{join(prefix, name), f.Type})
		}
	}
	return out
}

// keysUnder lists every key under struct type t (sections and leaves), prefixed by prefix.
func keysUnder(t reflect.Type, prefix string) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		name := keyName(f)
		if name == "" {
			continue
		}
		k := join(prefix, name)
		out = append(out, k)
		if f.Type.Kind() == reflect.Struct {
			out = append(out, keysUnder(f.Type, k)...)
		}
	}
	return out
}

// fieldKeys lists the keys of the fields of struct type t.
func fieldKeys(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		if k := keyName(t.Field(i)); k != "" {
			out = append(out, k)
		}
	}
	return out
}

// unknownKey is the error of key, which is not a field of the struct type t at prefix.
func unknownKey(key string, t reflect.Type, prefix string) *Error {
	candidates := keysUnder(rootType(), "")
	if prefix != "" {
		candidates = append(candidates, keysUnder(t, prefix)...)
	}
	msg := fmt.Sprintf("unknown key %q", key)
	if s := suggest(key, candidates); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	} else if prefix == "" {
		msg += " (top-level keys are " + strings.Join(fieldKeys(t), ", ") + ")"
	} else {
		msg += fmt.Sprintf(" (keys under %q are %s)", prefix, strings.Join(fieldKeys(t), ", "))
	}
	return &Error{Key: key, Msg: msg}
}

// checkMapKey checks a user-chosen key (a modality or combination name) of the map at prefix.
func checkMapKey(prefix, name string) *Error {
	key := join(prefix, name)
	switch {
	case name == "":
		return invalid(prefix, "empty key (name a modality, or a combination such as \"a+b\")")
	case strings.ContainsAny(name, ". \t"):
		return invalid(key, "key %q must not contain '.' or blanks (use the modality names of the data set)", name)
	case strings.ToLower(name) != name:
		return invalid(key, "key %q has upper-case letters (keys are case-insensitive, so modality names must be lower case: write %q)", name, strings.ToLower(name))
	}
	return nil
}

// resolve returns the type of the value at the dotted key.
func resolve(key string) (reflect.Type, error) {
	t := rootType()
	prefix := ""
	for seg := range strings.SplitSeq(key, ".") {
		switch t.Kind() {
		case reflect.Struct:
			i, ok := fieldByKey(t, seg)
			if !ok {
				return nil, unknownKey(key, t, prefix)
			}
			t = t.Field(i).Type
		case reflect.Map:
			if err := checkMapKey(prefix, seg); err != nil {
				return nil, err
			}
			t = t.Elem()
		case reflect.Slice:
			return nil, invalid(prefix, "is a list and has no sub-key %q (set the whole list, e.g. %s=[...])", seg, prefix)
		default:
			return nil, &Error{Key: key, Msg: fmt.Sprintf("unknown key %q: %s is a single value and has no sub-keys", key, prefix)}
		}
		prefix = join(prefix, seg)
	}
	return t, nil
}

// setting is one value at a key.
type setting struct {
	key   string
	value any
}

// flatten appends the leaves of the plain value at key, of type t, to out: struct values are
// split into their fields (sorted by key), everything else is one setting.
func flatten(out []setting, key string, t reflect.Type, value any) []setting {
	m, ok := value.(map[string]any)
	if t.Kind() != reflect.Struct || !ok {
		return append(out, setting{key, value})
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		i, _ := fieldByKey(t, k)
		out = flatten(out, join(key, k), t.Field(i).Type, m[k])
	}
	return out
}

// plainOf converts a Go value of the schema to its plain form.
func plainOf(v reflect.Value) any {
	switch v.Kind() {
	case reflect.Struct:
		m := make(map[string]any, v.NumField())
		for i := range v.NumField() {
			if k := keyName(v.Type().Field(i)); k != "" {
				m[k] = plainOf(v.Field(i))
			}
		}
		return m
	case reflect.Map:
		m := make(map[string]any, v.Len())
		for it := v.MapRange(); it.Next(); {
			m[it.Key().String()] = plainOf(it.Value())
		}
		return m
	case reflect.Slice:
		s := make([]any, v.Len())
		for i := range s {
			s[i] = plainOf(v.Index(i))
		}
		return s
	case reflect.Int64:
		return v.Int()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32:
		return int(v.Int())
	case reflect.Float32, reflect.Float64:
		return v.Float()
	case reflect.String:
		return v.String()
	case reflect.Bool:
		return v.Bool()
	}
	panic(fmt.Sprintf("config: unsupported type %s in the schema", v.Type()))
}

// typeName describes what a value of type t must look like.
func typeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return "a mapping"
	case reflect.Slice:
		return "a list"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "a boolean (true or false)"
	case reflect.String:
		return "a string"
	}
	return t.String()
}

// nodeName describes a YAML node in messages.
func nodeName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return fmt.Sprintf("%q", n.Value)
}

// keyOrTop names key in messages; "" is the top level of a file.
func keyOrTop(key string) string {
	if key == "" {
		return "top level"
	}
	return key
}

// plainValue converts the YAML node n, the value at key, to the plain value of type t.
// Errors carry the key and the node's line.
func plainValue(n *yaml.Node, t reflect.Type, key string) (any, error) {
	for n.Kind == yaml.DocumentNode || n.Kind == yaml.AliasNode {
		switch {
		case n.Kind == yaml.AliasNode:
			n = n.Alias
		case len(n.Content) == 0:
			n = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Line: n.Line}
		default:
			n = n.Content[0]
		}
	}
	null := n.Kind == 0 || n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
	mismatch := func() error {
		e := invalid(keyOrTop(key), "cannot use %s as %s", nodeName(n), typeName(t))
		switch {
		case n.Kind != yaml.ScalarNode:
		case t.Kind() == reflect.Slice:
			e.Msg += fmt.Sprintf(" (write a list such as [%s])", n.Value)
		case t.Kind() == reflect.Struct || t.Kind() == reflect.Map:
			e.Msg += " (write a mapping such as {key: value})"
		case t.Kind() == reflect.Int || t.Kind() == reflect.Int64:
			e.Msg += " (write a whole number such as 20)"
		case t.Kind() == reflect.Float64:
			e.Msg += " (write a number such as 0.001)"
		case t.Kind() == reflect.Bool:
			e.Msg += " (write true or false)"
		default:
			e.Msg += " (write a plain value)"
		}
		e.Line = n.Line
		return e
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		m := map[string]any{}
		if null {
			return m, nil
		}
		if n.Kind != yaml.MappingNode {
			return nil, mismatch()
		}
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			kn, vn := n.Content[i], n.Content[i+1]
			name := kn.Value
			sub := join(key, name)
			if kn.Kind != yaml.ScalarNode {
				e := invalid(keyOrTop(key), "keys must be plain names, not %s", nodeName(kn))
				e.Line = kn.Line
				return nil, e
			}
			if line, dup := seen[name]; dup {
				e := invalid(sub, "defined twice, first at line %d (keep one)", line)
				e.Line = kn.Line
				return nil, e
			}
			seen[name] = kn.Line
			var et reflect.Type
			if t.Kind() == reflect.Struct {
				i, ok := fieldByKey(t, name)
				if !ok {
					e := unknownKey(sub, t, key)
					e.Line = kn.Line
					return nil, e
				}
				et = t.Field(i).Type
			} else {
				if e := checkMapKey(key, name); e != nil {
					e.Line = kn.Line
					return nil, e
				}
				et = t.Elem()
			}
			v, err := plainValue(vn, et, sub)
			if err != nil {
				return nil, err
			}
			m[name] = v
		}
		return m, nil
	case reflect.Slice:
		s := []any{}
		if null {
			return s, nil
		}
		if n.Kind != yaml.SequenceNode {
			return nil, mismatch()
		}
		for i, en := range n.Content {
			v, err := plainValue(en, t.Elem(), fmt.Sprintf("%s[%d]", key, i))
			if err != nil {
				return nil, err
			}
			s = append(s, v)
		}
		return s, nil
	}
	if null && t.Kind() == reflect.String {
		return "", nil
	}
	if null {
		e := invalid(key, "missing value (set %s)", typeName(t))
		e.Line = n.Line
		return nil, e
	}
	if n.Kind != yaml.ScalarNode {
		return nil, mismatch()
	}
	tag := n.ShortTag()
	switch t.Kind() {
	case reflect.String:
		return n.Value, nil
	case reflect.Bool:
		var b bool
		if tag != "!!bool" || n.Decode(&b) != nil {
			return nil, mismatch()
		}
		return b, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		var i int64
		if tag != "!!int" || n.Decode(&i) != nil || reflect.Zero(t).OverflowInt(i) {
			return nil, mismatch()
		}
		if t.Kind() == reflect.Int64 {
			return i, nil
		}
		return int(i), nil
	case reflect.Float32, reflect.Float64:
		var f float64
		if tag != "!!int" && tag != "!!float" || n.Decode(&f) != nil {
			return nil, mismatch()
		}
		return f, nil
	}
	return nil, invalid(key, "unsupported type %s in the schema", t)
}

// parseValue parses the text of an environment variable or of a --set value as YAML (a
// scalar or a flow list/mapping) and converts it to the plain value of type t at key. For
// string keys, text that is not a single YAML scalar is taken verbatim.
func parseValue(text string, t reflect.Type, key string) (any, error) {
	var n yaml.Node
	err := yaml.Unmarshal([]byte(text), &n)
	if t.Kind() == reflect.String {
		if err == nil {
			if v, err := plainValue(&n, t, key); err == nil {
				return v, nil
			}
		}
		return text, nil
	}
	if err != nil {
		return nil, invalid(key, "cannot parse %q as YAML: %s (quote strings, and write lists as [a, b] and mappings as {k: v})",
			text, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	return plainValue(&n, t, key)
}
