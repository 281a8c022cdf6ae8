package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"
)

// EnvPrefix starts the name of every environment variable that sets a key.
const EnvPrefix = "DMRNET_"

// LoadOptions says where Load reads the configuration from.
type LoadOptions struct {
	// File is a YAML configuration file; "" uses the defaults only.
	File string
	// Content, when non-nil, is the YAML read instead of the file; File then only names the
	// source in error messages (a configuration saved inside a checkpoint, for example).
	Content []byte
	// Sets are "key=value" overrides (the --set flags), applied in order; values are YAML.
	Sets []string
	// Environ is the environment as "NAME=value" strings, like os.Environ(); nil means
	// os.Environ(). DMRNET_<KEY> variables set keys (see EnvName); other variables, and
	// DMRNET_ variables that name no key, are ignored, as are empty values.
	Environ []string
}

// EnvName returns the environment variable that sets key: EnvPrefix followed by the key in
// upper case with '.' and '-' replaced by '_' (train.batch_size -> DMRNET_TRAIN_BATCH_SIZE).
func EnvName(key string) string {
	return EnvPrefix + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(key))
}

// Load merges Default(), the YAML file, the DMRNET_* environment variables and the --set
// overrides (in increasing precedence) into a Config, decodes it strictly (unknown keys and
// values of the wrong type are errors) and validates it. One key is the exception:
// DMRNET_DATA_ROOT is the data root of a file that does not set data.root, and a data.root
// written in the file wins over it (--set data.root wins over both).
//
// An empty file (nothing but blanks and comments) is an error: it is almost always the wrong
// file, and would silently train the built-in synthetic default.
//
// Values from the environment and from --set are YAML: "3", "0.01", "false", "[64, 32]" and
// "{a: 1, a+b: 2}" are an integer, a number, a boolean, a list and a mapping; text that is
// not valid YAML is kept verbatim for string keys. Keys of the maps model.encoders and
// dropout.probs are user-chosen (modality and combination names), so --set accepts keys below
// them, such as model.encoders.rgb.layers or dropout.probs.rgb+ir. A map given as a whole
// replaces the map of the lower layers; a key below a map changes that one entry.
//
// Every error wraps ErrInvalid and is an *Error with a one-line message.
func Load(opts LoadOptions) (Config, error) {
	root := rootType()
	var file map[string]any
	if opts.Content != nil {
		var err error
		if file, err = parseFile(opts.File, opts.Content); err != nil {
			return Config{}, err
		}
	} else if opts.File != "" {
		var err error
		if file, err = readFile(opts.File); err != nil {
			return Config{}, err
		}
	}
	environ := opts.Environ
	if environ == nil {
		environ = os.Environ()
	}
	env, err := envSettings(environ)
	if err != nil {
		return Config{}, err
	}
	// DMRNET_DATA_ROOT says where this machine keeps the data sets: it is the root of
	// configurations that do not choose one, and does not override a data.root the file
	// sets (such as configs/manifest-example.yaml's ".", whose data is in the repository).
	if hasPath(file, "data.root") {
		env = slices.DeleteFunc(env, func(s setting) bool { return s.key == "data.root" })
	}
	sets, err := setSettings(opts.Sets)
	if err != nil {
		return Config{}, err
	}

	// A map given as a whole by a layer replaces the map of the layers below it. Within
	// viper's override layer (environment, then --set) later Set calls already replace
	// earlier ones; the file and the defaults are pruned here.
	var mapKeys []string
	for _, l := range leaves(root, "") {
		if l.typ.Kind() == reflect.Map {
			mapKeys = append(mapKeys, l.key)
		}
	}
	replaced := map[string]bool{}
	for _, s := range slices.Concat(env, sets) {
		if slices.Contains(mapKeys, s.key) {
			replaced[s.key] = true
			deletePath(file, s.key)
		}
	}
	for _, k := range mapKeys {
		if hasPath(file, k) {
			replaced[k] = true
		}
	}

	v := viper.New()
	for _, s := range flatten(nil, "", root, plainOf(reflect.ValueOf(Default()))) {
		if replaced[s.key] {
			s.value = map[string]any{}
		}
		v.SetDefault(s.key, s.value)
	}
	if file != nil {
		if err := v.MergeConfigMap(file); err != nil {
			return Config{}, &Error{Source: opts.File, Msg: "cannot merge the file: " + err.Error(), Err: err}
		}
	}
	for _, s := range slices.Concat(env, sets) {
		v.Set(s.key, s.value)
	}

	var cfg Config
	if err := v.UnmarshalExact(&cfg, strictDecoding); err != nil {
		return Config{}, &Error{Msg: "cannot decode the configuration: " + err.Error(), Err: err}
	}
	normalize(reflect.ValueOf(&cfg).Elem())
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// FromYAML loads a configuration saved by Config.YAML (source names it in errors), with
// optional --set overrides on top. The environment is not consulted: a saved configuration
// describes its run completely.
func FromYAML(data []byte, source string, sets ...string) (*Config, error) {
	cfg, err := Load(LoadOptions{File: source, Content: data, Sets: sets, Environ: []string{}})
	if err != nil {
		return nil, err
	}
	return &cfg, nil
}

// yamlLine matches the line number of a YAML syntax error.
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// readFile reads and converts the YAML file at path.
func readFile(path string) (map[string]any, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		cause := err
		var pe *fs.PathError
		if errors.As(err, &pe) {
			cause = pe.Err
		}
		return nil, &Error{Source: path, Err: err,
			Msg: fmt.Sprintf("cannot read the configuration file: %v (check the path)", cause)}
	}
	return parseFile(path, data)
}

