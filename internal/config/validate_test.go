package config

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestValidateDefault(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v", err)
	}
	if !reflect.DeepEqual(c, Default()) {
		t.Errorf("Validate changed the default configuration")
	}
}

func TestValidateRules(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	for _, tc := range []struct {
		name   string
		mutate func(c *Config)
		key    string // the key the error must start with; "" means valid
		want   string // another substring of the error
	}{
		{"variant", func(c *Config) { c.Variant = "fast" }, "variant", `"fast" is not a variant (use one of "dmrnet"`},
		{"out", func(c *Config) { c.Out = "" }, "out", "empty"},

		{"data.kind", func(c *Config) { c.Data.Kind = "csv" }, "data.kind", `use one of "synthetic"`},
		{"data.val_fraction low", func(c *Config) { c.Data.ValFraction = -0.1 }, "data.val_fraction", "in [0, 0.9]"},
		{"data.val_fraction high", func(c *Config) { c.Data.ValFraction = 0.95 }, "data.val_fraction", "0.95 is out of range"},
		{"data.val_fraction NaN", func(c *Config) { c.Data.ValFraction = nan }, "data.val_fraction", "NaN"},
		{"data.val_fraction max", func(c *Config) { c.Data.ValFraction = 0.9 }, "", ""},
		{"data.live_class negative", func(c *Config) { c.Data.LiveClass = -1 }, "data.live_class", ">= 0"},
		{"data.live_class too big", func(c *Config) { c.Data.LiveClass = 4 }, "data.live_class", "from 0 to 3, for the 4 classes"},
		{"data.live_class last", func(c *Config) { c.Data.LiveClass = 3 }, "", ""},
		{"data.stream synthetic", func(c *Config) { c.Data.Stream = true }, "data.stream", `true needs a manifest data set, but data.kind is "synthetic"`},
		{"data.stream table", func(c *Config) {
			c.Data.Kind = "table"
			c.Data.Table.Views = []TableView{{Name: "a", File: "a.csv"}}
			c.Data.Table.Labels = "y.csv"
			c.Data.Stream = true
		}, "data.stream", `data.kind is "table"`},
		{"data.stream manifest", func(c *Config) { streamManifest(c) }, "", ""},
		{"data.stream cache_dir", func(c *Config) { streamManifest(c); c.Data.CacheDir = "cache" }, "data.stream", `cannot be combined with data.cache_dir "cache"`},
		{"data.prefetch", func(c *Config) { streamManifest(c); c.Data.Prefetch = 2 }, "", ""},
		{"data.prefetch max", func(c *Config) { streamManifest(c); c.Data.Prefetch = MaxPrefetch }, "", ""},
		{"data.prefetch negative", func(c *Config) { streamManifest(c); c.Data.Prefetch = -1 }, "data.prefetch", "-1 is out of range (set a value from 0 to 64"},
		{"data.prefetch too big", func(c *Config) { streamManifest(c); c.Data.Prefetch = MaxPrefetch + 1 }, "data.prefetch", "65 is out of range"},
		{"data.prefetch without stream", func(c *Config) { c.Data.Prefetch = 2 }, "data.prefetch", "2 applies to streamed data only, but data.stream is false"},

		{"classes", func(c *Config) { c.Data.Synthetic.Classes = 1; c.Data.Synthetic.Train = 10 }, "data.synthetic.classes", "in [2, 10000]"},
		{"classes over MaxClasses", func(c *Config) { c.Data.Synthetic.Classes = MaxClasses + 1; c.Data.Synthetic.Train = 1 << 20 }, "data.synthetic.classes", "10001 is out of range (set a value in [2, 10000])"},
		{"classes at MaxClasses", func(c *Config) { c.Data.Synthetic.Classes = MaxClasses; c.Data.Synthetic.Train = 2 * MaxClasses }, "", ""},
		{"table class_names over MaxClasses", func(c *Config) {
			c.Data.Kind = "table"
			c.Data.Table.Views = []TableView{{Name: "a", File: "a.csv"}}
			c.Data.Table.Labels = "y.csv"
			for i := range MaxClasses + 1 {
				c.Data.Table.ClassNames = append(c.Data.Table.ClassNames, fmt.Sprint("c", i))
			}
		}, "data.table.class_names", "10001 classes; at most 10000 are supported"},
		{"manifest class_names over MaxClasses", func(c *Config) {
			c.Data.Kind = "manifest"
			c.Data.Manifest.File = "m.csv"
			c.Data.Manifest.Modalities = []ManifestModality{{Name: "a", Type: "npy", Shape: []int{2}}}
			for i := range MaxClasses + 1 {
				c.Data.Manifest.ClassNames = append(c.Data.Manifest.ClassNames, fmt.Sprint("c", i))
			}
		}, "data.manifest.class_names", "10001 classes; at most 10000 are supported"},
		{"class_names count", func(c *Config) { c.Data.Synthetic.ClassNames = []string{"a", "b", "c"} }, "data.synthetic.class_names", "3 names for 4 classes"},
		{"class_names duplicate", func(c *Config) { c.Data.Synthetic.ClassNames = []string{"a", "b", "a", "d"} }, "data.synthetic.class_names[2]", "unique"},
		{"class_names empty name", func(c *Config) { c.Data.Synthetic.ClassNames = []string{"a", "", "c", "d"} }, "data.synthetic.class_names[1]", "empty"},
		{"class_names ok", func(c *Config) { c.Data.Synthetic.ClassNames = []string{"live", "print", "replay", "mask"} }, "", ""},
		{"train", func(c *Config) { c.Data.Synthetic.Train = 7 }, "data.synthetic.train", ">= 8"},
		{"test", func(c *Config) { c.Data.Synthetic.Test = 0 }, "data.synthetic.test", ">= 1"},
		{"no modalities", func(c *Config) { c.Data.Synthetic.Modalities = nil }, "data.synthetic.modalities", "give 1 to 20"},
		{"too many modalities", func(c *Config) {
			c.Data.Synthetic.Modalities = make([]SyntheticModality, 21)
		}, "data.synthetic.modalities", "21 modalities"},
		{"upper-case modality", func(c *Config) { c.Data.Synthetic.Modalities[0].Name = "RGB" }, "data.synthetic.modalities[0].name", "must be lower case"},
		{"bad modality name", func(c *Config) { c.Data.Synthetic.Modalities[1].Name = "a+b" }, "data.synthetic.modalities[1].name", "not a valid modality name"},
		{"empty modality name", func(c *Config) { c.Data.Synthetic.Modalities[1].Name = "" }, "data.synthetic.modalities[1].name", "not a valid modality name"},
		{"duplicate modality", func(c *Config) { c.Data.Synthetic.Modalities[2].Name = "strong" }, "data.synthetic.modalities[2].name", "unique"},
		{"dim", func(c *Config) { c.Data.Synthetic.Modalities[0].Dim = 0 }, "data.synthetic.modalities[0].dim", ">= 1"},
		{"signal negative", func(c *Config) { c.Data.Synthetic.Modalities[0].Signal = -1 }, "data.synthetic.modalities[0].signal", ">= 0"},
		{"signal infinite", func(c *Config) { c.Data.Synthetic.Modalities[0].Signal = inf }, "data.synthetic.modalities[0].signal", "+Inf"},
		{"signal zero", func(c *Config) { c.Data.Synthetic.Modalities[0].Signal = 0 }, "", ""},

		{"encoder type", func(c *Config) { c.Model.Encoder.Type = "rnn" }, "model.encoder.type", `"rnn" is not supported (use one of "mlp", "conv")`},
		{"encoder layers empty", func(c *Config) { c.Model.Encoder.Layers = nil }, "model.encoder.layers", "empty"},
		{"encoder layer zero", func(c *Config) { c.Model.Encoder.Layers = []int{64, 0} }, "model.encoder.layers[1]", ">= 1"},
		{"encoders unknown modality", func(c *Config) {
			c.Model.Encoders = map[string]Encoder{"stronk": {Layers: []int{3}}}
		}, "model.encoders.stronk", `did you mean "strong"?`},
		{"encoders bad entry", func(c *Config) {
			c.Model.Encoders = map[string]Encoder{"weak": {Layers: []int{-1}}}
		}, "model.encoders.weak.layers[0]", ">= 1"},
		{"encoders bad type", func(c *Config) {
			c.Model.Encoders = map[string]Encoder{"weak": {Type: "rnn"}}
		}, "model.encoders.weak.type", `"rnn"`},
		{"encoders inherit", func(c *Config) {
			c.Model.Encoders = map[string]Encoder{"weak": {Layers: []int{3}}, "strong": {Type: "mlp"}}
		}, "", ""},
		{"latent", func(c *Config) { c.Model.Latent = 0 }, "model.latent", ">= 1"},
		{"dtype", func(c *Config) { c.Model.DType = "float16" }, "model.dtype", `use one of "float32", "float64"`},
		{"dtype float64", func(c *Config) { c.Model.DType = "float64" }, "", ""},
		{"bn_momentum zero", func(c *Config) { c.Model.BNMomentum = 0 }, "model.bn_momentum", "in (0, 1]"},
		{"bn_momentum big", func(c *Config) { c.Model.BNMomentum = 1.5 }, "model.bn_momentum", "in (0, 1]"},
		{"bn_momentum one", func(c *Config) { c.Model.BNMomentum = 1 }, "", ""},
		{"bn_eps", func(c *Config) { c.Model.BNEps = 0 }, "model.bn_eps", "> 0"},

		{"loss.alpha", func(c *Config) { c.Loss.Alpha = -1 }, "loss.alpha", ">= 0"},
		{"loss.beta", func(c *Config) { c.Loss.Beta = nan }, "loss.beta", ">= 0"},
		{"loss.beta infinite", func(c *Config) { c.Loss.Beta = inf }, "loss.beta", "finite"},

		{"hard.k negative", func(c *Config) { c.Hard.K = -1 }, "hard.k", ">= 0"},
		{"hard.k too big", func(c *Config) { c.Hard.K = 8 }, "hard.k", "in [0, 7]"},
		{"hard.k max", func(c *Config) { c.Hard.K = 7 }, "", ""},
		{"hard.by", func(c *Config) { c.Hard.By = "entropy" }, "hard.by", `use one of "variance", "loss"`},
		{"hard.mode", func(c *Config) { c.Hard.Mode = "always" }, "hard.mode", `use one of "once", "every-epoch"`},
		{"hard.warmup_epochs", func(c *Config) { c.Hard.WarmupEpochs = -1 }, "hard.warmup_epochs", ">= 0"},
		{"warm-up needed for HCR", func(c *Config) { c.Hard.WarmupEpochs = 0 }, "hard.warmup_epochs", "loss.beta"},
		{"variance needs PME", func(c *Config) { c.Model.PME = false; c.Hard.By = "variance" }, "hard.by", "model.pme=false"},

		{"dropout.mode", func(c *Config) { c.Dropout.Mode = "random" }, "dropout.mode", `use one of "uniform", "none", "explicit"`},
		{"explicit without probs", func(c *Config) { c.Dropout.Mode = "explicit" }, "dropout.probs", "empty"},
		{"probs without explicit", func(c *Config) { c.Dropout.Probs = map[string]float64{"strong": 1} }, "dropout.probs", `given with dropout.mode "uniform"`},
		{"probs with none", func(c *Config) {
			c.Dropout.Mode = "none"
			c.Dropout.Probs = map[string]float64{"strong": 1}
		}, "dropout.probs", `dropout.mode "none"`},
		{"probs unknown modality", func(c *Config) { explicit(c, map[string]float64{"strong+rgb": 1}) }, "dropout.probs.strong+rgb", `"rgb" is not a modality`},
		{"probs empty part", func(c *Config) { explicit(c, map[string]float64{"strong+": 1}) }, "dropout.probs.strong+", "empty modality name"},
		{"probs repeated modality", func(c *Config) { explicit(c, map[string]float64{"weak+weak": 1}) }, "dropout.probs.weak+weak", "twice"},
		{"probs same combination", func(c *Config) {
			explicit(c, map[string]float64{"strong+weak": 1, "weak+strong": 1})
		}, "dropout.probs.weak+strong", `same as "strong+weak"`},
		{"probs negative", func(c *Config) { explicit(c, map[string]float64{"strong": -1}) }, "dropout.probs.strong", ">= 0"},
		{"probs infinite", func(c *Config) { explicit(c, map[string]float64{"strong": inf}) }, "dropout.probs.strong", "+Inf"},
		{"probs zero sum", func(c *Config) { explicit(c, map[string]float64{"strong": 0, "weak": 0}) }, "dropout.probs", "sum to 0"},
		{"probs ok", func(c *Config) {
			explicit(c, map[string]float64{"strong": 0, "medium+weak": 1, "strong+medium+weak": 2})
		}, "", ""},

		{"optim.name", func(c *Config) { c.Optim.Name = "adamw" }, "optim.name", `use one of "adam", "sgd"`},
		{"optim.lr zero", func(c *Config) { c.Optim.LR = 0 }, "optim.lr", "> 0"},
		{"optim.lr infinite", func(c *Config) { c.Optim.LR = inf }, "optim.lr", "> 0"},
		{"optim.beta1", func(c *Config) { c.Optim.Beta1 = 1 }, "optim.beta1", "in [0, 1)"},
		{"optim.beta2", func(c *Config) { c.Optim.Beta2 = -0.1 }, "optim.beta2", "in [0, 1)"},
		{"optim.beta1 zero", func(c *Config) { c.Optim.Beta1 = 0 }, "", ""},
		{"optim.eps", func(c *Config) { c.Optim.Eps = 0 }, "optim.eps", "> 0"},
		{"optim.momentum", func(c *Config) { c.Optim.Momentum = 1 }, "optim.momentum", "in [0, 1)"},
		{"nesterov with adam", func(c *Config) { c.Optim.Nesterov = true }, "optim.nesterov", "optim.name=sgd"},
		{"nesterov without momentum", func(c *Config) {
			c.Optim.Name, c.Optim.Nesterov, c.Optim.Momentum = "sgd", true, 0
		}, "optim.nesterov", "optim.momentum > 0"},
		{"nesterov ok", func(c *Config) { c.Optim.Name, c.Optim.Nesterov = "sgd", true }, "", ""},
		{"optim.weight_decay", func(c *Config) { c.Optim.WeightDecay = -1e-4 }, "optim.weight_decay", ">= 0"},

		{"schedule.name", func(c *Config) { c.Sched.Name = "linear" }, "schedule.name", `use one of "constant", "step", "cosine"`},
		{"schedule.step_size", func(c *Config) { c.Sched.Name, c.Sched.StepSize = "step", 0 }, "schedule.step_size", ">= 1"},
		{"schedule.gamma zero", func(c *Config) { c.Sched.Name, c.Sched.Gamma = "step", 0 }, "schedule.gamma", "in (0, 1]"},
		{"schedule.gamma big", func(c *Config) { c.Sched.Name, c.Sched.Gamma = "step", 1.5 }, "schedule.gamma", "in (0, 1]"},
		{"schedule step ok", func(c *Config) { c.Sched.Name, c.Sched.Gamma = "step", 1 }, "", ""},
		{"schedule.gamma ignored for cosine", func(c *Config) { c.Sched.Name, c.Sched.Gamma = "cosine", 0 }, "", ""},
		{"schedule.min_lr negative", func(c *Config) { c.Sched.MinLR = -1 }, "schedule.min_lr", "in [0, optim.lr] = [0, 0.001]"},
		{"schedule.min_lr above lr", func(c *Config) { c.Sched.MinLR = 0.01 }, "schedule.min_lr", "in [0, optim.lr]"},
		{"schedule.min_lr equal lr", func(c *Config) { c.Sched.MinLR = c.Optim.LR }, "", ""},
		{"schedule.warmup_epochs negative", func(c *Config) { c.Sched.WarmupEpochs = -1 }, "schedule.warmup_epochs", "in [0, train.epochs) = [0, 20)"},
		{"schedule.warmup_epochs too long", func(c *Config) { c.Sched.WarmupEpochs = 20 }, "schedule.warmup_epochs", "20 is out of range"},
		{"schedule.warmup_epochs max", func(c *Config) { c.Sched.WarmupEpochs = 19 }, "", ""},

		{"train.epochs", func(c *Config) { c.Train.Epochs = 0 }, "train.epochs", ">= 1"},
		{"train.batch_size", func(c *Config) { c.Train.BatchSize = 1 }, "train.batch_size", ">= 2"},
		{"train.seed negative ok", func(c *Config) { c.Train.Seed = -5 }, "", ""},
		{"train.device", func(c *Config) { c.Train.Device = "tpu" }, "train.device", `use one of "cpu", "cuda"`},
		{"train.device cuda", func(c *Config) { c.Train.Device = "cuda" }, "", ""},
		{"train.eval_batch_size", func(c *Config) { c.Train.EvalBatchSize = 0 }, "train.eval_batch_size", ">= 1"},
		{"train.patience negative", func(c *Config) { c.Train.Patience = -1 }, "train.patience", ">= 0"},
		{"train.patience without validation", func(c *Config) { c.Train.Patience = 3 }, "train.patience", "data.val_fraction"},
		{"train.select_best without validation", func(c *Config) { c.Train.SelectBest = true }, "train.select_best", "data.val_fraction"},
		{"validation ok", func(c *Config) { c.Train.SelectBest, c.Train.Patience, c.Data.ValFraction = true, 3, 0.1 }, "", ""},
		{"train.max_loss", func(c *Config) { c.Train.MaxLoss = 0 }, "train.max_loss", "> 0"},
		{"train.keep_checkpoints zero", func(c *Config) { c.Train.KeepCheckpoints = 0 }, "train.keep_checkpoints", ">= 1"},
		{"train.keep_checkpoints negative", func(c *Config) { c.Train.KeepCheckpoints = -2 }, "train.keep_checkpoints", ">= 1"},
		{"train.keep_checkpoints one", func(c *Config) { c.Train.KeepCheckpoints = 1 }, "", ""},
		{"train.max_loss NaN", func(c *Config) { c.Train.MaxLoss = nan }, "train.max_loss", "NaN"},
		{"train.max_loss infinite", func(c *Config) { c.Train.MaxLoss = inf }, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			tc.mutate(&c)
			err := c.Validate()
			if tc.key == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			checkError(t, err, tc.want)
			if !strings.HasPrefix(err.Error(), tc.key+": ") {
				t.Errorf("error %q does not start with %q", err, tc.key+": ")
			}
			var e *Error
			if errors.As(err, &e) && e.Key != tc.key {
				t.Errorf("Error.Key = %q, want %q", e.Key, tc.key)
			}
		})
	}
}

