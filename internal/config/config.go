// Package config defines dmrnet's configuration schema, its defaults, and how a YAML file,
// DMRNET_* environment variables and --set overrides are merged into one validated Config.
//
// Precedence, highest first:
//
//	--set key=value  >  DMRNET_<KEY> environment variables  >  YAML file  >  Default()
//
// Keys are dotted paths of the YAML tree (train.lr is "train: {lr: ...}"); the environment
// variable of a key is DMRNET_ followed by the key in upper case with dots and dashes replaced
// by underscores (train.batch_size -> DMRNET_TRAIN_BATCH_SIZE).
package config

// Config is the whole resolved configuration of one run. Every knob of dmrnet lives here, so
// that the resolved Config written into the run directory describes the run completely.
type Config struct {
	// Variant is an optional preset of the paper's ablations applied on top of the other keys:
	// "" or "dmrnet" (no change), "dmrnet-loss" (hard.by=loss), "no-hcr" (loss.beta=0),
	// "no-kl" (loss.alpha=0), "deterministic" (model.pme=false, alpha=0, beta=0) and
	// "no-dropout" (dropout.mode=none). The resolved config shows the effective values.
	Variant string `mapstructure:"variant" yaml:"variant"`
	// Out is the run directory: checkpoints, metrics.jsonl, sweep.json, the resolved config.
	Out     string  `mapstructure:"out" yaml:"out"`
	Data    Data    `mapstructure:"data" yaml:"data"`
	Model   Model   `mapstructure:"model" yaml:"model"`
	Loss    Loss    `mapstructure:"loss" yaml:"loss"`
	Hard    Hard    `mapstructure:"hard" yaml:"hard"`
	Dropout Dropout `mapstructure:"dropout" yaml:"dropout"`
	Optim   Optim   `mapstructure:"optim" yaml:"optim"`
	Sched   Sched   `mapstructure:"schedule" yaml:"schedule"`
	Train   Train   `mapstructure:"train" yaml:"train"`
}

// Data selects the data set and how it is split.
type Data struct {
	// Kind of data set: "synthetic" (built in, generated from Synthetic.Seed).
	Kind string `mapstructure:"kind" yaml:"kind"`
	// Root is the directory relative paths of file-based data sets are resolved against.
	Root string `mapstructure:"root" yaml:"root"`
	// ValFraction of the training split is held out (stratified, seeded by Train.Seed) for
	// validation, best-checkpoint selection and early stopping. 0 disables validation.
	ValFraction float64 `mapstructure:"val_fraction" yaml:"val_fraction"`
	// LiveClass is the class index counted as bona fide ("live") by the binary metrics
	// APCER/BPCER/ACER of two-class tasks.
	LiveClass int       `mapstructure:"live_class" yaml:"live_class"`
	Synthetic Synthetic `mapstructure:"synthetic" yaml:"synthetic"`
}

// Synthetic describes the built-in generated data set.
type Synthetic struct {
	// Seed of the generator; independent of Train.Seed so that training seeds share the data.
	Seed    int64 `mapstructure:"seed" yaml:"seed"`
	Classes int   `mapstructure:"classes" yaml:"classes"`
	// ClassNames optionally names the classes (len == Classes).
	ClassNames []string `mapstructure:"class_names" yaml:"class_names"`
	Train      int      `mapstructure:"train" yaml:"train"`
	Test       int      `mapstructure:"test" yaml:"test"`
	// Modalities, each with its own dimension and signal strength (class separation in units
	// of the noise standard deviation); larger signal = more informative modality.
	Modalities []SyntheticModality `mapstructure:"modalities" yaml:"modalities"`
}

// SyntheticModality is one generated modality.
type SyntheticModality struct {
	Name string `mapstructure:"name" yaml:"name"`
	Dim  int    `mapstructure:"dim" yaml:"dim"`
	// Signal is the distance between class centres relative to the noise (0 = pure noise).
	Signal float64 `mapstructure:"signal" yaml:"signal"`
}

// Model describes the network.
type Model struct {
	// Encoders maps a modality name to its encoder; modalities not listed use Encoder, and an
	// entry's empty type or layers are taken from Encoder (Validate fills them in).
	Encoders map[string]Encoder `mapstructure:"encoders" yaml:"encoders"`
	// Encoder is the default encoder of every modality not listed in Encoders.
	Encoder Encoder `mapstructure:"encoder" yaml:"encoder"`
	// Latent is the size Z of the embedding (mu, logvar, z).
	Latent int `mapstructure:"latent" yaml:"latent"`
	// PME turns the probabilistic embedding on (mu and logvar heads, reparameterisation, KL).
	// false gives the deterministic common-subspace baseline (z = mu).
	PME bool `mapstructure:"pme" yaml:"pme"`
	// DType of the graph: "float32" (fast) or "float64".
	DType string `mapstructure:"dtype" yaml:"dtype"`
	// BNMomentum is the weight of the new batch in BatchNorm running statistics (PyTorch's).
	BNMomentum float64 `mapstructure:"bn_momentum" yaml:"bn_momentum"`
	BNEps      float64 `mapstructure:"bn_eps" yaml:"bn_eps"`
}

// Encoder describes one modality encoder.
type Encoder struct {
	// Type is "mlp": Layers[i] is the width of hidden block i, each Linear -> BatchNorm ->
	// ReLU; the last width is the encoder's output size E.
	Type   string `mapstructure:"type" yaml:"type"`
	Layers []int  `mapstructure:"layers" yaml:"layers"`
}

// Loss weights of L = CE + alpha*KL + beta*HCR.
type Loss struct {
	Alpha float64 `mapstructure:"alpha" yaml:"alpha"`
	Beta  float64 `mapstructure:"beta" yaml:"beta"`
}

