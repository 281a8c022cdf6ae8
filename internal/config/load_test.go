package config

import (
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// writeFile writes content to a YAML file in a fresh temporary directory.
func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "run.yaml")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// checkError fails unless err is a one-line *Error wrapping ErrInvalid whose message holds
// every want.
func checkError(t *testing.T, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one containing %q", want)
	}
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("error %q does not wrap ErrInvalid", err)
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Errorf("error %q is a %T, not an *Error", err, err)
	}
	msg := err.Error()
	if strings.ContainsAny(msg, "\r\n") {
		t.Errorf("error is not one line: %q", msg)
	}
	if strings.Contains(msg, ErrInvalid.Error()) {
		t.Errorf("error repeats the sentinel text: %q", msg)
	}
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("error %q does not contain %q", msg, w)
		}
	}
}

func TestLoadDefaults(t *testing.T) {
	got, err := Load(LoadOptions{Environ: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Load() = %+v, want Default() = %+v", got, want)
	}
}

func TestLoad(t *testing.T) {
	const file = `
out: runs/file
data:
  root: /data/file
  val_fraction: 0.1
train:
  epochs: 10
  batch_size: 16
  select_best: true
optim:
  lr: 1          # an integer for a float key
model:
  encoder:
    layers: [32, 16]
  encoders:
    strong: {layers: [8]}
dropout:
  mode: explicit
  probs: {strong: 1, strong+weak: 2}
`
	for _, tc := range []struct {
		name  string
		file  string
		sets  []string
		env   []string
		check func(t *testing.T, c Config)
	}{
		{name: "file values", file: file, check: func(t *testing.T, c Config) {
			eq(t, "out", c.Out, "runs/file")
			eq(t, "data.root", c.Data.Root, "/data/file")
			eq(t, "data.val_fraction", c.Data.ValFraction, 0.1)
			eq(t, "train.epochs", c.Train.Epochs, 10)
			eq(t, "train.batch_size", c.Train.BatchSize, 16)
			eq(t, "train.select_best", c.Train.SelectBest, true)
			eq(t, "optim.lr", c.Optim.LR, 1.0)
			eq(t, "model.encoder.layers", c.Model.Encoder.Layers, []int{32, 16})
			eq(t, "model.encoders", c.Model.Encoders, map[string]Encoder{"strong": {Type: "mlp", Layers: []int{8}, Kernel: 3, Pool: 2}})
			eq(t, "dropout.probs", c.Dropout.Probs, map[string]float64{"strong": 1, "strong+weak": 2})
			// Untouched keys keep their defaults.
			eq(t, "train.eval_batch_size", c.Train.EvalBatchSize, 256)
			eq(t, "model.latent", c.Model.Latent, 128)
		}},
		{name: "env beats file", file: file,
			env: []string{"DMRNET_TRAIN_EPOCHS=30", "DMRNET_OPTIM_LR=0.01", "DMRNET_OUT=/tmp/x", "DMRNET_DATA_ROOT=/env/data"},
			check: func(t *testing.T, c Config) {
				eq(t, "train.epochs", c.Train.Epochs, 30)
				eq(t, "optim.lr", c.Optim.LR, 0.01)
				eq(t, "out", c.Out, "/tmp/x")
				eq(t, "train.batch_size", c.Train.BatchSize, 16)
				// the one exception: a data.root written in the file wins over DMRNET_DATA_ROOT
				eq(t, "data.root", c.Data.Root, "/data/file")
			}},
		{name: "DMRNET_DATA_ROOT is the root of a file without data.root", file: "train: {epochs: 3}\n",
			env:   []string{"DMRNET_DATA_ROOT=/env/data"},
			check: func(t *testing.T, c Config) { eq(t, "data.root", c.Data.Root, "/env/data") }},
		{name: "DMRNET_DATA_ROOT without a file", env: []string{"DMRNET_DATA_ROOT=/env/data"},
			check: func(t *testing.T, c Config) { eq(t, "data.root", c.Data.Root, "/env/data") }},
		{name: "set data.root beats file and env", file: file, env: []string{"DMRNET_DATA_ROOT=/env/data"}, sets: []string{"data.root=/set"},
			check: func(t *testing.T, c Config) { eq(t, "data.root", c.Data.Root, "/set") }},
		{name: "set beats env", file: file,
			env:  []string{"DMRNET_TRAIN_EPOCHS=30", "DMRNET_TRAIN_BATCH_SIZE=32"},
			sets: []string{"train.epochs=3", "model.pme=false", "loss.beta=0"},
			check: func(t *testing.T, c Config) {
				eq(t, "train.epochs", c.Train.Epochs, 3)
				eq(t, "train.batch_size", c.Train.BatchSize, 32)
				eq(t, "model.pme", c.Model.PME, false)
			}},
		{name: "manifest allow_outside defaults to false and is settable",
			env:  []string{"DMRNET_DATA_MANIFEST_ALLOW_OUTSIDE=true"},
			sets: []string{"data.manifest.allow_outside=false", "data.manifest.allow_outside=true"},
			check: func(t *testing.T, c Config) {
				eq(t, "default", Default().Data.Manifest.AllowOutside, false)
				eq(t, "data.manifest.allow_outside", c.Data.Manifest.AllowOutside, true)
			}},
		{name: "later set wins", sets: []string{"train.epochs=3", "train.epochs=4"},
			check: func(t *testing.T, c Config) { eq(t, "train.epochs", c.Train.Epochs, 4) }},
		{name: "last env definition wins", env: []string{"DMRNET_TRAIN_EPOCHS=3", "DMRNET_TRAIN_EPOCHS=4"},
			check: func(t *testing.T, c Config) { eq(t, "train.epochs", c.Train.Epochs, 4) }},
		{name: "unknown and empty env ignored",
			env:   []string{"DMRNET_NOT_A_KEY=1", "DMRNET_TRAIN_EPOCH=ten", "DMRNET_TRAIN_EPOCHS=", "PATH=/bin", "NOEQUALS"},
			check: func(t *testing.T, c Config) { eq(t, "train.epochs", c.Train.Epochs, 20) }},
		{name: "list via env and set",
			env:  []string{"DMRNET_MODEL_ENCODER_LAYERS=[64,32]"},
			sets: []string{"model.encoders.weak.layers=[16]", "data.synthetic.class_names=[live, yes, 1, 2.5]"},
			check: func(t *testing.T, c Config) {
				eq(t, "model.encoder.layers", c.Model.Encoder.Layers, []int{64, 32})
				eq(t, "model.encoders", c.Model.Encoders, map[string]Encoder{"weak": {Type: "mlp", Layers: []int{16}, Kernel: 3, Pool: 2}})
				eq(t, "EncoderFor(weak)", c.EncoderFor("weak"), Encoder{Type: "mlp", Layers: []int{16}, Kernel: 3, Pool: 2})
				eq(t, "EncoderFor(strong)", c.EncoderFor("strong"), Encoder{Type: "mlp", Layers: []int{64, 32}, Kernel: 3, Pool: 2})
				eq(t, "class_names", c.Data.Synthetic.ClassNames, []string{"live", "yes", "1", "2.5"})
			}},
		{name: "list of structs via env",
			env: []string{"DMRNET_DATA_SYNTHETIC_MODALITIES=[{name: rgb, dim: 4, signal: 2}, {name: ir, dim: 2, signal: 0}]"},
			check: func(t *testing.T, c Config) {
				eq(t, "modalities", c.Data.Synthetic.Modalities,
					[]SyntheticModality{{Name: "rgb", Dim: 4, Signal: 2}, {Name: "ir", Dim: 2, Signal: 0}})
				eq(t, "ModalityNames", c.ModalityNames(), []string{"rgb", "ir"})
			}},
		{name: "map via set", sets: []string{"dropout.mode=explicit", "dropout.probs={strong: 1, strong+weak: 2}"},
			check: func(t *testing.T, c Config) {
				eq(t, "dropout.probs", c.Dropout.Probs, map[string]float64{"strong": 1, "strong+weak": 2})
			}},
		{name: "map entry via set merges with file", file: file, sets: []string{"dropout.probs.medium+weak=3", "model.encoders.strong.type=mlp"},
			check: func(t *testing.T, c Config) {
				eq(t, "dropout.probs", c.Dropout.Probs, map[string]float64{"strong": 1, "strong+weak": 2, "medium+weak": 3})
				eq(t, "model.encoders", c.Model.Encoders, map[string]Encoder{"strong": {Type: "mlp", Layers: []int{8}, Kernel: 3, Pool: 2}})
			}},
		{name: "whole map via set replaces file's", file: file, sets: []string{"dropout.probs={weak: 1}"},
			check: func(t *testing.T, c Config) {
				eq(t, "dropout.probs", c.Dropout.Probs, map[string]float64{"weak": 1})
			}},
		{name: "whole map via env replaces file's, set entry merges", file: file,
			env:  []string{"DMRNET_DROPOUT_PROBS={medium: 2}"},
			sets: []string{"dropout.probs.weak=1"},
			check: func(t *testing.T, c Config) {
				eq(t, "dropout.probs", c.Dropout.Probs, map[string]float64{"medium": 2, "weak": 1})
			}},
		{name: "section via set", sets: []string{"train={epochs: 5, batch_size: 8}"}, env: []string{"DMRNET_TRAIN_SEED=9"},
			check: func(t *testing.T, c Config) {
				eq(t, "train.epochs", c.Train.Epochs, 5)
				eq(t, "train.batch_size", c.Train.BatchSize, 8)
				eq(t, "train.seed", c.Train.Seed, int64(9))
				eq(t, "train.device", c.Train.Device, "cpu")
			}},
		{name: "int for float via env and set", env: []string{"DMRNET_LOSS_BETA=1"}, sets: []string{"loss.alpha=0", "optim.lr=2"},
			check: func(t *testing.T, c Config) {
				eq(t, "loss.beta", c.Loss.Beta, 1.0)
				eq(t, "loss.alpha", c.Loss.Alpha, 0.0)
				eq(t, "optim.lr", c.Optim.LR, 2.0)
			}},
		{name: "strings stay strings", sets: []string{"out=2024", "data.root=true", "variant=dmrnet", `train.device="cpu"`},
			check: func(t *testing.T, c Config) {
				eq(t, "out", c.Out, "2024")
				eq(t, "data.root", c.Data.Root, "true")
				eq(t, "variant", c.Variant, "dmrnet")
				eq(t, "train.device", c.Train.Device, "cpu")
			}},
		{name: "string that is not YAML is verbatim", sets: []string{"out=runs/a: b", "data.root=[x"},
			check: func(t *testing.T, c Config) {
				eq(t, "out", c.Out, "runs/a: b")
				eq(t, "data.root", c.Data.Root, "[x")
			}},
		{name: "max_loss infinity", sets: []string{"train.max_loss=.inf"},
			check: func(t *testing.T, c Config) { eq(t, "train.max_loss", c.Train.MaxLoss, math.Inf(1)) }},
		{name: "variant applied", file: "variant: deterministic\n", sets: []string{"loss.beta=0.5"},
			check: func(t *testing.T, c Config) {
				eq(t, "model.pme", c.Model.PME, false)
				eq(t, "loss.beta", c.Loss.Beta, 0.0)
			}},
		{name: "empty mapping", file: "{}\n",
			check: func(t *testing.T, c Config) { eq(t, "config", c, Default()) }},
		{name: "null sections and lists", file: "train:\nvariant:\ndata: {synthetic: {class_names: ~}}\n",
			check: func(t *testing.T, c Config) { eq(t, "config", c, Default()) }},
		{name: "anchors", file: "model:\n  encoder: {layers: &w [7, 5]}\n  encoders: {weak: {layers: *w}}\n",
			check: func(t *testing.T, c Config) { eq(t, "model.encoders.weak", c.EncoderFor("weak").Layers, []int{7, 5}) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := LoadOptions{Sets: tc.sets, Environ: tc.env}
			if opts.Environ == nil {
				opts.Environ = []string{}
			}
			if tc.file != "" {
				opts.File = writeFile(t, tc.file)
			}
			c, err := Load(opts)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
		})
	}
}

// TestEmptyFile checks that a configuration file without any content is an error naming the
// file: it would otherwise silently train the built-in synthetic default.
func TestEmptyFile(t *testing.T) {
	for _, content := range []string{"", "\n\n", "# nothing\n", "  # only a comment\n   \n"} {
		path := writeFile(t, content)
		_, err := Load(LoadOptions{File: path, Environ: []string{}})
		want := path + ": the configuration file is empty (check the file name, or write {} in it to use every default)"
		if err == nil || err.Error() != want || !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: got %v\nwant %s", content, err, want)
		}
	}
}