// explicit sets explicit modality dropout with the given weights.
func explicit(c *Config, probs map[string]float64) {
	c.Dropout.Mode = "explicit"
	c.Dropout.Probs = probs
}

func TestVariants(t *testing.T) {
	for _, tc := range []struct {
		variant string
		want    func(c *Config)
	}{
		{"", func(c *Config) {}},
		// The paper's rule whatever the default (hard.by=loss).
		{"dmrnet", func(c *Config) { c.Hard.By = "variance" }},
		{"dmrnet-loss", func(c *Config) { c.Hard.By = "loss" }},
		{"no-hcr", func(c *Config) { c.Hard.By, c.Loss.Beta = "variance", 0 }},
		{"no-kl", func(c *Config) { c.Hard.By, c.Loss.Alpha = "variance", 0 }},
		{"deterministic", func(c *Config) { c.Model.PME, c.Loss.Alpha, c.Loss.Beta = false, 0, 0 }},
		{"no-dropout", func(c *Config) { c.Hard.By, c.Dropout.Mode = "variance", "none" }},
	} {
		t.Run(tc.variant, func(t *testing.T) {
			got := Default()
			got.Variant = tc.variant
			if err := got.Validate(); err != nil {
				t.Fatal(err)
			}
			want := Default()
			want.Variant = tc.variant
			tc.want(&want)
			eq(t, "config", got, want)
			// Validate is idempotent.
			again := got
			if err := again.Validate(); err != nil {
				t.Fatal(err)
			}
			eq(t, "config validated twice", again, got)
		})
	}

	// no-dropout on top of explicit dropout drops the weights.
	c := Default()
	c.Variant = "no-dropout"
	explicit(&c, map[string]float64{"strong": 1})
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	eq(t, "dropout", c.Dropout, Dropout{Mode: "none"})
}

