// Package export writes a trained dmrnet model in formats other frameworks read: safetensors
// and numpy's npz, with every parameter and BatchNorm buffer under a PyTorch state_dict name
// and in PyTorch's layout (see Names), and a JSON metadata document that describes the
// architecture, the classes, the inference rule and how each modality's inputs are
// preprocessed. It also writes the model-ready inputs of a data split (see Inputs), which
// scripts/dmrnet_torch.py evaluates.
//
// The package does no file handling of its own: writers take an io.Writer, so that callers
// write files atomically.
package export

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/dmrnet/dmrnet/internal/combo"
	"github.com/dmrnet/dmrnet/internal/config"
	"github.com/dmrnet/dmrnet/internal/dataset"
	"github.com/dmrnet/dmrnet/internal/model"
	"gorgonia.org/tensor"
)

// Formats returns the model file formats, as --format names them.
func Formats() []string { return []string{"safetensors", "npz"} }

// MetadataArray is the name of the npz array holding the metadata JSON (UTF-8 bytes as a
// uint8 array): json.loads(bytes(numpy.load(path)["__metadata__.json"])).
const MetadataArray = "__metadata__.json"

// FormatVersion is the version of the metadata document; it changes when its meaning does.
const FormatVersion = 1

// Source is a trained model and what describes its inputs.
type Source struct {
	Model  *model.Model
	Config *config.Config
	// ConfigYAML is the resolved configuration the model was trained with.
	ConfigYAML []byte
	Modalities []dataset.Modality
	Classes    []string
	// Norms are the standardisations applied to the inputs after preprocessing.
	Norms []dataset.Norm
	// Steps is the number of training steps (PyTorch's BatchNorm num_batches_tracked).
	Steps int64
	// Epoch is the number of completed epochs and Final whether training finished.
	Epoch int
	Final bool
	// Checkpoint is the file the model was read from, Producer the dmrnet build.
	Checkpoint, Producer string
}

// Metadata describes an exported model: everything needed to rebuild and feed it.
type Metadata struct {
	// Format is "dmrnet-model"; Version is FormatVersion.
	Format   string `json:"format"`
	Version  int    `json:"version"`
	Producer string `json:"producer,omitempty"`
	// Checkpoint is the file exported; Final is false for an unfinished run's latest state.
	Checkpoint string `json:"checkpoint"`
	Final      bool   `json:"final"`
	Epoch      int    `json:"epoch"`
	Steps      int64  `json:"steps"`
	// DType is the parameters' type, "float32" or "float64".
	DType string `json:"dtype"`
	// Modalities are the inputs in model order (the order of the fused feature).
	Modalities []ModalityMeta `json:"modalities"`
	Classes    []string       `json:"classes"`
	// LiveClass is the bona fide class of two-class (anti-spoofing) tasks.
	LiveClass int `json:"live_class"`
	// Latent is the embedding size Z; PME whether the logvar head exists.
	Latent int  `json:"latent"`
	PME    bool `json:"pme"`
	// AuxHeads says whether aux.<modality> heads exist; AuxWeight is their training weight.
	AuxHeads  bool    `json:"aux_heads"`
	AuxWeight float64 `json:"aux_weight"`
	// Inference is the trained inference mode: fused, route or ensemble.
	Inference string `json:"inference"`
	// Ensemble weighs the fused path and each present head in ensemble inference.
	Ensemble Ensemble `json:"ensemble"`
	// BNEps and BNMomentum are the BatchNorm settings (PyTorch's conventions).
	BNEps      float64 `json:"bn_eps"`
	BNMomentum float64 `json:"bn_momentum"`
	// Combinations are dmrnet's names of the non-empty modality combinations, in its order.
	Combinations []string `json:"combinations"`
	// Tensors maps every exported tensor to dmrnet's name for it.
	Tensors []Name `json:"tensors"`
	// Config is the resolved configuration (YAML).
	Config string `json:"config"`
}

// Ensemble holds the ensemble weights.
type Ensemble struct {
	Fused float64 `json:"fused"`
	Aux   float64 `json:"aux"`
}