// Hard configures hard-combination mining and the HCR term.
type Hard struct {
	// K is the size of the hard set; 0 means ceil((2^M-1)/3).
	K int `mapstructure:"k" yaml:"k"`
	// By is the mining criterion: "variance" (mean predicted variance, the paper's rule) or
	// "loss" (mean per-sample cross-entropy).
	By string `mapstructure:"by" yaml:"by"`
	// Mode is "once" (chosen at the end of warm-up) or "every-epoch" (re-estimated from each
	// epoch's statistics after warm-up).
	Mode string `mapstructure:"mode" yaml:"mode"`
	// WarmupEpochs W: HCR is off and statistics are accumulated during the first W epochs.
	WarmupEpochs int `mapstructure:"warmup_epochs" yaml:"warmup_epochs"`
}

// Dropout configures modality dropout.
type Dropout struct {
	// Mode is "uniform" (each sample draws one of the 2^M-1 non-empty combinations uniformly),
	// "none" (complete inputs) or "explicit" (Probs).
	Mode string `mapstructure:"mode" yaml:"mode"`
	// Probs maps a combination ("rgb+depth", modality names joined by '+') to its sampling
	// weight; weights are normalised; combinations not listed are never drawn.
	Probs map[string]float64 `mapstructure:"probs" yaml:"probs"`
}

// Optim configures the optimiser.
type Optim struct {
	// Name is "adam" or "sgd".
	Name  string  `mapstructure:"name" yaml:"name"`
	LR    float64 `mapstructure:"lr" yaml:"lr"`
	Beta1 float64 `mapstructure:"beta1" yaml:"beta1"`
	Beta2 float64 `mapstructure:"beta2" yaml:"beta2"`
	Eps   float64 `mapstructure:"eps" yaml:"eps"`
	// Momentum and Nesterov apply to sgd.
	Momentum float64 `mapstructure:"momentum" yaml:"momentum"`
	Nesterov bool    `mapstructure:"nesterov" yaml:"nesterov"`
	// WeightDecay is L2 regularisation added to the gradient (torch.optim's weight_decay).
	WeightDecay float64 `mapstructure:"weight_decay" yaml:"weight_decay"`
}

// Sched configures the learning-rate schedule, evaluated once per epoch.
type Sched struct {
	// Name is "constant", "step" (lr * Gamma^(floor(epoch/StepSize))) or "cosine" (from lr to
	// MinLR over the epochs after warm-up).
	Name     string  `mapstructure:"name" yaml:"name"`
	StepSize int     `mapstructure:"step_size" yaml:"step_size"`
	Gamma    float64 `mapstructure:"gamma" yaml:"gamma"`
	MinLR    float64 `mapstructure:"min_lr" yaml:"min_lr"`
	// WarmupEpochs of linear warm-up from lr/WarmupEpochs to lr before the schedule starts.
	WarmupEpochs int `mapstructure:"warmup_epochs" yaml:"warmup_epochs"`
}

// Train configures the loop.
type Train struct {
	Epochs    int   `mapstructure:"epochs" yaml:"epochs"`
	BatchSize int   `mapstructure:"batch_size" yaml:"batch_size"`
	Seed      int64 `mapstructure:"seed" yaml:"seed"`
	// Device is "cpu" or "cuda" (needs a binary built with -tags cuda).
	Device string `mapstructure:"device" yaml:"device"`
	// EvalBatchSize is the batch size of evaluation passes.
	EvalBatchSize int `mapstructure:"eval_batch_size" yaml:"eval_batch_size"`
	// Patience stops training after this many epochs without validation improvement
	// (needs data.val_fraction > 0); 0 disables early stopping.
	Patience int `mapstructure:"patience" yaml:"patience"`
	// SelectBest keeps the epoch with the best validation accuracy (mean over combinations)
	// as the final model (needs data.val_fraction > 0).
	SelectBest bool `mapstructure:"select_best" yaml:"select_best"`
	// MaxLoss aborts training when the epoch's mean loss exceeds it, or is NaN/Inf.
	MaxLoss float64 `mapstructure:"max_loss" yaml:"max_loss"`
}

// Default returns the configuration every file is merged onto: the benchmark settings of
// ../docs/benchmarks.md (Adam 1e-3, batch 64, alpha 1e-3, beta 0.2, W 5) on the synthetic set.
func Default() Config {
	return Config{
		Out: "runs/default",
		Data: Data{
			Kind:      "synthetic",
			Root:      "../shared/data",
			LiveClass: 0,
			Synthetic: Synthetic{
				Seed:    0,
				Classes: 4,
				Train:   2000,
				Test:    1000,
				Modalities: []SyntheticModality{
					{Name: "strong", Dim: 32, Signal: 3.0},
					{Name: "medium", Dim: 32, Signal: 1.5},
					{Name: "weak", Dim: 32, Signal: 0.6},
				},
			},
		},
		Model: Model{
			Encoder:    Encoder{Type: "mlp", Layers: []int{128, 64}},
			Latent:     128,
			PME:        true,
			DType:      "float32",
			BNMomentum: 0.1,
			BNEps:      1e-5,
		},
		Loss:    Loss{Alpha: 1e-3, Beta: 0.2},
		Hard:    Hard{K: 0, By: "variance", Mode: "once", WarmupEpochs: 5},
		Dropout: Dropout{Mode: "uniform"},
		Optim: Optim{Name: "adam", LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8,
			Momentum: 0.9, WeightDecay: 1e-4},
		Sched: Sched{Name: "constant", StepSize: 30, Gamma: 0.1},
		Train: Train{Epochs: 20, BatchSize: 64, Device: "cpu", EvalBatchSize: 256,
			MaxLoss: 1e4},
	}
}