func TestK(t *testing.T) {
	c := Default()
	eq(t, "K() with 3 modalities", c.K(), 3) // ceil(7/3)
	for m, want := range map[int]int{0: 0, 1: 1, 2: 1, 3: 3, 4: 5, 5: 11, 20: 349525} {
		eq(t, "KFor", c.KFor(m), want)
	}
	c.Hard.K = 2
	eq(t, "K() with hard.k=2", c.K(), 2)
	eq(t, "KFor(5) with hard.k=2", c.KFor(5), 2)
}

func TestModalityNames(t *testing.T) {
	c := Default()
	eq(t, "ModalityNames", c.ModalityNames(), []string{"strong", "medium", "weak"})
	c.Data.Kind = "files"
	if got := c.ModalityNames(); got != nil {
		t.Errorf("ModalityNames() of kind files = %v, want nil", got)
	}
}

func TestEncoderFor(t *testing.T) {
	c := Default()
	c.Model.Encoders = map[string]Encoder{
		"weak":   {Layers: []int{8}},
		"medium": {Type: "mlp", Layers: []int{16, 4}, Kernel: 3, Pool: 2},
	}
	eq(t, "strong", c.EncoderFor("strong"), Encoder{Type: "mlp", Layers: []int{128, 64}, Kernel: 3, Pool: 2})
	eq(t, "weak", c.EncoderFor("weak"), Encoder{Type: "mlp", Layers: []int{8}, Kernel: 3, Pool: 2})
	eq(t, "medium", c.EncoderFor("medium"), Encoder{Type: "mlp", Layers: []int{16, 4}, Kernel: 3, Pool: 2})
	e := c.EncoderFor("strong")
	e.Layers[0] = 1
	eq(t, "model.encoder after changing EncoderFor's result", c.Model.Encoder.Layers, []int{128, 64})
}