// parseFile converts the YAML data of the file named path.
func parseFile(path string, data []byte) (map[string]any, error) {
	syntax := func(err error) error {
		e := &Error{Source: path, Err: err}
		msg := err.Error()
		if m := yamlLine.FindStringSubmatch(msg); m != nil {
			e.Line, _ = strconv.Atoi(m[1])
			msg = m[2]
		}
		e.Msg = "YAML syntax error: " + strings.TrimPrefix(msg, "yaml: ") + " (fix the file's YAML)"
		return e
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err == io.EOF {
		return nil, &Error{Source: path, Msg: "the configuration file is empty (check the file name, or write {} in it to use every default)"}
	} else if err != nil {
		return nil, syntax(err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, &Error{Source: path, Line: extra.Line,
			Msg: "a second YAML document (keep the configuration in one document: remove the '---')"}
	} else if err != io.EOF {
		return nil, syntax(err)
	}
	v, err := plainValue(&doc, rootType(), "")
	if err != nil {
		return nil, from(err, path, true)
	}
	return v.(map[string]any), nil
}

// envSettings returns the settings of the DMRNET_ variables of environ, sorted by key; the
// last definition of a variable wins.
func envSettings(environ []string) ([]setting, error) {
	byName := map[string]leaf{}
	for _, l := range leaves(rootType(), "") {
		byName[EnvName(l.key)] = l
	}
	values := map[string]string{}
	for _, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		if _, known := byName[name]; ok && known {
			values[name] = value
		}
	}
	var out []setting
	for _, l := range leaves(rootType(), "") {
		name := EnvName(l.key)
		text, ok := values[name]
		if !ok || text == "" {
			continue
		}
		value, err := parseValue(text, l.typ, l.key)
		if err != nil {
			return nil, from(err, name, false)
		}
		out = flatten(out, l.key, l.typ, value)
	}
	return out, nil
}

// setSettings returns the settings of the "key=value" overrides, in order.
func setSettings(sets []string) ([]setting, error) {
	var out []setting
	for _, arg := range sets {
		source := "--set " + arg
		k, text, ok := strings.Cut(arg, "=")
		key := strings.TrimSpace(k)
		switch {
		case key == "":
			return nil, &Error{Source: source, Msg: "missing key (write --set KEY=VALUE)"}
		case !ok:
			return nil, &Error{Source: source, Key: key,
				Msg: fmt.Sprintf("missing '=' after key %q (write --set %s=VALUE)", key, key)}
		}
		t, err := resolve(key)
		if err != nil {
			return nil, from(err, source, false)
		}
		value, err := parseValue(text, t, key)
		if err != nil {
			return nil, from(err, source, false)
		}
		out = flatten(out, key, t, value)
	}
	return out, nil
}

// hasPath reports whether the nested map m has a value at the dotted key.
func hasPath(m map[string]any, key string) bool {
	parent, last := walkPath(m, key)
	_, ok := parent[last]
	return ok
}

// deletePath removes the value at the dotted key from the nested map m.
func deletePath(m map[string]any, key string) {
	if parent, last := walkPath(m, key); parent != nil {
		delete(parent, last)
	}
}

// walkPath returns the map holding the last segment of key, or nil.
func walkPath(m map[string]any, key string) (map[string]any, string) {
	segs := strings.Split(key, ".")
	for _, s := range segs[:len(segs)-1] {
		m, _ = m[s].(map[string]any)
	}
	return m, segs[len(segs)-1]
}

// strictDecoding turns off mapstructure's weak typing (the values are already converted to
// the schema's types; this only guards against surprises) and installs numberHook.
func strictDecoding(c *mapstructure.DecoderConfig) {
	c.WeaklyTypedInput = false
	c.DecodeHook = mapstructure.DecodeHookFuncType(numberHook)
}

// numberHook accepts integers for float fields and rejects non-integral numbers for integer
// fields (which mapstructure would truncate).
func numberHook(from, to reflect.Type, data any) (any, error) {
	switch to.Kind() {
	case reflect.Float32, reflect.Float64:
		v := reflect.ValueOf(data)
		switch from.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			return float64(v.Int()), nil
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			return float64(v.Uint()), nil
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		switch from.Kind() {
		case reflect.Float32, reflect.Float64:
			f := reflect.ValueOf(data).Float()
			if f != math.Trunc(f) || math.Abs(f) > 1<<53 {
				return nil, fmt.Errorf("cannot use %v as an integer", f)
			}
			return int64(f), nil
		}
	}
	return data, nil
}

// normalize sets empty slices and maps in v to nil, so that equal configurations compare
// equal whatever the source (a YAML "[]" or a missing key).
func normalize(v reflect.Value) {
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				normalize(v.Field(i))
			}
		}
	case reflect.Slice:
		if v.Len() == 0 {
			v.SetZero()
			return
		}
		for i := range v.Len() {
			normalize(v.Index(i))
		}
	case reflect.Map:
		if v.Len() == 0 {
			v.SetZero()
			return
		}
		for it := v.MapRange(); it.Next(); {
			e := reflect.New(it.Value().Type()).Elem()
			e.Set(it.Value())
			normalize(e)
			v.SetMapIndex(it.Key(), e)
		}
	}
}
