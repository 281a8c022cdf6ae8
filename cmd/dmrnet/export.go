package main

import (
	"bufio"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"

	"github.com/dmrnet/dmrnet/internal/atomicfile"
	"github.com/dmrnet/dmrnet/internal/dataset"
	"github.com/dmrnet/dmrnet/internal/export"
	"github.com/dmrnet/dmrnet/internal/train"
	"github.com/spf13/cobra"
)

type exportOptions struct {
	checkpoint string
	config     string
	sets       []string
	format     string
	output     string
	inputs     string
	split      string
	dataRoot   string
	splitSet   bool
}

func (a *app) newExportCmd() *cobra.Command {
	o := &exportOptions{}
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Write a trained model as safetensors or npz for PyTorch and other frameworks",
		Long: `Write a trained model's parameters and BatchNorm buffers under PyTorch state_dict names
and in PyTorch's layouts (Linear weight (out, in), Conv2d weight (out, in, k, k), BatchNorm
weight, bias, running_mean, running_var, num_batches_tracked), with a JSON metadata document:
modality order, input shapes, encoders, classes, latent size, auxiliary heads, inference
mode and ensemble weights, BatchNorm eps, each modality's preprocessing and standardisation
statistics, and the resolved configuration.

safetensors keeps the metadata in the header's __metadata__ map under "dmrnet"; npz keeps it
as the uint8 array __metadata__.json. Float32 models export float32, float64 models float64.
The model is read from its checkpoint alone; only --inputs reads the data.

--inputs also writes the model-ready (preprocessed and standardised) inputs of a split as
npz: x.<modality> (N, *shape) float32, y (N,) int64, avail (N, M) uint8 (1 = the sample has
the modality) and __metadata__.json. scripts/dmrnet_torch.py rebuilds the model in PyTorch
from an export and evaluates it on such inputs under every modality combination.

Files are written atomically: on an error nothing half-written is left.`,
		Example: `  dmrnet export --checkpoint runs/quickstart --format safetensors --output quickstart.safetensors
  dmrnet export --config configs/quickstart.yaml --output quickstart.npz --inputs quickstart-test.npz
  dmrnet export --checkpoint runs/mfeat/final.ckpt --format npz --output mfeat.npz --inputs mfeat-val.npz --split val
  python3 scripts/dmrnet_torch.py quickstart.safetensors --inputs quickstart-test.npz`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.splitSet = cmd.Flags().Changed("split")
			return a.runExport(o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.checkpoint, "checkpoint", "", "run directory of a trained model (its final.ckpt, else checkpoint.ckpt), or a checkpoint file; default, with no --config either: the most recently finished run under ./runs")
	f.StringVarP(&o.config, "config", "c", "", "use the run directory this configuration trains into (its out key)")
	f.StringArrayVar(&o.sets, "set", nil, "override a key of --config, e.g. --set out=runs/other (repeatable)")
	f.StringVar(&o.format, "format", "", "model file format: safetensors or npz (default: from the --output extension)")
	f.StringVarP(&o.output, "output", "o", "", "model file to write (required)")
	f.StringVar(&o.inputs, "inputs", "", "also write the model-ready inputs of --split to this .npz file (reads the data)")
	f.StringVar(&o.split, "split", "test", "split whose inputs --inputs writes: test, val or train")
	f.StringVar(&o.dataRoot, "data-root", "", "directory of the data files for --inputs, if it moved since training (default: $DMRNET_DATA_ROOT, else the saved data.root)")
	return cmd
}

// formatOf returns the export format: --format, or the one the output's extension names.
func (o *exportOptions) formatOf() (string, error) {
	if o.format != "" {
		if !validFormat(o.format, export.Formats()) {
			return "", usagef("--format=%s: not supported (want %s)", o.format, joinOr(export.Formats()))
		}
		return o.format, nil
	}
	ext := strings.TrimPrefix(strings.ToLower(filepath.Ext(o.output)), ".")
	if !validFormat(ext, export.Formats()) {
		return "", usagef("--output=%s: cannot tell the format from the extension (use --format safetensors or --format npz)", o.output)
	}
	return ext, nil
}