func TestCheckModalities(t *testing.T) {
	c := Default()
	c.Data.Kind = "files" // a file-based data set: Validate cannot check the names
	c.Model.Encoders = map[string]Encoder{"rgb": {Layers: []int{8}}}
	explicit(&c, map[string]float64{"rgb+ir": 1, "depth": 1})
	c.Hard.K = 7
	for _, tc := range []struct {
		names    []string
		key      string
		wantText string
	}{
		{[]string{"rgb", "ir", "depth"}, "", ""},
		{[]string{"ir", "depth"}, "model.encoders.rgb", `"rgb" is not a modality of the data set (use one of "ir", "depth")`},
		{[]string{"rgb", "ir", "dept"}, "dropout.probs.depth", `did you mean "dept"?`},
		{[]string{"rgb", "ir", "depth", "x"}, "", ""},
		{nil, "data", "0 modalities"},
	} {
		err := c.CheckModalities(tc.names)
		if tc.key == "" {
			if err != nil {
				t.Errorf("CheckModalities(%q) = %v", tc.names, err)
			}
			continue
		}
		checkError(t, err, tc.key+": ", tc.wantText)
	}
	c.Hard.K = 8
	checkError(t, c.CheckModalities([]string{"rgb", "ir", "depth"}), "hard.k: 8 is out of range", "M=3")
}