// eq fails unless got and want are deeply equal.
func eq[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %#v, want %#v", what, got, want)
	}
}

func TestLoadOSEnviron(t *testing.T) {
	t.Setenv("DMRNET_TRAIN_EPOCHS", "7")
	c, err := Load(LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "train.epochs", c.Train.Epochs, 7)
	c, err = Load(LoadOptions{Environ: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "train.epochs with empty Environ", c.Train.Epochs, 20)
}

func TestLoadErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		file string
		sets []string
		env  []string
		want []string // substrings of the message; "FILE" stands for the file's path
	}{
		{name: "unknown file key", file: "train:\n  epoch: 3\n",
			want: []string{"FILE:2: ", `unknown key "train.epoch"`, `did you mean "train.epochs"?`}},
		{name: "unknown top-level key", file: "trian:\n  epochs: 3\n",
			want: []string{"FILE:1: ", `unknown key "trian"`, `did you mean "train"?`}},
		{name: "unknown key without suggestion", file: "train:\n  zzzzzzzz: 3\n",
			want: []string{"FILE:2: ", `unknown key "train.zzzzzzzz"`, `keys under "train" are epochs, batch_size`}},
		{name: "unknown key in map entry", file: "model:\n  encoders:\n    strong: {layerz: [3]}\n",
			want: []string{"FILE:3: ", `unknown key "model.encoders.strong.layerz"`, `did you mean "model.encoders.strong.layers"?`}},
		{name: "unknown key in list element", file: "data:\n  synthetic:\n    modalities: [{name: a, dims: 3}]\n",
			want: []string{"FILE:3: ", `unknown key "data.synthetic.modalities[0].dims"`}},
		{name: "duplicate key", file: "train:\n  epochs: 3\n  epochs: 4\n",
			want: []string{"FILE:3: ", "train.epochs: defined twice, first at line 2 (keep one)"}},
		{name: "string for int", file: "train:\n  epochs: ten\n",
			want: []string{"FILE:2: ", `train.epochs: cannot use "ten" as an integer`}},
		{name: "float for int", file: "train:\n  epochs: 2.5\n",
			want: []string{"FILE:2: ", `train.epochs: cannot use "2.5" as an integer`}},
		{name: "int overflow", file: "train:\n  epochs: 99999999999999999999\n",
			want: []string{`train.epochs: cannot use "99999999999999999999" as an integer`}},
		{name: "string for float", file: "optim:\n  lr: fast\n",
			want: []string{"FILE:2: ", `optim.lr: cannot use "fast" as a number`}},
		{name: "string for bool", file: "model:\n  pme: yes\n",
			want: []string{"FILE:2: ", `model.pme: cannot use "yes" as a boolean`}},
		{name: "missing value", file: "train:\n  epochs:\n",
			want: []string{"FILE:2: ", "train.epochs: missing value (set an integer)"}},
		{name: "scalar for list", file: "model:\n  encoder:\n    layers: 64\n",
			want: []string{"FILE:3: ", `model.encoder.layers: cannot use "64" as a list (write a list such as [64])`}},
		{name: "list for scalar", file: "train:\n  epochs: [1]\n",
			want: []string{"FILE:2: ", "train.epochs: cannot use a list as an integer"}},
		{name: "scalar for section", file: "train: 3\n",
			want: []string{"FILE:1: ", `train: cannot use "3" as a mapping`}},
		{name: "bad list element", file: "model:\n  encoder:\n    layers: [64, x]\n",
			want: []string{"FILE:3: ", `model.encoder.layers[1]: cannot use "x" as an integer`}},
		{name: "top level list", file: "- 1\n", want: []string{"FILE:1: ", "top level: cannot use a list as a mapping"}},
		{name: "upper-case map key", file: "model:\n  encoders:\n    RGB: {layers: [3]}\n",
			want: []string{"FILE:3: ", `model.encoders.RGB: key "RGB" has upper-case letters`, `write "rgb"`}},
		{name: "syntax error", file: "train:\n  epochs: 3\n   batch_size: 4\n",
			want: []string{"FILE:3: ", "YAML syntax error"}},
		{name: "two documents", file: "train: {epochs: 3}\n---\ntrain: {epochs: 4}\n",
			want: []string{"FILE:2: ", "second YAML document"}},
		{name: "set unknown key", sets: []string{"train.epoch=3"},
			want: []string{`--set train.epoch=3: unknown key "train.epoch" (did you mean "train.epochs"?)`}},
		{name: "set key without section", sets: []string{"epochs=3"},
			want: []string{`--set epochs=3: unknown key "epochs" (did you mean "train.epochs"?)`}},
		{name: "set without =", sets: []string{"train.epochs"},
			want: []string{"--set train.epochs: ", `missing '=' after key "train.epochs"`}},
		{name: "set without key", sets: []string{"=3"}, want: []string{"--set =3: missing key"}},
		{name: "set below a leaf", sets: []string{"train.epochs.x=3"},
			want: []string{`unknown key "train.epochs.x"`, "train.epochs is a single value"}},
		{name: "set below a list", sets: []string{"model.encoder.layers.0=3"},
			want: []string{"model.encoder.layers: is a list", "set the whole list"}},
		{name: "set wrong type", sets: []string{"train.epochs=ten"},
			want: []string{`--set train.epochs=ten: train.epochs: cannot use "ten" as an integer`}},
		{name: "set bad YAML", sets: []string{"model.encoder.layers=[3"},
			want: []string{"--set model.encoder.layers=[3: ", "cannot parse \"[3\" as YAML"}},
		{name: "set upper-case map key", sets: []string{"dropout.probs.RGB=1"},
			want: []string{"--set dropout.probs.RGB=1: ", `key "RGB" has upper-case letters`}},
		{name: "env wrong type", env: []string{"DMRNET_TRAIN_EPOCHS=ten"},
			want: []string{`DMRNET_TRAIN_EPOCHS: train.epochs: cannot use "ten" as an integer`}},
		{name: "env unknown key in value", env: []string{"DMRNET_TRAIN_EPOCHS=3", "DMRNET_DROPOUT_PROBS={a: x}"},
			want: []string{`DMRNET_DROPOUT_PROBS: dropout.probs.a: cannot use "x" as a number`}},
		{name: "validation after merge", sets: []string{"optim.lr=0"},
			want: []string{"optim.lr: 0 is out of range (set a value > 0, finite)"}},
		{name: "unknown modality in encoders", sets: []string{"model.encoders.rgb.layers=[32]"},
			want: []string{`model.encoders.rgb: "rgb" is not a modality of the data set`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := LoadOptions{Sets: tc.sets, Environ: tc.env}
			if opts.Environ == nil {
				opts.Environ = []string{}
			}
			if tc.file != "" {
				opts.File = writeFile(t, tc.file)
			}
			_, err := Load(opts)
			want := make([]string, len(tc.want))
			for i, w := range tc.want {
				want[i] = strings.ReplaceAll(w, "FILE", opts.File)
			}
			checkError(t, err, want...)
			if tc.file != "" && err != nil && !strings.HasPrefix(err.Error(), opts.File) {
				t.Errorf("error %q does not start with the file name", err)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing.yaml")
	_, err := Load(LoadOptions{File: path, Environ: []string{}})
	checkError(t, err, path+": cannot read the configuration file", "no such file")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("error %q does not wrap fs.ErrNotExist", err)
	}
	_, err = Load(LoadOptions{File: t.TempDir(), Environ: []string{}})
	checkError(t, err, "cannot read the configuration file")
}

func TestEnvNames(t *testing.T) {
	seen := map[string]string{}
	for _, l := range leaves(rootType(), "") {
		name := EnvName(l.key)
		if other, dup := seen[name]; dup {
			t.Errorf("keys %q and %q share the environment variable %s", other, l.key, name)
		}
		seen[name] = l.key
	}
	for key, want := range map[string]string{
		"train.batch_size": "DMRNET_TRAIN_BATCH_SIZE",
		"optim.lr":         "DMRNET_OPTIM_LR",
		"out":              "DMRNET_OUT",
		"data.root":        "DMRNET_DATA_ROOT",
		"a-b.c":            "DMRNET_A_B_C",
	} {
		eq(t, "EnvName("+key+")", EnvName(key), want)
	}
	if seen["DMRNET_DATA_ROOT"] != "data.root" {
		t.Errorf("DMRNET_DATA_ROOT sets %q, want data.root", seen["DMRNET_DATA_ROOT"])
	}
}

func TestYAMLRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		sets []string
	}{
		{name: "defaults"},
		{name: "custom", sets: []string{
			"variant=no-hcr",
			"out=runs/with: colon",
			"data.root=123",
			"data.val_fraction=0.2",
			"data.synthetic.class_names=[live, spoof, \"true\", \"1.5\"]",
			"data.synthetic.seed=-12345678901",
			"model.encoders.strong={type: mlp, layers: [4, 2]}",
			"model.encoders.weak.layers=[3]",
			"dropout.mode=explicit",
			"dropout.probs={strong: 1, strong+medium: 0.5, medium+weak+strong: 1e-9}",
			"optim.name=sgd",
			"optim.nesterov=true",
			"optim.lr=0.1",
			"optim.eps=1e-300",
			"schedule.name=step",
			"schedule.min_lr=1e-5",
			"train.select_best=true",
			"train.patience=3",
			"train.max_loss=.inf",
			"train.keep_checkpoints=5",
			"hard.k=2",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(LoadOptions{Sets: tc.sets, Environ: []string{}})
			if err != nil {
				t.Fatal(err)
			}
			b, err := c.YAML()
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(string(b), "# dmrnet resolved configuration\n") {
				t.Errorf("YAML does not start with the header:\n%s", b)
			}
			for _, l := range leaves(rootType(), "") {
				last := l.key[strings.LastIndexByte(l.key, '.')+1:]
				if !strings.Contains(string(b), last+":") {
					t.Errorf("YAML lacks key %s:\n%s", l.key, b)
				}
			}
			back, err := Load(LoadOptions{File: writeFile(t, string(b)), Environ: []string{}})
			if err != nil {
				t.Fatalf("%v\n%s", err, b)
			}
			if !reflect.DeepEqual(back, c) {
				t.Errorf("round trip changed the config:\n got %+v\nwant %+v\nYAML:\n%s", back, c, b)
			}
		})
	}
}