func (a *app) runExport(o *exportOptions) error {
	if o.output == "" {
		return usagef("export: needs --output FILE (e.g. --output model.safetensors)")
	}
	format, err := o.formatOf()
	if err != nil {
		return err
	}
	if o.inputs == "" && o.splitSet {
		return usagef("--split=%s: applies to --inputs only (add --inputs FILE.npz)", o.split)
	}
	if o.inputs != "" && filepath.Clean(o.inputs) == filepath.Clean(o.output) {
		return usagef("--inputs=%s: the same file as --output (name two files)", o.inputs)
	}
	switch o.split {
	case "test", "val", "train":
	default:
		return usagef("--split=%s: not a split (want test, val or train)", o.split)
	}
	dir, err := a.runDir("export", o.checkpoint, o.config, o.sets)
	if err != nil {
		return err
	}
	mo := &modelOptions{config: o.config, sets: o.sets, dataRoot: o.dataRoot}
	if o.config != "" {
		if err := a.honour(mo); err != nil {
			return err
		}
	}
	root := mo.dataRoot
	if root == "" {
		root = a.getenv("DMRNET_DATA_ROOT")
	}
	l, err := train.OpenModel(dir, root)
	if err != nil {
		return err
	}
	a.warn(l.Warnings)
	if o.config != "" {
		if err := a.checkSets(o.sets, o.config, l.State.Config, "export", "data.root"); err != nil {
			return err
		}
	}
	if !l.Final {
		fmt.Fprintf(a.errOut, "dmrnet: training in %s has not finished; exporting its checkpoint after epoch %d of %d\n",
			l.Dir, l.State.Epoch, l.Config.Train.Epochs)
	}
	ex, err := export.FromSource(export.Source{
		Model: l.Model, Config: l.Config, ConfigYAML: l.State.Config, Modalities: l.Modalities, Classes: l.Classes,
		Norms: l.State.Norms, Steps: l.State.OptSteps, Epoch: l.State.Epoch, Final: l.Final,
		Checkpoint: l.Path, Producer: versionString(),
	})
	if err != nil {
		return err
	}
	// read the data before writing anything, so that a data error leaves no files
	var ds *dataset.Dataset
	var split *dataset.Split
	if o.inputs != "" {
		if ds, split, err = exportSplit(l, o.split); err != nil {
			return err
		}
	}
	if err := writeBuffered(o.output, func(w io.Writer) error { return ex.Write(w, format) }); err != nil {
		return err
	}
	fmt.Fprintf(a.errOut, "dmrnet: wrote %s (%s, %d tensors, %s)\n", o.output, format, len(ex.Arrays), ex.Meta.DType)
	if o.inputs == "" {
		return nil
	}
	if err := writeBuffered(o.inputs, func(w io.Writer) error { return export.WriteInputs(w, ds, split, o.split, l.Path) }); err != nil {
		return err
	}
	fmt.Fprintf(a.errOut, "dmrnet: wrote %s (%s split, %d samples)\n", o.inputs, o.split, split.Len())
	return nil
}

// exportSplit reads the data of the loaded model, standardised with its stored statistics,
// and returns the named split.
func exportSplit(l *train.Loaded, name string) (*dataset.Dataset, *dataset.Split, error) {
	ds, err := train.LoadData(l.Config, l.State.Norms)
	if err != nil {
		return nil, nil, err
	}
	if !slices.Equal(ds.Names(), modalityNames(l.Modalities)) || !slices.Equal(ds.Classes, l.Classes) {
		return nil, nil, fmt.Errorf("--inputs: the data under %s has modalities %s and classes %s, the model %s and %s (point --data-root at the data the model was trained on)",
			l.Config.Data.Root, strings.Join(ds.Names(), ","), strings.Join(ds.Classes, ","), strings.Join(modalityNames(l.Modalities), ","), strings.Join(l.Classes, ","))
	}
	split := ds.Test
	switch name {
	case "train":
		split = ds.Train
	case "val":
		if ds.Val == nil {
			return nil, nil, usagef("--split=val: the run has no validation split (it was trained with data.val_fraction 0)")
		}
		split = ds.Val
	}
	// the inputs file holds the whole split: a streamed one (data.stream) is decoded here
	if split, err = split.Materialize(ds.Modalities); err != nil {
		return nil, nil, err
	}
	return ds, split, nil
}

func modalityNames(mods []dataset.Modality) []string {
	out := make([]string, len(mods))
	for i, m := range mods {
		out[i] = m.Name
	}
	return out
}

// writeBuffered writes path atomically through a buffer.
func writeBuffered(path string, fill func(io.Writer) error) error {
	return atomicfile.Write(path, 0o644, func(w io.Writer) error {
		bw := bufio.NewWriterSize(w, 1<<20)
		if err := fill(bw); err != nil {
			return err
		}
		return bw.Flush()
	})
}