func TestErrorFormat(t *testing.T) {
	e := &Error{Source: "x.yaml", Line: 3, Key: "a", Msg: "a: bad\nreally\n\n  bad"}
	eq(t, "Error()", e.Error(), "x.yaml:3: a: bad; really; bad")
	if !errors.Is(e, ErrInvalid) {
		t.Error("Error does not wrap ErrInvalid")
	}
	cause := errors.New("cause")
	e.Err = cause
	if !errors.Is(e, cause) || !errors.Is(e, ErrInvalid) {
		t.Error("Error does not wrap both its cause and ErrInvalid")
	}
}

func TestValidateFillsEncoders(t *testing.T) {
	c := Default()
	shared := map[string]Encoder{"weak": {Layers: []int{8}}, "strong": {Type: "mlp"}}
	c.Model.Encoders = shared
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	eq(t, "model.encoders", c.Model.Encoders, map[string]Encoder{
		"weak":   {Type: "mlp", Layers: []int{8}, Kernel: 3, Pool: 2},
		"strong": {Type: "mlp", Layers: []int{128, 64}, Kernel: 3, Pool: 2},
	})
	eq(t, "the caller's map", shared, map[string]Encoder{"weak": {Layers: []int{8}}, "strong": {Type: "mlp"}})
}

func TestValidateRobustOptions(t *testing.T) {
	tests := []struct {
		name string
		mod  func(c *Config)
		want string
	}{
		{"route without heads", func(c *Config) { c.Model.Inference = "route" }, "model.aux_heads.weight"},
		{"unknown inference", func(c *Config) { c.Model.Inference = "vote" }, "model.inference"},
		{"negative aux", func(c *Config) { c.Model.AuxHeads.Weight = -1 }, "model.aux_heads.weight"},
		{"empty ensemble", func(c *Config) {
			c.Model.AuxHeads.Weight, c.Model.Inference, c.Model.Ensemble = 1, "ensemble", EnsembleWeights{}
		}, "model.ensemble"},
		{"soft without warm-up", func(c *Config) { c.Hard.By, c.Hard.WarmupEpochs, c.Loss.Beta = "soft", 0, 0 }, "hard.warmup_epochs"},
	}
	for _, tt := range tests {
		c := Default()
		tt.mod(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want an error naming %s", tt.name, err, tt.want)
		}
	}
	c := Default()
	c.Model.AuxHeads.Weight, c.Model.Inference, c.Hard.By = 1, "ensemble", "soft"
	if err := c.Validate(); err != nil {
		t.Errorf("aux heads + ensemble + soft: %v", err)
	}
}