// ModalityMeta describes one input.
type ModalityMeta struct {
	Name string `json:"name"`
	// Shape of one sample as the model takes it, e.g. [649] or [1, 28, 28].
	Shape   []int       `json:"shape"`
	Encoder EncoderMeta `json:"encoder"`
	// Features is the encoder's output size E; 0 for an absent modality.
	Features int `json:"features"`
	// Absent marks a modality the model has no encoder for (a specialist's other
	// modalities): its input is ignored, as if missing, and it adds no feature.
	Absent bool `json:"absent,omitempty"`
	// Preprocess says how raw data becomes the model's input, before Standardize.
	Preprocess Preprocess `json:"preprocess"`
	// Standardize is the last step, x' = (x - mean) / std; null when there is none.
	Standardize *Norm `json:"standardize"`
}

// EncoderMeta is a modality's encoder (see model.EncoderSpec).
type EncoderMeta struct {
	Type     string `json:"type"`
	Layers   []int  `json:"layers"`
	Channels []int  `json:"channels,omitempty"`
	Kernel   int    `json:"kernel,omitempty"`
	Pool     int    `json:"pool,omitempty"`
}

// Norm is a standardisation: one mean and standard deviation per column of the flattened
// sample (PerColumn), or one of each for all values.
type Norm struct {
	PerColumn bool      `json:"per_column"`
	Mean      []float64 `json:"mean"`
	Std       []float64 `json:"std"`
}

// Preprocess describes how one modality's raw data becomes model input.
type Preprocess struct {
	// Kind is "synthetic", "table", "log-mel", "image" or "npy".
	Kind string `json:"kind"`
	// Steps says it in words.
	Steps string `json:"steps"`
	// File and FileFormat name a table view's matrix (relative to data.root).
	File       string `json:"file,omitempty"`
	FileFormat string `json:"file_format,omitempty"`
	// Mel is the log-mel front end of audio.
	Mel *Mel `json:"mel,omitempty"`
	// Image holds the image settings.
	Image *Image `json:"image,omitempty"`
	// Shape is an npy modality's array shape.
	Shape []int `json:"shape,omitempty"`
}

// Mel is a log-mel front end (config.MelAudio).
type Mel struct {
	SampleRate int     `json:"sample_rate"`
	Samples    int     `json:"samples"`
	NFFT       int     `json:"n_fft"`
	Hop        int     `json:"hop"`
	Mels       int     `json:"mels"`
	FMin       float64 `json:"fmin"`
	FMax       float64 `json:"fmax"`
	LogEps     float64 `json:"log_eps"`
}

// Image holds image settings: values are divided by Scale, then standardised per channel.
type Image struct {
	Channels int       `json:"channels"`
	Height   int       `json:"height"`
	Width    int       `json:"width"`
	Scale    string    `json:"scale"`
	Mean     []float64 `json:"mean"`
	Std      []float64 `json:"std"`
	Convert  bool      `json:"convert,omitempty"`
}

// Model is an exported model: its tensors under their PyTorch names and its metadata.
type Model struct {
	Arrays []Array
	Meta   Metadata
}

// FromSource converts a trained model: Linear weights are transposed to (out, in), conv
// weights stay (out, in, k, k), BatchNorm gamma and beta become weight and bias. Every
// parameter and running statistic of the model must have a PyTorch name (see Names).
func FromSource(src Source) (*Model, error) {
	m := src.Model
	spec := m.Spec()
	if len(src.Modalities) != len(spec.Modalities) || len(src.Classes) != spec.Classes {
		return nil, fmt.Errorf("export: the model has %d modalities and %d classes, its description %d and %d",
			len(spec.Modalities), spec.Classes, len(src.Modalities), len(src.Classes))
	}
	names := Names(spec)
	used := map[string]bool{}
	var arrays []Array
	for _, n := range names {
		if n.Steps {
			arrays = append(arrays, Array{Name: n.Torch, Shape: []int{}, Data: []int64{src.Steps}})
			continue
		}
		a, err := dmrnetTensor(m, n.DMRNet)
		if err != nil {
			return nil, err
		}
		used[n.DMRNet] = true
		a.Name = n.Torch
		if n.Transpose {
			if len(a.Shape) != 2 {
				return nil, fmt.Errorf("export: %s has shape %v, want a matrix", n.DMRNet, a.Shape)
			}
			a.Data = Transpose2D(a.Data, a.Shape[0], a.Shape[1])
			a.Shape = []int{a.Shape[1], a.Shape[0]}
		}
		arrays = append(arrays, a)
	}
	for _, p := range m.Params() {
		if !used[p.Name] {
			return nil, fmt.Errorf("export: parameter %s has no PyTorch name (update export.Names)", p.Name)
		}
	}
	for _, bn := range m.BatchNorms() {
		if !used[bn.Name+".running_mean"] || !used[bn.Name+".running_var"] {
			return nil, fmt.Errorf("export: BatchNorm %s has no PyTorch name (update export.Names)", bn.Name)
		}
	}
	meta, err := metadata(src, names)
	if err != nil {
		return nil, err
	}
	return &Model{Arrays: arrays, Meta: meta}, nil
}