func TestNumberHook(t *testing.T) {
	f64, i := reflect.TypeFor[float64](), reflect.TypeFor[int]()
	for _, tc := range []struct {
		from, to reflect.Type
		in, want any
		err      bool
	}{
		{reflect.TypeFor[int](), f64, 3, 3.0, false},
		{reflect.TypeFor[int64](), f64, int64(-2), -2.0, false},
		{reflect.TypeFor[uint](), f64, uint(2), 2.0, false},
		{f64, i, 4.0, int64(4), false},
		{f64, i, 4.5, nil, true},
		{reflect.TypeFor[string](), i, "x", "x", false},
	} {
		got, err := numberHook(tc.from, tc.to, tc.in)
		if (err != nil) != tc.err || !tc.err && !reflect.DeepEqual(got, tc.want) {
			t.Errorf("numberHook(%v -> %v, %v) = %v, %v; want %v (error %v)", tc.from, tc.to, tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestSuggest(t *testing.T) {
	keys := keysUnder(rootType(), "")
	for key, want := range map[string]string{
		"train.epoch":     "train.epochs",
		"trian.epochs":    "train.epochs",
		"Train.Epochs":    "train.epochs",
		"epochs":          "train.epochs",
		"optim.learning":  "",
		"model.bn_moment": "model.bn_momentum",
	} {
		eq(t, "suggest("+key+")", suggest(key, keys), want)
	}
	eq(t, "EditDistance", EditDistance("kitten", "sitting"), 3)
}