// TestVariantDmrnetIsThePaper checks that variant dmrnet sets the paper's method over any
// configuration: the embedding on, the hard set by variance, chosen once; and that it and
// dmrnet-loss therefore differ in hard.by only.
func TestVariantDmrnetIsThePaper(t *testing.T) {
	base := Default()
	base.Model.PME = true
	base.Hard.By, base.Hard.Mode = "soft", "every-epoch"
	c := base
	c.Variant = "dmrnet"
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	eq(t, "hard.by", c.Hard.By, "variance")
	eq(t, "hard.mode", c.Hard.Mode, "once")
	eq(t, "model.pme", c.Model.PME, true)
	l := base
	l.Variant = "dmrnet-loss"
	if err := l.Validate(); err != nil {
		t.Fatal(err)
	}
	l.Variant, l.Hard.By = "dmrnet", "variance"
	eq(t, "dmrnet-loss apart from hard.by", l, c)
}

// streamManifest makes c a streamed manifest data set (data.stream).
func streamManifest(c *Config) {
	c.Data.Kind = "manifest"
	c.Data.Manifest.File = "m.csv"
	c.Data.Manifest.Modalities = []ManifestModality{{Name: "a", Type: "npy", Shape: []int{2}}}
	c.Data.Stream = true
}

// TestStreamKeys checks that data.stream and data.prefetch are set like every key: from the
// file, DMRNET_DATA_STREAM / DMRNET_DATA_PREFETCH and --set, and that a bad value names its key.
func TestStreamKeys(t *testing.T) {
	manifest := "data: {kind: manifest, manifest: {file: m.csv, modalities: [{name: a, type: npy, shape: [2]}]}}\n"
	for _, tc := range []struct {
		name     string
		file     string
		env      []string
		sets     []string
		stream   bool
		prefetch int
		err      string
	}{
		{name: "default", file: manifest},
		{name: "file", file: "data: {kind: manifest, stream: true, prefetch: 3, manifest: {file: m.csv, modalities: [{name: a, type: npy, shape: [2]}]}}\n", stream: true, prefetch: 3},
		{name: "env", file: manifest, env: []string{"DMRNET_DATA_STREAM=true", "DMRNET_DATA_PREFETCH=2"}, stream: true, prefetch: 2},
		{name: "set", file: manifest, sets: []string{"data.stream=true", "data.prefetch=5"}, stream: true, prefetch: 5},
		{name: "set over env", file: manifest, env: []string{"DMRNET_DATA_STREAM=true"}, sets: []string{"data.stream=false"}},
		{name: "not a bool", file: manifest, sets: []string{"data.stream=maybe"}, err: "data.stream"},
		{name: "synthetic", file: "train: {epochs: 2}\n", sets: []string{"data.stream=true"}, err: "data.stream: true needs a manifest data set"},
		{name: "env synthetic", file: "train: {epochs: 2}\n", env: []string{"DMRNET_DATA_STREAM=true"}, err: "data.stream: true needs a manifest data set"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "c.yaml")
			if err := os.WriteFile(path, []byte(tc.file), 0o644); err != nil {
				t.Fatal(err)
			}
			env := tc.env
			if env == nil {
				env = []string{}
			}
			c, err := Load(LoadOptions{File: path, Environ: env, Sets: tc.sets})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Data.Stream != tc.stream || c.Data.Prefetch != tc.prefetch {
				t.Fatalf("stream %v prefetch %d, want %v %d", c.Data.Stream, c.Data.Prefetch, tc.stream, tc.prefetch)
			}
		})
	}
}