// dmrnetTensor returns a copy of the named parameter or BatchNorm statistic.
func dmrnetTensor(m *model.Model, name string) (Array, error) {
	if p := m.Param(name); p != nil {
		return Array{Shape: p.Shape(), Data: clone(p.Data())}, nil
	}
	for _, bn := range m.BatchNorms() {
		mean, variance := bn.Stats()
		switch name {
		case bn.Name + ".running_mean":
			return Array{Shape: []int{length(mean)}, Data: clone(mean)}, nil
		case bn.Name + ".running_var":
			return Array{Shape: []int{length(variance)}, Data: clone(variance)}, nil
		}
	}
	return Array{}, fmt.Errorf("export: the model has no tensor %s", name)
}

func clone(v any) any {
	switch d := v.(type) {
	case []float32:
		return append([]float32(nil), d...)
	case []float64:
		return append([]float64(nil), d...)
	}
	panic(fmt.Sprintf("export: unexpected tensor data %T", v))
}

func length(v any) int {
	switch d := v.(type) {
	case []float32:
		return len(d)
	case []float64:
		return len(d)
	}
	panic(fmt.Sprintf("export: unexpected tensor data %T", v))
}

// metadata describes src.
func metadata(src Source, names []Name) (Metadata, error) {
	cfg, spec := src.Config, src.Model.Spec()
	md := Metadata{
		Format: "dmrnet-model", Version: FormatVersion, Producer: src.Producer,
		Checkpoint: src.Checkpoint, Final: src.Final, Epoch: src.Epoch, Steps: src.Steps,
		DType: "float32", Classes: append([]string{}, src.Classes...), LiveClass: cfg.Data.LiveClass,
		Latent: spec.Latent, PME: spec.PME, AuxHeads: spec.AuxWeight > 0, AuxWeight: spec.AuxWeight,
		Inference: cfg.Model.Inference, Ensemble: Ensemble{cfg.Model.Ensemble.Fused, cfg.Model.Ensemble.Aux},
		BNEps: spec.BNEps, BNMomentum: spec.BNMomentum, Tensors: names, Config: string(src.ConfigYAML),
	}
	if spec.DType == tensor.Float64 {
		md.DType = "float64"
	}
	if md.Inference == "" {
		md.Inference = "fused"
	}
	dims := src.Model.EncoderDims()
	modNames := make([]string, len(src.Modalities))
	for i, mod := range src.Modalities {
		ms := spec.Modalities[i]
		if ms.Name != mod.Name {
			return Metadata{}, fmt.Errorf("export: modality %d is %q in the model, %q in its description", i, ms.Name, mod.Name)
		}
		modNames[i] = mod.Name
		enc := ms.Encoder
		if enc.Type == "" {
			enc.Type = "mlp"
		}
		mm := ModalityMeta{
			Name: mod.Name, Shape: append([]int{}, mod.Shape...), Features: dims[i], Absent: ms.Absent,
			Encoder:    EncoderMeta{Type: enc.Type, Layers: append([]int{}, enc.Layers...)},
			Preprocess: preprocess(cfg, i, mod.Name),
		}
		if enc.Type == "conv" {
			mm.Encoder.Channels, mm.Encoder.Kernel, mm.Encoder.Pool = append([]int{}, enc.Channels...), enc.Kernel, enc.Pool
		}
		for _, n := range src.Norms {
			if n.Modality == mod.Name {
				mm.Standardize = &Norm{PerColumn: n.PerColumn, Mean: n.Mean, Std: n.Std}
			}
		}
		md.Modalities = append(md.Modalities, mm)
	}
	sp, err := combo.NewSpace(modNames)
	if err != nil {
		return Metadata{}, fmt.Errorf("export: %w", err)
	}
	for _, s := range sp.All() {
		md.Combinations = append(md.Combinations, sp.Name(s))
	}
	return md, nil
}

// logMelSteps describes the log-mel front end (see internal/audio).
const logMelSteps = "mono (mean of the channels); centre-pad with zeros or centre-crop to mel.samples; " +
	"frames of n_fft samples every hop samples without centre padding; periodic Hann window; " +
	"power spectrum |rfft|^2; mels triangular HTK-mel filters from fmin to fmax without normalisation; " +
	"log(x + log_eps); shape (1, mels, frames), mel-major; then standardised with the training split's " +
	"global mean and std (torchaudio MelSpectrogram(center=False, power=2, norm=None, mel_scale='htk'))"

// preprocess describes how modality i of cfg's data set is made.
func preprocess(cfg *config.Config, i int, name string) Preprocess {
	d := cfg.Data
	switch d.Kind {
	case "synthetic":
		return Preprocess{Kind: "synthetic", Steps: "generated in process from data.synthetic (seeded Gaussian mixture); used as generated, no standardisation"}
	case "table":
		p := Preprocess{Kind: "table", Steps: "row of the view's numeric matrix, used as read"}
		if i < len(d.Table.Views) {
			p.File, p.FileFormat = d.Table.Views[i].File, d.Table.Views[i].Format
		}
		if d.Table.Standardize {
			p.Steps += "; then standardised per column with the training split's mean and population std (a zero std counts as 1)"
		}
		return p
	case "avmnist":
		if name == "audio" {
			return Preprocess{Kind: "log-mel", Steps: "FSDD WAV clip: " + logMelSteps, Mel: mel(d.AVMNIST.Mel)}
		}
		return Preprocess{Kind: "image", Steps: "MNIST 28x28 grey image: x/255, then (x - 0.1307) / 0.3081; shape (1, 28, 28)",
			Image: &Image{Channels: 1, Height: 28, Width: 28, Scale: "255", Mean: []float64{0.1307}, Std: []float64{0.3081}}}
	case "manifest":
		if i >= len(d.Manifest.Modalities) {
			break
		}
		m := d.Manifest.Modalities[i]
		switch m.Type {
		case "audio":
			return Preprocess{Kind: "log-mel", Steps: "WAV file: " + logMelSteps, Mel: mel(m.Mel)}
		case "image":
			conv := "an image with another channel count is an error"
			if m.Convert {
				conv = "other channel counts are converted: grey replicated into RGB, RGB to grey by ITU-R 601 luma 0.299 R + 0.587 G + 0.114 B"
			}
			return Preprocess{Kind: "image", Steps: fmt.Sprintf("PNG or JPEG image, alpha dropped (%s); bilinear resize to height x width (align_corners=False, antialiased when shrinking; none at that size); values divided by 255 (8-bit) or 65535 (16-bit), then (x - mean[c]) / std[c] per channel; shape (channels, height, width)", conv),
				Image: &Image{Channels: m.Channels, Height: m.Height, Width: m.Width, Scale: "255 for 8-bit images, 65535 for 16-bit", Mean: m.Mean, Std: m.Std, Convert: m.Convert}}
		case "npy":
			return Preprocess{Kind: "npy", Steps: "NPY file holding an array of the given shape, used as read", Shape: m.Shape}
		}
	}
	return Preprocess{Kind: d.Kind, Steps: "see the configuration"}
}

func mel(m config.MelAudio) *Mel {
	return &Mel{SampleRate: m.SampleRate, Samples: m.Samples, NFFT: m.NFFT, Hop: m.Hop, Mels: m.Mels, FMin: m.FMin, FMax: m.FMax, LogEps: 1e-6}
}

// metaJSON is the metadata document.
func (m *Model) metaJSON() ([]byte, error) {
	b, err := json.Marshal(m.Meta)
	if err != nil {
		return nil, fmt.Errorf("export: metadata: %w", err)
	}
	return b, nil
}

// Write writes the model in format ("safetensors" or "npz"). safetensors keeps the metadata
// JSON in its header's __metadata__ map under MetadataKey (with "format": "pt", the
// convention of PyTorch checkpoints); npz keeps it as the uint8 array MetadataArray.
func (m *Model) Write(w io.Writer, format string) error {
	js, err := m.metaJSON()
	if err != nil {
		return err
	}
	switch format {
	case "safetensors":
		return WriteSafetensors(w, m.Arrays, map[string]string{MetadataKey: string(js), "format": "pt"})
	case "npz":
		return WriteNPZ(w, append(append([]Array{}, m.Arrays...), Array{Name: MetadataArray, Shape: []int{len(js)}, Data: js}))
	}
	return fmt.Errorf("export: format %q is not supported (want safetensors or npz)", format)
}
